"""ESM-2 scores on a tiny random ESM-2 (fair-esm's own model class, 2 layers), checked against a
hand computation with the model itself."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch

esm = pytest.importorskip("esm")

from molseiko.errors import MolseikoError  # noqa: E402
from molseiko.oracles.esm import ESMOracle  # noqa: E402
from molseiko.oracles.registry import resolve_objective  # noqa: E402

WILD = "MKTAYIAKQRQISFVKSHFSRQ"
LETTERS = "ACDEFGHIKLMNPQRSTVWY"


@pytest.fixture(scope="module")
def tiny_esm(tmp_path_factory):
    """Saved the way fair-esm's ESM-2 checkpoints are: cfg Namespace + 'encoder.'-prefixed keys."""
    torch.manual_seed(0)
    alphabet = esm.data.Alphabet.from_architecture("ESM-1b")
    model = esm.model.esm2.ESM2(num_layers=2, embed_dim=32, attention_heads=4, alphabet=alphabet)
    cfg = argparse.Namespace(
        encoder_layers=2, encoder_embed_dim=32, encoder_attention_heads=4, token_dropout=True
    )
    state = {"encoder." + k: v for k, v in model.state_dict().items()}
    path = tmp_path_factory.mktemp("esm") / "esm2_tiny_test.pt"
    torch.save({"cfg": {"model": cfg}, "model": state}, path)
    return path, model.eval(), alphabet


def hand_log_probs(model, alphabet, sequence: str, position: int) -> np.ndarray:
    tokens = [alphabet.cls_idx] + [alphabet.get_idx(a) for a in sequence] + [alphabet.eos_idx]
    tokens[position + 1] = alphabet.mask_idx
    with torch.no_grad():
        logits = model(torch.tensor([tokens]))["logits"][0, position + 1]
    return torch.log_softmax(logits, -1)[[alphabet.get_idx(a) for a in LETTERS]].numpy()


def test_masked_marginal_matches_a_hand_computation(tiny_esm):
    path, model, alphabet = tiny_esm
    oracle = ESMOracle(path, WILD)
    mutant = WILD[:3] + "W" + WILD[4:10] + "P" + WILD[11:]  # A4W, Q11P (1-based)
    expected = 0.0
    for i in (3, 10):
        row = hand_log_probs(model, alphabet, WILD, i)
        expected += row[LETTERS.index(mutant[i])] - row[LETTERS.index(WILD[i])]
    result = oracle([mutant, WILD, WILD[:-1], "MKXL"])
    assert result.values[0] == pytest.approx(expected, abs=1e-5)
    assert result.values[1] == 0.0  # the wild type scores 0 against itself
    assert "length 21 differs" in result.failures[2] and result.failures[3] is not None


def test_pseudo_log_likelihood_matches_a_hand_computation(tiny_esm):
    path, model, alphabet = tiny_esm
    oracle = ESMOracle(path, WILD, mode="pll", batch_size=5)  # batches split the positions
    other = "MKTAYIAKQRQ"

    def pll(sequence):
        return sum(
            hand_log_probs(model, alphabet, sequence, i)[LETTERS.index(a)]
            for i, a in enumerate(sequence)
        )

    result = oracle([other])
    assert result.values[0] == pytest.approx(pll(other) - pll(WILD), abs=1e-4)


def test_spec_and_one_line_errors(tiny_esm, tmp_path):
    path, _, _ = tiny_esm
    spec = tmp_path / "esm.toml"
    spec.write_text(f'oracle = "esm"\nweights = "{path}"\nwild_type = "{WILD}"\n')
    assert resolve_objective(str(spec))([WILD]).values[0] == 0.0
    with pytest.raises(MolseikoError, match="ESM weights .*nowhere.pt not found"):
        ESMOracle(tmp_path / "nowhere.pt", WILD)
    with pytest.raises(MolseikoError, match=r"wild type: residue 2 is 'B'"):
        ESMOracle(path, "MBK")
