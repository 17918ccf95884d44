"""Molecule conversions: SMILES / SELFIES / RDKit mol, each returning None on failure.

No function here substitutes a placeholder molecule; batch callers mask the Nones and count them.
"""

from __future__ import annotations

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
    """Decode SELFIES to canonical SMILES; None if it decodes to nothing or fails sanitization."""
    import selfies as sf

    if not isinstance(selfies, str) or not selfies:
        return None
    try:
        smiles = sf.decoder(selfies)
    except sf.DecoderError:
        return None
    return canonical_smiles(smiles)
