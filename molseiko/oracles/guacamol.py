"""The PMO benchmark objectives (Gao et al. 2022): GuacaMol's goal-directed tasks (Brown et al.
2019) as oracles on [0, 1] to maximize, built from the definitions in guacamol's
`standard_benchmarks.py`.

`pmo_oracle(name)` gives one task; `PMO_TASKS` lists them. drd2, gsk3b and jnk3 are left out: they
score with trained classifiers that would have to be downloaded.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, NamedTuple

import numpy as np
from rdkit import Chem, DataStructs
from rdkit.Chem import QED, Descriptors, rdFingerprintGenerator, rdMolDescriptors

from molseiko.domains.molecule import to_mol
from molseiko.errors import MolseikoError
from molseiko.oracles.base import MoleculeOracle
from molseiko.oracles.guacamol_modifiers import (
    ClippedScoreModifier,
    GaussianModifier,
    MaxGaussianModifier,
    MinGaussianModifier,
)

Score = Callable[[Chem.Mol], float]
"""A scoring part: a function of one RDKit molecule onto [0, 1]."""
Modifier = Callable[[float], Any]


@cache
def _count_generator(kind: str):
    morgan_features = rdFingerprintGenerator.GetMorganFeatureAtomInvGen
    makers = {
        "ECFP4": lambda: rdFingerprintGenerator.GetMorganGenerator(radius=2),
        "ECFP6": lambda: rdFingerprintGenerator.GetMorganGenerator(radius=3),
        "FCFP4": lambda: rdFingerprintGenerator.GetMorganGenerator(
            radius=2, atomInvariantsGenerator=morgan_features()
        ),
        "AP": lambda: rdFingerprintGenerator.GetAtomPairGenerator(minDistance=1, maxDistance=10),
    }
    if kind not in makers:
        raise ValueError(f"unknown fingerprint {kind!r}; known: {', '.join(makers)}, PHCO")
    return makers[kind]()


def fingerprint(mol: Chem.Mol, kind: str):
    """GuacaMol's fingerprint of a molecule: 'ECFP4', 'ECFP6', 'FCFP4' (Morgan radius 2, 3 and
    2 with feature invariants) or 'AP' (atom pairs up to 10 bonds apart), all unfolded count
    vectors; or 'PHCO' (Gobbi 2D pharmacophore bits)."""
    if kind == "PHCO":
        from rdkit.Chem.Pharm2D import Generate, Gobbi_Pharm2D

        return Generate.Gen2DFingerprint(mol, Gobbi_Pharm2D.factory)
    # Counts, not folded bits: guacamol called GetMorganFingerprint / GetAtomPairFingerprint,
    # whose sparse count vectors these generators reproduce exactly, so Tanimoto is on counts.
    return _count_generator(kind).GetSparseCountFingerprint(mol)


def geometric_mean(values: Sequence[float]) -> float:
    """`(v_1 * ... * v_n) ** (1 / n)`: 0 as soon as one part is 0."""
    return float(np.prod(values) ** (1.0 / len(values)))


def _modified(modifier: Modifier | None, value: float) -> float:
    return float(value if modifier is None else modifier(value))


def _reference_mol(smiles: str) -> Chem.Mol:
    mol = to_mol(smiles)
    if mol is None:
        raise MolseikoError(f"invalid reference SMILES {smiles!r}")
    return mol


@dataclass
class Similarity:
    """Tanimoto similarity to `target` on `fingerprint_kind` fingerprints, through `modifier`."""

    target: str
    fingerprint_kind: str
    modifier: Modifier | None = None
    _reference: Any = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._reference = fingerprint(_reference_mol(self.target), self.fingerprint_kind)

    def __call__(self, mol: Chem.Mol) -> float:
        candidate = fingerprint(mol, self.fingerprint_kind)
        return _modified(self.modifier, DataStructs.TanimotoSimilarity(self._reference, candidate))


@dataclass
class Property:
    """An RDKit descriptor of the molecule through `modifier`."""

    descriptor: Callable[[Chem.Mol], float]
    modifier: Modifier | None = None

    def __call__(self, mol: Chem.Mol) -> float:
        return _modified(self.modifier, self.descriptor(mol))


@dataclass
class Substructure:
    """1.0 if the molecule matches `smarts`, else 0.0; the other way round when `inverse`."""

    smarts: str
    inverse: bool = False
    _pattern: Chem.Mol = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._pattern = Chem.MolFromSmarts(self.smarts)
        if self._pattern is None:
            raise MolseikoError(f"invalid SMARTS {self.smarts!r}")

    def __call__(self, mol: Chem.Mol) -> float:
        return float(mol.HasSubstructMatch(self._pattern) != self.inverse)


def parse_formula(formula: str) -> dict[str, int]:
    """Element counts of a molecular formula such as 'C9H10N2O2PF2Cl'."""
    counts: Counter[str] = Counter()
    for element, number in re.findall(r"([A-Z][a-z]*)(\d*)", formula):
        counts[element] += int(number) if number else 1
    return dict(counts)


@dataclass
class Isomer:
    """Closeness to a molecular formula: the geometric mean of a Gaussian (sigma 1) on each
    element's count and one (sigma 2) on the total atom count, hydrogens included; 1.0 exactly
    for an isomer."""

    formula: str
    _counts: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._counts = parse_formula(self.formula)
        if not self._counts:
            raise MolseikoError(f"no elements in molecular formula {self.formula!r}")

    def __call__(self, mol: Chem.Mol) -> float:
        # Hydrogens are implicit in a SMILES; adding them makes them countable atoms. (PyTDC 0.3.6
        # instead reads the total off the SMILES text, missing hydrogens and aromatic atoms.)
        with_hydrogens = Chem.AddHs(mol)
        found = Counter(atom.GetSymbol() for atom in with_hydrogens.GetAtoms())
        parts = [GaussianModifier(n, 1.0)(found[element]) for element, n in self._counts.items()]
        total = sum(self._counts.values())
        parts.append(GaussianModifier(total, 2.0)(with_hydrogens.GetNumAtoms()))
        return geometric_mean(parts)


@dataclass
class GeometricMean:
    """The geometric mean of scoring parts: every part must be good."""

    parts: Sequence[Score]

    def __call__(self, mol: Chem.Mol) -> float:
        return geometric_mean([part(mol) for part in self.parts])


@dataclass
class ArithmeticMean:
    """The arithmetic mean of scoring parts."""

    parts: Sequence[Score]

    def __call__(self, mol: Chem.Mol) -> float:
        return float(np.mean([part(mol) for part in self.parts]))


CELECOXIB = "CC1=CC=C(C=C1)C1=CC(=NN1C1=CC=C(C=C1)S(N)(=O)=O)C(F)(F)F"
TROGLITAZONE = "Cc1c(C)c2OC(C)(COc3ccc(CC4SC(=O)NC4=O)cc3)CCc2c(C)c1O"
THIOTHIXENE = "CN(C)S(=O)(=O)c1ccc2Sc3ccccc3C(=CCCN4CCN(C)CC4)c2c1"
ALBUTEROL = "CC(C)(C)NCC(O)c1ccc(O)c(CO)c1"
MESTRANOL = "COc1ccc2[C@H]3CC[C@@]4(C)[C@@H](CC[C@@]4(O)C#C)[C@@H]3CCc2c1"
CAMPHOR = "CC1(C)C2CCC1(C)C(=O)C2"
MENTHOL = "CC(C)C1CCC(C)CC1O"
TADALAFIL = "O=C1N(CC(N2C1CC3=C(C2C4=CC5=C(OCO5)C=C4)NC6=C3C=CC=C6)=O)C"
SILDENAFIL = "CCCC1=NN(C2=C1N=C(NC2=O)C3=C(C=CC(=C3)S(=O)(=O)N4CCN(CC4)C)OCC)C"
OSIMERTINIB = "COc1cc(N(C)CCN(C)C)c(NC(=O)C=C)cc1Nc2nccc(n2)c3cn(C)c4ccccc34"
FEXOFENADINE = "CC(C)(C(=O)O)c1ccc(cc1)C(O)CCCN2CCC(CC2)C(O)(c3ccccc3)c4ccccc4"
RANOLAZINE = "COc1ccccc1OCC(O)CN2CCN(CC(=O)Nc3c(C)cccc3C)CC2"
PERINDOPRIL = "O=C(OCC)C(NC(C(=O)N1C(C(=O)O)CC2CCCCC12)C)CCC"
AMLODIPINE = r"Clc1ccccc1C2C(=C(/N/C(=C2/C(=O)OCC)COCCN)C)\C(=O)OC"
SITAGLIPTIN = "Fc1cc(c(F)cc1F)CC(N)CC(=O)N3Cc2nnc(n2CC3)C(F)(F)F"
ZALEPLON = "O=C(C)N(CC)C1=CC=CC(C2=CC=NC3=C(C=NN23)C#N)=C1"
HOP_START = "CCCOc1cc2ncnc(Nc3ccc4ncsc4c3)c2cc1S(=O)(=O)C(C)(C)C"
"""The kinase inhibitor both hop tasks start from."""
QUINAZOLINE_SCAFFOLD = "[#7]-c1n[c;h1]nc2[c;h1]c(-[#8])[c;h0][c;h1]c12"

logp = Descriptors.MolLogP
tpsa = Descriptors.TPSA


def _same_properties_as(smiles: str, with_bertz: bool = False) -> list[Score]:
    """Gaussians on logP (sigma 0.2), TPSA (sigma 5) and optionally Bertz complexity (sigma 30)
    centred on another molecule's values."""
    other = _reference_mol(smiles)
    parts: list[Score] = [
        Property(logp, GaussianModifier(logp(other), 0.2)),
        Property(tpsa, GaussianModifier(tpsa(other), 5.0)),
    ]
    if with_bertz:
        parts.append(
            Property(Descriptors.BertzCT, GaussianModifier(Descriptors.BertzCT(other), 30))
        )
    return parts


