"""Molecule graphs for the reward GNN: one-hot atom and bond features as a PyG `Data`, and
optionally the molecule's RDKit 2D descriptors (Chemprop's `rdkit_2d` features) beside them."""

from __future__ import annotations

import math

import torch
from rdkit import Chem
from rdkit.Chem import Descriptors

ELEMENTS = ("C", "N", "O", "F", "P", "S", "Cl", "Br", "I", "B", "Si", "Se")
HYBRIDIZATIONS = (
    Chem.HybridizationType.SP,
    Chem.HybridizationType.SP2,
    Chem.HybridizationType.SP3,
)
BOND_TYPES = (
    Chem.BondType.SINGLE,
    Chem.BondType.DOUBLE,
    Chem.BondType.TRIPLE,
    Chem.BondType.AROMATIC,
)


def _one_hot(value, choices) -> list[float]:
    """One-hot over `choices` plus a final 'other' slot."""
    encoding = [0.0] * (len(choices) + 1)
    encoding[choices.index(value) if value in choices else len(choices)] = 1.0
    return encoding


def atom_features(atom: Chem.Atom) -> list[float]:
    return (
        _one_hot(atom.GetSymbol(), ELEMENTS)
        + _one_hot(atom.GetTotalDegree(), (0, 1, 2, 3, 4, 5))
        + _one_hot(atom.GetFormalCharge(), (-1, 0, 1))
        + _one_hot(atom.GetTotalNumHs(), (0, 1, 2, 3))
        + _one_hot(atom.GetHybridization(), HYBRIDIZATIONS)
        + [float(atom.GetIsAromatic()), float(atom.IsInRing())]
    )


def bond_features(bond: Chem.Bond) -> list[float]:
    return _one_hot(bond.GetBondType(), BOND_TYPES) + [
        float(bond.GetIsConjugated()),
        float(bond.IsInRing()),
    ]


DESCRIPTORS = tuple(
    (name, function)
    for name, function in Descriptors._descList
    if name != "Ipc"  # spans 30 orders of magnitude; AvgIpc carries the same information
)
"""RDKit's 2D descriptors (logP, TPSA, counts, charges, topological indices...): about 6 ms per
molecule for the whole list."""


def descriptors(mol: Chem.Mol) -> list[float]:
    """The molecule's `DESCRIPTORS`; one that RDKit cannot compute or that is not finite is 0."""
    values = []
    for _, function in DESCRIPTORS:
        try:
            value = float(function(mol))
        except Exception:  # RDKit raises assorted errors on odd valences and charges
            value = 0.0
        values.append(value if math.isfinite(value) else 0.0)
    return values


ATOM_DIM = len(atom_features(Chem.MolFromSmiles("C").GetAtomWithIdx(0)))
BOND_DIM = len(bond_features(Chem.MolFromSmiles("CC").GetBondWithIdx(0)))


def mol_to_graph(mol: Chem.Mol, with_descriptors: bool = False):
    """PyG graph with `x` (`N x ATOM_DIM`), `edge_index` (`2 x 2E`, both directions) and
    `edge_attr` (`2E x BOND_DIM`); with `with_descriptors` also `descriptors`
    (`1 x len(DESCRIPTORS)`, raw values: the ensemble standardizes them on its training set)."""
    from torch_geometric.data import Data

    x = torch.tensor([atom_features(atom) for atom in mol.GetAtoms()], dtype=torch.float)
    sources, targets, attributes = [], [], []
    for bond in mol.GetBonds():
        i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        features = bond_features(bond)
        sources += [i, j]
        targets += [j, i]
        attributes += [features, features]
    edge_index = torch.tensor([sources, targets], dtype=torch.long).reshape(2, -1)
    edge_attr = torch.tensor(attributes, dtype=torch.float).reshape(-1, BOND_DIM)
    graph = Data(x=x, edge_index=edge_index, edge_attr=edge_attr)
    if with_descriptors:
        graph.descriptors = torch.tensor([descriptors(mol)], dtype=torch.float64)
    return graph
