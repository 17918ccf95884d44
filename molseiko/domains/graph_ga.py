"""The graph genetic algorithm's operators (Jensen 2019, the Graph GA of GuacaMol and PMO), as a
second way to cross molecules without a model (`crossover_operators = "graph_ga"`).

The engine's own crossover (`molecule.graph_crossover`) cuts only acyclic single bonds and keeps a
child's size between its parents'. These operators also cut across rings and close them again, let
a child grow to about 39 heavy atoms, and mutate one child in 15 (`MUTATION_RATE`) with one of
seven reaction templates: insert, delete, change or append an atom, change a bond order, delete a
ring bond, or close a ring.

Provenance: the reaction templates, their probabilities, the retry counts and the size and ring
checks are those of the published Graph GA (J. H. Jensen, Chem. Sci. 2019, 10, 3567; code in
jensengroup/GB_GA, also used by GuacaMol's baselines and PMO), taken over as facts; the code here
is written anew around them. `benchmarks/graph_ga.py` runs the whole GA with them as the issue's
reference point.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence

import numpy as np
from rdkit import Chem, rdBase
from rdkit.Chem import AllChem

from molseiko.domains.molecule import canonical_smiles, to_mol

MUTATION_RATE = 0.067
SIZE_MEAN, SIZE_SD = 39.15, 3.50
"""The published GA's size rule: a child has fewer heavy atoms than a draw from N(39.15, 3.5)
(GuacaMol's setting; ZINC250k molecules themselves average about 23)."""

ACYCLIC_SINGLE = Chem.MolFromSmarts("[*]-;!@[*]")
RING_CHAIN = Chem.MolFromSmarts("[R]@[R]@[R]@[R]")
RING_BRANCH = Chem.MolFromSmarts("[R]@[R;!D2]@[R]")
ANY_RING_ATOM = Chem.MolFromSmarts("[R]")
RING_ALLENE = Chem.MolFromSmarts("[R]=[R]=[R]")
SMALL_RING_DOUBLE = Chem.MolFromSmarts("[r3,r4]=[r3,r4]")


@functools.cache
def _reaction(smarts: str):
    return AllChem.ReactionFromSmarts(smarts)


ELEMENTS = ["#6", "#7", "#8", "#9", "#16", "#17", "#35"]
ELEMENT_WEIGHTS = [0.15, 0.15, 0.14, 0.14, 0.14, 0.14, 0.14]
ELEMENT_PATTERNS = {element: Chem.MolFromSmarts(f"[{element}]") for element in ELEMENTS}


JOIN_ACYCLIC = "[*:1]-[1*].[1*]-[*:2]>>[*:1]-[*:2]"
# The ring crossover joins the first pair of cut ends, then closes the ring at the second. The
# published code builds the first join with a single and then a double bond but keeps only the
# double-bond products (its list is reset inside the loop); the reference numbers come from that.
JOIN_RING_OPEN = "[*:1]~[1*].[1*]~[*:2]>>[*:1]=[*:2]"
JOIN_RING_CLOSE = ("([*:1]~[1*].[1*]~[*:2])>>[*:1]-[*:2]", "([*:1]~[1*].[1*]~[*:2])>>[*:1]=[*:2]")


class GraphGA:
    """The graph GA's operators, with their own random streams: `random` (Python's, for the
    published code's `random.choice` / `random.random`) and `generator` (numpy's, for its
    weighted draws and the size limit)."""

    def __init__(self, seed: int):
        self.random = random.Random(seed)
        self.generator = np.random.default_rng(seed)

    # ---- checks --------------------------------------------------------------------------
    def size_ok(self, mol: Chem.Mol) -> bool:
        """Sanitizes `mol` in place; true if it is a molecule of 6 to about 39 heavy atoms."""
        try:
            Chem.SanitizeMol(mol)
            if Chem.MolFromSmiles(Chem.MolToSmiles(mol)) is None:
                return False
        except (Chem.rdchem.MolSanitizeException, RuntimeError, ValueError):
            return False
        limit = SIZE_SD * self.generator.standard_normal() + SIZE_MEAN
        return 5 < mol.GetNumAtoms() < limit

    @staticmethod
    def rings_ok(mol: Chem.Mol) -> bool:
        """No ring larger than 6, no allene in a ring, no double bond in a 3- or 4-ring."""
        if not mol.HasSubstructMatch(ANY_RING_ATOM):
            return True
        largest = max(len(ring) for ring in mol.GetRingInfo().AtomRings())
        return (
            largest <= 6
            and not mol.HasSubstructMatch(RING_ALLENE)
            and not mol.HasSubstructMatch(SMALL_RING_DOUBLE)
        )

    # ---- crossover -----------------------------------------------------------------------
    @staticmethod
    def _fragments(mol: Chem.Mol, pairs: list[tuple[int, int]]) -> tuple | None:
        """`mol` cut at the bonds between `pairs` of atoms, each cut end marked by a [1*]."""
        bonds = [mol.GetBondBetweenAtoms(a, b).GetIdx() for a, b in pairs]
        cut = Chem.FragmentOnBonds(mol, bonds, addDummies=True, dummyLabels=[(1, 1)] * len(bonds))
        try:
            return Chem.GetMolFrags(cut, asMols=True)
        except (Chem.rdchem.MolSanitizeException, RuntimeError, ValueError):
            return None

    def cut_acyclic(self, mol: Chem.Mol) -> tuple | None:
        """The two pieces of `mol` cut at a random acyclic single bond, or None."""
        matches = mol.GetSubstructMatches(ACYCLIC_SINGLE)
        if not matches:
            return None
        return self._fragments(mol, [self.random.choice(matches)])

    def cut_ring(self, mol: Chem.Mol) -> tuple | None:
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

    def crossover_acyclic(self, first: Chem.Mol, second: Chem.Mol) -> Chem.Mol | None:
        """A piece of each parent, cut at an acyclic single bond, joined by a single bond."""
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

    def crossover_ring(self, first: Chem.Mol, second: Chem.Mol) -> Chem.Mol | None:
        """A piece of each parent, cut across a ring, joined at one pair of cut ends and closed
        into a ring at the other (parents kekulized, as `crossover` passes them)."""
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

    def crossover(self, first: Chem.Mol, second: Chem.Mol) -> Chem.Mol | None:
        """A child of two parents that is neither of them (acyclic or ring crossover, half the
        time each), or None after 10 attempts. The parents are not changed."""
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
    def _pick(self, options: list, weights: list[float]):
        return options[self.generator.choice(len(options), p=weights)]

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
        present = [e for e in ELEMENTS if mol.HasSubstructMatch(ELEMENT_PATTERNS[e])]
        if not present:
            return "[#0:1]>>[#0:1]"  # none of the seven elements: a template that matches nothing
        old = self._pick(ELEMENTS, ELEMENT_WEIGHTS)
        while old not in present:
            old = self._pick(ELEMENTS, ELEMENT_WEIGHTS)
        new = self._pick(ELEMENTS, ELEMENT_WEIGHTS)
        while new == old:
            new = self._pick(ELEMENTS, ELEMENT_WEIGHTS)
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

    def mutate(self, mol: Chem.Mol, rate: float = MUTATION_RATE) -> Chem.Mol | None:
        """`mol` itself, or with probability `rate` one random template applied to a copy (None
        if no template gives an acceptable molecule in 10 attempts)."""
        if self.random.random() > rate:
            return mol
        mol = Chem.Mol(mol)
        try:
            Chem.Kekulize(mol, clearAromaticFlags=True)
        except (Chem.rdchem.MolSanitizeException, RuntimeError, ValueError):
            return None
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

    def reproduce(self, first: Chem.Mol, second: Chem.Mol, rate: float) -> str | None:
        """The canonical SMILES of a crossover of two parents, mutated with probability
        `rate`; None if either step fails."""
        child = self.crossover(first, second)
        if child is not None:
            child = self.mutate(child, rate)
        return None if child is None else canonical_smiles(Chem.MolToSmiles(child))


def ga_children(
    parents: Sequence[str],
    count: int,
    rng: np.random.Generator,
    mutation_rate: float = MUTATION_RATE,
) -> list[str]:
    """Up to `count` children (canonical SMILES) of random pairs of two different `parents`
    (SMILES), each a crossover of the pair mutated with probability `mutation_rate`. Children
    may repeat; none is one of its own parents."""
    mols = [mol for mol in (to_mol(parent) for parent in parents) if mol is not None]
    if len(mols) < 2 or count <= 0:
        return []
    ga = GraphGA(int(rng.integers(2**63)))
    keys = [Chem.MolToSmiles(mol) for mol in mols]
    children: list[str] = []
    blocker = rdBase.BlockLogs()  # most reaction products fail sanitization, by design
    for _ in range(count * 3):  # a pair may give no child: try others
        if len(children) >= count:
            break
        first, second = rng.choice(len(mols), 2, replace=False)
        child = ga.reproduce(mols[first], mols[second], mutation_rate)
        if child is not None and child not in (keys[first], keys[second]):
            children.append(child)
    del blocker
    return children
