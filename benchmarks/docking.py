"""Docking cost and a docking campaign.

Part `speed`: seconds per ligand (preparation + Vina) for 20 random ZINC250k test molecules at
exhaustiveness 1, 4 and 8 on one target, one Vina thread, grid maps computed once (their cost is
reported separately). Part `campaign`: a 200-call campaign in batches of 50 on the same target,
`ucb` against `pretrained`, with the top-10 mean docking score, the share of wall time spent
outside docking, and the saved poses read back with RDKit. Writes docking_speed.csv,
docking_campaign.csv and docking.png into --out.

    python benchmarks/docking.py --parts speed campaign --target parp1
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def speed(target_name: str, n: int, out: Path, levels=(1, 4, 8)) -> pd.DataFrame:
    from dataclasses import replace

    from molseiko.domains.io import read_row_indices
    from molseiko.oracles.docking import _vina_for, dock_one
    from molseiko.oracles.registry import resolve_objective

    target = resolve_objective(f"dock:{target_name}").target
    table = pd.read_csv(ROOT / "data/zinc250k/zinc250k.csv.gz")
    test = sorted(read_row_indices(ROOT / "data/zinc250k/valid_idx_zinc250k.json"))
    rng = np.random.default_rng(0)
    smiles = list(table.smiles.iloc[rng.choice(test, n, replace=False)])
    started = time.perf_counter()
    _vina_for(target)
    maps = time.perf_counter() - started
    rows = []
    for exhaustiveness in levels:
        setting = replace(target, exhaustiveness=exhaustiveness)
        _vina_for(setting)  # maps for this setting, outside the per-ligand time
        for s in smiles:
            energy, reason, _, seconds = dock_one(setting, s)
            rows.append(
                {
                    "exhaustiveness": exhaustiveness,
                    "smiles": s,
                    "heavy_atoms": _heavy(s),
                    "energy": energy,
                    "failure": reason,
                    "seconds": seconds,
                }
            )
            print(rows[-1], flush=True)
    frame = pd.DataFrame(rows)
    previous = out / "docking_speed.csv"
    if previous.is_file():  # keep the levels not measured this time
        kept = pd.read_csv(previous)
        frame = pd.concat([kept[~kept.exhaustiveness.isin(levels)], frame], ignore_index=True)
    frame = frame.sort_values("exhaustiveness", kind="stable")
    frame.to_csv(previous, index=False)
    summary = frame.groupby("exhaustiveness").agg(
        median_seconds=("seconds", "median"),
        mean_energy=("energy", "mean"),
        failures=("failure", lambda f: int(f.notna().sum())),
    )
    print(f"grid maps: {maps:.1f} s (once per worker)\n{summary.round(2).to_string()}")
    return frame


def campaign(
    target_name: str,
    out: Path,
    budget: int,
    batch: int,
    workers: int,
    variants=("ucb", "pretrained"),
) -> pd.DataFrame:
    from rdkit import Chem

    from molseiko.engine.build import build_campaign
    from molseiko.engine.config import CampaignConfig
    from molseiko.engine.report import top_k_mean

    table = out / "docking_campaign.csv"
    rows = pd.read_csv(table).to_dict("records") if table.is_file() else []
    rows = [row for row in rows if row["variant"] not in variants]
    for variant in variants:
        run_dir = out / "runs" / f"dock-{target_name}-{variant}-0"
        config = CampaignConfig(
            objective=f"dock:{target_name}", budget=budget, batch_size=batch, variant=variant
        )
        built = build_campaign(config, run_dir)
        built.oracle.workers = workers
        started = time.perf_counter()
        summaries = built.run()
        wall = time.perf_counter() - started
        values = [v for _, v, _ in built.ledger.measurements()]
        docking = sum(s.seconds_measure for s in summaries)
        poses = [m for f in (run_dir / "poses").glob("*.sdf") for m in Chem.SDMolSupplier(str(f))]
        rows.append(
            {
                "variant": variant,
                "calls": len(values),
                "top10_energy": -top_k_mean(values, 10),
                "best_energy": -top_k_mean(values, 1),
                "failures": int(np.isnan(values).sum()),
                "wall_seconds": wall,
                "docking_seconds": docking,
                "share_outside_docking": 1 - docking / wall,
                "poses_read_back": sum(m is not None for m in poses),
                "curve": json.dumps([round(s.top10, 3) for s in summaries]),
            }
        )
        print(rows[-1], flush=True)
        pd.DataFrame(rows).to_csv(table, index=False)
    return pd.DataFrame(rows)


def plot(out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    if (out / "docking_speed.csv").is_file():
        frame = pd.read_csv(out / "docking_speed.csv")
        groups = [g.seconds.dropna().values for _, g in frame.groupby("exhaustiveness")]
        axes[0].boxplot(groups, tick_labels=sorted(frame.exhaustiveness.unique()))
        axes[0].set_xlabel("exhaustiveness")
        axes[0].set_ylabel("seconds per ligand (1 thread)")
    if (out / "docking_campaign.csv").is_file():
        frame = pd.read_csv(out / "docking_campaign.csv")
        for _, row in frame.iterrows():
            curve = -np.array(json.loads(row.curve))
            calls = np.arange(1, len(curve) + 1) * row.calls / len(curve)
            axes[1].plot(calls, curve, marker="o", label=row.variant)
        axes[1].set_xlabel("oracle calls")
        axes[1].set_ylabel("top-10 mean Vina energy (kcal/mol)")
        axes[1].legend()
    fig.tight_layout()
    fig.savefig(out / "docking.png", dpi=110)


def _heavy(smiles: str) -> int:
    from rdkit import Chem

    mol = Chem.MolFromSmiles(smiles)
    return mol.GetNumHeavyAtoms() if mol else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parts", nargs="+", default=["speed", "campaign"])
    parser.add_argument("--target", default="parp1")
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--exhaustiveness", nargs="+", type=int, default=[1, 4, 8])
    parser.add_argument("--budget", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--variants", nargs="+", default=["ucb", "pretrained"])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if "speed" in args.parts:
        speed(args.target, args.n, args.out, args.exhaustiveness)
    if "campaign" in args.parts:
        campaign(args.target, args.out, args.budget, args.batch_size, args.workers, args.variants)
    plot(args.out)


if __name__ == "__main__":
    main()
