import numpy as np
import pytest
import torch
from rdkit import Chem

from molseiko.errors import MolseikoError
from molseiko.reward.ensemble import EnsembleConfig, RewardEnsemble
from molseiko.reward.features import ATOM_DIM, BOND_DIM, DESCRIPTORS, descriptors, mol_to_graph


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


def test_descriptors_are_rdkits_in_order_with_ipc_left_out():
    from rdkit.Chem import Crippen, rdMolDescriptors

    names = [name for name, _ in DESCRIPTORS]
    assert "Ipc" not in names and {"MolLogP", "TPSA", "qed", "AvgIpc"} <= set(names)
    phenol = Chem.MolFromSmiles("c1ccccc1O")
    values = dict(zip(names, descriptors(phenol), strict=True))
    assert values["TPSA"] == pytest.approx(20.23, abs=1e-2)
    assert values["MolLogP"] == pytest.approx(Crippen.MolLogP(phenol))
    assert values["NumHDonors"] == rdMolDescriptors.CalcNumHBD(phenol) == 1
    graph = mol_to_graph(phenol, with_descriptors=True)
    assert graph.descriptors.shape == (1, len(DESCRIPTORS))
    assert "descriptors" not in mol_to_graph(phenol)  # only when asked for


def test_descriptors_are_standardized_on_the_fitted_designs_and_clipped(zinc):
    smiles, logp = zinc
    ensemble = RewardEnsemble(EnsembleConfig(members=2, max_epochs=2, descriptors=True))
    ensemble.fit(smiles[:80], logp[:80])
    train = ensemble._pack([ensemble._graph(s) for s in smiles[:80]]).take(range(80)).descriptors
    assert train.shape == (80, len(DESCRIPTORS)) and train.abs().max() <= 5.0
    raw = np.array([descriptors(Chem.MolFromSmiles(s)) for s in smiles[:80]])
    spread = raw.std(0)
    expected = np.clip((raw - raw.mean(0)) / np.where(spread > 1e-8, spread, 1.0), -5, 5)
    assert np.allclose(train.numpy(), expected, atol=1e-4)
    assert (train[:, spread <= 1e-8] == 0).all()  # a constant feature carries nothing
    # A molecule far outside the fitted ones is clipped, not extrapolated without bound.
    huge = ensemble._pack([ensemble._graph("C" * 60)]).take([0]).descriptors
    assert huge.abs().max() == 5.0


def test_descriptors_let_the_ensemble_read_a_whole_molecule_property(zinc):
    """QED is no sum over atoms: from 150 molecules the graph alone learns it poorly (r about
    0.55), while the descriptors carry it and its parts (logP, TPSA, donors...): r about 0.7."""
    from rdkit.Chem import QED

    smiles = zinc[0]
    qed = np.array([QED.qed(Chem.MolFromSmiles(s)) for s in smiles])
    scores = {}
    for with_descriptors in (False, True):
        config = EnsembleConfig(members=2, max_epochs=40, seed=0, descriptors=with_descriptors)
        ensemble = RewardEnsemble(config)
        ensemble.fit(smiles[:150], qed[:150])
        prediction = ensemble.predict(smiles[300:])
        scores[with_descriptors] = np.corrcoef(prediction.mean, qed[300:])[0, 1]
    assert scores[True] > 0.65 and scores[True] > scores[False] + 0.1


def test_a_packed_minibatch_is_what_pyg_would_collate(zinc):
    """Packing the designs once and cutting minibatches by index must give PyG's own batch, so the
    faster path changes no fit and no prediction."""
    from torch_geometric.data import Batch

    from molseiko.reward.batching import GraphPack
    from molseiko.reward.gnn import GINERegressor

    graphs = [mol_to_graph(Chem.MolFromSmiles(s), True) for s in zinc[0][:30]]
    graphs.append(mol_to_graph(Chem.MolFromSmiles("C"), True))  # a graph without bonds
    center, scale = torch.zeros(len(DESCRIPTORS)), torch.full((len(DESCRIPTORS),), 50.0)
    pack = GraphPack(graphs, center, scale)
    rows = [30, 7, 7, 0, 29, 12]  # any order, repeats (a bootstrap resample) included
    mine = pack.take(rows)
    theirs = Batch.from_data_list([graphs[i] for i in rows])
    assert torch.equal(mine.x, theirs.x) and torch.equal(mine.edge_attr, theirs.edge_attr)
    assert torch.equal(mine.edge_index, theirs.edge_index)
    assert torch.equal(mine.batch, theirs.batch) and mine.num_graphs == theirs.num_graphs == 6
    expected = ((theirs.descriptors - center) / scale).clamp(-5, 5).float()
    assert torch.equal(mine.descriptors, expected)
    theirs.descriptors = expected
    torch.manual_seed(0)
    model = GINERegressor(hidden=16, layers=2, descriptors=len(DESCRIPTORS)).eval()
    assert torch.allclose(model(mine), model(theirs), atol=1e-6)


def test_a_sequence_minibatch_is_padded_to_its_own_longest_sequence():
    from molseiko.reward.batching import SequencePack

    pack = SequencePack([torch.tensor([1, 2]), torch.tensor([3, 4, 5, 6]), torch.tensor([7])])
    assert pack.take([2, 0]).tolist() == [[7, -1], [1, 2]]
    assert pack.take([1, 2]).tolist() == [[3, 4, 5, 6], [7, -1, -1, -1]]
