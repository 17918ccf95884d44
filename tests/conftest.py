"""Shared fixtures: tiny models and tiny data made in the test."""

from __future__ import annotations

import itertools

import pytest
import torch

from molseiko.diffusion.denoiser import DenoiserConfig
from molseiko.diffusion.masked import MaskedDiffusion
from molseiko.diffusion.tokenizer import PAD_ID, SelfiesTokenizer
from molseiko.diffusion.trajectory import Trajectory

SMILES = [
    "CCO",
    "c1ccccc1",
    "CC(=O)Oc1ccccc1C(=O)O",
    "CN1CCC[C@H]1c1cccnc1",
    "O=C(O)CCc1ccccc1",
    "CC(C)Cc1ccc(cc1)C(C)C(=O)O",
    "Nc1ccc(cc1)S(N)(=O)=O",
    "COc1ccc2[nH]cc(CCN)c2c1",
    "C1CCNCC1",
    "CC(=O)Nc1ccc(O)cc1",
    "ClC(Cl)Cl",
    "OC[C@H]1OC(O)[C@H](O)[C@@H](O)[C@@H]1O",
    "c1ccc2ccccc2c1",
    "CCN(CC)CC",
    "FC(F)(F)c1ccccc1",
    "CC#N",
    "C=CC(=O)OC",
    "Brc1ccccc1",
    "CCOC(=O)C",
    "N#Cc1ccccc1",
]


@pytest.fixture
def toy_model() -> MaskedDiffusion:
    """A random tiny model over three atom symbols, lengths 1..2: small enough to enumerate."""
    torch.manual_seed(0)
    config = DenoiserConfig(d_model=16, n_layers=1, n_heads=2, d_ff=32, max_len=2)
    model = MaskedDiffusion(SelfiesTokenizer(["[C]", "[N]", "[O]"]), config)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0.0, 0.7)  # far from uniform, so mistakes show
    return model.eval()


def all_paths(max_len: int = 2, steps: int = 2, vocab=(2, 3, 4)) -> Trajectory:
    """Every possible trajectory of the toy model: lengths, reveal steps and tokens."""
    rows, reveals, lengths = [], [], []
    for length in range(1, max_len + 1):
        for reveal in itertools.product(range(1, steps + 1), repeat=length):
            for tokens in itertools.product(vocab, repeat=length):
                pad = max_len - length
                rows.append(list(tokens) + [PAD_ID] * pad)
                reveals.append(list(reveal) + [0] * pad)
                lengths.append(length)
    return Trajectory(torch.tensor(rows), torch.tensor(lengths), torch.tensor(reveals), steps)


def design_key(trajectory: Trajectory, row: int) -> tuple:
    return tuple(trajectory.tokens[row, : trajectory.lengths[row]].tolist())


def design_marginal(model, paths: Trajectory) -> dict[tuple, float]:
    """Exact probability of each design (token tuple) under `model`, summed over its paths."""
    with torch.no_grad():
        path_probs = torch.exp(model.log_probs(paths).sum(-1))
    marginal: dict[tuple, float] = {}
    for row in range(len(paths)):
        key = design_key(paths, row)
        marginal[key] = marginal.get(key, 0.0) + path_probs[row].item()
    return marginal
