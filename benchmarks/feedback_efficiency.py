"""Feedback efficiency: SEIKO variants against model-free baselines on PMO tasks.

For each task x method x seed, runs one campaign (in its own process, so peak memory is per run)
and reports PMO's AUC of the top-10 mean (every 100 calls), the top-10 mean at the budget,
validity, uniqueness, the mean SA of the 100 best designs, the share of measured designs that are
radicals (an objective scores them, a chemist cannot buy them), wall time per round split into
sample / measure / fit / fine-tune, and peak memory. Writes `feedback_efficiency.csv` and
`feedback_efficiency.png` (top-10 mean vs oracle calls) into --out.

    python benchmarks/feedback_efficiency.py --tasks osimertinib_mpo ranolazine_mpo \
        --methods pretrained greedy ucb bootstrap non_adaptive online_pg --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import math
import os
import resource
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd

from molseiko.engine.config import MODEL_FREE

ROOT = Path(__file__).resolve().parents[1]


def run_one(task: str, method: str, seed: int, args: dict) -> dict:
    """One campaign (resumed if its run directory holds a started one); returns its summary row."""
    import torch

    torch.set_num_threads(args["threads"])
    from molseiko.domains.molecule import is_radical, to_mol
    from molseiko.domains.properties import sa_score
    from molseiko.engine.build import build_campaign
    from molseiko.engine.config import CampaignConfig
    from molseiko.engine.report import pmo_auc_top_k, top_k_mean

    label = method + args.get("suffix", "")
    run_dir = Path(args["out"]) / "runs" / f"{task}-{label}-{seed}"
    config = CampaignConfig.from_dict(
        args.get("settings", {}),
        objective=task,
        budget=args["budget"],
        batch_size=args["batch_size"],
        variant=method,
        seed=seed,
        device=args["device"],
        model=args["model"],
        out=str(run_dir),
    )
    campaign = build_campaign(config, run_dir)
    summaries = campaign.run()
    rows = campaign.ledger.measurements()
    values = [value for _, value, _ in rows]
    best = sorted(((v, k) for k, v, _ in rows if math.isfinite(v)), reverse=True)[:100]
    metrics = pd.read_csv(run_dir / "metrics.csv")
    return {
        "task": task,
        "method": label,
        "seed": seed,
        "calls": len(values),
        "auc_top10": pmo_auc_top_k(values, args["budget"]),
        "top10": top_k_mean(values, 10),
        "best": top_k_mean(values, 1),
        "validity": float(metrics.validity.mean()),
        "uniqueness": float(metrics.uniqueness.mean()),
        "sa_top100": float(np.mean([sa_score(to_mol(k)) for _, k in best])),
        "radical_share": float(np.mean([is_radical(to_mol(key)) for key, _, _ in rows])),
        "rounds": len(summaries),
        **{
            f"seconds_{part}": float(metrics[f"seconds_{part}"].sum())
            for part in ("sample", "measure", "fit", "finetune")
        },
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "device": args["device"],  # where the seconds were spent
        "curve": ";".join(
            f"{top_k_mean(values[:n], 10):.4f}" for n in range(10, len(values) + 1, 10)
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", nargs="+", default=["qed", "osimertinib_mpo", "ranolazine_mpo"])
    parser.add_argument(
        "--methods",
        nargs="+",
        default=["pretrained", "greedy", "ucb", "bootstrap", "non_adaptive", "online_pg"],
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--budget", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--model", default="")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results")
    parser.add_argument(
        "--device", default="cpu", help="cpu or cuda: where campaigns run (not part of the label)"
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="campaigns run at once (CPU threads are split)"
    )
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="campaign settings other than the defaults (e.g. select=ucb pool_factor=5); the "
        "method is then labelled with them",
    )
    args = parser.parse_args()
    overrides = dict(_setting(item) for item in args.set)
    # A file setting (first_batch=data/.../zinc250k.csv.gz) is labelled by its name (zinc250k).
    suffix = label_of(overrides)
    if args.batch_size != 100:  # the bars' protocol is batches of 100; anything else is labelled
        suffix += f"+batch_size={args.batch_size}"
    if args.model:  # another checkpoint (e.g. the graph model) is its own method label
        suffix += f"@{Path(args.model).stem}"
    args.out.mkdir(parents=True, exist_ok=True)
    settings = {
        "budget": args.budget,
        "batch_size": args.batch_size,
        "model": args.model,
        "device": args.device,
        "out": str(args.out),
        # OMP_NUM_THREADS, when set, caps each campaign (other jobs on the machine).
        "threads": int(
            os.environ.get("OMP_NUM_THREADS") or max(1, (os.cpu_count() or 1) // args.workers)
        ),
        "settings": overrides,
        "suffix": suffix,
    }
    table = args.out / "feedback_efficiency.csv"
    # Finished campaigns are kept: rerunning the script only runs what is missing.
    rows = pd.read_csv(table).to_dict("records") if table.is_file() else []
    done = {(r["task"], r["method"], r["seed"]) for r in rows}
    # Seed-major order: every method gets its first seed before any method gets a second.
    todo = [
        (task, method, seed)
        for seed in args.seeds
        for method in args.methods
        for task in args.tasks
        if (task, method + suffix, seed) not in done
    ]
    # A fresh process per campaign: peak memory is per run, and nothing leaks across.
    context = get_context("spawn")
    running = set()
    with ProcessPoolExecutor(args.workers, mp_context=context, max_tasks_per_child=1) as pool:
        for job in todo:
            running.add(pool.submit(run_one, *job, settings))
            if len(running) >= args.workers:
                finished, running = wait(running, return_when=FIRST_COMPLETED)
                record(finished, rows, table)
        while running:  # each row as its campaign ends, not when the slowest one does
            finished, running = wait(running, return_when=FIRST_COMPLETED)
            record(finished, rows, table)
    plot(pd.DataFrame(rows), args.out / "feedback_efficiency.png")
    plot_defaults(pd.DataFrame(rows), args.out / "feedback_efficiency_defaults.png")
    summary = pd.DataFrame(rows).groupby(["task", "method"])[["auc_top10", "top10", "sa_top100"]]
    print(summary.agg(["mean", "std"]).round(3).to_string())


def label_of(overrides: dict | None) -> str:
    """The suffix that names a run with settings other than the defaults: +key=value each."""
    return "".join(f"+{key}={_label(value)}" for key, value in (overrides or {}).items())


def _label(value: object) -> str:
    """A setting as it appears in a method label: a file by its name without suffixes."""
    if isinstance(value, str) and "/" in value:
        return Path(value).name.split(".")[0]
    return str(value)


def _setting(item: str) -> tuple[str, object]:
    key, _, text = item.partition("=")
    if text.lower() in ("true", "false"):
        return key, text.lower() == "true"
    for kind in (int, float):
        try:
            return key, kind(text)
        except ValueError:
            pass
    return key, text


def record(finished, rows: list[dict], table: Path) -> None:
    for future in finished:
        row = future.result()
        rows.append(row)
        print({k: v for k, v in row.items() if k != "curve"}, flush=True)
    pd.DataFrame(rows).to_csv(table, index=False)


def plot(frame: pd.DataFrame, path: Path) -> None:
    """Mean top-10 curve per method and task; one colour and line style per method in every
    panel, and one legend below them (there are many methods)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(dict.fromkeys(frame.task))
    methods = list(dict.fromkeys(frame.method))
    colours, styles = plt.get_cmap("tab10").colors, ("-", "--", ":", "-.")
    look = {
        method: dict(color=colours[i % len(colours)], linestyle=styles[i // len(colours) % 4])
        for i, method in enumerate(methods)
    }
    legend = 0.22 * math.ceil(len(methods) / 3)  # inches: three legend entries per row
    height = 3.6 + legend
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks), height), squeeze=False)
    lines = {}
    for axis, task in zip(axes[0], tasks, strict=True):
        for method, group in frame[frame.task == task].groupby("method", sort=False):
            calls, curves = _curves(group)
            (lines[method],) = axis.plot(calls, curves.mean(0), **look[method])
        axis.set_title(task)
        axis.set_xlabel("oracle calls")
        axis.set_ylabel("top-10 mean (mean over seeds)")
    fig.legend(
        list(lines.values()), list(lines), loc="lower center", ncol=3, fontsize=7, frameon=False
    )
    fig.tight_layout(rect=(0, legend / height, 1, 1))
    fig.savefig(path, dpi=110)


