"""A sampled denoising path, stored compactly enough to re-score it under any model."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from molseiko.diffusion.tokenizer import MASK_ID


@dataclass
class Trajectory:
    """One batch of reverse-diffusion paths.

    Step 0 chooses each sequence's length; steps 1..T reveal masked tokens. The state before
    denoising step k holds `tokens` where `reveal_step < k` and the mask token elsewhere, so the
    whole path is recoverable from the final tokens and the reveal steps.
    """

    tokens: torch.Tensor
    """`B x L` long: final tokens, padding id beyond each length."""
    lengths: torch.Tensor
    """`B` long: the sampled sequence lengths."""
    reveal_step: torch.Tensor
    """`B x L` long: denoising step (1..T) that revealed each position; 0 for padding and for
    positions that were fixed (never masked)."""
    num_denoising_steps: int
    """T, the number of reverse steps."""
    length_fixed: bool = False
    """True when a template set the length: step 0 is then no decision (probability 1)."""

    @property
    def num_steps(self) -> int:
        """Decision steps per path: the length choice plus T reverse steps."""
        return self.num_denoising_steps + 1

    def __len__(self) -> int:
        return self.tokens.shape[0]

    @property
    def padding(self) -> torch.Tensor:
        """`B x L` bool, True beyond each sequence's end."""
        positions = torch.arange(self.tokens.shape[1], device=self.tokens.device)
        return positions[None] >= self.lengths[:, None]

    def state_before(self, step: int) -> torch.Tensor:
        """`B x L` long: the noisy state that denoising step `step` (1..T) acts on."""
        masked = self.reveal_step >= step
        return torch.where(masked, torch.full_like(self.tokens, MASK_ID), self.tokens)

    def select(self, rows: torch.Tensor | slice) -> Trajectory:
        """The sub-batch `rows`, trimmed to its own longest sequence."""
        lengths = self.lengths[rows]
        width = int(lengths.max()) if len(lengths) else 0
        return Trajectory(
            self.tokens[rows][:, :width],
            lengths,
            self.reveal_step[rows][:, :width],
            self.num_denoising_steps,
            self.length_fixed,
        )

    def to(self, device: torch.device | str) -> Trajectory:
        return Trajectory(
            self.tokens.to(device),
            self.lengths.to(device),
            self.reveal_step.to(device),
            self.num_denoising_steps,
            self.length_fixed,
        )


@dataclass
class Template:
    """Fixed positions for inpainting: the length is set, `pinned` positions hold `tokens` from
    the start (reveal step 0, never masked, never changed) and only the others are designed."""

    tokens: torch.Tensor
    """`L` long token ids (anything at free positions)."""
    pinned: torch.Tensor
    """`L` bool."""

    def __post_init__(self):
        if self.tokens.shape != self.pinned.shape or self.tokens.dim() != 1:
            raise ValueError("template tokens and pinned mask must be 1-D of equal length")

    def __len__(self) -> int:
        return self.tokens.shape[0]

    @classmethod
    def from_string(cls, tokenizer, text: str, free: str = "-") -> Template:
        """A template written as a design with `free` marking designable positions, one character
        per token (amino-acid models: `MKT--YIAKQR---SFVK`)."""
        from molseiko.errors import MolseikoError

        if getattr(tokenizer, "domain", "") != "protein":
            raise MolseikoError("templates (fixed positions) need a protein model")
        ids, pinned = [], []
        for position, letter in enumerate(text.strip().upper(), start=1):
            if letter == free:
                ids.append(MASK_ID), pinned.append(False)
                continue
            index = tokenizer.index.get(letter)
            if index is None or index < 2:
                raise MolseikoError(
                    f"template position {position}: {letter!r} is neither an amino acid nor "
                    f"{free!r} (designable)"
                )
            ids.append(index), pinned.append(True)
        if not ids:
            raise MolseikoError("empty template")
        return cls(torch.tensor(ids), torch.tensor(pinned))

    def matches(self, tokens: torch.Tensor) -> bool:
        """Whether `B x L` tokens keep every pinned position."""
        pinned = self.pinned.to(tokens.device)
        return bool(
            (tokens[:, : len(self)][:, pinned] == self.tokens.to(tokens.device)[pinned]).all()
        )
