"""Reward-ensemble fitting: warm start versus from scratch, as in a campaign's rounds.

Adds `--batch` random ZINC250k molecules per round (scored by a PMO objective), refits the
ensemble either from scratch or from the previous round's weights, and reports on a fixed
held-out set: RMSE, Spearman of prediction vs truth, Spearman of s_hat vs |error| (is the bonus
informative?) and fit seconds. `descriptors` fits from scratch with RDKit's 2D descriptors
beside each graph (`ensemble_descriptors`). A fourth mode is the usual alternative reward model
of Bayesian optimization over molecules (PMO's GP BO): an exact Gaussian process with the
Tanimoto (MinMax) kernel on ECFP4 count fingerprints, whose uncertainty grows with distance from
the data by construction; its noise and amplitude maximize the marginal likelihood over a grid.
Writes `ensemble_fitting.csv` and `.png` into --out (rows of other objectives and of modes not
run are kept).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
from scipy.linalg import cho_solve, solve_triangular
from scipy.stats import spearmanr

from molseiko.oracles.registry import resolve_objective
from molseiko.reward.ensemble import EnsembleConfig, RewardEnsemble

ROOT = Path(__file__).resolve().parents[1]
MODES = ("from scratch", "warm start", "descriptors", "Tanimoto GP")


class TanimotoGP:
    """Exact GP regression, MinMax kernel on ECFP4 counts, constant mean; fit by maximizing
    the marginal likelihood of the standardized values over a grid of noise and amplitude."""

    def fit(self, smiles: list[str], values: np.ndarray, round_: int) -> None:
        self.train = fingerprints(smiles)
        self.center, self.scale = float(np.mean(values)), float(np.std(values)) or 1.0
        target = (np.asarray(values) - self.center) / self.scale
        gram = minmax(self.train, self.train)
        best = -np.inf
        for noise in (1e-3, 1e-2, 0.03, 0.1, 0.3, 1.0):
            for amplitude in (0.3, 1.0, 3.0):
                factor = np.linalg.cholesky(amplitude * gram + noise * np.eye(len(gram)))
                weights = cho_solve((factor, True), target)
                evidence = -0.5 * target @ weights - np.log(np.diag(factor)).sum()
                if evidence > best:
                    best, self.factor, self.weights = evidence, factor, weights
                    self.amplitude = amplitude

    def predict(self, smiles: list[str]):
        cross = self.amplitude * minmax(fingerprints(smiles), self.train)
        solved = solve_triangular(self.factor, cross.T, lower=True)
        variance = np.maximum(self.amplitude - (solved * solved).sum(0), 1e-12)
        mean = self.center + self.scale * (cross @ self.weights)
        return SimpleNamespace(mean=mean, std=self.scale * np.sqrt(variance))


def fingerprints(smiles: list[str]) -> np.ndarray:
    from rdkit import Chem
    from rdkit.Chem import rdFingerprintGenerator

    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    return np.array(
        [generator.GetCountFingerprintAsNumPy(Chem.MolFromSmiles(s)) for s in smiles],
        dtype=np.float32,
    )


def minmax(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Tanimoto similarity of count vectors: sum of minima over sum of maxima, the latter
    being sum(a) + sum(b) - sum of minima."""
    totals = second.sum(1)
    out = np.empty((len(first), len(second)))
    for i, row in enumerate(first):
        minima = np.minimum(row, second).sum(1)
        out[i] = minima / np.maximum(row.sum() + totals - minima, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objective", default="osimertinib_mpo")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--held-out", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    smiles = pd.read_csv(ROOT / "data/zinc250k/zinc250k.csv.gz").smiles
    rng = np.random.default_rng(args.seed)
    rows = rng.choice(len(smiles), args.rounds * args.batch + args.held_out, replace=False)
    chosen = smiles[rows].tolist()
    values = resolve_objective(args.objective)(chosen).values
    train_smiles, train_values = chosen[: -args.held_out], values[: -args.held_out]
    test_smiles, test_values = chosen[-args.held_out :], values[-args.held_out :]

    table = args.out / "ensemble_fitting.csv"
    kept = pd.read_csv(table) if table.is_file() else pd.DataFrame(columns=["objective", "mode"])
    redone = (kept["objective"] == args.objective) & kept["mode"].isin(args.modes)
    records = kept[~redone].to_dict("records")
    for mode in args.modes:
        if mode == "Tanimoto GP":
            ensemble = TanimotoGP()
        else:
            config = EnsembleConfig(
                warm_start=mode == "warm start", descriptors=mode == "descriptors", seed=args.seed
            )
            ensemble = RewardEnsemble(config)
        for round_ in range(1, args.rounds + 1):
            n = round_ * args.batch
            start = time.perf_counter()
            ensemble.fit(train_smiles[:n], train_values[:n], round_)
            seconds = time.perf_counter() - start
            prediction = ensemble.predict(test_smiles)
            error = np.abs(prediction.mean - test_values)
            records.append(
                {
                    "objective": args.objective,
                    "mode": mode,
                    "round": round_,
                    "measured": n,
                    "rmse": float(np.sqrt(np.mean(error**2))),
                    "spearman_prediction": float(spearmanr(prediction.mean, test_values).statistic),
                    "spearman_std_error": float(spearmanr(prediction.std, error).statistic),
                    "fit_seconds": round(seconds, 1),
                }
            )
            print(records[-1], flush=True)
    frame = pd.DataFrame(records)
    frame.to_csv(table, index=False)
    plot(frame, args.out / "ensemble_fitting.png")


def plot(frame: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = ["rmse", "spearman_prediction", "spearman_std_error", "fit_seconds"]
    objectives = sorted(frame["objective"].unique())
    fig, grid = plt.subplots(
        len(objectives),
        len(metrics),
        figsize=(4 * len(metrics), 3.2 * len(objectives)),
        squeeze=False,
    )
    for axes, objective in zip(grid, objectives, strict=True):
        for axis, metric in zip(axes, metrics, strict=True):
            for mode, group in frame[frame["objective"] == objective].groupby("mode"):
                color = f"C{MODES.index(mode)}"  # one colour per mode in every row
                axis.plot(group.measured, group[metric], marker="o", label=mode, color=color)
            axis.set_xlabel("measured designs")
            axis.set_title(f"{objective}: {metric}")
        axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
