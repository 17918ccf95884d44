"""The SEIKO round loop: propose, measure, learn the reward, fine-tune; resumable at any point."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from molseiko.diffusion.checkpoint import atomic_save, model_from_state, model_state
from molseiko.diffusion.masked import MaskedDiffusion
from molseiko.diffusion.trajectory import Template
from molseiko.domains.base import Domain, get_domain
from molseiko.domains.io import read_smiles
from molseiko.engine.acquisition import Acquisition, Greedy
from molseiko.engine.config import CampaignConfig
from molseiko.engine.finetune import PolicyGradientFinetuner
from molseiko.engine.ledger import Ledger
from molseiko.engine.lock import RunLock
from molseiko.engine.report import (
    RoundSummary,
    plot_campaign,
    top_k_mean,
    write_metrics,
    write_round,
)
from molseiko.errors import MolseikoError
from molseiko.oracles.base import Oracle
from molseiko.reward.ensemble import RewardEnsemble


def batch_sizes(config: CampaignConfig) -> list[int]:
    """Designs per round. `non_adaptive` spends all but one batch at once from p_pre, fine-tunes
    once, and spends the last batch from the fine-tuned model."""
    if config.variant == "non_adaptive" and config.budget > config.batch_size:
        return [config.budget - config.batch_size, config.batch_size]
    full, rest = divmod(config.budget, config.batch_size)
    return [config.batch_size] * full + ([rest] if rest else [])


def draw_from_library(
    library: Sequence[str],
    size: int,
    seed: int,
    canonical: Callable[[str | None], str | None],
    known: Callable[[str], bool] = lambda key: False,
) -> tuple[list[str], int, int]:
    """The first `size` valid designs of `library` (canonical keys, each once, none `known`) in
    the order of a permutation fixed by `seed`: a campaign's first batch drawn from a library.
    Also how many entries were drawn and how many of those were valid."""
    rng = np.random.default_rng([seed, 1])
    chosen: dict[str, None] = {}  # ordered, and a repeat in the library is drawn once
    drawn = valid = 0
    for index in rng.permutation(len(library)):
        drawn += 1
        key = canonical(library[index])
        if key is None:
            continue
        valid += 1
        if key not in chosen and not known(key):
            chosen[key] = None
            if len(chosen) == size:
                break
    return list(chosen), drawn, valid


CALIBRATION_DESIGNS = 10
"""Fewest designs measured after prediction for a batch to calibrate the ensemble's spread."""


