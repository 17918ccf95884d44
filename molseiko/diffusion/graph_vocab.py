"""Molecules as graphs of typed atoms and kekulized bonds: the discrete states of graph diffusion.

An atom type is an element with a formal charge ("C", "N+", "O-"); hydrogens stay implicit, so
RDKit fills each atom's remaining valence with them when a graph is decoded. Bonds are kekulized
(none, single, double, triple): an aromatic ring is then a pattern of single and double bonds
that sanitization turns back into aromaticity, and every bond has an integer order, so "this bond
would exceed the atom's valence" is a plain sum that sampling can mask exactly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from rdkit import Chem, rdBase

NO_BOND = 0
BOND_ORDERS = (1, 2, 3)
"""Edge ids 1..3 are these bond orders; id 0 is no bond."""
EDGE_MASK = len(BOND_ORDERS) + 1
"""Edge id of a masked atom pair (input to the denoiser only, never sampled)."""
_BOND_TYPES = {1: Chem.BondType.SINGLE, 2: Chem.BondType.DOUBLE, 3: Chem.BondType.TRIPLE}


def atom_type(atom: Chem.Atom) -> str:
    """ "C", "N+", "O-", "S2+": the element with its formal charge."""
    charge = atom.GetFormalCharge()
    sign = "" if charge == 0 else ("+" if charge > 0 else "-")
    size = "" if abs(charge) <= 1 else str(abs(charge))
    return f"{atom.GetSymbol()}{size}{sign}"


def _parse_type(name: str) -> tuple[str, int]:
    element = name.rstrip("+-0123456789")
    rest = name[len(element) :]
    if not rest:
        return element, 0
    size = int(rest[:-1]) if len(rest) > 1 else 1
    return element, size if rest[-1] == "+" else -size


def max_valence(name: str) -> int:
    """The largest total bond order RDKit accepts on an atom of this type, probed with methyl
    neighbours (0 if none is accepted)."""
    element, charge = _parse_type(name)
    quiet = rdBase.BlockLogs()  # the rejected probes are expected
    best = 0
    for degree in range(1, 8):
        mol = Chem.RWMol()
        center = Chem.Atom(element)
        center.SetFormalCharge(charge)
        mol.AddAtom(center)
        for _ in range(degree):
            mol.AddBond(0, mol.AddAtom(Chem.Atom("C")), Chem.BondType.SINGLE)
        try:
            Chem.SanitizeMol(mol)
        except Exception:  # RDKit raises several valence error types
            continue
        if mol.GetAtomWithIdx(0).GetNumRadicalElectrons() == 0:
            best = degree
    del quiet
    return best


@dataclass
class EncodedGraph:
    """One molecule: atom type ids and its bonds as (i, j, order) with i < j."""

    atoms: list[int]
    bonds: list[tuple[int, int, int]]

    def __len__(self) -> int:
        return len(self.atoms)


class AtomBondVocabulary:
    """The atom types of a training set, with each type's maximal valence; encodes molecules to
    graphs and decodes graphs to canonical SMILES (stereochemistry is not modelled)."""

    domain = "molecule"
    kind = "atoms_bonds"

    def __init__(self, types: Sequence[str], valences: Sequence[int] | None = None):
        self.types = list(types)
        self.index = {name: i for i, name in enumerate(self.types)}
        self.valences = (
            list(valences) if valences is not None else [max_valence(t) for t in self.types]
        )

    @classmethod
    def from_smiles(cls, smiles: Iterable[str], min_count: int = 100) -> AtomBondVocabulary:
        """Atom types seen at least `min_count` times, most frequent first."""
        counts: Counter[str] = Counter()
        for smi in smiles:
            mol = Chem.MolFromSmiles(smi)
            if mol is not None:
                counts.update(atom_type(atom) for atom in mol.GetAtoms())
        return cls([name for name, count in counts.most_common() if count >= min_count])

    def __len__(self) -> int:
        """Number of atom types (the node mask id is this number)."""
        return len(self.types)

    @property
    def mask_id(self) -> int:
        return len(self.types)

    def valence_tensor(self) -> torch.Tensor:
        return torch.tensor(self.valences, dtype=torch.long)

    def encode(self, smiles: str, max_atoms: int | None = None) -> EncodedGraph | None:
        """The graph of a molecule; None when it has an atom type outside the vocabulary, more
        than `max_atoms` atoms, or does not decode back to itself (unusual hydrogen counts)."""
        mol = Chem.MolFromSmiles(smiles)
        if mol is None or mol.GetNumAtoms() == 0:
            return None
        if max_atoms is not None and mol.GetNumAtoms() > max_atoms:
            return None
        atoms = [self.index.get(atom_type(atom)) for atom in mol.GetAtoms()]
        if any(a is None for a in atoms):
            return None
        expected = Chem.MolToSmiles(mol, isomericSmiles=False)  # before kekulizing it
        Chem.Kekulize(mol, clearAromaticFlags=True)
        bonds = []
        for bond in mol.GetBonds():
            order = bond.GetBondTypeAsDouble()
            if order not in (1.0, 2.0, 3.0):
                return None
            i, j = sorted((bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()))
            bonds.append((i, j, int(order)))
        graph = EncodedGraph(atoms, bonds)
        if self.to_design(graph) != expected:
            return None
        return graph

    def to_design(self, graph: EncodedGraph, connected: bool = True) -> str | None:
        """Canonical SMILES of a graph; None if RDKit cannot sanitize it or (with `connected`)
        it falls apart into several fragments. Never repaired: a broken graph is an invalid
        design, and no largest fragment is taken."""
        quiet = rdBase.BlockLogs()  # an invalid sample is flagged by None, not logged
        mol = Chem.RWMol()
        for type_id in graph.atoms:
            element, charge = _parse_type(self.types[type_id])
            atom = Chem.Atom(element)
            atom.SetFormalCharge(charge)
            mol.AddAtom(atom)
        for i, j, order in graph.bonds:
            mol.AddBond(int(i), int(j), _BOND_TYPES[int(order)])
        try:
            Chem.SanitizeMol(mol)
        except Exception:  # valence, kekulization and other sanitization errors
            return None
        if connected and len(Chem.GetMolFrags(mol)) != 1:
            return None
        if any(atom.GetNumRadicalElectrons() for atom in mol.GetAtoms()):
            return None
        smiles = Chem.MolToSmiles(mol, isomericSmiles=False)
        valid = Chem.MolFromSmiles(smiles) is not None
        del quiet
        return smiles if valid else None

    def from_design(self, smiles: str) -> EncodedGraph | None:
        return self.encode(smiles)

    def pad(
        self, graphs: Sequence[EncodedGraph]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Dense batch: `B x N` atom ids (0 beyond each size), `B x N x N` symmetric edge ids and
        `B` sizes, N being the batch's largest molecule."""
        sizes = torch.tensor([len(g) for g in graphs], dtype=torch.long)
        width = int(sizes.max())
        atoms = torch.zeros(len(graphs), width, dtype=torch.long)
        edges = torch.zeros(len(graphs), width, width, dtype=torch.long)
        for row, graph in enumerate(graphs):
            atoms[row, : len(graph)] = torch.tensor(graph.atoms)
            if graph.bonds:
                bonds = torch.tensor(graph.bonds)
                edges[row, bonds[:, 0], bonds[:, 1]] = bonds[:, 2]
                edges[row, bonds[:, 1], bonds[:, 0]] = bonds[:, 2]
        return atoms, edges, sizes

    def state_dict(self) -> dict:
        return {"kind": self.kind, "types": list(self.types), "valences": list(self.valences)}

    @classmethod
    def from_state_dict(cls, state: dict) -> AtomBondVocabulary:
        return cls(state["types"], state["valences"])
