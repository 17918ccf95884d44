"""Molecule conversions: SMILES / SELFIES / RDKit mol, each returning None on failure.

No function here substitutes a placeholder molecule; batch callers mask the Nones and count them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from rdkit import Chem, rdBase


def to_mol(smiles: str | None, sanitize: bool = True) -> Chem.Mol | None:
    """Parse a SMILES string into an RDKit molecule; None if empty, unparsable or unsanitizable."""
    if not isinstance(smiles, str) or not smiles.strip():
        return None
    # RDKit logs parse failures to stderr; silence only this call, never the whole process.
    blocker = rdBase.BlockLogs()
    try:
        mol = Chem.MolFromSmiles(smiles.strip(), sanitize=sanitize)
    finally:
        del blocker
    if mol is None or mol.GetNumAtoms() == 0:
        return None
    return mol


def to_smiles(mol: Chem.Mol | None, isomeric: bool = True) -> str | None:
    """Canonical SMILES of a molecule (the design's canonical key); None for None."""
    if mol is None:
        return None
    return Chem.MolToSmiles(mol, isomericSmiles=isomeric)


def canonical_smiles(smiles: str | None) -> str | None:
    """Canonicalize a SMILES string; None if it is not a valid molecule."""
    return to_smiles(to_mol(smiles))


def to_selfies(smiles: str | None) -> str | None:
    """SELFIES of a SMILES string (from its canonical form); None if invalid or unencodable."""
    import selfies as sf

    canonical = canonical_smiles(smiles)
    if canonical is None:
        return None
    try:
        return sf.encoder(canonical, strict=True)
    except sf.EncoderError:
        return None


def from_selfies(selfies: str | None) -> str | None:
    """Decode SELFIES to the canonical SMILES of a closed-shell molecule (radicals filled with
    hydrogens, see `close_shells`); None if it decodes to nothing or fails sanitization."""
    import selfies as sf

    if not isinstance(selfies, str) or not selfies:
        return None
    try:
        smiles = sf.decoder(selfies)
    except sf.DecoderError:
        return None
    return to_smiles(close_shells(to_mol(smiles)))


def close_shells(mol: Chem.Mol | None) -> Chem.Mol | None:
    """`mol` with every radical filled with hydrogens; None if that does not sanitize.

    SELFIES keeps a bracket atom's hydrogen count, so a sampled `[CH1]` or `[NH1+1]` that ends
    up with one bond too few decodes to a radical (a third of the shipped model's raw samples).
    No one orders radicals from a catalogue, and an objective scores them as if they were
    molecules, so a campaign would spend calls on them; a generated design is the closed-shell
    molecule instead (C[CH]C -> CCC, C[NH+]C -> C[NH2+]C). Measured data is never changed."""
    if not is_radical(mol):
        return mol
    mol = Chem.RWMol(mol)
    for atom in mol.GetAtoms():
        if atom.GetNumRadicalElectrons():
            atom.SetNumRadicalElectrons(0)
            atom.SetNoImplicit(False)  # hydrogens fill the open valence
    try:
        Chem.SanitizeMol(mol)
    except (Chem.rdchem.MolSanitizeException, RuntimeError, ValueError):
        return None
    return mol.GetMol()


def is_radical(mol: Chem.Mol | None) -> bool:
    """Whether any atom of `mol` has an unpaired electron (False for None)."""
    return mol is not None and any(atom.GetNumRadicalElectrons() for atom in mol.GetAtoms())


def graph_crossover(parents: Sequence[str], count: int, rng: np.random.Generator) -> list[str]:
    """Up to `count` children of pairs of `parents` (SMILES), each made by cutting one acyclic
    single bond in both parents and bonding a piece of one to a piece of the other, at the two
    atoms the cuts freed (the non-ring crossover of graph genetic algorithms). Rings and their
    substituents are never broken, valences stay as they were, and a child's heavy-atom count
    lies between its parents' (no fragments, no giants). Children are canonical SMILES; they
    may repeat and may equal a parent."""
    mols = [mol for mol in (to_mol(p) for p in parents) if mol is not None]
    cuttable = [(mol, _acyclic_single_bonds(mol)) for mol in mols]
    cuttable = [(mol, bonds) for mol, bonds in cuttable if bonds]
    heavy = [mol.GetNumHeavyAtoms() for mol, _ in cuttable]
    if len(cuttable) < 2 or count <= 0:
        return []
    children: list[str] = []
    blocker = rdBase.BlockLogs()
    for _ in range(count * 5):  # a join can fail (a charged piece, too large): try others
        if len(children) >= count:
            break
        first, second = rng.choice(len(cuttable), 2, replace=False)
        pieces = [_piece(*cuttable[i], rng) for i in (first, second)]
        sizes = sorted((heavy[first], heavy[second]))
        child = _join(*pieces)
        if child is not None and sizes[0] <= child.GetNumHeavyAtoms() <= sizes[1]:
            children.append(Chem.MolToSmiles(child))
    del blocker
    return children


_HALOGENS = {9, 17, 35, 53}


def _acyclic_single_bonds(mol: Chem.Mol) -> list[int]:
    """Bonds between two heavy atoms, in no ring, single: where a molecule may be cut."""
    return [
        bond.GetIdx()
        for bond in mol.GetBonds()
        if not bond.IsInRing() and bond.GetBondType() == Chem.BondType.SINGLE
    ]


def _piece(mol: Chem.Mol, bonds: list[int], rng: np.random.Generator) -> Chem.Mol:
    """One side (chosen at random) of `mol` cut at a random bond of `bonds`; the cut end
    carries a dummy atom."""
    cut = Chem.FragmentOnBonds(mol, [bonds[rng.integers(len(bonds))]], dummyLabels=[(0, 0)])
    sides = Chem.GetMolFrags(cut, asMols=True, sanitizeFrags=False)
    return sides[rng.integers(len(sides))]


def _join(first: Chem.Mol, second: Chem.Mol) -> Chem.Mol | None:
    """Bond the atoms next to the dummies of two pieces and drop the dummies; None if the
    result does not sanitize."""
    combined = Chem.RWMol(Chem.CombineMols(first, second))
    dummies = [atom.GetIdx() for atom in combined.GetAtoms() if atom.GetAtomicNum() == 0]
    if len(dummies) != 2:
        return None
    ends = [combined.GetAtomWithIdx(d).GetNeighbors()[0] for d in dummies]
    elements = sorted(atom.GetAtomicNum() for atom in ends)
    if _HALOGENS & set(elements) and 6 not in elements or elements == [8, 8]:
        return None  # N-Cl, S-F, peroxides: bonds no medicinal chemist would make
    ends = [atom.GetIdx() for atom in ends]
    combined.AddBond(ends[0], ends[1], Chem.BondType.SINGLE)
    for dummy in sorted(dummies, reverse=True):
        combined.RemoveAtom(dummy)
    child = combined.GetMol()
    try:
        Chem.SanitizeMol(child)
    except (Chem.rdchem.MolSanitizeException, RuntimeError, ValueError):
        return None
    return child  # each piece keeps at least the atom its cut freed: never empty
