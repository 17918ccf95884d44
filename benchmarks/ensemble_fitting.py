"""Reward-ensemble fitting: warm start versus from scratch, as in a campaign's rounds.

Adds `--batch` random ZINC250k molecules per round (scored by a PMO objective), refits the
ensemble either from scratch or from the previous round's weights, and reports on a fixed
held-out set: RMSE, Spearman of prediction vs truth, Spearman of s_hat vs |error| (is the bonus
informative?) and fit seconds. Writes `ensemble_fitting.csv` and `.png` into --out.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from molseiko.oracles.registry import resolve_objective
from molseiko.reward.ensemble import EnsembleConfig, RewardEnsemble

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objective", default="osimertinib_mpo")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--held-out", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
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

    records = []
    for warm in (False, True):
        ensemble = RewardEnsemble(EnsembleConfig(warm_start=warm, seed=args.seed))
        for round_ in range(1, args.rounds + 1):
            n = round_ * args.batch
            start = time.perf_counter()
            ensemble.fit(train_smiles[:n], train_values[:n], round_)
            seconds = time.perf_counter() - start
            prediction = ensemble.predict(test_smiles)
            error = np.abs(prediction.mean - test_values)
            records.append(
                {
                    "mode": "warm start" if warm else "from scratch",
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
    frame.to_csv(args.out / "ensemble_fitting.csv", index=False)
    plot(frame, args.out / "ensemble_fitting.png")


def plot(frame: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = ["rmse", "spearman_prediction", "spearman_std_error", "fit_seconds"]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 3.2))
    for axis, metric in zip(axes, metrics, strict=True):
        for mode, group in frame.groupby("mode"):
            axis.plot(group.measured, group[metric], marker="o", label=mode)
        axis.set_xlabel("measured designs")
        axis.set_title(metric)
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
