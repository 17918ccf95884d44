"""A fitness-landscape simulator: an ensemble regressor fitted to a table of measured
substitution variants of one wild type, standing in for the lab in retrospective campaigns.

Model (global epistasis, Otwinowski et al. 2018; Sarkisyan et al. 2016 fit the same form to
avGFP): every substitution `i:a` has an additive latent effect theta[i, a] (the wild type's
letter has none), and the measured value is a sigmoid of the summed latent effects,

    y(x) = low + (high - low) * sigmoid(bias + sum_{i: x_i != w_i} theta[i, x_i]),

so mutations add up inside the sigmoid and saturate outside it (a dead protein stays dead).
`members` copies are fitted on bootstrap resamples of the table; the oracle reports their mean,
with their spread as a detail column. This simulator is a file of its own, fitted to the whole
table, and never shares data or code paths with a campaign's reward model.

Its domain is the data's: a design with a substitution that the table never measured, with more
substitutions than any measured variant, or of another length fails with the reason, the way a
lab reports a construct it could not make.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from molseiko.domains.protein import AMINO_ACIDS, canonical_sequence, check_sequence
from molseiko.errors import MolseikoError
from molseiko.oracles.base import Oracle

_LETTER = {a: i for i, a in enumerate(AMINO_ACIDS)}


@dataclass
class LandscapeData:
    """Variants as indices of their substitutions (`V x K`, padded with -1) and their values."""

    substitutions: np.ndarray
    values: np.ndarray


def substitution_index(wild_type: str, sequence: str) -> list[int]:
    """Flat indices `position * 20 + letter` of the positions where `sequence` differs."""
    return [
        i * 20 + _LETTER[a]
        for i, (a, w) in enumerate(zip(sequence, wild_type, strict=True))
        if a != w
    ]


def encode_variants(
    wild_type: str, sequences: Sequence[str], values: Sequence[float]
) -> LandscapeData:
    """Substitution indices for equal-length variants (checked) of the wild type."""
    rows = []
    for n, sequence in enumerate(sequences):
        sequence = check_sequence(sequence, f"variant {n + 1}")
        if len(sequence) != len(wild_type):
            raise MolseikoError(
                f"variant {n + 1} has length {len(sequence)}, the wild type {len(wild_type)}: "
                "the simulator models substitutions only"
            )
        rows.append(substitution_index(wild_type, sequence))
    width = max(1, max(map(len, rows)))
    table = np.full((len(rows), width), -1, dtype=np.int64)
    for n, row in enumerate(rows):
        table[n, : len(row)] = row
    return LandscapeData(table, np.asarray(values, dtype=float))


class GlobalEpistasis(torch.nn.Module):
    """One member: additive latent effects through a learned-range sigmoid."""

    def __init__(self, length: int, low: float, high: float):
        super().__init__()
        self.theta = torch.nn.Parameter(torch.zeros(length * 20 + 1))  # the last slot: padding
        self.bias = torch.nn.Parameter(torch.tensor(2.0))
        self.low = torch.nn.Parameter(torch.tensor(float(low)))
        self.high = torch.nn.Parameter(torch.tensor(float(high)))

    def latent(self, substitutions: torch.Tensor) -> torch.Tensor:
        padded = torch.where(substitutions < 0, self.theta.numel() - 1, substitutions)
        theta = torch.cat([self.theta[:-1], self.theta.new_zeros(1)])
        return self.bias + theta[padded].sum(-1)

    def forward(self, substitutions: torch.Tensor) -> torch.Tensor:
        return self.low + (self.high - self.low) * torch.sigmoid(self.latent(substitutions))


def fit_member(
    data: LandscapeData,
    length: int,
    rows: np.ndarray,
    epochs: int = 300,
    l2: float = 1e-4,
    seed: int = 0,
) -> GlobalEpistasis:
    """Full-batch Adam on mean squared error plus `l2` on the effects, over `rows` of `data`."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        x = torch.as_tensor(data.substitutions[rows])
        y = torch.as_tensor(data.values[rows], dtype=torch.float32)
        model = GlobalEpistasis(length, float(np.quantile(y, 0.01)), float(np.quantile(y, 0.99)))
        optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
        for _ in range(epochs):
            optimizer.zero_grad()
            loss = torch.mean((model(x) - y) ** 2) + l2 * model.theta.pow(2).sum()
            loss.backward()
            optimizer.step()
    return model.eval()


