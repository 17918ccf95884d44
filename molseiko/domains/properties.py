"""Drug-likeness descriptors of a molecule: QED, SA, MW, logP, ring count."""

from __future__ import annotations

import math
import os
import sys
from functools import cache

from rdkit import Chem
from rdkit.Chem import QED, Crippen, Descriptors, RDConfig, rdMolDescriptors

PROPERTY_NAMES = ("QED", "SA", "MW", "logP", "rings")


@cache
def _sascorer():
    """RDKit Contrib's SA_Score module (Ertl & Schuffenhauer 2009), imported once."""
    path = os.path.join(RDConfig.RDContribDir, "SA_Score")
    if path not in sys.path:
        sys.path.append(path)
    import sascorer

    return sascorer


def sa_score(mol: Chem.Mol) -> float:
    """Synthetic accessibility, 1 (easy) to 10 (hard)."""
    return float(_sascorer().calculateScore(mol))


def properties(mol: Chem.Mol | None) -> dict[str, float]:
    """The descriptors of `PROPERTY_NAMES` for one molecule; all NaN when mol is None."""
    if mol is None:
        return {name: math.nan for name in PROPERTY_NAMES}
    return {
        "QED": float(QED.qed(mol)),
        "SA": sa_score(mol),
        "MW": float(Descriptors.MolWt(mol)),
        "logP": float(Crippen.MolLogP(mol)),
        "rings": float(rdMolDescriptors.CalcNumRings(mol)),
    }
