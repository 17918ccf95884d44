"""Optimism: how an ensemble prediction becomes the reward that fine-tuning and selection use."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from molseiko.reward.ensemble import EnsemblePrediction


class Acquisition(ABC):
    """Maps ensemble predictions for `N` designs to `N` optimistic rewards."""

    name = "acquisition"

    def new_round(self, rng: np.random.Generator, members: int) -> None:  # noqa: B027
        """Called once per round before use (Thompson sampling draws its member here)."""

    @abstractmethod
    def __call__(self, prediction: EnsemblePrediction) -> np.ndarray: ...


class Greedy(Acquisition):
    """r_hat: no exploration bonus."""

    name = "greedy"

    def __call__(self, prediction: EnsemblePrediction) -> np.ndarray:
        return prediction.mean


class UpperConfidenceBound(Acquisition):
    """r_hat + c * s_hat."""

    name = "ucb"

    def __init__(self, bonus: float = 1.0):
        self.bonus = bonus

    def __call__(self, prediction: EnsemblePrediction) -> np.ndarray:
        return prediction.mean + self.bonus * prediction.std


class BootstrapMax(Acquisition):
    """The most optimistic member: max over members."""

    name = "bootstrap"

    def __call__(self, prediction: EnsemblePrediction) -> np.ndarray:
        return prediction.members.max(0)


class Thompson(Acquisition):
    """One member, drawn anew each round, stands in for the reward."""

    name = "thompson"

    def __init__(self):
        self.member = 0

    def new_round(self, rng: np.random.Generator, members: int) -> None:
        self.member = int(rng.integers(members))

    def __call__(self, prediction: EnsemblePrediction) -> np.ndarray:
        return prediction.members[self.member]
