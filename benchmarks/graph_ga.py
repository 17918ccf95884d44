"""PMO's Graph GA re-run here: the issue's reference point, and the GA under the bars' protocol.

The issue measures `ucb` against PMO's Graph GA (Jensen 2019, as run by Gao et al. 2022:
population 50, offspring 50, mutation rate 0.067) at 1,000 calls: AUC top-10 0.746 on
osimertinib_mpo and 0.557 on ranolazine_mpo. That GA gets feedback after every 50 calls, while the
bars give the SEIKO methods feedback after every 100. This script re-implements the GA from the
published method (not from its code) and runs it with several settings POPULATIONxOFFSPRING,
optionally +FIRST (the size of the first batch; the population's by default): `50x50` reproduces
the reference, and `50x100+100` and `100x100` are the GA under the bars' protocol (a first batch of
100 at random, then batches of 100).

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
import random
import time
from pathlib import Path

import numpy as np
import pandas as pd
from rdkit import Chem, rdBase
from rdkit.Chem import AllChem

ROOT = Path(__file__).resolve().parents[1]
ZINC = ROOT / "data/zinc250k/zinc250k.csv.gz"

MUTATION_RATE = 0.067
SIZE_MEAN, SIZE_SD = 39.15, 3.50  # heavy atoms of ZINC250k molecules, as the GA's size rule uses

ACYCLIC_SINGLE = Chem.MolFromSmarts("[*]-;!@[*]")
RING_CHAIN = Chem.MolFromSmarts("[R]@[R]@[R]@[R]")
RING_BRANCH = Chem.MolFromSmarts("[R]@[R;!D2]@[R]")
ANY_RING_ATOM = Chem.MolFromSmarts("[R]")
RING_ALLENE = Chem.MolFromSmarts("[R]=[R]=[R]")
SMALL_RING_DOUBLE = Chem.MolFromSmarts("[r3,r4]=[r3,r4]")


def _reaction(smarts: str, cache: dict = {}):  # noqa: B006 (a cache shared on purpose)
    if smarts not in cache:
        cache[smarts] = AllChem.ReactionFromSmarts(smarts)
    return cache[smarts]


JOIN_ACYCLIC = "[*:1]-[1*].[1*]-[*:2]>>[*:1]-[*:2]"
# The ring crossover joins the first pair of cut ends, then closes the ring at the second. The
# published code builds the first join with a single and then a double bond but keeps only the
# double-bond products (its list is reset inside the loop); the reference numbers come from that.
JOIN_RING_OPEN = "[*:1]~[1*].[1*]~[*:2]>>[*:1]=[*:2]"
JOIN_RING_CLOSE = ("([*:1]~[1*].[1*]~[*:2])>>[*:1]-[*:2]", "([*:1]~[1*].[1*]~[*:2])>>[*:1]=[*:2]")


class GraphGA:
    """The graph GA's operators, with their own random streams (`random` and numpy)."""

    def __init__(self, seed: int):
        self.random = random.Random(seed)
        self.np = np.random.default_rng(seed)

    # ---- checks --------------------------------------------------------------------------
    def size_ok(self, mol: Chem.Mol) -> bool:
        """Sanitizes `mol` in place; true if it is a molecule of 6 to about 39 heavy atoms."""
        try:
            Chem.SanitizeMol(mol)
            if Chem.MolFromSmiles(Chem.MolToSmiles(mol)) is None:
                return False
        except (Chem.rdchem.MolSanitizeException, RuntimeError, ValueError):
            return False
        limit = SIZE_SD * self.np.standard_normal() + SIZE_MEAN
        return 5 < mol.GetNumAtoms() < limit

    @staticmethod
    def rings_ok(mol: Chem.Mol) -> bool:
        if not mol.HasSubstructMatch(ANY_RING_ATOM):
            return True
        largest = max(len(ring) for ring in mol.GetRingInfo().AtomRings())
        return (
            largest <= 6
            and not mol.HasSubstructMatch(RING_ALLENE)
            and not mol.HasSubstructMatch(SMALL_RING_DOUBLE)
        )

    # ---- crossover -----------------------------------------------------------------------
    def _fragments(self, mol: Chem.Mol, pairs: list[tuple[int, int]]):
        bonds = [mol.GetBondBetweenAtoms(a, b).GetIdx() for a, b in pairs]
        cut = Chem.FragmentOnBonds(mol, bonds, addDummies=True, dummyLabels=[(1, 1)] * len(bonds))
        try:
            return Chem.GetMolFrags(cut, asMols=True)
        except (Chem.rdchem.MolSanitizeException, RuntimeError, ValueError):
            return None

    def cut_acyclic(self, mol: Chem.Mol):
        matches = mol.GetSubstructMatches(ACYCLIC_SINGLE)
        if not matches:
            return None
        return self._fragments(mol, [self.random.choice(matches)])

    def cut_ring(self, mol: Chem.Mol):
        """Two pieces of `mol` cut across a ring (two ring bonds), or None."""
        for _ in range(10):
            if self.random.random() < 0.5:
                matches = mol.GetSubstructMatches(RING_CHAIN)
                if not matches:
                    return None
                a, b, c, d = self.random.choice(matches)
                pairs = [(a, b), (c, d)]
            else:
                matches = mol.GetSubstructMatches(RING_BRANCH)
                if not matches:
                    return None
                a, b, c = self.random.choice(matches)
                pairs = [(a, b), (b, c)]
            pieces = self._fragments(mol, pairs)
            if pieces is None:
                return None
            if len(pieces) == 2:
                return pieces
        return None

    def crossover_acyclic(self, first: Chem.Mol, second: Chem.Mol):
        join = _reaction(JOIN_ACYCLIC)
        for _ in range(10):
            pieces_a, pieces_b = self.cut_acyclic(first), self.cut_acyclic(second)
            if pieces_a is None or pieces_b is None:
                return None
            trials = [join.RunReactants((a, b))[0][0] for a in pieces_a for b in pieces_b]
            children = [mol for mol in trials if self.size_ok(mol)]
            if children:
                return self.random.choice(children)
        return None

    def crossover_ring(self, first: Chem.Mol, second: Chem.Mol):
        if not (first.HasSubstructMatch(ANY_RING_ATOM) or second.HasSubstructMatch(ANY_RING_ATOM)):
            return None
        opening = _reaction(JOIN_RING_OPEN)
        for _ in range(10):
            pieces_a, pieces_b = self.cut_ring(first), self.cut_ring(second)
            if pieces_a is None or pieces_b is None:
                return None
            joined = [opening.RunReactants((a, b))[0][0] for a in pieces_a for b in pieces_b]
            closed = []
            for smarts in JOIN_RING_CLOSE:
                closing = _reaction(smarts)
                for mol in joined:
                    if self.size_ok(mol):
                        closed += [product[0] for product in closing.RunReactants((mol,))]
            children = [mol for mol in closed if self.size_ok(mol) and self.rings_ok(mol)]
            if children:
                return self.random.choice(children)
        return None

    def crossover(self, first: Chem.Mol, second: Chem.Mol):
        """A child of two parents that is neither of them, or None after 10 attempts."""
        parents = {Chem.MolToSmiles(first), Chem.MolToSmiles(second)}
        first, second = Chem.Mol(first), Chem.Mol(second)
        try:
            Chem.Kekulize(first, clearAromaticFlags=True)
            Chem.Kekulize(second, clearAromaticFlags=True)
        except (Chem.rdchem.MolSanitizeException, RuntimeError, ValueError):
            pass
        for _ in range(10):
            if self.random.random() <= 0.5:
                child = self.crossover_acyclic(first, second)
            else:
                child = self.crossover_ring(first, second)
            if child is not None and Chem.MolToSmiles(child) not in parents:
                return child
        return None

    # ---- mutation ------------------------------------------------------------------------
    def _pick(self, options, weights):
        return options[self.np.choice(len(options), p=weights)]

    def _insert_atom(self, mol):
        order = self._pick(["single", "double", "triple"], [0.60, 0.35, 0.05])
        if order == "single":
            atom = self._pick(["C", "N", "O", "S"], [0.25] * 4)
            return f"[*:1]~[*:2]>>[*:1]{atom}[*:2]"
        if order == "double":
            atom = self._pick(["C", "N"], [0.5, 0.5])
            return f"[*;!H0:1]~[*:2]>>[*:1]={atom}-[*:2]"
        return "[*;!R;!H1;!H0:1]~[*:2]>>[*:1]#C-[*:2]"

    def _change_bond_order(self, mol):
        return self._pick(
            [
                "[*:1]!-[*:2]>>[*:1]-[*:2]",
                "[*;!H0:1]-[*;!H0:2]>>[*:1]=[*:2]",
                "[*:1]#[*:2]>>[*:1]=[*:2]",
                "[*;!R;!H1;!H0:1]~[*:2]>>[*:1]#[*:2]",
            ],
            [0.45, 0.45, 0.05, 0.05],
        )

    def _delete_ring_bond(self, mol):
        return "[*:1]@[*:2]>>([*:1].[*:2])"

    def _add_ring(self, mol):
        return self._pick(
            [
                "[*;!r;!H0:1]~[*;!r:2]~[*;!r;!H0:3]>>[*:1]1~[*:2]~[*:3]1",
                "[*;!r;!H0:1]~[*!r:2]~[*!r:3]~[*;!r;!H0:4]>>[*:1]1~[*:2]~[*:3]~[*:4]1",
                "[*;!r;!H0:1]~[*!r:2]~[*:3]~[*:4]~[*;!r;!H0:5]>>[*:1]1~[*:2]~[*:3]~[*:4]~[*:5]1",
                "[*;!r;!H0:1]~[*!r:2]~[*:3]~[*:4]~[*!r:5]~[*;!r;!H0:6]"
                ">>[*:1]1~[*:2]~[*:3]~[*:4]~[*:5]~[*:6]1",
            ],
            [0.05, 0.05, 0.45, 0.45],
        )

    def _delete_atom(self, mol):
        return self._pick(
            [
                "[*:1]~[D1]>>[*:1]",
                "[*:1]~[D2]~[*:2]>>[*:1]-[*:2]",
                "[*:1]~[D3](~[*;!H0:2])~[*:3]>>[*:1]-[*:2]-[*:3]",
                "[*:1]~[D4](~[*;!H0:2])(~[*;!H0:3])~[*:4]>>[*:1]-[*:2]-[*:3]-[*:4]",
                "[*:1]~[D4](~[*;!H0;!H1:2])(~[*:3])~[*:4]>>[*:1]-[*:2](-[*:3])-[*:4]",
            ],
            [0.25, 0.25, 0.25, 0.1875, 0.0625],
        )

    def _change_atom(self, mol):
        elements = ["#6", "#7", "#8", "#9", "#16", "#17", "#35"]
        weights = [0.15, 0.15, 0.14, 0.14, 0.14, 0.14, 0.14]
        present = [e for e in elements if mol.HasSubstructMatch(Chem.MolFromSmarts(f"[{e}]"))]
        old = self._pick(elements, weights)
        while old not in present:
            old = self._pick(elements, weights)
        new = self._pick(elements, weights)
        while new == old:
            new = self._pick(elements, weights)
        return f"[{old}:1]>>[{new}:1]"

    def _append_atom(self, mol):
        order = self._pick(["single", "double", "triple"], [0.60, 0.35, 0.05])
        if order == "single":
            atom = self._pick(["C", "N", "O", "F", "S", "Cl", "Br"], [1 / 7] * 7)
            return f"[*;!H0:1]>>[*:1]-{atom}"
        if order == "double":
            atom = self._pick(["C", "N", "O"], [1 / 3] * 3)
            return f"[*;!H0;!H1:1]>>[*:1]={atom}"
        atom = self._pick(["C", "N"], [0.5, 0.5])
        return f"[*;H3:1]>>[*:1]#{atom}"

    def mutate(self, mol: Chem.Mol, rate: float = MUTATION_RATE):
        """`mol`, or with probability `rate` one random template applied to it (None if no
        template gives an acceptable molecule in 10 attempts)."""
        if self.random.random() > rate:
            return mol
        mol = Chem.Mol(mol)
        Chem.Kekulize(mol, clearAromaticFlags=True)
        makers = [
            self._insert_atom,
            self._change_bond_order,
            self._delete_ring_bond,
            self._add_ring,
            self._delete_atom,
            self._change_atom,
            self._append_atom,
        ]
        weights = [0.15, 0.14, 0.14, 0.14, 0.14, 0.14, 0.15]
        for _ in range(10):
            # as published: draw one template of each kind, then choose among them
            templates = [make(mol) for make in makers]
            smarts = self._pick(templates, weights)
            products = [p[0] for p in _reaction(smarts).RunReactants((mol,))]
            children = [p for p in products if self.size_ok(p) and self.rings_ok(p)]
            if children:
                return self.random.choice(children)
        return None


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
