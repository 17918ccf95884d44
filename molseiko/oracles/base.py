"""The oracle contract: score a batch of designs, NaN plus a reason for each one that failed."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from molseiko.domains.molecule import to_mol
from molseiko.errors import MolseikoError

COSTS = ("cheap", "moderate", "expensive")
"""The values of `Oracle.cost`, from least to most."""


@dataclass
class OracleResult:
    """Scores of one batch of designs."""

    values: np.ndarray
    """`N` float scores, higher is better (the oracle's direction applied); NaN where it failed."""
    failures: list[str | None]
    """Per design, why it failed, or None."""
    raw: np.ndarray
    """`N` float values as measured, before the direction is applied."""
    details: dict[str, np.ndarray] = field(default_factory=dict)
    """Optional per-design columns, e.g. each component's raw and transformed value."""

    def __len__(self) -> int:
        return len(self.values)

    def take(self, positions: list[int]) -> OracleResult:
        """The designs at `positions` of this batch, in that order."""
        return OracleResult(
            self.values[positions],
            [self.failures[i] for i in positions],
            self.raw[positions],
            {name: np.asarray(column)[positions] for name, column in self.details.items()},
        )


class Oracle(ABC):
    """An objective. Called on a batch of designs; never raises for one bad design."""

    name: str = "oracle"
    direction: str = "maximize"
    """'maximize' or 'minimize' the raw value; `values` are always higher-is-better."""
    cost: str = "cheap"
    """A hint for schedulers and users: one of COSTS, 'cheap' (ms), 'moderate' (s), 'expensive'
    (min or lab)."""
    deterministic: bool = True
    description: str = ""

    @abstractmethod
    def measure(self, designs: Sequence[str]) -> tuple[np.ndarray, list[str | None]]:
        """Raw values (`N`, NaN on failure) and failure reasons."""

    def for_worker(self) -> Oracle:
        """This oracle as one worker of a `ParallelOracle` should run it: an oracle that spreads
        its own work over the machine (docking) returns a one-process version, so N workers do
        not each start a machine-wide pool."""
        return self

    def __call__(self, designs: Sequence[str]) -> OracleResult:
        designs = list(designs)
        try:
            raw, failures = self.measure(designs)
        except MolseikoError:
            raise
        except Exception as err:  # a whole batch failed: stop rather than record noise
            raise MolseikoError(
                f"oracle {self.name!r} failed on a batch of {len(designs)} designs "
                f"({err.__class__.__name__}: {err}); nothing was recorded"
            ) from None
        return self._checked(raw, failures, len(designs))

    def parts(self, designs: Sequence[str]) -> Iterator[tuple[list[int], OracleResult]]:
        """The batch's results as they finish: (positions in `designs`, their result). Here one
        part; an oracle whose designs finish at different times (worker pools, docking) yields
        each as it comes, so a campaign records it at once and a kill loses only the designs
        still running."""
        designs = list(designs)
        yield list(range(len(designs))), self(designs)

    def _checked(self, raw, failures: Sequence, count: int) -> OracleResult:
        """`measure`'s answer for `count` designs, checked, as an OracleResult."""
        raw = np.asarray(raw, dtype=float).reshape(-1)
        if len(raw) != count or len(failures) != count:
            raise MolseikoError(
                f"oracle {self.name!r} returned {len(raw)} values and {len(failures)} failure "
                f"reasons for {count} designs"
            )
        # A reason is stored as text: a plugin's exception object must not cost a paid batch.
        failures = [None if reason is None else str(reason) for reason in failures]
        failures = [
            "non-finite value" if reason is None and not np.isfinite(value) else reason
            for value, reason in zip(raw, failures, strict=True)
        ]
        raw = np.where([reason is None for reason in failures], raw, np.nan)
        values = raw if self.direction == "maximize" else -raw
        return OracleResult(values, failures, raw)

    def _streamed(self, parts: Iterator, count: int) -> Iterator[tuple[list[int], OracleResult]]:
        """`parts` of (positions, raw, reasons) as checked results; an error after some parts
        says how many designs were measured (and recorded) before it."""
        done = 0
        try:
            for positions, raw, failures in parts:
                yield positions, self._checked(raw, failures, len(positions))
                done += len(positions)
        except MolseikoError:
            raise
        except Exception as err:
            raise MolseikoError(
                f"oracle {self.name!r} failed on a batch of {count} designs "
                f"({err.__class__.__name__}: {err}) after {done} of them were measured"
            ) from None


class MoleculeOracle(Oracle):
    """An oracle from a function of one RDKit molecule; invalid SMILES and exceptions become NaN."""

    def __init__(
        self,
        name: str,
        function: Callable,
        direction: str = "maximize",
        description: str = "",
    ):
        if direction not in ("maximize", "minimize"):
            raise MolseikoError(f"direction must be 'maximize' or 'minimize', not {direction!r}")
        self.name, self.function, self.direction, self.description = (
            name,
            function,
            direction,
            description,
        )

    def measure(self, designs: Sequence[str]) -> tuple[np.ndarray, list[str | None]]:
        values = np.full(len(designs), np.nan)
        failures: list[str | None] = [None] * len(designs)
        for i, smiles in enumerate(designs):
            mol = to_mol(smiles)
            if mol is None:
                failures[i] = "invalid SMILES"
                continue
            try:
                values[i] = float(self.function(mol))
            except Exception as err:  # one bad design must not stop a campaign
                failures[i] = f"{self.name} failed: {err.__class__.__name__}: {err}"
        return values, failures
