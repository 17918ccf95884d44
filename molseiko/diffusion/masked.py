"""Masked (absorbing-state) discrete diffusion over token sequences, with the policy interface.

Sampling is a (T+1)-step decision process: choose a length, then T reverse steps in which each
masked position is revealed with the schedule's probability and, if revealed, takes a token drawn
from the denoiser. Every step is categorical, so per-step log-probabilities and KLs are exact.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from molseiko.diffusion.denoiser import DenoiserConfig, TransformerDenoiser
from molseiko.diffusion.schedule import LogLinearSchedule, stratified_times
from molseiko.diffusion.tokenizer import MASK_ID, PAD_ID, SelfiesTokenizer
from molseiko.diffusion.trajectory import Template, Trajectory


@dataclass
class DiffusionLoss:
    """One minibatch of the continuous-time masked-diffusion ELBO."""

    loss: torch.Tensor
    """Scalar: negative ELBO in nats per token (what is minimized)."""
    masked_fraction: torch.Tensor
    """Scalar: share of real tokens that were masked in this batch."""


@dataclass
class TrajectoryScore:
    """A trajectory scored under a model."""

    log_probs: torch.Tensor
    """`B x S` per-step log-probabilities of the path's actions (differentiable)."""
    kl: list[torch.Tensor]
    """Per reference model, `B x S` exact per-step KL(model || reference) from the path's states."""