class LandscapeSimulator:
    """An ensemble of fitted members plus the domain they may be asked about."""

    def __init__(
        self,
        wild_type: str,
        theta: np.ndarray,
        heads: np.ndarray,
        observed: np.ndarray,
        max_substitutions: int,
        meta: dict | None = None,
    ):
        self.wild_type = wild_type
        self.theta = theta  # members x (L*20)
        self.heads = heads  # members x 3: bias, low, high
        self.observed = observed  # L*20 booleans: substitutions seen in the table
        self.max_substitutions = max_substitutions
        self.meta = meta or {}

    @classmethod
    def fit(
        cls,
        wild_type: str,
        sequences: Sequence[str],
        values: Sequence[float],
        members: int = 5,
        epochs: int = 300,
        seed: int = 0,
        meta: dict | None = None,
    ) -> LandscapeSimulator:
        wild_type = check_sequence(wild_type, "wild type")
        data = encode_variants(wild_type, sequences, values)
        rng = np.random.default_rng(seed)
        fitted = [
            fit_member(
                data,
                len(wild_type),
                rng.integers(len(data.values), size=len(data.values)),
                epochs,
                seed=seed + m,
            )  # fmt: skip
            for m in range(members)
        ]
        observed = np.zeros(len(wild_type) * 20, dtype=bool)
        observed[data.substitutions[data.substitutions >= 0]] = True
        return cls(
            wild_type,
            np.stack([m.theta.detach()[:-1].numpy() for m in fitted]),
            np.array([[m.bias.item(), m.low.item(), m.high.item()] for m in fitted]),
            observed,
            int((data.substitutions >= 0).sum(1).max()),
            meta,
        )

    def out_of_domain(self, substitutions: list[int]) -> str | None:
        """Why the simulator cannot score a variant (given as substitution indices), or None."""
        unseen = [i for i in substitutions if not self.observed[i]]
        if unseen:
            i = unseen[0]
            return (
                f"substitution {self.wild_type[i // 20]}{i // 20}{AMINO_ACIDS[i % 20]} was never "
                "measured: outside the simulator's domain"
            )
        if len(substitutions) > self.max_substitutions:
            return (
                f"{len(substitutions)} substitutions, more than any measured variant "
                f"({self.max_substitutions}): outside the simulator's domain"
            )
        return None

    def predict(self, substitutions: list[list[int]]) -> np.ndarray:
        """`members x N` predictions for variants given as substitution indices."""
        latent = np.stack([self.theta[:, s].sum(1) for s in substitutions], axis=1)
        bias, low, high = (self.heads[:, k : k + 1] for k in range(3))
        return low + (high - low) / (1.0 + np.exp(-(bias + latent)))

    def save(self, path: str | Path) -> None:
        np.savez_compressed(
            path,
            wild_type=np.array(self.wild_type),
            theta=self.theta.astype(np.float32),
            heads=self.heads,
            observed=self.observed,
            max_substitutions=np.array(self.max_substitutions),
            meta=np.array(repr(self.meta)),
        )

    @classmethod
    def load(cls, path: str | Path) -> LandscapeSimulator:
        path = Path(path)
        if not path.is_file():
            raise MolseikoError(f"simulator file {path} not found")
        try:
            with np.load(path, allow_pickle=False) as data:
                return cls(
                    str(data["wild_type"]),
                    data["theta"].astype(float),
                    data["heads"],
                    data["observed"],
                    int(data["max_substitutions"]),
                    {"source": str(data["meta"])},
                )
        except (KeyError, ValueError, OSError) as err:
            raise MolseikoError(f"{path}: not a landscape simulator file ({err})") from None