def held_out(table: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """value, r_hat and s_hat of a batch's designs measured after they were predicted (rows of
    `Ledger.round_table`; a missing one is None there)."""
    rows = [
        (row["value"], row["r_hat"], row["s_hat"])
        for row in table
        if None not in (row["value"], row["r_hat"], row["s_hat"])
    ]
    value, r_hat, s_hat = np.array(rows, dtype=float).reshape(-1, 3).T
    return value, r_hat, s_hat


def error_over_spread(value: np.ndarray, r_hat: np.ndarray, s_hat: np.ndarray) -> float:
    """RMS of value - r_hat over RMS of s_hat (see `held_out`); NaN with fewer than
    CALIBRATION_DESIGNS designs or no spread."""
    if len(value) < CALIBRATION_DESIGNS:
        return math.nan
    spread = math.sqrt(np.mean(s_hat**2))
    return math.sqrt(np.mean((value - r_hat) ** 2)) / spread if spread > 0 else math.nan


def spread_calibration(value: np.ndarray, r_hat: np.ndarray, s_hat: np.ndarray) -> float:
    """Spearman correlation of s_hat with |value - r_hat| (see `held_out`): whether the spread
    ranks the errors; NaN with fewer than 3 designs."""
    error = np.abs(r_hat - value)
    if len(value) < 3 or np.ptp(s_hat) == 0 or np.ptp(error) == 0:
        return math.nan  # too few designs, or nothing to rank
    from scipy.stats import spearmanr

    return float(spearmanr(s_hat, error).statistic)


def spread_ranks_errors(value: np.ndarray, r_hat: np.ndarray, s_hat: np.ndarray) -> bool:
    """Whether a batch is evidence that the spread ranks the errors: `spread_calibration` above
    0 over at least CALIBRATION_DESIGNS designs."""
    if len(value) < CALIBRATION_DESIGNS:
        return False
    calibration = spread_calibration(value, r_hat, s_hat)
    return math.isfinite(calibration) and calibration > 0


class Campaign:
    """Runs rounds into `run_dir`. The parts arrive built: the policy to fine-tune (p_1), the
    frozen pretrained model, the oracle, the reward ensemble and acquisition (None for the
    model-free `pretrained` variant) and the fine-tuner (None: never fine-tune)."""

    def __init__(
        self,
        policy: MaskedDiffusion,
        oracle: Oracle,
        config: CampaignConfig,
        run_dir: str | Path,
        ensemble: RewardEnsemble | None = None,
        acquisition: Acquisition | None = None,
        finetuner: PolicyGradientFinetuner | None = None,
    ):
        self.policy, self.oracle, self.config = policy, oracle, config
        self.domain = get_domain(policy.tokenizer.domain, config.crossover_operators)
        self.template = (
            Template.from_string(policy.tokenizer, config.template) if config.template else None
        )
        if self.template is not None and len(self.template) > policy.config.max_len:
            raise MolseikoError(
                f"template of {len(self.template)} positions is longer than the model's "
                f"{policy.config.max_len}"
            )
        if config.infill > 0 and not hasattr(policy, "infill"):
            raise MolseikoError(
                f"infill needs a model that can edit designs; {type(policy).__name__} cannot "
                "(set infill = 0)"
            )
        if config.graph_crossover > 0 and self.domain.crossover is None:
            raise MolseikoError(
                f"graph_crossover needs molecules; {self.domain.name} designs cross only "
                "through the model (infill_crossover); set graph_crossover = 0"
            )
        self.ensemble, self.acquisition, self.finetuner = ensemble, acquisition, finetuner
        self.run_dir = Path(run_dir)
        (self.run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        self._lock = RunLock(self.run_dir).acquire()  # held until close() or process exit
        try:
            self.ledger = Ledger(self.run_dir / "ledger.sqlite")
            self.summaries: list[RoundSummary] = []
            self.completed = 0
            self._optimizer = None
            # Read now: a missing file or column stops the campaign before any oracle call.
            self._library = (
                read_smiles(config.library, column=self.domain.key_column)
                if config.library_pool
                else []
            )
            self._restore()
        except BaseException:
            self._lock.release()
            raise

    def close(self) -> None:
        """Let another process (or Campaign) take the run directory."""
        self.ledger.close()
        self._lock.release()

    def __enter__(self) -> Campaign:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- state ------------------------------------------------------------------------------
    def _restore(self) -> None:
        """Continue after the last completed round, if the run directory has one."""
        state_path = self.run_dir / "state.json"
        if not state_path.is_file():
            return
        state = json.loads(state_path.read_text())
        self.completed = state["completed"]
        self.summaries = [RoundSummary(**row) for row in state["summaries"]]
        checkpoint = self.run_dir / "checkpoints" / f"policy_round_{self.completed:02d}.pt"
        if not checkpoint.is_file():
            raise MolseikoError(f"{checkpoint} is missing: cannot resume round {self.completed}")
        saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
        self.policy.load_state_dict(model_from_state(saved).state_dict())
        # The ensemble is a function of the ledger: refit it as the last round left it, so the
        # next proposal ranks, reports spread and calibrates exactly as without the interruption.
        # A round proposed after that one is already on its way and refits when it learns.
        if self.ledger.last_round() <= self.completed:  # < : the last round found nothing new
            self._fit_ensemble(self.completed)

    def _save(self) -> None:
        checkpoint = self.run_dir / "checkpoints" / f"policy_round_{self.completed:02d}.pt"
        atomic_save(model_state(self.policy, {"round": self.completed}), checkpoint)
        state = {"completed": self.completed, "summaries": [asdict(s) for s in self.summaries]}
        tmp = self.run_dir / "state.json.tmp"
        tmp.write_text(json.dumps(state, indent=1))
        os.replace(tmp, self.run_dir / "state.json")

    # ---- the loop ---------------------------------------------------------------------------
    def run(self, progress: Callable[[RoundSummary], None] | None = None) -> list[RoundSummary]:
        sizes = batch_sizes(self.config)
        for round_ in range(self.completed + 1, len(sizes) + 1):
            summary = self.run_round(round_, sizes[round_ - 1], last=round_ == len(sizes))
            if progress is not None:
                progress(summary)
        self.report()
        return self.summaries

    def run_round(self, round_: int, size: int, last: bool) -> RoundSummary:
        generator = self._generator(round_)
        if self.ensemble is None and self.finetuner is not None:
            return self._online_round(round_, size, generator)
        timer = time.perf_counter()
        pool_stats = self.propose_batch(round_, size, generator)
        seconds_sample = time.perf_counter() - timer

        timer = time.perf_counter()
        self._measure(round_)
        seconds_measure = time.perf_counter() - timer
        return self.learn(round_, pool_stats, seconds_sample, seconds_measure, last)

    def _generator(self, round_: int, stream: int = 0) -> torch.Generator:
        return torch.Generator(device=self.policy.device).manual_seed(
            self.config.seed * 100_003 + round_ + 1_000_000 * stream
        )

    def propose_batch(self, round_: int, size: int, generator: torch.Generator) -> dict:
        """Steps 1 of a round: sample from the current policy and record the batch."""
        if self.acquisition is not None and self._ensemble_ready():
            rng = np.random.default_rng([self.config.seed, round_])
            self.acquisition.new_round(rng, len(self.ensemble.models))
        return self._propose(round_, size, generator)

    def learn(
        self,
        round_: int,
        pool_stats: dict,
        seconds_sample: float = 0.0,
        seconds_measure: float = 0.0,
        last: bool = False,
    ) -> RoundSummary:
        """Steps 3-5 of a round, once its measurements are in the ledger: fit the reward
        ensemble on everything measured, fine-tune the policy (not after the last round), and
        checkpoint. Fine-tuning draws from the round's own stream, not the one that sampled
        the pool: a run resumed after its batch was recorded, a lab round and an unbroken
        run all fine-tune alike, whatever the sampling drew."""
        table = self.ledger.round_table(round_)
        write_round(self.run_dir, round_, table, self.domain)

        timer = time.perf_counter()
        self._fit_ensemble(round_)
        seconds_fit = time.perf_counter() - timer
        if self.acquisition is not None and self._ensemble_ready():
            # The same draw as this round's proposal (Thompson's member), in any process.
            rng = np.random.default_rng([self.config.seed, round_])
            self.acquisition.new_round(rng, len(self.ensemble.models))

        timer = time.perf_counter()
        kl_pretrained = self.summaries[-1].kl_pretrained if self.summaries else 0.0
        # Without a fitted reward model (fewer than two finite measurements) there is nothing to
        # fine-tune towards yet; the next round samples the same policy again.
        if (
            self.finetuner is not None
            and self.ensemble is not None
            and self.ensemble.models
            and not last
        ):
            reward = self._reward_function(self.spread_scale(round_ + 1, finetune=True))
            generator = self._generator(round_, stream=1)
            history = self.finetuner.run(
                self.policy, reward, None, generator, template=self.template
            )
            kl_pretrained = history[-1].kl_pretrained
        seconds_finetune = time.perf_counter() - timer

        seconds = (seconds_sample, seconds_measure, seconds_fit, seconds_finetune)
        return self._finish_round(round_, table, pool_stats, kl_pretrained, seconds)

    def _online_round(self, round_: int, size: int, generator: torch.Generator) -> RoundSummary:
        """`online_pg`: one policy-gradient step on the true oracle; every new design costs a
        call. Designs measured before are rewarded from the ledger, free."""
        timer = time.perf_counter()
        size = min(size, self.config.budget - self.ledger.count_measured())
        pool_stats = {"validity": math.nan, "uniqueness": math.nan, "novelty": math.nan}
        kl = self.summaries[-1].kl_pretrained if self.summaries else 0.0  # unless it updates
        if size <= 0:  # resumed after the last measurement but before the checkpoint
            table = self.ledger.round_table(round_)
            return self._finish_round(round_, table, pool_stats, kl, (0.0, 0.0, 0.0, 0.0))
        if round_ == 1 and self.config.first_batch:
            # The library's batch is measured, but it is not the policy's samples: no update.
            if not self.ledger.proposed(1):
                pool_stats = self._propose_from_library(size)
            self._measure(1)
            table = self.ledger.round_table(1)
            write_round(self.run_dir, 1, table, self.domain)
            seconds = (0.0, time.perf_counter() - timer, 0.0, 0.0)
            return self._finish_round(1, table, pool_stats, 0.0, seconds)

        def reward(trajectory) -> torch.Tensor:
            smiles = self.policy.decode(trajectory)
            valid = [s for s in smiles if s is not None]
            fresh = list(dict.fromkeys(s for s in valid if not self.ledger.is_known(s)))
            pool_stats.update(
                validity=len(valid) / len(smiles),
                uniqueness=len(set(valid)) / max(len(valid), 1),
                novelty=len(fresh) / max(len(set(valid)), 1),
            )
            nan = [math.nan] * len(fresh)
            self.ledger.propose(round_, fresh, nan, nan, nan, source=["sample"] * len(fresh))
            self._measure(round_)
            measured = {key: value for key, value, _ in self.ledger.measurements()}
            raw = np.array([measured.get(s, math.nan) if s else math.nan for s in smiles])
            return self._standardizer()(raw)

        if size < 2:  # one call left: a single path has no baseline to learn against
            steps = self.config.denoising_steps
            reward(self.policy.sample(size, steps, generator, template=self.template))
        else:
            if self._optimizer is None:
                self._optimizer = self.finetuner.optimizer_for(self.policy)
            history = self.finetuner.run(
                self.policy,
                reward,
                None,
                generator,
                optimizer=self._optimizer,
                template=self.template,
                iterations=1,
                batch_size=size,
            )
            kl = history[-1].kl_pretrained
        table = self.ledger.round_table(round_)
        write_round(self.run_dir, round_, table, self.domain)
        # Sampling, measuring and the update interleave here; the round's time counts as measuring.
        seconds = (0.0, time.perf_counter() - timer, 0.0, 0.0)
        return self._finish_round(round_, table, pool_stats, kl, seconds)

    def _propose(self, round_: int, size: int, generator: torch.Generator) -> dict:
        """Sample a pool, keep valid new designs, select the batch and record it in the ledger.
        A batch already in the ledger (a resumed round) is kept as it is."""
        if self.ledger.proposed(round_):
            return {"validity": math.nan, "uniqueness": math.nan, "novelty": math.nan}
        size = min(size, self.config.budget - self.ledger.count_measured())
        if round_ == 1 and self.config.first_batch:
            return self._propose_from_library(size)
        seen: set[str] = set()
        candidates: list[str] = []
        source: dict[str, str] = {}  # where each candidate came from (the first time drawn)
        made: list[str | None] = []  # what the generator made (the library's designs are not)
        pool = size * self.config.pool_factor
        parents = self._parents()
        edits, crosses = self._shares(pool, parents)
        # Oversampling pays only when something ranks the pool (or a family limit thins it):
        # otherwise the batch is the first new designs, so draw about what it still needs.
        ranked = self.config.select != "sample" and self._ensemble_ready()
        small = not ranked and not self.config.max_per_scaffold
        tries, drawn_so_far = 5, 0
        for attempt in range(tries):  # resample if too few new designs survive (a collapsed policy)
            count = pool
            if small:
                count = draw_count(size, pool, len(candidates), drawn_so_far, attempt, tries)
            drawn = self.draw_pool(round_, count, parents, attempt, generator)
            drawn_so_far += len(drawn)
            if edits or crosses:
                # Mixed, so `select = "sample"` (the first new designs) takes edits too.
                rng = np.random.default_rng([self.config.seed, round_, attempt])
                drawn = [drawn[i] for i in rng.permutation(len(drawn))]
            for smiles, where in drawn:
                if where != "library":
                    made.append(smiles)
                if smiles is None or smiles in seen:
                    continue
                seen.add(smiles)
                if not self.ledger.is_known(smiles):
                    candidates.append(smiles)
                    source[smiles] = where
            if len(candidates) >= size:
                break
        prediction = self._predict(candidates, size, self.spread_scale(round_))
        order = np.arange(len(candidates))
        if prediction is not None:
            *prediction, picked = prediction
            if ranked:
                order = picked
        chosen = _limit_per_family(
            [candidates[i] for i in order], self.config.max_per_scaffold, size, self.domain
        )
        index = {s: i for i, s in enumerate(candidates)}
        columns = [np.full(len(chosen), np.nan) for _ in range(3)]
        if prediction is not None:
            columns = [column[[index[s] for s in chosen]] for column in prediction]
        self.ledger.propose(round_, chosen, *columns, source=[source[s] for s in chosen])
        valid = [design for design in made if design is not None]
        distinct = set(valid)
        return {
            "validity": len(valid) / max(len(made), 1),
            "uniqueness": len(distinct) / max(len(valid), 1),
            "novelty": len(distinct & set(candidates)) / max(len(distinct), 1),
        }

    def _shares(self, pool: int, parents: list[str]) -> tuple[int, int]:
        """How many of a pool of `pool` are edits and crossovers of `parents` (the rest are
        fresh samples). A share left at -1 (a Campaign built without build_campaign) counts as
        none."""
        edits = round(pool * max(self.config.infill, 0.0)) if parents else 0
        crosses = round(pool * max(self.config.graph_crossover, 0.0)) if parents else 0
        return edits, crosses

    def draw_pool(
        self,
        round_: int,
        pool: int,
        parents: list[str],
        attempt: int,
        generator: torch.Generator,
    ) -> list[tuple[str | None, str]]:
        """`pool` candidates, each with where it came from: "sample" (the current policy from
        scratch), "crossover" (two parents joined without the model) or "edit" (a parent
        re-noised and denoised again by the policy); once the reward ensemble can rank them,
        the first attempt adds `library_pool` designs of the library ("library"). Invalid
        designs are None; nothing is filtered or recorded here."""
        edits, crosses = self._shares(pool, parents)
        steps, template = self.config.denoising_steps, self.template
        fresh = self.policy.sample(pool - edits - crosses, steps, generator, template=template)
        drawn = [(design, "sample") for design in self.policy.decode(fresh)]
        if crosses:
            rng = np.random.default_rng([self.config.seed, round_, attempt, 1])
            children = self.domain.crossover(parents, crosses, rng)
            drawn += [(child, "crossover") for child in children]
        if edits:
            children = self.policy.infill(
                parents,
                edits,
                self.config.infill_mask,
                steps,
                generator,
                template=template,
                crossover=max(self.config.infill_crossover, 0.0),
            )
            drawn += [(child, "edit") for child in children]
            if len(children) < edits:  # parents it cannot encode: fresh samples instead
                missing = edits - len(children)
                extra = self.policy.sample(missing, steps, generator, template=template)
                drawn += [(design, "sample") for design in self.policy.decode(extra)]
        if attempt == 0 and self.config.library_pool and self._ensemble_ready():
            drawn += [(key, "library") for key in self._library_draw(round_)]
        return drawn

    def _library_draw(self, round_: int) -> list[str]:
        """`library_pool` canonical designs of the library, drawn at random anew each round
        (seeded by seed and round); rows that are not valid designs are skipped."""
        rng = np.random.default_rng([self.config.seed, round_, 2])
        count = min(self.config.library_pool, len(self._library))
        keys = (
            self.domain.canonical(self._library[i])
            for i in rng.choice(len(self._library), count, replace=False)
        )
        return [key for key in keys if key is not None]

    def _propose_from_library(self, size: int) -> dict:
        """The first batch: `size` new valid designs drawn at random from `first_batch`."""
        library = read_smiles(self.config.first_batch, column=self.domain.key_column)
        chosen, drawn, valid = draw_from_library(
            library, size, self.config.seed, self.domain.canonical, self.ledger.is_known
        )
        if not chosen:
            raise MolseikoError(f"{self.config.first_batch}: no valid new designs to draw from")
        nan = [math.nan] * len(chosen)
        self.ledger.propose(1, chosen, nan, nan, nan, source=["library"] * len(chosen))
        return {"validity": valid / drawn, "uniqueness": 1.0, "novelty": 1.0}

    def _parents(self) -> list[str]:
        """The best measured designs, to be edited or crossed into part of the pool (none
        without edits or crossover)."""
        if self.config.infill <= 0 and self.config.graph_crossover <= 0:
            return []
        if self.ensemble is None:  # model-free variants: no feedback
            return []
        rows = [
            (value, key) for key, value, _ in self.ledger.measurements() if math.isfinite(value)
        ]
        rows.sort(key=lambda row: row[0], reverse=True)
        return [key for _, key in rows[: self.config.infill_parents]]

    def _ensemble_ready(self) -> bool:
        """Whether a fitted reward ensemble can rank designs (not before two measurements)."""
        return self.ensemble is not None and bool(self.ensemble.models)

    def _predict(self, smiles: list[str], size: int, scale: float = 1.0):
        """r_hat, the raw s_hat, the acquisition (of the spread stretched by `scale`) and the
        order in which a batch of `size` takes the designs."""
        if not self._ensemble_ready() or not smiles:
            return None
        prediction = self.ensemble.predict(smiles)
        acquisition = self.acquisition or Greedy()
        order, values = acquisition.batch(prediction.scaled(scale), size)
        return prediction.mean, prediction.std, values, order

    def spread_scale(self, round_: int, finetune: bool = False) -> float:
        """How much to stretch the ensemble's spread for choosing round `round_` (and for the
        fine-tuning that precedes it), from the latest earlier batch measured with predictions:
        with `gate_bonus`, 0 unless its spread ranked its errors (`spread_ranks_errors`); with
        `calibrate_spread`, its `error_over_spread`; otherwise, or without such a batch, 1
        (`gate_bonus`: 0). `finetune`: for the fine-tuning, which `gate_finetune = false`
        leaves ungated. A function of the ledger, so a resumed run gets the same factor."""
        gate = self.config.gate_bonus and (self.config.gate_finetune or not finetune)
        if not (self.config.calibrate_spread or gate):
            return 1.0
        checked = self._latest_held_out(round_)
        if gate and (checked is None or not spread_ranks_errors(*checked)):
            return 0.0
        if self.config.calibrate_spread and checked is not None:
            return float(error_over_spread(*checked))
        return 1.0

    def _latest_held_out(self, round_: int) -> tuple[np.ndarray, ...] | None:
        """`held_out` of the latest batch before round `round_` with at least
        CALIBRATION_DESIGNS designs measured after they were predicted (None: no such batch)."""
        for earlier in range(round_ - 1, 0, -1):
            known = held_out(self.ledger.round_table(earlier))
            if len(known[0]) >= CALIBRATION_DESIGNS and np.any(known[2] > 0):
                return known
        return None

    def _measure(self, round_: int) -> None:
        """Measure the round's unmeasured designs within the budget; commit before use, part
        by part as the oracle hands them back (a kill loses only what was still running)."""
        keys = self.ledger.unmeasured(round_)
        keys = keys[: max(self.config.budget - self.ledger.count_measured(), 0)]
        if keys:
            covered = 0
            for positions, result in self.oracle.parts(keys):
                self.ledger.record(round_, self.oracle.name, [keys[i] for i in positions], result)
                covered += len(positions)
            if covered != len(keys):  # a plugin's parts that skip designs would leave them
                raise MolseikoError(  # unmeasured without a word
                    f"oracle {self.oracle.name!r} handed back {covered} of {len(keys)} designs"
                )

    def _fit_ensemble(self, round_: int) -> None:
        if self.ensemble is None:
            return
        keys, values = self._training_data()
        if np.isfinite(values).sum() >= 2:
            self.ensemble.fit(keys, values, round_)

    def _training_data(self) -> tuple[list[str], np.ndarray]:
        rows = self.ledger.measurements()
        return [key for key, _, _ in rows], np.array([value for _, value, _ in rows])

    def _reward_function(self, scale: float = 1.0):
        """Optimistic reward (acquisition of the ensemble's prediction, its spread stretched by
        `scale`) of sampled paths."""
        standardize = self._standardizer()

        def reward(trajectory) -> torch.Tensor:
            prediction = self.ensemble.predict(self.policy.decode(trajectory))
            return standardize(self.acquisition(prediction.scaled(scale)))

        return reward

    def _standardizer(self):
        """Maps rewards in objective units to units of the measured values' std (so alpha and
        beta mean the same across objectives); NaN (invalid or failed designs) becomes one std
        below the worst measurement."""
        _, values = self._training_data()
        finite = values[np.isfinite(values)]
        center = finite.mean() if len(finite) else 0.0
        scale = (finite.std() if len(finite) > 1 else 0.0) or 1.0
        floor = ((finite.min() - center) / scale if len(finite) else 0.0) - 1.0

        def standardize(raw: np.ndarray) -> torch.Tensor:
            scaled = (np.asarray(raw, dtype=float) - center) / scale
            return torch.tensor(np.where(np.isfinite(scaled), scaled, floor))

        return standardize

    def _finish_round(self, round_, table, pool_stats, kl_pretrained, seconds) -> RoundSummary:
        """Summarize the round, then checkpoint: the round counts as done only from here."""
        rows = self.ledger.measurements()
        values = [value for _, value, _ in rows]
        batch = np.array([np.nan if r["value"] is None else r["value"] for r in table], float)
        s_hat = np.array([np.nan if r["s_hat"] is None else r["s_hat"] for r in table], float)
        known = held_out(table)  # value, r_hat, s_hat of the designs predicted, then measured
        calibration = spread_calibration(*known)
        summary = RoundSummary(
            round=round_,
            calls=len(rows),
            best=top_k_mean(values, 1),
            top10=top_k_mean(values, 10),
            batch_mean=float(np.nanmean(batch)) if np.isfinite(batch).any() else math.nan,
            failures=sum(r["failure"] is not None for r in table),
            validity=pool_stats["validity"],
            uniqueness=pool_stats["uniqueness"],
            novelty=pool_stats["novelty"],
            spread=float(np.nanmean(s_hat)) if np.isfinite(s_hat).any() else math.nan,
            calibration=calibration,
            kl_pretrained=kl_pretrained,
            seconds_sample=seconds[0],
            seconds_measure=seconds[1],
            seconds_fit=seconds[2],
            seconds_finetune=seconds[3],
            error_over_spread=error_over_spread(*known),
            spread_factor=self.spread_scale(round_) if self.acquisition else math.nan,
        )
        self.summaries.append(summary)
        self.completed = round_
        # Metrics first: a kill between the two reruns the round, and a rerun rewrites them.
        write_metrics(self.run_dir, self.summaries)
        self._save()
        return summary

    def report(self) -> None:
        rows = self.ledger.measurements()
        plot_campaign(self.run_dir, [v for _, v, _ in rows], [r for _, _, r in rows])


def draw_count(size: int, pool: int, kept: int, drawn: int, attempt: int, tries: int) -> int:
    """How many candidates a round that ranks nothing draws on try `attempt` (from 0) of
    `tries`, when `kept` of the `drawn` so far were new and valid: what the batch still needs
    over the share that survived (at least 0.1), with half again as margin after the first
    try, at most the pool; the whole pool on the last try."""
    if attempt == tries - 1:
        return pool
    survival = kept / drawn if drawn else 1.0
    missing = (size - kept) / max(survival, 0.1)
    return min(pool, math.ceil(missing * (1.0 if attempt == 0 else 1.5)))


def _limit_per_family(designs: list[str], limit: int, size: int, domain: Domain) -> list[str]:
    """The first `size` designs, at most `limit` per family (Murcko scaffold for molecules;
    0 = no limit, and a domain without families has none)."""
    if limit <= 0 or domain.group is None:
        return designs[:size]
    counts: dict[str, int] = {}
    chosen = []
    for design in designs:
        family = domain.group(design)
        if counts.get(family, 0) < limit:
            counts[family] = counts.get(family, 0) + 1
            chosen.append(design)
            if len(chosen) == size:
                break
    return chosen
