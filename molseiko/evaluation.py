"""Sample quality of a generative model: validity, uniqueness, novelty, distribution match."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from molseiko.domains.molecule import to_mol
from molseiko.domains.properties import PROPERTY_NAMES, properties


@dataclass
class SampleQuality:
    """Quality of a set of generated molecules against a reference set."""

    n: int
    """Number of generated designs (valid or not)."""
    validity: float
    """Share that decode to a sanitizable RDKit molecule."""
    uniqueness: float
    """Share of valid designs with a distinct canonical SMILES."""
    novelty: float
    """Share of unique valid designs absent from the training set (NaN if none given)."""
    fcd: float
    """Fréchet ChemNet Distance to the reference set (NaN if the `fcd` package is missing)."""
    wasserstein: dict[str, float] = field(default_factory=dict)
    """Wasserstein-1 distance to the reference per descriptor (QED, SA, MW, logP, rings)."""
    property_means: dict[str, float] = field(default_factory=dict)
    """Mean of each descriptor over the valid generated molecules."""

    def as_row(self) -> dict[str, float]:
        """Flat dict for a CSV row."""
        row = {k: v for k, v in asdict(self).items() if not isinstance(v, dict)}
        row.update({f"W1_{k}": v for k, v in self.wasserstein.items()})
        row.update({f"mean_{k}": v for k, v in self.property_means.items()})
        return row


def property_table(smiles: Iterable[str]) -> dict[str, np.ndarray]:
    """Descriptor arrays (`N` each) of molecules given as valid SMILES."""
    rows = [properties(to_mol(s)) for s in smiles]
    return {name: np.array([row[name] for row in rows]) for name in PROPERTY_NAMES}


def frechet_chemnet_distance(generated: Sequence[str], reference: Sequence[str]) -> float:
    """FCD with the ChemNet weights shipped inside the `fcd` package; NaN if it is not installed."""
    try:
        import fcd
    except ImportError:
        return math.nan
    return float(fcd.get_fcd(list(generated), list(reference), device="cpu"))


def sample_quality(
    generated: Sequence[str | None],
    reference: Sequence[str],
    training: set[str] | None = None,
    reference_properties: dict[str, np.ndarray] | None = None,
    compute_fcd: bool = True,
) -> SampleQuality:
    """Score generated designs (canonical SMILES, None = invalid) against reference molecules.

    `training` holds canonical SMILES of the training set for novelty; `reference_properties`
    may pass precomputed descriptors of `reference` (they are slow to recompute for 25k molecules).
    """
    from scipy.stats import wasserstein_distance

    valid = [s for s in generated if s is not None]
    unique = set(valid)
    novelty = math.nan if training is None or not unique else len(unique - training) / len(unique)
    if reference_properties is None:
        reference_properties = property_table(reference)
    generated_properties = property_table(valid)
    wasserstein, means = {}, {}
    for name in PROPERTY_NAMES:
        mine = generated_properties[name]
        wasserstein[name] = (
            float(wasserstein_distance(mine, reference_properties[name])) if len(mine) else math.nan
        )
        means[name] = float(mine.mean()) if len(mine) else math.nan
    return SampleQuality(
        n=len(generated),
        validity=len(valid) / max(len(generated), 1),
        uniqueness=len(unique) / max(len(valid), 1),
        novelty=novelty,
        fcd=frechet_chemnet_distance(valid, reference) if compute_fcd and valid else math.nan,
        wasserstein=wasserstein,
        property_means=means,
    )


@dataclass
class ReferenceSet:
    """The held-out molecules that generated samples are compared with, and the training set."""

    test: list[str]
    """Held-out SMILES, as written in the data file."""
    train: list[str]
    """Training SMILES, as written in the data file."""
    training_keys: set[str]
    """Canonical SMILES of the training set, for novelty."""
    test_properties: dict[str, np.ndarray]
    """Descriptors of the held-out molecules."""


def load_reference(data, test_indices, stereo: bool = True) -> ReferenceSet:
    """Split a SMILES file by a JSON list of held-out rows (as `molseiko pretrain` does).

    `stereo=False` compares with a model that does not generate stereochemistry (the graph
    model): stereo marks are dropped from both sets, so a training molecule without its stereo
    marks does not count as novel, and FCD compares like with like."""
    from molseiko.domains.io import read_row_indices, read_smiles
    from molseiko.domains.molecule import canonical_smiles, to_mol, to_smiles

    smiles = read_smiles(data)
    if not stereo:
        smiles = [to_smiles(to_mol(s), isomeric=False) or s for s in smiles]
    held_out = read_row_indices(test_indices)
    test = [s for i, s in enumerate(smiles) if i in held_out]
    train = [s for i, s in enumerate(smiles) if i not in held_out]
    keys = {canonical_smiles(s) for s in train} - {None}
    return ReferenceSet(test, train, keys, property_table(test))