class SimulatorOracle(Oracle):
    """The ensemble mean of a `LandscapeSimulator`; detail column `member_std`."""

    cost = "cheap"

    def __init__(
        self, simulator: LandscapeSimulator, name: str = "simulator", description: str = ""
    ):
        self.simulator, self.name = simulator, name
        self.description = description or (
            f"global-epistasis simulator of a {len(simulator.wild_type)}-aa landscape"
        )

    def __call__(self, designs: Sequence[str]):
        result = super().__call__(designs)
        result.details["member_std"] = self._std
        return result

    def measure(self, designs: Sequence[str]):
        raw = np.full(len(designs), np.nan)
        self._std = np.full(len(designs), np.nan)
        failures: list[str | None] = [None] * len(designs)
        wild, ok, indices = self.simulator.wild_type, [], []
        for n, design in enumerate(designs):
            sequence = canonical_sequence(design)
            if sequence is None:
                failures[n] = "not a sequence of the 20 standard amino acids"
            elif len(sequence) != len(wild):
                failures[n] = f"length {len(sequence)}, the simulated wild type has {len(wild)}"
            else:
                index = substitution_index(wild, sequence)
                failures[n] = self.simulator.out_of_domain(index)
                if failures[n] is None:
                    ok.append(n)
                    indices.append(index)
        if ok:
            predictions = self.simulator.predict(indices)
            raw[ok] = predictions.mean(0)
            self._std[ok] = predictions.std(0)
        return raw, failures


def fit_from_table(
    table: str | Path,
    wild_type: str,
    column: str,
    members: int = 5,
    epochs: int = 300,
    holdout: float = 0.1,
    seed: int = 0,
) -> tuple[LandscapeSimulator, dict]:
    """Fit a simulator to every usable row of a `sequence` + `column` table; first, to measure
    it, fit the same ensemble on all but a seeded `holdout` fraction and score that fraction
    (Spearman, R^2, and the Spearman of member spread against absolute error). Rows with a blank
    value or a non-standard letter (e.g. a stop `*`) are left out and counted."""
    from scipy.stats import spearmanr

    from molseiko.oracles.lab import read_table

    header, rows = read_table(table)
    for needed in ("sequence", column):
        if needed not in header:
            raise MolseikoError(f"{table}: no {needed!r} column (columns: {', '.join(header)})")
    at_seq, at_value = header.index("sequence"), header.index(column)
    sequences, values, skipped = [], [], 0
    for row in rows:
        sequence = canonical_sequence(row[at_seq])
        try:
            value = float(row[at_value])
        except ValueError:
            value = float("nan")
        if sequence is None or len(sequence) != len(wild_type) or not np.isfinite(value):
            skipped += 1
            continue
        sequences.append(sequence)
        values.append(value)
    if len(values) < 10:
        raise MolseikoError(f"{table}: {len(values)} usable rows, too few to fit a simulator")
    values = np.array(values)
    report = {"rows_used": len(values), "rows_skipped": skipped, "members": members}
    if holdout > 0:
        order = np.random.default_rng(seed).permutation(len(values))
        test, train = order[: int(len(values) * holdout)], order[int(len(values) * holdout) :]
        check = LandscapeSimulator.fit(
            wild_type, [sequences[i] for i in train], values[train], members, epochs, seed
        )
        index = [substitution_index(check.wild_type, sequences[i]) for i in test]
        inside = np.array([check.out_of_domain(s) is None for s in index])
        predictions = check.predict([s for s, ok in zip(index, inside, strict=True) if ok])
        mean, truth = predictions.mean(0), values[test][inside]
        report.update(
            holdout_rows=int(len(test)),
            holdout_in_domain=float(inside.mean()),
            holdout_spearman=float(spearmanr(mean, truth)[0]),
            holdout_r2=float(1 - np.mean((mean - truth) ** 2) / np.var(truth)),
            holdout_std_error_spearman=float(spearmanr(predictions.std(0), abs(mean - truth))[0]),
        )
    simulator = LandscapeSimulator.fit(wild_type, sequences, values, members, epochs, seed, report)
    return simulator, report
