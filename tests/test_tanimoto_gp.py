"""Known answers for the Tanimoto GP that benchmarks/ensemble_fitting.py and reward_calibration.py
fit beside the reward ensembles."""

import sys
from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from ensemble_fitting import TanimotoGP, fingerprints, minmax  # noqa: E402

MOLECULES = ["CCO", "CCCO", "CCCCO", "c1ccccc1O", "CC(=O)O", "CCN", "c1ccccc1CN", "CC(C)O"]


def test_minmax_is_rdkit_tanimoto_on_ecfp4_counts():
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    counts = [generator.GetCountFingerprint(Chem.MolFromSmiles(s)) for s in MOLECULES]
    expected = np.array([DataStructs.BulkTanimotoSimilarity(c, counts) for c in counts])
    found = fingerprints(MOLECULES)
    np.testing.assert_allclose(minmax(found, found), expected, atol=1e-12)


def test_posterior_on_unrelated_molecules_is_the_closed_form():
    # Single atoms share no ECFP4 count: the Gram matrix is the identity, so the evidence depends
    # on amplitude + noise alone and peaks where it is closest to 1 (amplitude 1, noise 1e-3 on
    # the grid). Then each training molecule is predicted at centre + (y - centre) / 1.001 with
    # std scale * sqrt(1 - 1/1.001), and a molecule unrelated to all of them gets the prior.
    train = ["[Ne]", "[Ar]", "[Kr]", "[Xe]"]
    values = np.array([0.2, 0.5, 0.4, 0.9])
    bits = fingerprints([*train, "[He]"])
    np.testing.assert_array_equal(minmax(bits, bits), np.eye(5))
    gp = TanimotoGP()
    gp.fit(train, values, 1)
    assert gp.amplitude == 1.0
    center, scale = values.mean(), values.std()
    prediction = gp.predict([*train, "[He]"])
    np.testing.assert_allclose(prediction.mean[:4], center + (values - center) / 1.001)
    np.testing.assert_allclose(prediction.std[:4], scale * np.sqrt(1 - 1 / 1.001))
    assert prediction.mean[4] == pytest.approx(center)
    assert prediction.std[4] == pytest.approx(scale)
