"""RDKit descriptor oracles: QED, SA, logP, MW, TPSA, H-bond donors / acceptors, rotatable bonds,
Tanimoto similarity to a reference, and a PAINS structural-alert filter."""

from __future__ import annotations

from functools import cache

from rdkit import DataStructs
from rdkit.Chem import QED, Crippen, Descriptors, Lipinski, rdFingerprintGenerator, rdMolDescriptors

from molseiko.domains.molecule import to_mol
from molseiko.domains.properties import sa_score
from molseiko.errors import MolseikoError
from molseiko.oracles.base import MoleculeOracle

DESCRIPTORS: dict[str, tuple] = {
    # name: (function of mol, direction, description)
    "qed": (QED.qed, "maximize", "quantitative estimate of drug-likeness (Bickerton 2012), 0..1"),
    "sa": (sa_score, "minimize", "synthetic accessibility (Ertl 2009), 1 easy .. 10 hard"),
    "logp": (Crippen.MolLogP, "maximize", "Crippen logP"),
    "mw": (Descriptors.MolWt, "maximize", "molecular weight (Da)"),
    "tpsa": (rdMolDescriptors.CalcTPSA, "maximize", "topological polar surface area (Å²)"),
    "hbd": (Lipinski.NumHDonors, "maximize", "hydrogen-bond donors"),
    "hba": (Lipinski.NumHAcceptors, "maximize", "hydrogen-bond acceptors"),
    "rotatable_bonds": (
        rdMolDescriptors.CalcNumRotatableBonds,
        "maximize",
        "rotatable bonds",
    ),
}


def descriptor_oracle(name: str, direction: str | None = None) -> MoleculeOracle:
    """A built-in descriptor oracle; `direction` overrides its default."""
    function, default, description = DESCRIPTORS[name]
    return MoleculeOracle(name, function, direction or default, description)


@cache
def _morgan(radius: int = 2, size: int = 2048):
    return rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=size)


def similarity_oracle(reference: str, radius: int = 2, name: str = "similarity") -> MoleculeOracle:
    """Tanimoto similarity of Morgan fingerprints (ECFP4 by default) to a reference SMILES."""
    mol = to_mol(reference)
    if mol is None:
        raise MolseikoError(f"similarity oracle: invalid reference SMILES {reference!r}")
    generator = _morgan(radius)
    target = generator.GetFingerprint(mol)

    def similarity(candidate):
        return DataStructs.TanimotoSimilarity(target, generator.GetFingerprint(candidate))

    return MoleculeOracle(name, similarity, "maximize", f"Tanimoto similarity to {reference}")


@cache
def _pains_catalog():
    from rdkit.Chem.FilterCatalog import FilterCatalog, FilterCatalogParams

    params = FilterCatalogParams()
    params.AddCatalog(FilterCatalogParams.FilterCatalogs.PAINS)
    return FilterCatalog(params)


def pains_oracle() -> MoleculeOracle:
    """1.0 when a molecule matches no PAINS alert (RDKit's FilterCatalog), else 0.0."""
    return MoleculeOracle(
        "pains_free",
        lambda mol: 0.0 if _pains_catalog().HasMatch(mol) else 1.0,
        "maximize",
        "1 if no PAINS substructure alert (Baell & Holloway 2010), else 0; use as a filter",
    )
