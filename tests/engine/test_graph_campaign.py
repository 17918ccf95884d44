"""The engine runs a graph-diffusion checkpoint unchanged: every variant, and resume."""

import pytest
from rdkit import Chem
from rdkit.Chem import QED

from molseiko.diffusion.checkpoint import load_model
from molseiko.diffusion.graph import GraphDenoiserConfig, GraphDiffusion
from molseiko.diffusion.graph_vocab import AtomBondVocabulary
from molseiko.diffusion.training import Pretrainer, TrainConfig
from molseiko.engine.build import build_campaign
from molseiko.engine.ledger import Ledger
from molseiko.errors import MolseikoError

SMALL = [
    "CCO",
    "CCN",
    "CCCO",
    "CC(C)O",
    "OCCO",
    "CC=O",
    "CCC",
    "CCCC",
    "NCCO",
    "CC(N)C",
    "CCOC",
    "COC",
    "CC(=O)O",
    "CC(=O)N",
    "NCC(=O)O",
    "CCCN",
    "OCC(O)CO",
    "CC(C)C",
    "CCC(C)O",
    "C=CCO",
    "CC#N",
    "CCCCO",
    "COCCO",
    "CNC",
]  # small acyclic molecules: a tiny graph model learns to connect them in seconds


@pytest.fixture(scope="module")
def graph_checkpoint(tmp_path_factory):
    vocabulary = AtomBondVocabulary.from_smiles(SMALL, min_count=1)
    graphs = [vocabulary.encode(s) for s in SMALL]
    out = tmp_path_factory.mktemp("graph_model") / "graph.pt"
    config = TrainConfig(
        batch_size=24,
        max_steps=250,
        warmup_steps=10,
        eval_every=1000,
        seed=0,
        lr=3e-3,
        denoiser=GraphDenoiserConfig(
            max_atoms=8, d_node=32, d_edge=16, n_layers=2, d_ff=64, n_heads=2
        ),
    )
    Pretrainer(graphs, graphs[:5], vocabulary, config, out).run(progress=False)
    return out


@pytest.mark.parametrize(
    "variant", ["ucb", "greedy", "bootstrap", "thompson", "non_adaptive", "pretrained", "online_pg"]
)
def test_every_variant_runs_a_graph_model(tiny_config, graph_checkpoint, tmp_path, variant):
    config = tiny_config(model=str(graph_checkpoint), variant=variant, budget=20, pool_factor=4)
    campaign = build_campaign(config, tmp_path / "run")
    assert isinstance(campaign.policy, GraphDiffusion)
    summaries = campaign.run()
    campaign.close()
    rows = Ledger(tmp_path / "run" / "ledger.sqlite").measurements()
    keys = [key for key, _, _ in rows]
    assert 0 < len(rows) <= 20 and len(keys) == len(set(keys))
    for key, value, _ in rows:  # decoded graphs are real molecules, measured by the oracle
        assert value == pytest.approx(QED.qed(Chem.MolFromSmiles(key)))
    assert summaries[-1].calls == len(rows)
    pretrained = load_model(graph_checkpoint)
    moved = any(
        not (a == b).all()
        for a, b in zip(campaign.policy.parameters(), pretrained.parameters(), strict=True)
    )
    assert moved == (variant != "pretrained")  # every other variant fine-tunes the graph policy
    if variant == "pretrained":
        assert summaries[-1].kl_pretrained == 0.0
    else:
        assert summaries[-1].kl_pretrained > 0.0


def test_graph_campaign_resumes_from_its_checkpoint(tiny_config, graph_checkpoint, tmp_path):
    config = tiny_config(model=str(graph_checkpoint), budget=30, pool_factor=4)
    first = build_campaign(config, tmp_path / "run")
    first.run_round(1, 10, last=False)
    first.run_round(2, 10, last=False)
    moved = [p.detach().clone() for p in first.policy.parameters()]
    first.close()
    again = build_campaign(config, tmp_path / "run")
    assert again.completed == 2
    for a, b in zip(again.policy.parameters(), moved, strict=True):
        assert (a == b).all()  # the fine-tuned graph policy came back from its checkpoint
    pretrained = load_model(graph_checkpoint)
    assert any(
        not (a == b).all()
        for a, b in zip(again.policy.parameters(), pretrained.parameters(), strict=True)
    )
    again.run()
    again.close()
    rows = Ledger(tmp_path / "run" / "ledger.sqlite").measurements()
    assert len({key for key, _, _ in rows}) == len(rows) <= 30


def test_infill_with_a_model_that_cannot_edit_is_a_one_line_error(
    tiny_config, graph_checkpoint, tmp_path
):
    config = tiny_config(model=str(graph_checkpoint), infill=0.5)
    with pytest.raises(MolseikoError, match="infill needs a model that can edit designs"):
        build_campaign(config, tmp_path / "run")
    default = build_campaign(tiny_config(model=str(graph_checkpoint)), tmp_path / "default")
    assert default.config.infill == 0.0  # the graph model cannot edit: no edits by default,
    assert default.config.graph_crossover == 0.5  # but molecules cross without any model