def _curves(group: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Oracle calls and the `seeds x points` top-10 curves of one method on one task (each
    curve records the top-10 mean every 10 calls), cut to the shortest."""
    curves = [np.array(c.split(";"), float) for c in group.curve]
    width = min(len(c) for c in curves)
    return np.arange(1, width + 1) * 10, np.array([c[:width] for c in curves])


DEFAULT_METHODS = ("ucb", "greedy", "bootstrap", "non_adaptive", "online_pg", "pretrained")
DESCRIPTOR_LABELS = ("+ensemble_descriptors=True", "")
"""The row of the current defaults first, else the graph-only one made before them."""


def plot_defaults(frame: pd.DataFrame, path: Path) -> None:
    """The issue's methods under the current defaults only (ZINC first batch, and the descriptor
    ensemble where that row exists): mean top-10 curve over seeds, shaded +- one sd."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = [task for task in dict.fromkeys(frame.task) if task != "qed"]
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks), 4.2), squeeze=False)
    for axis, task in zip(axes[0], tasks, strict=True):
        rows = frame[frame.task == task]
        for i, base in enumerate(DEFAULT_METHODS):
            labels = [f"{base}+first_batch=zinc250k" + extra for extra in DESCRIPTOR_LABELS]
            label = next((label for label in labels if (rows.method == label).any()), None)
            if label is None:
                continue
            group = rows[rows.method == label]
            calls, curves = _curves(group)
            mean, spread = curves.mean(0), curves.std(0)
            graph_only = base not in MODEL_FREE and "descriptors" not in label
            name = f"{base} ({len(group)} seeds{', graph-only ensemble' if graph_only else ''})"
            axis.plot(calls, mean, color=f"C{i}", label=name)
            axis.fill_between(calls, mean - spread, mean + spread, color=f"C{i}", alpha=0.15)
        axis.set_title(task)
        axis.set_xlabel("oracle calls")
        axis.set_ylabel("top-10 mean (mean ± sd over seeds)")
        axis.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
