"""Pool headroom: how much better a batch could a campaign have picked from its own pool?

For chosen rounds k of a finished campaign, rebuilds the state after round k-1 in a scratch copy
(the policy's checkpoint, the ledger cut after round k-1, the ensemble refit as the campaign fit
it), draws round k's pool exactly as the campaign drew it (`Campaign.draw_pool`, same seeds),
measures every candidate with the oracle, and compares the batches that each acquisition picks
from that one pool: greedy, ucb (c = 1 and 3; c = 1 taken one at a time as
`select = "sequential"` does), bootstrap, greedy with at most 1 or 3 designs per
Murcko scaffold, greedy and ucb with r_hat shifted by each source's residual in the last batch
(`source_bias`), a random batch (mean of 20), and the oracle's own best batch, the ceiling no
acquisition can pass. `--set KEY=VALUE` redraws the pool with other settings (pool_factor=30:
what a bigger pool would have offered); the run is then labelled with them. The score of a pick
is the top-10 mean of everything measured after adding it (what PMO's AUC integrates). Per
source (sample, edit, crossover) it reports how many candidates there were and their true mean
and top-10, and over the whole pool the ensemble's Spearman correlation with the truth and of
s_hat with the absolute error. `reproduced` is the share of the campaign's real round-k batch
that the campaign's own acquisition picks here (1.0: the pool was redrawn exactly).

Only for cheap oracles: it measures every candidate (about 1,000 per round). Writes
`pool_headroom.csv` and `pool_headroom.png` into --out.

    python benchmarks/pool_headroom.py --rounds 2 3 4 6 8 \
        "benchmarks/results/runs/osimertinib_mpo-greedy+first_batch=zinc250k-1"
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from feedback_efficiency import _setting, label_of
from scipy.stats import spearmanr

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("sample", "edit", "crossover")


def rewind(run: Path, round_: int, scratch: Path) -> Path:
    """A copy of `run` as it stood after round `round_` - 1."""
    copy = scratch / f"{run.name}-{round_}"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("rounds", "*.png"))
    with sqlite3.connect(copy / "ledger.sqlite") as db:  # the ledger's own schema
        db.execute("DELETE FROM measurements WHERE round >= ?", (round_,))
        db.execute("DELETE FROM designs WHERE round >= ?", (round_,))
    state = json.loads((copy / "state.json").read_text())
    state["completed"] = round_ - 1
    state["summaries"] = state["summaries"][: round_ - 1]
    (copy / "state.json").write_text(json.dumps(state))
    return copy


def candidates_of(campaign, drawn, seen=()) -> tuple[list[str], list[str]]:
    """The campaign's filter on a drawn pool (valid, new, once, none of `seen`), with where
    each came from."""
    keys: dict[str, str] = {}
    seen = set(seen)
    for design, where in drawn:
        if design is not None and design not in keys and design not in seen:
            if not campaign.ledger.is_known(design):
                keys[design] = where
    return list(keys), list(keys.values())


def source_bias(run: Path, round_: int, prior: float = 10.0) -> dict[str, float]:
    """Per source, the mean of measured - r_hat over the batch of round `round_` - 1 (what the
    ensemble got wrong about each source last time), shrunk towards the batch's overall mean
    residual as if `prior` designs had shown it; "*" is that overall mean (for a source with no
    designs in that batch). Empty before round 3 (round 1 has no predictions)."""
    table = run / "rounds" / f"round_{round_ - 1:02d}.csv"
    if round_ < 3 or not table.is_file():
        return {}
    frame = pd.read_csv(table).dropna(subset=["r_hat", "value"])
    residual = frame.value - frame.r_hat
    overall = float(residual.mean())
    bias = {"*": overall}
    for where, part in residual.groupby(frame.source):
        bias[where] = overall + float((part - overall).sum()) / (len(part) + prior)
    return bias


def batch_of(run: Path, round_: int) -> list[str]:
    with sqlite3.connect(run / "ledger.sqlite") as db:
        return [key for (key,) in db.execute("SELECT key FROM designs WHERE round = ?", (round_,))]


def headroom(run: Path, round_: int, scratch: Path, overrides: dict | None = None) -> list[dict]:
    """The probe's rows for round `round_` of `run`; `overrides` change the campaign's settings
    for the redrawn pool (e.g. {"pool_factor": 30}: what a bigger pool would have offered)."""
    from molseiko.engine.acquisition import sequential_batch
    from molseiko.engine.build import acquisition_for, build_campaign
    from molseiko.engine.campaign import _limit_per_family
    from molseiko.engine.config import CampaignConfig
    from molseiko.engine.report import top_k_mean

    copy = rewind(run, round_, scratch)
    config = CampaignConfig.from_saved(copy / "config.toml", out=str(copy), **(overrides or {}))
    (copy / "config.toml").write_text(config.to_toml())  # the scratch copy runs as configured
    with build_campaign(config, copy) as campaign:
        size = min(config.batch_size, config.budget - campaign.ledger.count_measured())
        parents = campaign._parents()
        drawn = campaign.draw_pool(
            round_, size * config.pool_factor, parents, 0, campaign._generator(round_)
        )
        keys, sources = candidates_of(campaign, drawn)
        source = dict(zip(keys, sources, strict=True))
        truth = np.asarray(campaign.oracle(keys).values, dtype=float)
        prediction = campaign.ensemble.predict(keys)
        measured = [value for _, value, _ in campaign.ledger.measurements()]
        domain = campaign.domain
    shutil.rmtree(copy)

    def top(score: np.ndarray, count: int = size) -> np.ndarray:
        return np.argsort(-np.nan_to_num(score, nan=-np.inf), kind="stable")[:count]

    picks = {
        "greedy": top(prediction.mean),
        "ucb c=1": top(prediction.mean + prediction.std),
        "ucb c=3": top(prediction.mean + 3 * prediction.std),
        "ucb c=1 sequential": sequential_batch(prediction, 1.0, size)[0][:size],
        "bootstrap": top(prediction.members.max(0)),
        "oracle": top(truth),
    }
    if domain.group is not None:
        ranked = [keys[i] for i in top(prediction.mean, len(keys))]
        position = {key: i for i, key in enumerate(keys)}
        for limit in (1, 3):  # the engine's own rule (config key max_per_scaffold)
            chosen = _limit_per_family(ranked, limit, size, domain)
            picks[f"greedy, <={limit}/scaffold"] = np.array([position[key] for key in chosen])
    bias = source_bias(run, round_)
    if bias:
        shift = np.array([bias.get(source[key], bias["*"]) for key in keys])
        picks["greedy+source bias"] = top(prediction.mean + shift)
        picks["ucb c=1+source bias"] = top(prediction.mean + shift + prediction.std)
    own = acquisition_for(config)
    real = set(batch_of(run, round_))
    reproduced = (
        np.mean([keys[i] in real for i in own.batch(prediction, size)[0][:size]])
        if own is not None
        else np.nan
    )
    before = top_k_mean(measured, 10)
    base = {"run": run.name + label_of(overrides), "round": round_, "before": before}
    rows = [
        {
            **base,
            "pick": name,
            "top10_after": top_k_mean(measured + list(truth[index]), 10),
            "batch_mean": float(np.nanmean(truth[index])),
            **{f"from_{s}": int(sum(source[keys[i]] == s for i in index)) for s in SOURCES},
        }
        for name, index in picks.items()
    ]
    rng = np.random.default_rng(round_)
    draws = [rng.choice(len(keys), min(size, len(keys)), replace=False) for _ in range(20)]
    rows.append(
        {
            **base,
            "pick": "random",
            "top10_after": float(
                np.mean([top_k_mean(measured + list(truth[d]), 10) for d in draws])
            ),
            "batch_mean": float(np.mean([np.nanmean(truth[d]) for d in draws])),
        }
    )
    labels = np.array([source[key] for key in keys])
    for where in SOURCES:
        values = truth[labels == where]
        rows.append(
            {
                **base,
                "pick": f"pool {where}",
                "candidates": len(values),
                "batch_mean": float(np.nanmean(values)) if len(values) else np.nan,
                "top10_after": top_k_mean(list(values), 10) if len(values) else np.nan,
            }
        )
    finite = np.isfinite(truth) & np.isfinite(prediction.mean)
    error = np.abs(truth - prediction.mean)[finite]
    for row in rows:
        row.update(
            candidates=row.get("candidates", len(keys)),
            spearman_prediction=float(spearmanr(prediction.mean[finite], truth[finite])[0]),
            spearman_std_error=float(spearmanr(prediction.std[finite], error)[0]),
            reproduced=float(reproduced),
        )
    return rows


def plot(frame: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = list(dict.fromkeys(frame.run))
    fig, axes = plt.subplots(1, len(runs), figsize=(5 * len(runs), 3.6), squeeze=False)
    for axis, run in zip(axes[0], runs, strict=True):
        part = frame[(frame.run == run) & ~frame.pick.str.startswith("pool")]
        gain = part.assign(gain=part.top10_after - part.before)
        for pick, group in gain.groupby("pick", sort=False):
            axis.plot(group["round"], group.gain, marker="o", label=pick)
        axis.set_title(run.split("+")[0] + " " + run.rsplit("-", 1)[-1], fontsize=9)
        axis.set_xlabel("round")
        axis.set_ylabel("gain in top-10 mean from the batch")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def probe_rounds(
    runs: list[Path], rounds: list[int], table: Path, probe, label: str = ""
) -> list[dict]:
    """The rows of `table` (a CSV) and of `probe(run, round_, scratch)` for each run and round
    not in it yet (a row's run is the run's name + `label`); the table is rewritten after each,
    so a stopped probe resumes."""
    rows = pd.read_csv(table).to_dict("records") if table.is_file() else []
    done = {(row["run"], row["round"]) for row in rows}
    with tempfile.TemporaryDirectory() as scratch:
        for run in runs:
            for round_ in rounds:
                if (run.name + label, round_) in done:
                    continue
                new = probe(run, round_, Path(scratch))
                rows += new
                pd.DataFrame(rows).to_csv(table, index=False)
                summary = pd.DataFrame(new).drop(columns=["run", "round"])
                print(run.name, "round", round_, "\n", summary.round(3).to_string(), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="finished campaign run directories")
    parser.add_argument("--rounds", nargs="+", type=int, default=[2, 3, 4, 6, 8])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results")
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="campaign settings for the redrawn pool (e.g. pool_factor=30); the run is labelled "
        "with them",
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    overrides = dict(_setting(item) for item in args.set)
    rows = probe_rounds(
        args.runs,
        args.rounds,
        args.out / "pool_headroom.csv",
        lambda run, round_, scratch: headroom(run, round_, scratch, overrides),
        label_of(overrides),
    )
    plot(pd.DataFrame(rows), args.out / "pool_headroom.png")


if __name__ == "__main__":
    main()
