"""Protein design on Ehrlich holo functions: SEIKO variants against a genetic algorithm.

1. `pretrain`: a small amino-acid diffusion model on feasible sequences of the function's own
   transition process (the "protein-like" prior the KL leash keeps designs near), made with
   `molseiko pretrain` on a FASTA of DMP samples.
2. `run`: campaigns (ucb, greedy, pretrained) and a genetic algorithm at the same budget, several
   seeds; reports the best value, whether and when 1.0 was reached, and the share of infeasible
   proposals. Writes ehrlich.csv and ehrlich.png into --out.

    python benchmarks/ehrlich.py --length 32 --motifs 2 --budget 1000 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def spec_string(args) -> str:
    return (
        f"ehrlich:L={args.length},c={args.motifs},k={args.motif_length},seed={args.function_seed}"
    )


def pretrain(args, out: Path) -> Path:
    from molseiko.oracles.registry import resolve_objective

    oracle = resolve_objective(spec_string(args))
    sequences = oracle.sample_feasible(args.pretrain_sequences, np.random.default_rng(0))
    (out / "runs").mkdir(exist_ok=True)
    fasta = out / "runs" / f"ehrlich_L{args.length}_dmp.fasta"
    fasta.write_text("".join(f">dmp{i}\n{s}\n" for i, s in enumerate(sequences)))
    model = out / "runs" / f"ehrlich_L{args.length}.pt"
    command = [
        sys.executable, "-m", "molseiko.cli", "pretrain", "--data", str(fasta),
        "--out", str(model), "--preset", "protein_compact", "--batch-size", "64",
        "--max-minutes", str(args.pretrain_minutes), "--lr", "3e-3", "--seed", "0",
    ]  # fmt: skip
    subprocess.run(command, check=True)
    return model


def genetic_algorithm(oracle, budget: int, batch: int, seed: int) -> list[float]:
    """A steady GA over sequences: tournament parents, uniform crossover, point mutations at
    rate 1/L; the initial population is feasible DMP samples. Infeasible children cost a call
    and score as failures, as they would in a lab."""
    rng = np.random.default_rng(seed)
    alphabet = np.array(list(oracle.alphabet))
    population = oracle.sample_feasible(batch, rng)
    values = list(oracle(population).values)
    measured = dict(zip(population, values, strict=True))
    history = list(values)
    while len(history) < budget:
        ranked = sorted(measured.items(), key=lambda kv: -np.nan_to_num(kv[1], nan=-1.0))
        elite = [s for s, _ in ranked[: max(batch, 10)]]
        children: list[str] = []
        while len(children) < min(batch, budget - len(history)):
            a, b = (elite[min(rng.integers(len(elite), size=2))] for _ in range(2))
            mask = rng.random(len(a)) < 0.5
            child = np.where(mask, list(a), list(b))
            mutate = rng.random(len(child)) < 1.0 / len(child)
            child[mutate] = rng.choice(alphabet, mutate.sum())
            child = "".join(child)
            if child not in measured and child not in children:
                children.append(child)
        scores = oracle(children).values
        measured.update(zip(children, scores, strict=True))
        history.extend(scores)
    return history


def run(args, model: Path, out: Path) -> pd.DataFrame:
    from molseiko.engine.build import build_campaign
    from molseiko.engine.config import CampaignConfig
    from molseiko.oracles.registry import resolve_objective

    rows = []
    for seed in args.seeds:
        for method in args.methods:
            if method == "ga":
                history = genetic_algorithm(
                    resolve_objective(spec_string(args)), args.budget, args.batch_size, seed
                )
            else:
                config = CampaignConfig(
                    objective=spec_string(args), budget=args.budget, batch_size=args.batch_size,
                    variant=method, seed=seed, model=str(model), ensemble_epochs=60,
                    template="-" * args.length,  # the length is the function's: not a decision
                )  # fmt: skip
                run_dir = out / "runs" / f"ehrlich-L{args.length}-{method}-{seed}"
                with build_campaign(config, run_dir) as campaign:
                    campaign.run()
                    history = [value for _, value, _ in campaign.ledger.measurements()]
            values = np.array(history, float)
            best = np.fmax.accumulate(np.nan_to_num(values, nan=0.0))
            reached = np.flatnonzero(best >= best[-1])
            solved = np.flatnonzero(best >= 1.0)
            rows.append(
                {
                    "method": method,
                    "seed": seed,
                    "calls": len(values),
                    "best": float(best[-1]),
                    "calls_to_solve": int(solved[0]) + 1 if len(solved) else None,
                    "calls_to_best": int(reached[0]) + 1,
                    "top10": float(np.sort(np.nan_to_num(values, nan=0.0))[-10:].mean()),
                    "last_batch_mean": float(np.nan_to_num(values[-args.batch_size :]).mean()),
                    "infeasible_share": float(np.isnan(values).mean()),
                    "curve": ";".join(f"{v:.3f}" for v in best[9::10]),
                }
            )
            print(rows[-1], flush=True)
            pd.DataFrame(rows).to_csv(out / "ehrlich.csv", index=False)
    return pd.DataFrame(rows)


def plot(frame: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axis = plt.subplots(figsize=(5, 3.6))
    for method, group in frame.groupby("method", sort=False):
        curves = [np.array(c.split(";"), float) for c in group.curve]
        width = min(len(c) for c in curves)
        axis.plot(
            np.arange(1, width + 1) * 10, np.mean([c[:width] for c in curves], 0), label=method
        )
    axis.set_xlabel("oracle calls")
    axis.set_ylabel("best value (mean over seeds)")
    axis.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--length", type=int, default=32)
    parser.add_argument("--motifs", type=int, default=2)
    parser.add_argument("--motif-length", type=int, default=4)
    parser.add_argument("--function-seed", type=int, default=0)
    parser.add_argument("--budget", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=["ucb", "greedy", "pretrained", "ga"])
    parser.add_argument("--pretrain-sequences", type=int, default=20_000)
    parser.add_argument("--pretrain-minutes", type=float, default=20.0)
    parser.add_argument("--model", type=Path, default=None, help="skip pretraining")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    model = args.model or pretrain(args, args.out)
    frame = run(args, model, args.out)
    plot(frame, args.out / "ehrlich.png")


if __name__ == "__main__":
    main()
