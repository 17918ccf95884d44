"""Campaign settings: a dataclass with defaults, loaded from TOML, saved resolved in the run."""

from __future__ import annotations

import numbers
import re
import tomllib
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from molseiko.errors import MolseikoError

VARIANTS = ("greedy", "ucb", "bootstrap", "thompson", "non_adaptive", "pretrained", "online_pg")
MODEL_FREE = ("pretrained", "online_pg")
"""Baselines without a reward model: their batches come straight from the generator."""
CROSSOVER_OPERATORS = ("acyclic", "graph_ga")
PREDATING = {
    "infill": 0.0,
    "infill_crossover": 0.0,
    "graph_crossover": 0.0,
    "ensemble_descriptors": False,
}
"""Settings added after runs were already being saved: a run's saved config.toml that lacks one
of these keys is read with the value the run used (none of the feature), not today's default."""


def check_device(name: str, available: bool = False) -> str:
    """`name` if torch could mean it (cpu, cuda, cuda:N, mps); with `available`, only if this
    machine has it (a one-line error, not torch's traceback, when it does not)."""
    if name not in ("cpu", "cuda", "mps") and not re.fullmatch(r"cuda:\d+", name):
        raise MolseikoError(f"unknown device {name!r} (use cpu, cuda, cuda:N or mps)")
    if available:
        import torch

        if name.startswith("cuda") and not torch.cuda.is_available():
            raise MolseikoError(f"device {name!r} requested but no CUDA GPU is visible to torch")
        if name == "mps" and not torch.backends.mps.is_available():
            raise MolseikoError("device 'mps' requested but torch sees no Apple GPU")
    return name


