"""Known answers for the Tanimoto GP that benchmarks/reward_calibration.py screens."""

import sys
from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from reward_calibration import TanimotoGP  # noqa: E402

TRAIN = ["CCO", "CCCO", "CCCCO", "c1ccccc1O", "CC(=O)O", "CCN", "c1ccccc1CN", "CC(C)O"]


def test_kernel_is_rdkit_tanimoto_on_ecfp4_bits():
    gp = TanimotoGP()
    bits = gp._bits(TRAIN)
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    fingerprints = [generator.GetFingerprint(Chem.MolFromSmiles(s)) for s in TRAIN]
    expected = np.array([DataStructs.BulkTanimotoSimilarity(f, fingerprints) for f in fingerprints])
    np.testing.assert_allclose(gp._kernel(bits, bits), expected, atol=1e-12)


def test_posterior_is_the_prior_where_no_bit_is_shared_and_tighter_on_the_data():
    values = np.array([0.1, 0.3, 0.5, 0.9, 0.2, 0.4, 0.8, 0.15])
    gp = TanimotoGP()
    gp.fit(TRAIN, values)
    stranger = "[Xe]"  # no ECFP4 bit in common with any training molecule
    assert gp._kernel(gp._bits([stranger]), gp._bits(TRAIN)).max() == 0.0
    prediction = gp.predict([stranger, *TRAIN])
    assert prediction.mean[0] == pytest.approx(values.mean())
    assert prediction.std[0] == pytest.approx(values.std())
    assert np.all(prediction.std[1:] < 0.9 * values.std())
    # the data pull the mean: training molecules are predicted closer than the constant mean is
    assert np.abs(prediction.mean[1:] - values).mean() < np.abs(values.mean() - values).mean()
