"""Desirability transforms: map a raw value onto [0, 1], 1 being desirable."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Sigmoid:
    """Rises from 0 to 1 around `center`; `steepness` per unit of the raw value."""

    center: float
    steepness: float = 1.0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.steepness * (np.asarray(x, dtype=float) - self.center)))


@dataclass
class ReverseSigmoid:
    """Falls from 1 to 0 around `center`."""

    center: float
    steepness: float = 1.0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return 1.0 - Sigmoid(self.center, self.steepness)(x)


@dataclass
class DoubleSigmoid:
    """Near 1 between `low` and `high`, falling off outside with `steepness`."""

    low: float
    high: float
    steepness: float = 1.0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return Sigmoid(self.low, self.steepness)(x) * ReverseSigmoid(self.high, self.steepness)(x)


@dataclass
class Step:
    """1 where `low <= x <= high`, else 0."""

    low: float = -np.inf
    high: float = np.inf

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        inside = ((x >= self.low) & (x <= self.high)).astype(float)
        return np.where(np.isnan(x), np.nan, inside)  # a failed measurement stays failed


@dataclass
class Identity:
    """The raw value unchanged."""

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=float)


TRANSFORMS = {
    "sigmoid": Sigmoid,
    "reverse_sigmoid": ReverseSigmoid,
    "double_sigmoid": DoubleSigmoid,
    "step": Step,
    "identity": Identity,
}