@dataclass
class CampaignConfig:
    """Every setting of `molseiko optimize`."""

    objective: str = "qed"
    """Built-in name, `tdc:<task>`, TOML spec path or `file.py:Name` plugin."""
    budget: int = 500
    """Oracle calls: unique designs sent for measurement, failures included."""
    batch_size: int = 100
    variant: str = "ucb"
    """greedy | ucb | bootstrap | thompson | non_adaptive | pretrained | online_pg."""
    alpha: float = 0.05
    """KL weight to the pretrained model."""
    beta: float = 0.0
    """KL weight to the previous round's model."""
    bonus: float = 1.0
    """Exploration bonus weight c in r_hat + c * s_hat (ucb)."""
    calibrate_spread: bool = False
    """Stretch the ensemble's spread by the ratio of its realized error to its predicted spread
    on the last batch measured with predictions (RMS of value - r_hat over RMS of s_hat), so
    the bonus counts standard errors the ensemble actually makes (from round 3 on, the errors
    of 5 bootstrap members were a median 3.5 times their spread in 20 PMO campaigns; README).
    Applies to every optimistic acquisition (ucb, bootstrap, thompson); rounds CSVs keep the
    raw s_hat. Off by default: it did not beat the raw spread (README)."""
    gate_bonus: bool = False
    """Let the spread act (the ucb bonus; bootstrap's and thompson's members' deviations) only
    once the latest batch measured with predictions shows it ranking the ensemble's errors
    (Spearman of s_hat with |value - r_hat| above 0 over at least 10 designs); until then, and
    whenever that batch says otherwise, choose and fine-tune by r_hat alone. Round 2 never has
    such a batch: the ensemble of a random first batch has nothing to check its spread on.
    Off by default: against the ungated bonus it gained 0.006 AUC top-10 on osimertinib_mpo and
    lost 0.006 on ranolazine_mpo, where round 2's exploration pays a round later (5 seeds;
    README)."""
    gate_finetune: bool = True
    """With `gate_bonus`, gate the fine-tuning's reward too; false gates only the choice of
    batches, and the policy is always fine-tuned towards the optimistic reward (against the
    ungated bonus: +0.003 AUC top-10 on osimertinib_mpo, -0.004 on ranolazine_mpo; 5 seeds,
    README)."""
    ensemble_size: int = 5
    ensemble_epochs: int = 100
    """Most epochs per ensemble member (each stops early on its out-of-bag designs)."""
    ensemble_descriptors: bool = True
    """Molecules: each ensemble member sees RDKit's 2D descriptors (logP, TPSA, counts...) beside
    the graph, standardized on the measured designs (protein sequences have none: ignored).
    From 100 measured molecules they rank held-out ones far better (Spearman 0.89 against 0.70
    on osimertinib_mpo) and their spread starts to track the errors; in `ucb` campaigns they
    gained 0.014 AUC top-10 on osimertinib_mpo and 0.000 on ranolazine_mpo (5 seeds, README)."""
    pool_factor: int = 10
    """Candidates drawn per batch slot for the reward model to rank (sampling is cheap; calls
    are not). A round with nothing to rank them (round 1 from the model, `pretrained`,
    select = 'sample') draws about the batch alone."""
    select: str = "ucb"
    """'sample' (the first valid new designs: pure SEIKO), 'ucb' (the best of the pool by the
    acquisition) or 'sequential' (variants ucb and non_adaptive: the batch taken one design at
    a time, each pick shrinking the bonus of designs the ensemble's members disagree on in the
    same way, so one batch does not spend many calls on one question; see
    `molseiko.engine.acquisition.sequential_batch`). 'sequential' is not the default: against
    'ucb' it gained 0.002 AUC top-10 on osimertinib_mpo and lost 0.003 on ranolazine_mpo, and
    it trailed greedy on osimertinib_mpo in all 5 seeds (README)."""
    infill: float = -1.0
    """Share of the pool made by editing the best designs measured so far (re-noise part of a
    design, denoise it again with the current policy); the rest is sampled from scratch.
    -1 (default): with a model that can edit designs (sequence models), half of what
    `graph_crossover` leaves (0.25 for molecules, 0.5 for proteins), else 0."""
    infill_mask: float = 0.1
    """Share of a parent's tokens re-noised per edit (more: bolder edits)."""
    infill_parents: int = 20
    """How many of the best measured designs are edited."""
    infill_crossover: float = -1.0
    """Share of the edits that first join one parent's prefix to another's suffix (crossover),
    before re-noising. -1 (default): 0.5 where the pool has edits, else 0."""
    graph_crossover: float = -1.0
    """Share of the pool made by crossing two of the best measured designs without the model
    (molecules: cut each in two, bond a piece of one to a piece of the other; see
    `crossover_operators`), as a graph genetic algorithm does; the rest is edits and fresh
    samples.
    -1 (default): 0.5 for molecules (any model), else 0."""
    crossover_operators: str = ""
    """How `graph_crossover` crosses molecules: 'graph_ga' (the Graph GA's operators: cuts
    across rings as well, children up to about 39 heavy atoms, one in 15 mutated; see
    `molseiko.domains.graph_ga`) or 'acyclic' (the cut above; a child's size lies between its
    parents'). Empty (default): the domain's own, 'graph_ga' for molecules (ahead of 'acyclic'
    in 8 of 10 paired PMO campaigns; README); proteins have no graph crossover and name none."""
    first_batch: str = ""
    """A CSV (column `smiles` / `sequence`) or .smi file to draw the first batch from at
    random, in place of samples of the pretrained model (e.g. the library it was trained on,
    or compounds on the shelf); empty = the model's samples."""
    library: str = ""
    """A CSV (column `smiles` / `sequence`) or .smi file of designs to be had without making
    them (a vendor's catalogue, the compounds on the shelf), screened by the reward ensemble
    each round with `library_pool` > 0."""
    library_pool: int = 0
    """Designs of `library` drawn anew at random each round (none measured before) and ranked
    with the rest of the pool: screening by the reward model beside generation; 0 = none."""
    max_per_scaffold: int = 0
    """At most this many designs per Murcko scaffold in a batch; 0 = no limit."""
    finetune_iterations: int = 12
    """Policy-gradient updates per round; 0: never fine-tune (the policy stays p_pre, e.g. to
    ablate the generator when `graph_crossover = 1` makes the whole pool)."""
    finetune_batch: int = 64
    finetune_lr: float = 1e-4
    steps_per_update: int = 6
    """Decision steps per path given a gradient in fine-tuning (CPU cost control)."""
    denoising_steps: int = 16
    template: str = ""
    """Fixed positions (protein models): the design with '-' at designable positions, e.g.
    "MKT--YIAKQR---SFVK"; pinned residues are never changed. Empty: design everything."""
    model: str = ""
    """Checkpoint path; empty = the shipped ZINC250k SELFIES model."""
    seed: int = 0
    device: str = "cpu"
    scheduler: str = ""
    """Where oracle calls run: "" (here), "processes:N", "threads:N" or a Dask address."""
    oracle_chunk: int = 1
    """Designs per oracle task sent to a worker (raise it for cheap oracles)."""
    out: str = ""
    """Run directory; empty = runs/<objective>-<variant>-<seed>."""

    def __post_init__(self):
        self._check_types()
        if self.variant not in VARIANTS:
            raise MolseikoError(f"unknown variant {self.variant!r} (known: {', '.join(VARIANTS)})")
        if self.select not in ("sample", "ucb", "sequential"):
            raise MolseikoError(
                f"select must be 'sample', 'ucb' or 'sequential', not {self.select!r}"
            )
        if self.select == "sequential" and self.variant not in ("ucb", "non_adaptive"):
            raise MolseikoError(
                "select = 'sequential' shares out the ucb bonus within a batch: it needs "
                f"variant ucb or non_adaptive, not {self.variant}"
            )
        if self.select == "sequential" and (self.bonus < 0 or self.max_per_scaffold):
            raise MolseikoError(
                "select = 'sequential' needs bonus >= 0 (a lower bound would favour designs "
                "like those already picked) and no max_per_scaffold (a pick the limit drops "
                "would still shrink the others' bonus)"
            )
        if not (0.0 <= self.infill <= 1.0 or self.infill == -1.0):
            raise MolseikoError("infill must lie in [0, 1] (or be -1: the model's default)")
        if not 0.0 < self.infill_mask <= 1.0:
            raise MolseikoError("infill_mask must lie in (0, 1]")
        if not (0.0 <= self.infill_crossover <= 1.0 or self.infill_crossover == -1.0):
            raise MolseikoError("infill_crossover must lie in [0, 1] (or be -1: the default)")
        if not (0.0 <= self.graph_crossover <= 1.0 or self.graph_crossover == -1.0):
            raise MolseikoError("graph_crossover must lie in [0, 1] (or be -1: the default)")
        if self.crossover_operators not in ("", *CROSSOVER_OPERATORS):
            raise MolseikoError(
                f"crossover_operators must be one of {', '.join(CROSSOVER_OPERATORS)} "
                f"(or empty: the domain's default), not {self.crossover_operators!r}"
            )
        if self.crossover_operators == "graph_ga" and self.graph_crossover == 0.0:
            raise MolseikoError(
                f"crossover_operators = {self.crossover_operators!r} makes the crossovers of "
                "graph_crossover, which is 0: set graph_crossover > 0"
            )
        if max(self.infill, 0.0) + max(self.graph_crossover, 0.0) > 1.0:
            raise MolseikoError("infill + graph_crossover must not exceed 1 (shares of the pool)")
        if self.infill_parents < 1:
            raise MolseikoError("infill_parents must be positive")
        if self.budget < 1 or self.batch_size < 1 or self.pool_factor < 1:
            raise MolseikoError("budget, batch_size and pool_factor must be positive")
        if self.ensemble_size < 2:
            raise MolseikoError("ensemble_size must be at least 2 (the spread needs members)")
        if self.finetune_iterations < 0 or self.denoising_steps < 1 or self.finetune_batch < 2:
            raise MolseikoError(
                "finetune_iterations must be >= 0, denoising_steps >= 1, finetune_batch >= 2"
            )
        if self.finetune_iterations == 0 and self.variant in ("online_pg", "non_adaptive"):
            raise MolseikoError(f"{self.variant} fine-tunes: finetune_iterations must be >= 1")
        if self.library_pool < 0:
            raise MolseikoError("library_pool must be >= 0")
        if self.library_pool > 0 and not self.library:
            raise MolseikoError("library_pool needs a library file (config key `library`)")
        if self.library_pool > 0 and (self.select == "sample" or self.variant in MODEL_FREE):
            raise MolseikoError(
                "library_pool needs a reward model that ranks the pool (select = 'ucb' or "
                "'sequential' and a variant other than pretrained / online_pg), not select = "
                f"{self.select!r} with {self.variant}"
            )
        if self.steps_per_update < 2:
            raise MolseikoError("steps_per_update must be at least 2")
        negative = [key for key in ("alpha", "beta") if getattr(self, key) < 0]
        if negative:  # a KL weight below 0 rewards leaving the reference (a bonus may: c < 0
            raise MolseikoError(f"{', '.join(negative)} must be >= 0")  # is a lower bound)
        if self.finetune_lr <= 0 or self.ensemble_epochs < 1:
            raise MolseikoError("finetune_lr must be > 0 and ensemble_epochs >= 1")
        if self.seed < 0:  # numpy's seed sequences take no negative entropy
            raise MolseikoError("seed must be >= 0")
        check_device(self.device)

    def _check_types(self) -> None:
        """Each key has its field's type: TOML's 0.05 and "0.05" differ, and a quoted "false"
        would otherwise switch a feature on. An integer may stand for a number (alpha = 1), 0 or
        1 for false or true (as earlier versions saved some flags), and numpy scalars for
        Python's own (so the saved config.toml stays TOML)."""
        for field in fields(self):
            value = getattr(self, field.name)
            number = isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)
            if field.type == "float" and number:
                setattr(self, field.name, float(value))
            elif field.type == "int" and number and isinstance(value, numbers.Integral):
                setattr(self, field.name, int(value))
            elif field.type == "bool" and (isinstance(value, bool | np.bool_) or value in (0, 1)):
                setattr(self, field.name, bool(value))
            elif field.type != "str" or not isinstance(value, str):
                noun = {"bool": "true or false", "int": "an integer", "float": "a number"}
                raise MolseikoError(
                    f"config key {field.name} must be {noun.get(field.type, 'a string')}, "
                    f"not {value!r}"
                )

    @classmethod
    def from_saved(
        cls, path: str | Path, required: tuple[str, ...] = (), **overrides
    ) -> CampaignConfig:
        """A run's own saved config.toml: as `from_toml`, but a `PREDATING` key it lacks takes
        the value the run was made with, so a resumed run keeps its settings."""
        return cls.from_toml(path, required, _absent=PREDATING, **overrides)

    @classmethod
    def from_toml(
        cls, path: str | Path, required: tuple[str, ...] = (), _absent=None, **overrides
    ) -> CampaignConfig:
        """Settings from a TOML file; keyword overrides (CLI flags) win when not None. A file
        lacking a `required` key is refused (a run's saved config cut short would otherwise
        read as defaults)."""
        try:
            table = {**(_absent or {}), **tomllib.loads(Path(path).read_text())}
        except FileNotFoundError:
            raise MolseikoError(f"{path}: no such config file") from None
        except tomllib.TOMLDecodeError as err:
            raise MolseikoError(f"{path}: invalid TOML ({err})") from None
        missing = [key for key in required if key not in table]
        if missing:
            raise MolseikoError(
                f"{path} lacks {', '.join(missing)}: restore the run's settings before resuming"
            )
        try:
            return cls.from_dict(table, **overrides)
        except MolseikoError as err:
            raise MolseikoError(f"{path}: {err}") from None

    @classmethod
    def from_dict(cls, table: dict, **overrides) -> CampaignConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(table) - known)
        if unknown:
            raise MolseikoError(
                f"unknown config keys {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
        merged = {**table, **{k: v for k, v in overrides.items() if v is not None}}
        try:
            return cls(**merged)
        except TypeError as err:
            raise MolseikoError(f"bad config: {err}") from None

    def same_campaign(self, other: CampaignConfig) -> bool:
        """Equal in everything that shapes the results (where it runs and writes may differ)."""
        mine, theirs = asdict(self), asdict(other)
        for key in ("device", "out", "scheduler", "oracle_chunk"):
            mine.pop(key), theirs.pop(key)
        return mine == theirs

    def to_toml(self) -> str:
        lines = []
        for key, value in asdict(self).items():
            if isinstance(value, bool):
                lines.append(f"{key} = {str(value).lower()}")
            elif isinstance(value, int | float):
                lines.append(f"{key} = {value!r}")
            else:
                escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
                lines.append(f'{key} = "{escaped}"')
        return "\n".join(lines) + "\n"
