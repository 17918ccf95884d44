import math

import pandas as pd
import pytest
from rdkit import Chem

from molseiko.domains.molecule import canonical_smiles, from_selfies, to_mol, to_selfies, to_smiles
from molseiko.domains.properties import PROPERTY_NAMES, properties, sa_score
from tests.conftest import SMILES


@pytest.mark.parametrize("smiles", SMILES)
def test_smiles_selfies_round_trip(smiles):
    assert from_selfies(to_selfies(smiles)) == canonical_smiles(smiles)


@pytest.mark.parametrize("bad", ["", "   ", None, "C1CC", "c1cccc1", "CC(C)(C)(C)(C)C", "Xx"])
def test_invalid_smiles_give_none_not_a_placeholder(bad):
    assert to_mol(bad) is None
    assert canonical_smiles(bad) is None
    assert to_selfies(bad) is None


def test_canonical_key_is_independent_of_writing():
    assert canonical_smiles("OCC") == canonical_smiles("C(O)C") == "CCO"
    assert to_smiles(None) is None
    assert from_selfies("") is None


def test_stereo_survives_round_trip():
    smiles = "C[C@@H](N)C(=O)O"
    assert "@" in from_selfies(to_selfies(smiles))


def test_properties_known_values():
    ethanol = properties(Chem.MolFromSmiles("CCO"))
    assert ethanol["MW"] == pytest.approx(46.069, abs=1e-3)
    assert ethanol["rings"] == 0
    assert properties(Chem.MolFromSmiles("c1ccc2ccccc2c1"))["rings"] == 2
    assert all(math.isnan(v) for v in properties(None).values())
    assert set(ethanol) == set(PROPERTY_NAMES)


def test_sa_and_logp_match_the_zinc250k_table(zinc_head):
    """The shipped SAS / logP columns were computed with RDKit Contrib SA_Score / Crippen."""
    for smiles, logp, sas in zinc_head:
        values = properties(to_mol(smiles))
        assert values["logP"] == pytest.approx(logp, abs=1e-4)
        assert sa_score(to_mol(smiles)) == pytest.approx(sas, abs=1e-4)


@pytest.fixture
def zinc_head():
    frame = pd.read_csv("data/zinc250k/zinc250k.csv.gz", nrows=5)
    return list(zip(frame.smiles, frame.logP, frame.SAS, strict=True))
