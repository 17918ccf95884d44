"""The same engine on proteins: a tiny amino-acid diffusion model, a sequence reward ensemble and
an Ehrlich function; no protein-specific code in the engine."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from molseiko.diffusion.denoiser import DenoiserConfig
from molseiko.diffusion.tokenizer import AminoAcidTokenizer
from molseiko.diffusion.training import Pretrainer, TrainConfig
from molseiko.domains.protein import read_fasta
from molseiko.engine.build import build_campaign
from molseiko.oracles.ehrlich import EhrlichOracle, EhrlichSpec
from molseiko.reward.ensemble import EnsembleConfig, SequenceEnsemble

SPEC = "ehrlich:L=8,c=2,k=2,seed=0"


@pytest.fixture(scope="module")
def protein_checkpoint(tmp_path_factory):
    oracle = EhrlichOracle(EhrlichSpec(length=8, motifs=2, motif_length=2, seed=0))
    tokenizer = AminoAcidTokenizer()
    sequences = oracle.sample_feasible(200, np.random.default_rng(0))
    ids = [tokenizer.from_design(s) for s in sequences]
    out = tmp_path_factory.mktemp("protein") / "tiny_protein.pt"
    config = TrainConfig(
        batch_size=32,
        max_steps=300,
        warmup_steps=10,
        eval_every=1000,
        seed=0,
        lr=3e-3,
        denoiser=replace(DenoiserConfig.tiny(), max_len=8),
    )
    Pretrainer(ids, ids[:20], tokenizer, config, out).run(progress=False)
    return out


def test_protein_campaign_writes_fasta_and_measures_sequences(
    tiny_config, protein_checkpoint, tmp_path
):
    config = tiny_config(objective=SPEC, model=str(protein_checkpoint), budget=20, batch_size=10)
    campaign = build_campaign(config, tmp_path / "run")
    assert isinstance(campaign.ensemble, SequenceEnsemble)
    summaries = campaign.run()
    assert [s.calls for s in summaries] == [10, 20]
    rows = campaign.ledger.measurements()
    assert all(set(key) <= set("ACDEFGHIKLMNPQRSTVWY") for key, _, _ in rows)
    records = read_fasta(tmp_path / "run" / "rounds" / "round_02.fasta")
    table = pd.read_csv(tmp_path / "run" / "rounds" / "round_02.csv")
    assert [header.split()[0] for header, _ in records] == list(table.id)
    assert [sequence for _, sequence in records] == list(table.sequence)
    assert "r_hat=" in records[0][0]  # round 2 was ranked by the reward model
    finite = [value for _, value, _ in rows if np.isfinite(value)]
    assert finite and all(0.0 <= value <= 1.0 for value in finite)


def test_sequence_ensemble_learns_a_residue_count_and_its_spread_is_informative():
    rng = np.random.default_rng(0)
    letters = np.array(list("ACDEFGHIKLMNPQRSTVWY"))
    train = ["".join(rng.choice(letters, 12)) for _ in range(300)]
    test = ["".join(rng.choice(letters, 12)) for _ in range(100)]
    count = lambda s: s.count("W") + 0.5 * s.count("K")  # noqa: E731
    ensemble = SequenceEnsemble(EnsembleConfig(members=3, max_epochs=60, seed=0))
    ensemble.fit(train, [count(s) for s in train])
    prediction = ensemble.predict(test + ["MKXB"])
    truth = np.array([count(s) for s in test])
    from scipy.stats import spearmanr

    assert spearmanr(prediction.mean[:100], truth).statistic > 0.8
    assert np.isnan(prediction.mean[100])  # a non-standard letter is no design
    assert (prediction.std[:100] > 0).all()


def test_pinned_positions_survive_sampling_and_fine_tuning(
    tiny_config, protein_checkpoint, tmp_path
):
    oracle = EhrlichOracle(EhrlichSpec(length=8, motifs=2, motif_length=2, seed=0))
    pinned = oracle.optimum()[:3]
    config = tiny_config(
        objective=SPEC,
        model=str(protein_checkpoint),
        budget=20,
        batch_size=10,
        template=pinned + "-----",
    )
    campaign = build_campaign(config, tmp_path / "run")
    campaign.run()
    keys = [key for key, _, _ in campaign.ledger.measurements()]
    assert len(keys) == 20 and all(len(k) == 8 and k.startswith(pinned) for k in keys)
    after = campaign.policy.sample(50, 4, template=campaign.template)  # the fine-tuned policy
    assert campaign.template.matches(after.tokens)


def test_a_template_on_a_molecule_model_is_one_line(tiny_config, tmp_path):
    from molseiko.errors import MolseikoError

    with pytest.raises(MolseikoError, match="need a protein model"):
        build_campaign(tiny_config(template="C-C"), tmp_path / "run")


def test_a_template_longer_than_the_model_is_one_line(tiny_config, protein_checkpoint, tmp_path):
    from molseiko.errors import MolseikoError

    config = tiny_config(objective=SPEC, model=str(protein_checkpoint), template="-" * 9)
    with pytest.raises(MolseikoError, match="template of 9 positions is longer than the model's 8"):
        build_campaign(config, tmp_path / "run")
    build_campaign(tiny_config(objective=SPEC, model=str(protein_checkpoint)), tmp_path / "run")


def test_graph_crossover_on_proteins_is_a_one_line_error(tiny_config, protein_checkpoint, tmp_path):
    from molseiko.errors import MolseikoError

    config = tiny_config(objective=SPEC, model=str(protein_checkpoint), graph_crossover=0.5)
    with pytest.raises(MolseikoError, match="graph_crossover needs molecules"):
        build_campaign(config, tmp_path / "run")
    for operators in ("graph_ga", "acyclic"):  # proteins name no operators at all
        named = replace(config, graph_crossover=-1.0, crossover_operators=operators)
        with pytest.raises(MolseikoError, match=f"'{operators}' needs molecules, not protein"):
            build_campaign(named, tmp_path / operators)
    with pytest.raises(MolseikoError, match="graph_crossover, which is 0"):
        replace(config, graph_crossover=0.0, crossover_operators="graph_ga")
    default = build_campaign(replace(config, graph_crossover=-1.0), tmp_path / "default")
    assert (default.config.graph_crossover, default.config.infill) == (0.0, 0.5)
    assert default.config.crossover_operators == ""  # no crossovers: no operators named


def test_descriptors_are_for_molecules_only(tiny_config, protein_checkpoint, tmp_path):
    from molseiko.errors import MolseikoError

    config = tiny_config(objective=SPEC, model=str(protein_checkpoint))
    assert config.ensemble_descriptors  # the default, made for molecules
    campaign = build_campaign(config, tmp_path / "run")
    assert not campaign.config.ensemble_descriptors  # sequences have none: the run says so
    assert not campaign.ensemble.config.descriptors
    ensemble = SequenceEnsemble(EnsembleConfig(members=2, max_epochs=2, descriptors=True))
    with pytest.raises(MolseikoError, match="descriptors are for molecules"):
        ensemble.fit(["ACDEFGHI", "ACDEFGHK"], [0.1, 0.2])
