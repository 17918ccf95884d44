"""Composite objectives: named oracles with desirability transforms and roles."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from molseiko.oracles.base import COSTS, Oracle, OracleResult
from molseiko.oracles.transforms import Identity

ROLES = ("objective", "filter", "penalty")


@dataclass
class Component:
    """One oracle inside a composite objective."""

    oracle: Oracle
    transform: Callable[[np.ndarray], np.ndarray] = field(default_factory=Identity)
    """Maps the oracle's raw value to a desirability (usually in [0, 1])."""
    role: str = "objective"
    """'objective' (aggregated), 'filter' (a design scoring below `threshold` gets 0), or
    'penalty' (weight x desirability is subtracted)."""
    weight: float = 1.0
    threshold: float = 0.5
    """For filters: the desirability a design must reach to pass."""
    label: str = ""
    """Column name in reports; the oracle's name by default."""

    def __post_init__(self):
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, not {self.role!r}")
        self.label = self.label or self.oracle.name


class CompositeOracle(Oracle):
    """Weighted geometric (default) or arithmetic mean of objective desirabilities, zeroed by
    failed filters, minus penalties. A design fails (NaN) if any component fails on it."""

    def __init__(
        self,
        name: str,
        components: Sequence[Component],
        aggregate: str = "geometric",
        description: str = "",
    ):
        if aggregate not in ("geometric", "arithmetic"):
            raise ValueError(f"aggregate must be 'geometric' or 'arithmetic', not {aggregate!r}")
        if not any(c.role == "objective" for c in components):
            raise ValueError(f"composite {name!r} has no component with role 'objective'")
        if any(c.weight <= 0 for c in components if c.role != "filter"):
            raise ValueError(f"composite {name!r}: objective and penalty weights must be > 0")
        self.name, self.components, self.aggregate = name, list(components), aggregate
        self.description = description or " + ".join(c.label for c in self.components)
        self.deterministic = all(c.oracle.deterministic for c in self.components)
        self.cost = self._slowest().oracle.cost  # a composite costs what its dearest part does

    def measure(self, designs):
        result = self(designs)
        return result.raw, result.failures

    def for_worker(self) -> CompositeOracle:
        worker = copy.copy(self)
        worker.components = [replace(c, oracle=c.oracle.for_worker()) for c in self.components]
        return worker

    def _slowest(self) -> Component:
        """The component that costs most per design (the first of equals)."""
        return max(self.components, key=lambda c: _rank(c.oracle.cost))

    def parts(self, designs: Sequence[str]) -> Iterator[tuple[list[int], OracleResult]]:
        """As the dearest component hands back its parts (each docked ligand), each part with
        the cheap components measured on its designs: a kill mid-batch loses only what that
        component was still running. Other costly components (a second docking target, an
        external program) measure the whole batch first, once. All cheap: one part."""
        designs = list(designs)
        slowest = self._slowest()
        if _rank(slowest.oracle.cost) == 0:
            yield from super().parts(designs)
            return
        costly = {
            id(c): c.oracle(designs)
            for c in self.components
            if c is not slowest and _rank(c.oracle.cost) > 0
        }
        for positions, measured in slowest.oracle.parts(designs):
            known = {key: result.take(positions) for key, result in costly.items()}
            chunk = [designs[i] for i in positions]
            yield positions, self._combine(chunk, {**known, id(slowest): measured})

    def __call__(self, designs: Sequence[str]) -> OracleResult:
        return self._combine(list(designs), {})

    def _combine(self, designs: list[str], known: dict[int, OracleResult]) -> OracleResult:
        """The composite of `designs`, from each component's measurement (`known`: those
        already measured, by id of the component)."""
        failures: list[str | None] = [None] * len(designs)
        details: dict[str, np.ndarray] = {}
        objectives, weights = [], []
        passed = np.ones(len(designs))
        penalty = np.zeros(len(designs))
        for component in self.components:
            if id(component) in known:
                measured = known[id(component)]
            else:
                measured = component.oracle(designs)
            desirability = np.asarray(component.transform(measured.raw), dtype=float)
            details[f"{component.label}_raw"] = measured.raw
            details[f"{component.label}_score"] = desirability
            for i, reason in enumerate(measured.failures):
                if reason is not None and failures[i] is None:
                    failures[i] = f"{component.label}: {reason}"
            if component.role == "objective":
                objectives.append(desirability)
                weights.append(component.weight)
            elif component.role == "filter":
                passed = passed * (desirability >= component.threshold)
            else:
                penalty = penalty + component.weight * desirability
        stacked, weights = np.stack(objectives), np.asarray(weights)[:, None]
        if self.aggregate == "geometric":
            with np.errstate(divide="ignore"):
                logs = np.log(np.clip(stacked, 0.0, None))
            combined = np.exp((weights * logs).sum(0) / weights.sum())
        else:
            combined = (weights * stacked).sum(0) / weights.sum()
        values = combined * passed - penalty
        failures = [
            reason if reason is not None or np.isfinite(value) else "non-finite value"
            for value, reason in zip(values, failures, strict=True)
        ]
        values = np.where([f is None for f in failures], values, np.nan)
        return OracleResult(values, failures, values.copy(), details)


def _rank(cost: str) -> int:
    """Where `cost` stands in COSTS (a plugin's cost not named there counts as cheap)."""
    return COSTS.index(cost) if cost in COSTS else 0
