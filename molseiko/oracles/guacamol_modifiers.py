"""GuacaMol score modifiers: map a raw value (a similarity, a descriptor, a count) onto [0, 1].

The definitions of guacamol's `score_modifier.py` (Brown et al. 2019). Each works elementwise on a
float or an array of `N` values and returns the same shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike


@dataclass(frozen=True)
class GaussianModifier:
    """A bell, `exp(-(x - mu)^2 / (2 sigma^2))`: 1 at `mu`, about 0.61 one `sigma` away."""

    mu: float
    sigma: float

    def __call__(self, x: ArrayLike) -> np.ndarray:
        return np.exp(-0.5 * np.square((np.asarray(x, dtype=float) - self.mu) / self.sigma))


@dataclass(frozen=True)
class MinGaussianModifier:
    """1 for `x <= mu`, then the right half of a Gaussian: rewards staying below `mu`."""

    mu: float
    sigma: float

    def __call__(self, x: ArrayLike) -> np.ndarray:
        return GaussianModifier(self.mu, self.sigma)(np.maximum(x, self.mu))


@dataclass(frozen=True)
class MaxGaussianModifier:
    """1 for `x >= mu`, then the left half of a Gaussian: rewards staying above `mu`."""

    mu: float
    sigma: float

    def __call__(self, x: ArrayLike) -> np.ndarray:
        return GaussianModifier(self.mu, self.sigma)(np.minimum(x, self.mu))


@dataclass(frozen=True)
class ClippedScoreModifier:
    """The line through `(lower_x, low_score)` and `(upper_x, high_score)`, clipped to the scores.

    With the defaults, `x / upper_x` capped at 1: a similarity of `upper_x` or more is enough.
    `upper_x < lower_x` makes it decreasing.
    """

    upper_x: float
    lower_x: float = 0.0
    high_score: float = 1.0
    low_score: float = 0.0

    def __post_init__(self) -> None:
        if not self.low_score < self.high_score:
            raise ValueError(
                f"low_score {self.low_score} must be below high_score {self.high_score}"
            )
        if self.upper_x == self.lower_x:
            raise ValueError(f"upper_x and lower_x must differ (both {self.upper_x})")

    def __call__(self, x: ArrayLike) -> np.ndarray:
        slope = (self.high_score - self.low_score) / (self.upper_x - self.lower_x)
        line = self.high_score + slope * (np.asarray(x, dtype=float) - self.upper_x)
        return np.clip(line, self.low_score, self.high_score)


@dataclass(frozen=True)
class ThresholdedLinearModifier:
    """`min(x, threshold) / threshold`: linear up to `threshold`, 1 beyond."""

    threshold: float

    def __post_init__(self) -> None:
        if self.threshold == 0:
            raise ValueError("threshold must be non-zero")

    def __call__(self, x: ArrayLike) -> np.ndarray:
        return np.minimum(np.asarray(x, dtype=float), self.threshold) / self.threshold
