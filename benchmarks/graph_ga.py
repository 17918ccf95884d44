"""PMO's Graph GA re-run here: the issue's reference point, and the GA under the bars' protocol.

The issue measures `ucb` against PMO's Graph GA (Jensen 2019, as run by Gao et al. 2022:
population 50, offspring 50, mutation rate 0.067) at 1,000 calls: AUC top-10 0.746 on
osimertinib_mpo and 0.557 on ranolazine_mpo. That GA gets feedback after every 50 calls, while the
bars give the SEIKO methods feedback after every 100. This script runs the GA, with the operators
of `molseiko.domains.graph_ga` (re-implemented from the published method, not from its code), in
several settings POPULATIONxOFFSPRING, optionally +FIRST (the size of the first batch; the
population's by default): `50x50` reproduces the reference, and `50x100+100` and `100x100` are
the GA under the bars' protocol (a first batch of 100 at random, then batches of 100).

The GA, as published:
- The first population is drawn from ZINC250k. Here it is the campaign's own first batch
  (`Campaign._propose_from_library`, the same permutation for a seed), so a GA run and a campaign
  of one seed start from the same molecules and can be compared seed by seed.
- Each generation draws a mating pool of `offspring` parents with probability proportional to
  their score. Each child is the crossover of two parents drawn from it, mutated with probability
  `mutation_rate`. Children that fail are dropped.
- Crossover cuts each parent either at an acyclic single bond (joined again by a single bond) or
  across a ring (two ring bonds, closed again), half the time each. Up to 10 attempts. Children
  have between 6 and about 39 heavy atoms (a size drawn from N(39.15, 3.5)), no ring larger than
  6, no allene in a ring and no double bond in a 3- or 4-ring.
- Mutation applies one of seven reaction templates: insert, delete, change or append an atom,
  change a bond order, delete a ring bond, or close a ring.
- Parents and children are pooled, duplicates dropped, and the best `population` survive.
- Only new molecules cost an oracle call; the run stops at the budget.

Writes `graph_ga.csv` (one row per task x setting x seed: AUC top-10, top-10 at the end, the
top-10 curve every 10 calls) and `graph_ga.png` into --out.

    python benchmarks/graph_ga.py --tasks osimertinib_mpo ranolazine_mpo \
        --settings 50x50 50x100+100 100x100 --seeds 0 1 2 3 4
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from rdkit import Chem, rdBase

from molseiko.domains.graph_ga import GraphGA

ROOT = Path(__file__).resolve().parents[1]
ZINC = ROOT / "data/zinc250k/zinc250k.csv.gz"


def first_batch(library: list[str], size: int, seed: int) -> list[str]:
    """The `size` molecules a campaign of this seed draws as its first batch from `library`
    (`Campaign._propose_from_library` with an empty ledger: the same permutation, in order)."""
    from molseiko.domains.molecule import canonical_smiles

    rng = np.random.default_rng([seed, 1])
    chosen: dict[str, None] = {}
    for index in rng.permutation(len(library)):
        key = canonical_smiles(library[index])
        if key is not None:
            chosen.setdefault(key, None)
            if len(chosen) == size:
                break
    return list(chosen)


def run_ga(
    oracle, library, population: int, offspring: int, first: int, budget: int, seed: int
) -> list[float]:
    """One GA run from a first batch of `first` molecules; the oracle's values in the order they
    were called (NaN for a failure)."""
    ga = GraphGA(seed)
    values: dict[str, float] = {}
    order: list[float] = []

    def measure(smiles: list[str]) -> None:
        new = [s for s in dict.fromkeys(smiles) if s not in values][: budget - len(order)]
        if new:
            scores = np.asarray(oracle(new).values, dtype=float)
            values.update(zip(new, scores, strict=True))
            order.extend(scores)

    members = first_batch(library, first, seed)
    measure(members)
    members = sorted((s for s in members if s in values), key=lambda s: -np.nan_to_num(values[s]))
    members = members[:population]
    while len(order) < budget:
        scores = np.nan_to_num(np.array([values[s] for s in members]), nan=0.0) + 1e-10
        mols = [Chem.MolFromSmiles(s) for s in members]
        pool = ga.np.choice(len(mols), size=offspring, p=scores / scores.sum())
        children = []
        for _ in range(offspring):
            child = ga.crossover(mols[ga.random.choice(pool)], mols[ga.random.choice(pool)])
            if child is not None:
                child = ga.mutate(child)
            if child is not None:
                smiles = Chem.MolToSmiles(child)
                if Chem.MolFromSmiles(smiles) is not None:
                    children.append(Chem.MolToSmiles(Chem.MolFromSmiles(smiles)))
        calls_before = len(order)
        measure(children)
        if len(order) == calls_before and not children:
            break  # the population can make no more children
        members = list(dict.fromkeys(members + [s for s in children if s in values]))
        members.sort(key=lambda s: -np.nan_to_num(values[s], nan=-np.inf))
        members = members[:population]
    return order


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=["osimertinib_mpo", "ranolazine_mpo"])
    parser.add_argument(
        "--settings",
        nargs="+",
        default=["50x50", "50x100+100", "100x100"],
        help="POPULATIONxOFFSPRING[+FIRST]",
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--budget", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results")
    args = parser.parse_args()

    from molseiko.domains.io import read_smiles
    from molseiko.engine.report import pmo_auc_top_k, top_k_mean
    from molseiko.oracles.registry import resolve_objective

    rdBase.DisableLog("rdApp.*")
    library = read_smiles(ZINC)
    rows = []
    for task in args.tasks:
        oracle = resolve_objective(task)
        for setting in args.settings:
            sizes, _, first = setting.partition("+")
            population, offspring = (int(x) for x in sizes.split("x"))
            first = int(first or population)
            for seed in args.seeds:
                start = time.perf_counter()
                order = run_ga(oracle, library, population, offspring, first, args.budget, seed)
                curve = [top_k_mean(order[:n], 10) for n in range(10, len(order) + 1, 10)]
                rows.append(
                    {
                        "task": task,
                        "population": population,
                        "offspring": offspring,
                        "first": first,
                        "seed": seed,
                        "calls": len(order),
                        "auc_top10": pmo_auc_top_k(order, args.budget),
                        "top10": top_k_mean(order, 10),
                        "seconds": round(time.perf_counter() - start, 1),
                        "curve": ";".join(f"{v:.4f}" for v in curve),
                    }
                )
                print(
                    f"{task} {setting} seed {seed}: AUC {rows[-1]['auc_top10']:.3f} "
                    f"top-10 {rows[-1]['top10']:.3f} ({rows[-1]['seconds']} s)",
                    flush=True,
                )
    table = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "graph_ga.csv", index=False)
    print(
        table.groupby(["task", "population", "offspring", "first"])[["auc_top10", "top10"]]
        .agg(["mean", "std"])
        .round(3)
        .to_string()
    )
    plot(table, args.out / "graph_ga.png")


def plot(table: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(dict.fromkeys(table.task))
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks), 4), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        for (population, offspring, first), group in table[table.task == task].groupby(
            ["population", "offspring", "first"]
        ):
            curves = [np.array(c.split(";"), dtype=float) for c in group.curve]
            length = min(len(c) for c in curves)
            mean = np.mean([c[:length] for c in curves], axis=0)
            calls = np.arange(1, length + 1) * 10
            ax.plot(
                calls,
                mean,
                label=f"population {population}, offspring {offspring}, first {first} "
                f"(AUC {group.auc_top10.mean():.3f})",
            )
        ax.set(
            title=f"Graph GA on {task} (mean of {len(set(table.seed))} seeds)",
            xlabel="oracle calls",
            ylabel="top-10 mean",
        )
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
