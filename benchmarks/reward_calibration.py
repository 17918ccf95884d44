"""Reward models on the designs a campaign actually measures: does the spread rank the errors?

For each finished campaign (run directory) and each round k, fits every reward-model variant on
the designs measured before round k and predicts round k's measured batch. Reports the Spearman
of r_hat with the truth, of s_hat with |error| (is the bonus informative?), RMSE, RMS error
over RMS spread (1 for a calibrated spread) and fit seconds. The ensembles use another seed than
the campaign's, but the batches were still chosen by the campaign's own (graph-only) ensemble,
which favours variants that err elsewhere; this is a screen, the campaigns are the test.

Beside the ensembles, a comparator that is uncertain by construction where the data are not:
`ensemble_fitting.py`'s Gaussian process (Tanimoto/MinMax kernel on ECFP4 counts). If the
ensemble's spread failed only because it does not grow away from the data, the GP's spread would
rank its errors where the ensemble's does not.
Writes `reward_calibration.csv` and `.png` into --out.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from ensemble_fitting import TanimotoGP
from scipy.stats import spearmanr

from molseiko.reward.ensemble import EnsembleConfig, RewardEnsemble

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {
    "graph": lambda seed: RewardEnsemble(EnsembleConfig(seed=seed)),
    "graph + descriptors": lambda seed: RewardEnsemble(EnsembleConfig(seed=seed, descriptors=True)),
    "Tanimoto GP": lambda seed: TanimotoGP(),
}
"""Each reward model screened, made from the probe's seed."""


def measured(run: Path) -> pd.DataFrame:
    """Every measured design of a run with its round, from `rounds/round_XX.csv`."""
    frames = []
    for path in sorted((run / "rounds").glob("round_*.csv")):
        frame = pd.read_csv(path)
        frame["round"] = int(path.stem.split("_")[1])
        frames.append(frame)
    frame = pd.concat(frames, ignore_index=True)
    return frame[np.isfinite(frame.value)]


def probe(run: Path, rounds: list[int], variants: list[str], seed: int) -> list[dict]:
    data = measured(run)
    records = []
    for round_ in rounds:
        train, test = data[data["round"] < round_], data[data["round"] == round_]
        if test.empty:
            continue
        for variant in variants:
            model = VARIANTS[variant](seed)
            start = time.perf_counter()
            model.fit(train.smiles.tolist(), train.value.to_numpy(), round_)
            seconds = time.perf_counter() - start
            prediction = model.predict(test.smiles.tolist())
            error = prediction.mean - test.value.to_numpy()
            records.append(
                {
                    "run": run.name,
                    "round": round_,
                    "variant": variant,
                    "trained_on": len(train),
                    "rmse": float(np.sqrt(np.mean(error**2))),
                    "bias": float(np.mean(error)),
                    "spearman_prediction": float(spearmanr(prediction.mean, test.value).statistic),
                    "spearman_std_error": float(spearmanr(prediction.std, np.abs(error)).statistic),
                    "error_over_spread": float(
                        np.sqrt(np.mean(error**2)) / np.sqrt(np.mean(prediction.std**2))
                    ),
                    "fit_seconds": round(seconds, 1),
                }
            )
            print(records[-1], flush=True)
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("runs", nargs="+", type=Path, help="finished campaign run directories")
    parser.add_argument("--rounds", nargs="+", type=int, default=[2, 3, 4])
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--seed", type=int, default=100, help="ensemble seed (not the run's)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    records = []
    for run in args.runs:
        records += probe(run, args.rounds, args.variants, args.seed)
    frame = pd.DataFrame(records)
    frame.to_csv(args.out / "reward_calibration.csv", index=False)
    plot(frame, args.out / "reward_calibration.png")


def plot(frame: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = ["spearman_prediction", "spearman_std_error", "rmse", "error_over_spread"]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 3.2))
    for axis, metric in zip(axes, metrics, strict=True):
        summary = frame.groupby(["variant", "round"])[metric].mean().unstack(0)
        summary.plot(ax=axis, marker="o", legend=False)
        axis.set_title(f"{metric} (mean over runs)")
        axis.set_xlabel("round predicted")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
