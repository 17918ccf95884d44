import numpy as np
import pytest
from rdkit import Chem

from molseiko.errors import MolseikoError
from molseiko.reward.ensemble import EnsembleConfig, RewardEnsemble
from molseiko.reward.features import ATOM_DIM, BOND_DIM, mol_to_graph


def test_graph_has_both_bond_directions_and_feature_dims():
    graph = mol_to_graph(Chem.MolFromSmiles("c1ccccc1O"))
    assert graph.x.shape == (7, ATOM_DIM)
    assert graph.edge_index.shape == (2, 14) and graph.edge_attr.shape == (14, BOND_DIM)
    pairs = set(map(tuple, graph.edge_index.t().tolist()))
    assert all((j, i) in pairs for i, j in pairs)
    assert mol_to_graph(Chem.MolFromSmiles("C")).edge_index.shape == (2, 0)


@pytest.fixture(scope="module")
def zinc():
    import pandas as pd

    frame = pd.read_csv("data/zinc250k/zinc250k.csv.gz", nrows=400)
    return frame.smiles.tolist(), frame.logP.to_numpy()


def test_ensemble_learns_logp_and_spread_is_informative(zinc):
    smiles, logp = zinc
    ensemble = RewardEnsemble(EnsembleConfig(members=3, max_epochs=60, seed=0))
    errors = ensemble.fit(smiles[:300], logp[:300])
    assert len(errors) == 3 and all(e < 1.2 for e in errors)
    prediction = ensemble.predict(smiles[300:])
    assert prediction.members.shape == (3, 100)
    correlation = np.corrcoef(prediction.mean, logp[300:])[0, 1]
    assert correlation > 0.8  # logP is nearly additive over atoms: a GNN must learn it
    assert (prediction.std > 0).all()
    assert np.allclose(prediction.mean, prediction.members.mean(0))
    # Off-distribution molecules should look less certain than in-distribution ones.
    strange = ensemble.predict(["C" * 40, "FC(F)(F)C(F)(F)C(F)(F)C(F)(F)C(F)(F)C(F)(F)F"])
    assert strange.std.mean() > np.median(prediction.std)


def test_invalid_designs_predict_nan_and_nan_values_are_skipped(zinc):
    smiles, logp = zinc
    values = logp[:40].copy()
    values[:5] = np.nan  # failed measurements are not training data
    ensemble = RewardEnsemble(EnsembleConfig(members=2, max_epochs=5))
    ensemble.fit(smiles[:40], values)
    prediction = ensemble.predict([smiles[0], None, "C1CC"])
    assert np.isfinite(prediction.mean[0]) and np.isnan(prediction.mean[1:]).all()


def test_members_are_seeded_and_reproducible(zinc):
    smiles, logp = zinc
    first = RewardEnsemble(EnsembleConfig(members=2, max_epochs=5, seed=3))
    second = RewardEnsemble(EnsembleConfig(members=2, max_epochs=5, seed=3))
    first.fit(smiles[:50], logp[:50])
    second.fit(smiles[:50], logp[:50])
    a, b = first.predict(smiles[50:60]), second.predict(smiles[50:60])
    assert np.allclose(a.members, b.members)
    assert not np.allclose(a.members[0], a.members[1])  # members differ from each other
    later = RewardEnsemble(EnsembleConfig(members=2, max_epochs=5, seed=3))
    later.fit(smiles[:50], logp[:50], round_=2)  # another round draws other resamples
    assert not np.allclose(later.predict(smiles[50:60]).members, a.members)


def test_errors():
    with pytest.raises(MolseikoError, match="at least two"):
        RewardEnsemble().fit(["CCO"], [1.0])
    with pytest.raises(MolseikoError, match="before fit"):
        RewardEnsemble().predict(["CCO"])


def test_fit_leaves_the_callers_torch_random_state_alone():
    import torch

    smiles = ["CCO", "CCCO", "CCCCO", "c1ccccc1", "CC(=O)O", "CCN"]
    values = [0.1, 0.2, 0.3, 0.9, 0.4, 0.2]
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    first = RewardEnsemble(EnsembleConfig(members=2, max_epochs=3))
    first.fit(smiles, values, round_=1)
    assert torch.equal(torch.rand(3), expected)
    torch.manual_seed(999)  # a different outside state does not change the fit
    second = RewardEnsemble(EnsembleConfig(members=2, max_epochs=3))
    second.fit(smiles, values, round_=1)
    assert np.array_equal(first.predict(smiles).members, second.predict(smiles).members)
