"""What a campaign writes for people: per-round tables (CSV + SDF), metrics.csv and plots."""

from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from molseiko.domains.base import Domain, get_domain
from molseiko.engine.ledger import design_id


@dataclass
class RoundSummary:
    """One round of a campaign."""

    round: int
    calls: int
    """Oracle calls spent so far (cumulative)."""
    best: float
    """Best value measured so far."""
    top10: float
    """Mean of the 10 best values measured so far."""
    batch_mean: float
    """Mean value of this round's batch (failures excluded)."""
    failures: int
    """Designs in this batch whose measurement failed."""
    validity: float
    """Share of sampled candidates that decode to a valid design."""
    uniqueness: float
    """Share of valid candidates that are distinct."""
    novelty: float
    """Share of distinct valid candidates never proposed before."""
    spread: float
    """Mean ensemble std (s_hat) over the batch, predicted before measuring (NaN in round 1)."""
    calibration: float
    """Spearman correlation of s_hat with |r_hat - value| over the batch (held-out data)."""
    kl_pretrained: float
    """KL(p_k || p_pre) over whole paths, estimated on the round's last fine-tuning batch (so
    before that batch's own gradient step)."""
    seconds_sample: float
    seconds_measure: float
    seconds_fit: float
    seconds_finetune: float
    error_over_spread: float = math.nan
    """RMS of value - r_hat over RMS of s_hat across the batch: how many times larger the
    ensemble's errors were than its spread (1: calibrated; NaN before predictions). With
    `calibrate_spread` the next round's spread is stretched by it."""
    spread_factor: float = 1.0
    """What the ensemble's spread was multiplied by when this batch was chosen (`Campaign.
    spread_scale`: 0 while `gate_bonus` holds the bonus back; NaN without a reward model)."""


def top_k_mean(values: list[float], k: int = 10) -> float:
    finite = sorted((v for v in values if math.isfinite(v)), reverse=True)
    return float(np.mean(finite[:k])) if finite else math.nan


def write_round(
    run_dir: Path, round_: int, table: list[dict], domain: Domain | None = None
) -> None:
    """rounds/round_XX.csv and .sdf (or .fasta): the batch with predictions and, once known,
    values."""
    domain = domain or get_domain("molecule")
    folder = run_dir / "rounds"
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / f"round_{round_:02d}"
    key = domain.key_column
    columns = ["id", key, "r_hat", "s_hat", "acquisition", "value", "raw", "failure", "source"]
    rows = [
        {"id": design_id(round_, i), key: row["key"], **_blank_missing(row)}
        for i, row in enumerate(table)
    ]
    with open(f"{stem}.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    tags = [{k: v for k, v in row.items() if k not in (key, "key")} for row in rows]
    domain.write(stem, [row[key] for row in rows], tags)


def _blank_missing(row: dict) -> dict:
    return {k: ("" if v is None else v) for k, v in row.items() if k != "key"}


def write_metrics(run_dir: Path, summaries: list[RoundSummary]) -> None:
    if not summaries:
        return
    with open(run_dir / "metrics.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(asdict(summaries[0])))
        writer.writeheader()
        for summary in summaries:
            writer.writerow({k: _round(v) for k, v in asdict(summary).items()})


def _round(value):
    return round(value, 5) if isinstance(value, float) else value


def plot_campaign(run_dir: Path, values_in_order: list[float], rounds: list[int]) -> None:
    """progress.png (best and top-10 mean vs oracle calls, in the order the designs were
    proposed; a lab's late results count in their own round) and rounds.png (per-round values)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    calls = np.arange(1, len(values_in_order) + 1)
    best = [top_k_mean(values_in_order[:n], 1) for n in calls]
    top10 = [top_k_mean(values_in_order[:n], 10) for n in calls]
    fig, axis = plt.subplots(figsize=(6, 3.5))
    axis.plot(calls, best, label="best")
    axis.plot(calls, top10, label="top-10 mean")
    axis.set_xlabel("oracle calls")
    axis.set_ylabel("objective")
    axis.legend()
    fig.tight_layout()
    fig.savefig(run_dir / "progress.png", dpi=110)
    plt.close(fig)

    by_round: dict[int, list[float]] = {}
    for value, round_ in zip(values_in_order, rounds, strict=True):
        if math.isfinite(value):
            by_round.setdefault(round_, []).append(value)
    if by_round:
        fig, axis = plt.subplots(figsize=(6, 3.5))
        keys = sorted(by_round)
        axis.boxplot([by_round[k] for k in keys], tick_labels=[str(k) for k in keys])
        axis.set_xlabel("round")
        axis.set_ylabel("measured value")
        fig.tight_layout()
        fig.savefig(run_dir / "rounds.png", dpi=110)
        plt.close(fig)


def pmo_auc_top_k(
    values_in_order: list[float], budget: int, k: int = 10, every: int = 100
) -> float:
    """PMO's area under the top-k-mean curve (Gao et al. 2022): the top-k mean of everything
    measured so far, taken every `every` calls from a start of 0, trapezoid rule, the last value
    carried to `budget` if the run stopped early, divided by `budget`. Failures count as calls
    but never enter the top k."""
    values = list(values_in_order)[:budget]
    area, previous, called = 0.0, 0.0, 0
    for calls in range(every, len(values), every):
        current = _top_k_or_zero(values[:calls], k)
        area += every * (current + previous) / 2
        previous, called = current, calls
    current = _top_k_or_zero(values, k)
    area += (len(values) - called) * (current + previous) / 2
    area += (budget - len(values)) * current
    return area / budget


def _top_k_or_zero(values: list[float], k: int) -> float:
    mean = top_k_mean(values, k)
    return 0.0 if math.isnan(mean) else mean