def _gumbel_argmax(log_probs: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Sample from categorical rows of `... x V` log-probabilities."""
    uniform = torch.rand(log_probs.shape, generator=generator, device=log_probs.device)
    gumbel = -torch.log(-torch.log(uniform.clamp_min(1e-20)))
    return torch.argmax(log_probs + gumbel, dim=-1)


def _insert_delete(
    tokens: torch.Tensor, rate: float, max_len: int, generator: torch.Generator
) -> torch.Tensor:
    """Delete about `rate * len` tokens and insert about as many masks at random places, keeping
    the length within 1..max_len."""
    length = len(tokens)
    deletions = int((torch.rand(length, generator=generator) < rate).sum())
    insertions = int((torch.rand(length, generator=generator) < rate).sum())
    deletions = min(deletions, length - 1)
    if deletions:
        keep = torch.ones(length, dtype=torch.bool)
        keep[torch.randperm(length, generator=generator)[:deletions]] = False
        tokens = tokens[keep]
    insertions = min(insertions, max_len - len(tokens))
    for _ in range(max(insertions, 0)):
        place = int(torch.randint(len(tokens) + 1, (1,), generator=generator))
        tokens = torch.cat([tokens[:place], torch.tensor([MASK_ID]), tokens[place:]])
    return tokens[:max_len]


def _splice(
    first: torch.Tensor, second: torch.Tensor, max_len: int, generator: torch.Generator
) -> torch.Tensor:
    """One-point crossover: a proper prefix of `first` joined to a proper suffix of `second`,
    each cut at a uniformly drawn inner point, within max_len. Parents of one length are cut at
    the same point, so aligned positions (a protein's residues) keep their places."""
    cut_first = int(torch.randint(1, max(len(first), 2), (1,), generator=generator))
    cut_second = (
        cut_first
        if len(first) == len(second)
        else int(torch.randint(1, max(len(second), 2), (1,), generator=generator))
    )
    return torch.cat([first[:cut_first], second[cut_second:]])[:max_len]


def _categorical_kl(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """KL(p || q) over the last dim; entries where p is 0 contribute 0 even if q is 0 too."""
    p = log_p.exp()
    difference = torch.where(p > 0, log_p - log_q, torch.zeros_like(log_p))
    return (p * difference).sum(-1)


class MaskedDiffusion(nn.Module):
    """MDLM-style absorbing-state diffusion model with a learnable length distribution.

    Variable length is a decision rather than a padding token: the model draws a length from
    `length_logits` (initialised to the training data's length histogram) and denoises exactly that
    many positions. No compute goes to padding, and fine-tuning can shift the length distribution
    under the same exact KL as the tokens.
    """

    stereochemistry = True
    """SELFIES carry stereo marks, so designs may have them."""

    def __init__(self, tokenizer: SelfiesTokenizer, config: DenoiserConfig):
        super().__init__()
        self.tokenizer = tokenizer
        self.config = config
        self.schedule = LogLinearSchedule()
        self.denoiser = TransformerDenoiser(len(tokenizer), config)
        # Index i is length i + 1.
        self.length_logits = nn.Parameter(torch.zeros(config.max_len))

    @property
    def device(self) -> torch.device:
        return self.length_logits.device

    def fit_length_distribution(self, lengths: torch.Tensor, pseudo_count: float = 1.0) -> None:
        """Set the length distribution to the smoothed histogram of `lengths` (`N` long)."""
        counts = torch.bincount(lengths - 1, minlength=self.config.max_len).float()
        with torch.no_grad():
            self.length_logits.copy_((counts[: self.config.max_len] + pseudo_count).log())

    def collate(self, sequences: Sequence[Sequence[int]]):
        """A training batch on this model's device, and the number of tokens it holds."""
        tokens, lengths = self.tokenizer.pad(sequences)
        return (tokens.to(self.device), lengths.to(self.device)), int(lengths.sum())

    # ---- denoiser ---------------------------------------------------------------------------
    def token_log_probs(self, state: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        """Per-position token log-probabilities, never the pad or mask token.

        Args:
            state: `B x L` long noisy tokens.
            padding: `B x L` bool.

        Returns:
            `B x L x V` log-probabilities (pad and mask columns are -inf).
        """
        logits = self.denoiser(state, padding)
        logits[..., PAD_ID] = float("-inf")
        logits[..., MASK_ID] = float("-inf")
        return F.log_softmax(logits, dim=-1)

    def loss(
        self, tokens: torch.Tensor, lengths: torch.Tensor, generator: torch.Generator | None = None
    ) -> DiffusionLoss:
        """Negative ELBO per token for clean sequences (`B x L` tokens, `B` lengths)."""
        batch, width = tokens.shape
        padding = torch.arange(width, device=tokens.device)[None] >= lengths[:, None]
        t = stratified_times(batch, generator, tokens.device)
        draw = torch.rand(batch, width, generator=generator, device=tokens.device)
        masked = (draw < 1 - self.schedule.alpha(t)[:, None]) & ~padding
        noisy = torch.where(masked, torch.full_like(tokens, MASK_ID), tokens)
        log_probs = self.token_log_probs(noisy, padding)
        nll = -log_probs[masked].gather(-1, tokens[masked][:, None]).squeeze(-1)  # masked tokens
        weight = self.schedule.loss_weight(t)[:, None].expand(batch, width)[masked]
        real = (~padding).sum()
        return DiffusionLoss((nll * weight).sum() / real, masked.sum() / real)

    # ---- policy interface -----------------------------------------------------------------
    @torch.no_grad()
    def sample(
        self,
        n: int,
        steps: int = 32,
        generator: torch.Generator | None = None,
        batch_size: int = 256,
        progress=None,
        template: Template | None = None,
    ) -> Trajectory:
        """Sample `n` paths of `steps` reverse steps, in length-sorted chunks of `batch_size`.
        With a `template`, every path has its length and keeps its pinned tokens."""
        if template is not None:
            lengths = torch.full((n,), len(template), dtype=torch.long, device=self.device)
        else:
            logits = F.log_softmax(self.length_logits, -1).expand(n, -1)
            lengths = _gumbel_argmax(logits, generator) + 1
        order = torch.argsort(lengths)
        width = int(lengths.max()) if n else 0
        tokens = torch.full((n, width), PAD_ID, dtype=torch.long, device=self.device)
        reveal = torch.zeros((n, width), dtype=torch.long, device=self.device)
        for start in range(0, n, batch_size):
            rows = order[start : start + batch_size]
            chunk_tokens, chunk_reveal = self._denoise(lengths[rows], steps, generator, template)
            tokens[rows, : chunk_tokens.shape[1]] = chunk_tokens
            reveal[rows, : chunk_reveal.shape[1]] = chunk_reveal
            if progress is not None:
                progress(len(rows))
        return Trajectory(tokens, lengths, reveal, steps, length_fixed=template is not None)

    @torch.no_grad()
    def infill(
        self,
        parents: Sequence[str],
        n: int,
        mask_fraction: float = 0.2,
        steps: int = 16,
        generator: torch.Generator | None = None,
        batch_size: int = 256,
        template: Template | None = None,
        indel_rate: float | None = None,
        crossover: float = 0.0,
    ) -> list[str | None]:
        """Edit designs by re-noising part of them and denoising again (SDEdit for absorbing
        diffusion): `n` children, dealt to `parents` in turn, each with every token masked with
        probability `mask_fraction` (at least one) and, without a template, each token deleted
        and a mask inserted with probability `indel_rate` (default `mask_fraction / 4`), so
        children may grow or shrink. A child is with probability `crossover` first spliced from
        its parent's prefix and another parent's suffix (one-point crossover, as in a genetic
        algorithm; parents of one length, as under a template, are cut at the same position),
        and the masks then let the denoiser mend the join. Pinned template positions are never
        touched. Parents this vocabulary cannot encode are skipped; returns the children's
        designs (None flags an invalid one). The denoiser does not see the time, so a partly
        clean state is denoised exactly as a state of the forward process would be.
        """
        indel_rate = mask_fraction / 4 if indel_rate is None else indel_rate
        encoded = [ids for ids in map(self.tokenizer.from_design, parents) if ids]
        if not encoded or n <= 0:
            return []
        cpu = torch.Generator().manual_seed(
            int(torch.randint(2**62, (1,), generator=generator, device=self.device))
        )
        pinned = template.pinned.tolist() if template is not None else None
        children = []
        for child in range(n):
            tokens = torch.tensor(encoded[child % len(encoded)])
            if crossover > 0 and len(encoded) > 1 and torch.rand(1, generator=cpu) < crossover:
                other = int(torch.randint(len(encoded) - 1, (1,), generator=cpu))
                other = torch.tensor(encoded[other + (other >= child % len(encoded))])
                if template is None or len(other) == len(tokens):  # a template keeps lengths
                    tokens = _splice(tokens, other, self.config.max_len, cpu)
            if template is None:
                tokens = _insert_delete(tokens, indel_rate, self.config.max_len, cpu)
                free = torch.ones(len(tokens), dtype=torch.bool)
            else:
                free = ~torch.tensor(pinned[: len(tokens)])
            masked = (torch.rand(len(tokens), generator=cpu) < mask_fraction) & free
            if not masked.any() and free.any():  # a child identical to its parent is no edit
                choices = free.nonzero().squeeze(-1)
                masked[choices[torch.randint(len(choices), (1,), generator=cpu)]] = True
            children.append(torch.where(masked, MASK_ID, tokens).tolist())
        reveal_probability = self.schedule.reveal_probabilities(steps).tolist()
        designs: list[str | None] = [None] * n
        order = sorted(range(n), key=lambda row: len(children[row]))
        for start in range(0, n, batch_size):
            rows = order[start : start + batch_size]
            state, lengths = self.tokenizer.pad([children[row] for row in rows])
            state, lengths = state.to(self.device), lengths.to(self.device)
            padding = torch.arange(state.shape[1], device=self.device)[None] >= lengths[:, None]
            for probability in reveal_probability:
                state, _ = self.reverse_step(state, padding, probability, generator)
            for row, tokens, length in zip(rows, state.cpu(), lengths.tolist(), strict=True):
                designs[row] = self.tokenizer.to_design(tokens[:length])
        return designs

    def _denoise(
        self,
        lengths: torch.Tensor,
        steps: int,
        generator: torch.Generator | None,
        template: Template | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run T reverse steps from all-mask (pinned template tokens aside) for sequences of
        `lengths` (`B`); `B x L` results."""
        width = int(lengths.max())
        padding = torch.arange(width, device=self.device)[None] >= lengths[:, None]
        tokens = torch.where(padding, PAD_ID, MASK_ID).long()
        if template is not None:
            pinned = template.pinned.to(self.device)
            tokens[:, pinned] = template.tokens.to(self.device)[pinned]
        reveal = torch.zeros_like(tokens)
        reveal_probability = self.schedule.reveal_probabilities(steps).tolist()
        for step in range(1, steps + 1):
            tokens, revealed = self.reverse_step(
                tokens, padding, reveal_probability[step - 1], generator
            )
            reveal[revealed] = step
        return tokens, reveal

    def reverse_step(
        self,
        state: torch.Tensor,
        padding: torch.Tensor,
        reveal_probability: float,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One reverse step: reveal each masked position w.p. `reveal_probability` with a token
        drawn from the denoiser; clean tokens are carried over unchanged.

        Args:
            state: `B x L` long noisy tokens.
            padding: `B x L` bool.

        Returns:
            next state `B x L` long, and `B x L` bool marking the positions revealed now.
        """
        masked = state == MASK_ID
        draw = torch.rand(state.shape, generator=generator, device=state.device)
        revealed = masked & (draw < reveal_probability)
        rows = revealed.any(-1).nonzero().squeeze(-1)  # only rows that change need the denoiser
        if len(rows) == 0:
            return state, revealed
        proposal = _gumbel_argmax(self.token_log_probs(state[rows], padding[rows]), generator)
        state = state.clone()
        state[rows] = torch.where(revealed[rows], proposal, state[rows])
        return state, revealed

    def score(
        self,
        trajectory: Trajectory,
        references: Sequence[MaskedDiffusion] = (),
        steps: Sequence[int] | None = None,
    ) -> TrajectoryScore:
        """Per-step log-probabilities of a trajectory under this model and exact per-step KLs from
        this model to each reference, with one forward pass of this model per step.

        A reverse step factorizes over masked positions, each revealed with the same schedule
        probability q under every model, so its KL is `q * sum_masked KL(token distributions)`.

        Args:
            trajectory: paths of `B` sequences with T reverse steps.
            references: models to measure KL(this || reference) against (not differentiated).
            steps: decision steps to score (0 = length choice, 1..T reverse steps); all by default.
        """
        steps = list(range(trajectory.num_steps)) if steps is None else list(steps)
        reveal_probability = self.schedule.reveal_probabilities(trajectory.num_denoising_steps)
        padding = trajectory.padding
        batch = len(trajectory)
        log_prob_columns, kl_columns = [], [[] for _ in references]
        for step in steps:
            if step == 0 and trajectory.length_fixed:  # the template chose it: no decision
                zero = torch.zeros(batch, device=self.device)
                log_prob_columns.append(zero)
                for columns in kl_columns:
                    columns.append(zero)
                continue
            if step == 0:
                length_log_probs = F.log_softmax(self.length_logits, -1)
                log_prob_columns.append(length_log_probs[trajectory.lengths - 1])
                for columns, reference in zip(kl_columns, references, strict=True):
                    reference_log_probs = F.log_softmax(reference.length_logits, -1).detach()
                    kl = _categorical_kl(length_log_probs, reference_log_probs)
                    columns.append(kl.expand(batch))
                continue
            masked = trajectory.reveal_step >= step
            revealed = trajectory.reveal_step == step
            q = reveal_probability[step - 1].item()
            log_stay = math.log1p(-q) if q < 1 else 0.0
            log_prob = (masked & ~revealed).sum(-1) * log_stay + revealed.sum(-1) * math.log(q)
            log_prob = log_prob.to(self.length_logits.dtype)
            kls = [torch.zeros(batch, device=self.device) for _ in references]
            # Rows with nothing left to reveal contribute 0; rows with masks but no reveal still
            # carry KL, so the forward pass covers every row with a masked position.
            rows = masked.any(-1).nonzero().squeeze(-1)
            if len(rows):
                state = trajectory.state_before(step)[rows]
                token_log_probs = self.token_log_probs(state, padding[rows])  # B' x L x V
                chosen = token_log_probs.gather(-1, trajectory.tokens[rows][..., None]).squeeze(-1)
                chosen = torch.where(revealed[rows], chosen, torch.zeros_like(chosen)).sum(-1)
                log_prob = log_prob.index_add(0, rows, chosen)
                for i, reference in enumerate(references):
                    with torch.no_grad():
                        reference_log_probs = reference.token_log_probs(state, padding[rows])
                    kl = _categorical_kl(token_log_probs, reference_log_probs)  # B' x L
                    kl = torch.where(masked[rows], kl, torch.zeros_like(kl)).sum(-1)
                    kls[i] = kls[i].index_add(0, rows, q * kl)
            log_prob_columns.append(log_prob)
            for columns, kl in zip(kl_columns, kls, strict=True):
                columns.append(kl)
        return TrajectoryScore(
            torch.stack(log_prob_columns, dim=-1),
            [torch.stack(columns, dim=-1) for columns in kl_columns],
        )

    def log_probs(self, trajectory: Trajectory, steps: Sequence[int] | None = None) -> torch.Tensor:
        """Differentiable per-step log-probabilities, `B x S`; over all steps (0 = length choice,
        1..T reverse steps) their sum is the path's log-probability."""
        return self.score(trajectory, (), steps).log_probs

    def kl(
        self,
        trajectory: Trajectory,
        reference: MaskedDiffusion,
        steps: Sequence[int] | None = None,
    ) -> torch.Tensor:
        """Exact per-step KL(this model's step || reference's step) along the path, `B x S`,
        differentiable with respect to this model."""
        return self.score(trajectory, (reference,), steps).kl[0]

    def decode(self, trajectory: Trajectory) -> list[str | None]:
        """Designs of finished paths (canonical SMILES); None flags an invalid design."""
        tokens = trajectory.tokens.cpu()
        return [
            self.tokenizer.to_design(tokens[row, : int(length)])
            for row, length in enumerate(trajectory.lengths.cpu())
        ]
