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

    def batch(self, prediction: EnsemblePrediction, size: int) -> tuple[np.ndarray, np.ndarray]:
        """The order in which to take the `N` designs into a batch of `size`, and each one's
        acquisition: here simply the best first (ties keep the pool's order)."""
        values = self(prediction)
        return np.argsort(-np.nan_to_num(values, nan=-np.inf), kind="stable"), values


class Greedy(Acquisition):
    """r_hat: no exploration bonus."""

    name = "greedy"

    def __call__(self, prediction: EnsemblePrediction) -> np.ndarray:
        return prediction.mean


class UpperConfidenceBound(Acquisition):
    """r_hat + c * s_hat; with `sequential`, a batch is chosen one design at a time
    (`sequential_batch`)."""

    name = "ucb"

    def __init__(self, bonus: float = 1.0, sequential: bool = False):
        self.bonus, self.sequential = bonus, sequential

    def __call__(self, prediction: EnsemblePrediction) -> np.ndarray:
        return prediction.mean + self.bonus * prediction.std

    def batch(self, prediction: EnsemblePrediction, size: int) -> tuple[np.ndarray, np.ndarray]:
        if not self.sequential:
            return super().batch(prediction, size)
        return sequential_batch(prediction, self.bonus, size)


def sequential_batch(
    prediction: EnsemblePrediction, bonus: float, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Batch UCB with the ensemble as the posterior (GP-BUCB's hallucination, Desautels et al.
    2014, in the members' space): take the design of highest r_hat + c * s_hat, believe it
    measured at its r_hat, shrink the spread of every design the members disagree on in the
    same way, and repeat `size` times. The rest follow by their last acquisition.

    Design i deviates from the mean by phi_i = (members_i - r_hat_i) / sqrt(M), so s_hat_i^2 =
    |phi_i|^2: the mean plus phi_i . w with w ~ N(0, I_M). A measurement of design j with noise
    variance sigma^2 (the pool's mean s_hat^2: one measurement tells as much as the ensemble's
    typical disagreement) conditions w, Sigma <- Sigma - Sigma phi_j phi_j' Sigma /
    (phi_j' Sigma phi_j + sigma^2), and design i's spread becomes sqrt(phi_i' Sigma phi_i).
    Designs the members disagree on differently keep their bonus, so one batch does not spend
    many calls on the same question. But M members span only M - 1 such questions, so the
    bonus fades fast: in PMO campaigns (5 members, pools of about 1,000) the 10th pick of round
    2 kept 14-26% of its bonus, and of later rounds a median 68-80% (README). Returns the order
    and each design's acquisition when it was taken (the rest: after the last pick)."""
    members = np.asarray(prediction.members, dtype=float)
    count = members.shape[1]
    phi = np.nan_to_num((members - prediction.mean) / np.sqrt(members.shape[0]))
    spread = np.asarray(prediction.std, dtype=float)
    noise = float(np.nanmean(spread**2)) if np.isfinite(spread).any() else 0.0
    mean = np.nan_to_num(prediction.mean, nan=-np.inf)
    sigma = np.eye(members.shape[0])
    values = np.empty(count)
    order: list[int] = []
    open_ = np.ones(count, dtype=bool)

    def optimistic() -> np.ndarray:  # r_hat + c * the spread left after the picks so far
        return mean + bonus * np.sqrt(np.clip(np.einsum("mn,mn->n", phi, sigma @ phi), 0, None))

    for _ in range(min(size, count)):
        current = np.where(open_, optimistic(), -np.inf)
        pick = int(np.flatnonzero(open_)[np.argmax(current[open_])])  # ties: the pool's order
        order.append(pick)
        values[pick], open_[pick] = current[pick], False
        lean = sigma @ phi[:, pick]
        if noise > 0:
            sigma = sigma - np.outer(lean, lean) / (phi[:, pick] @ lean + noise)
    rest = np.flatnonzero(open_)
    values[rest] = optimistic()[rest]
    rest = rest[np.argsort(-values[rest], kind="stable")]
    values[~np.isfinite(values)] = np.nan
    return np.concatenate([np.array(order, dtype=int), rest]), values


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