def _fluorine_count(mol: Chem.Mol) -> int:
    return sum(1 for atom in mol.GetAtoms() if atom.GetSymbol() == "F")


def _rediscovery(target: str) -> Callable[[], Score]:
    return lambda: Similarity(target, "ECFP4")


def _similarity(target: str, kind: str) -> Callable[[], Score]:
    return lambda: Similarity(target, kind, ClippedScoreModifier(upper_x=0.75))


class Task(NamedTuple):
    """A PMO task: what it asks for, and how to build its scoring function."""

    description: str
    build: Callable[[], Score]


_TASKS: dict[str, Task] = {
    "qed": Task("quantitative estimate of drug-likeness (Bickerton 2012)", lambda: QED.qed),
    "celecoxib_rediscovery": Task(
        "ECFP4 Tanimoto similarity to celecoxib", _rediscovery(CELECOXIB)
    ),
    "troglitazone_rediscovery": Task(
        "ECFP4 Tanimoto similarity to troglitazone", _rediscovery(TROGLITAZONE)
    ),
    "thiothixene_rediscovery": Task(
        "ECFP4 Tanimoto similarity to thiothixene", _rediscovery(THIOTHIXENE)
    ),
    "albuterol_similarity": Task(
        "FCFP4 similarity to albuterol, full marks from 0.75", _similarity(ALBUTEROL, "FCFP4")
    ),
    "mestranol_similarity": Task(
        "atom-pair similarity to mestranol, full marks from 0.75", _similarity(MESTRANOL, "AP")
    ),
    "isomers_c7h8n2o2": Task("closeness to the formula C7H8N2O2", lambda: Isomer("C7H8N2O2")),
    "isomers_c9h10n2o2pf2cl": Task(
        "closeness to the formula C9H10N2O2PF2Cl", lambda: Isomer("C9H10N2O2PF2Cl")
    ),
    "median1": Task(
        "geometric mean of ECFP4 similarities to camphor and menthol",
        lambda: GeometricMean([Similarity(CAMPHOR, "ECFP4"), Similarity(MENTHOL, "ECFP4")]),
    ),
    "median2": Task(
        "geometric mean of ECFP6 similarities to tadalafil and sildenafil",
        lambda: GeometricMean([Similarity(TADALAFIL, "ECFP6"), Similarity(SILDENAFIL, "ECFP6")]),
    ),
    "osimertinib_mpo": Task(
        "like osimertinib (FCFP4) but not too like it (ECFP6), TPSA over 100, logP under 1",
        lambda: GeometricMean(
            [
                Similarity(OSIMERTINIB, "FCFP4", ClippedScoreModifier(upper_x=0.8)),
                Similarity(OSIMERTINIB, "ECFP6", MinGaussianModifier(0.85, 0.1)),
                Property(tpsa, MaxGaussianModifier(100, 10)),
                Property(logp, MinGaussianModifier(1, 1)),
            ]
        ),
    ),
    "fexofenadine_mpo": Task(
        "atom-pair similarity to fexofenadine, TPSA over 90, logP under 4",
        lambda: GeometricMean(
            [
                Similarity(FEXOFENADINE, "AP", ClippedScoreModifier(upper_x=0.8)),
                Property(tpsa, MaxGaussianModifier(90, 10)),
                Property(logp, MinGaussianModifier(4, 1)),
            ]
        ),
    ),
    "ranolazine_mpo": Task(
        "atom-pair similarity to ranolazine, logP over 7, TPSA over 95, one fluorine",
        lambda: GeometricMean(
            [
                Similarity(RANOLAZINE, "AP", ClippedScoreModifier(upper_x=0.7)),
                Property(logp, MaxGaussianModifier(7, 1)),
                Property(_fluorine_count, GaussianModifier(1, 1.0)),
                Property(tpsa, MaxGaussianModifier(95, 20)),
            ]
        ),
    ),
    "perindopril_mpo": Task(
        "ECFP4 similarity to perindopril with two aromatic rings",
        lambda: GeometricMean(
            [
                Similarity(PERINDOPRIL, "ECFP4"),
                Property(rdMolDescriptors.CalcNumAromaticRings, GaussianModifier(2, 0.5)),
            ]
        ),
    ),
    "amlodipine_mpo": Task(
        "ECFP4 similarity to amlodipine with three rings",
        lambda: GeometricMean(
            [
                Similarity(AMLODIPINE, "ECFP4"),
                Property(rdMolDescriptors.CalcNumRings, GaussianModifier(3, 0.5)),
            ]
        ),
    ),
    "sitagliptin_mpo": Task(
        "unlike sitagliptin (ECFP4) but with its logP, TPSA and formula C16H15F6N5O",
        lambda: GeometricMean(
            [
                Similarity(SITAGLIPTIN, "ECFP4", GaussianModifier(0, 0.1)),
                *_same_properties_as(SITAGLIPTIN),
                Isomer("C16H15F6N5O"),
            ]
        ),
    ),
    "zaleplon_mpo": Task(
        "ECFP4 similarity to zaleplon with the formula C19H17N3O2",
        lambda: GeometricMean([Similarity(ZALEPLON, "ECFP4"), Isomer("C19H17N3O2")]),
    ),
    "valsartan_smarts": Task(
        "valsartan's substructure with sitagliptin's logP, TPSA and Bertz complexity",
        lambda: GeometricMean(
            [
                Substructure("CN(C=O)Cc1ccc(c2ccccc2)cc1"),
                *_same_properties_as(SITAGLIPTIN, with_bertz=True),
            ]
        ),
    ),
    "deco_hop": Task(
        "keep a kinase inhibitor's quinazoline scaffold and pharmacophore, change its decorations",
        lambda: ArithmeticMean(
            [
                Similarity(HOP_START, "PHCO", ClippedScoreModifier(upper_x=0.85)),
                Substructure("CS([#6])(=O)=O", inverse=True),
                Substructure("[#7]-c1ccc2ncsc2c1", inverse=True),
                Substructure(QUINAZOLINE_SCAFFOLD),
            ]
        ),
    ),
    "scaffold_hop": Task(
        "keep a kinase inhibitor's decorations and pharmacophore, change its scaffold",
        lambda: ArithmeticMean(
            [
                Similarity(HOP_START, "PHCO", ClippedScoreModifier(upper_x=0.75)),
                Substructure("[#6]-[#6]-[#6]-[#8]-[#6]~[#6]~[#6]~[#6]~[#6]-[#7]-c1ccc2ncsc2c1"),
                Substructure(QUINAZOLINE_SCAFFOLD, inverse=True),
            ]
        ),
    ),
}


PMO_TASKS: dict[str, str] = {name: task.description for name, task in _TASKS.items()}
"""Every built-in PMO task name with a one-line description."""


def pmo_oracle(name: str) -> MoleculeOracle:
    """The oracle of a PMO task (case-insensitive name, as in TDC), on [0, 1] to maximize."""
    key = name.strip().lower()
    if key in ("drd2", "gsk3b", "jnk3"):
        raise MolseikoError(f"PMO task {key!r} scores with a trained classifier; not built in")
    if key not in _TASKS:
        raise MolseikoError(f"unknown PMO task {name!r}; known: {', '.join(_TASKS)}")
    task = _TASKS[key]
    return MoleculeOracle(key, task.build(), "maximize", task.description)
