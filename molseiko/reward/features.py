"""Molecule graphs for the reward GNN: one-hot atom and bond features as a PyG `Data`."""

from __future__ import annotations

import torch
from rdkit import Chem

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


ATOM_DIM = len(atom_features(Chem.MolFromSmiles("C").GetAtomWithIdx(0)))
BOND_DIM = len(bond_features(Chem.MolFromSmiles("CC").GetBondWithIdx(0)))


def mol_to_graph(mol: Chem.Mol):
    """PyG graph with `x` (`N x ATOM_DIM`), `edge_index` (`2 x 2E`, both directions) and
    `edge_attr` (`2E x BOND_DIM`)."""
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
    return Data(x=x, edge_index=edge_index, edge_attr=edge_attr)
