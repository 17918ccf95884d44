"""Fixed positions (inpainting): pinned tokens are never decisions, and the path calculus stays
exact: path probabilities sum to one, the sampler matches the scorer, KL to itself is zero."""

from __future__ import annotations

import pytest
import torch

from molseiko.diffusion.tokenizer import AminoAcidTokenizer
from molseiko.diffusion.trajectory import Template, Trajectory
from molseiko.errors import MolseikoError

STEPS = 3


def template_paths(template: Template, vocab=(2, 3, 4)) -> Trajectory:
    """Every path under a template of length 2 with position 0 pinned."""
    rows, reveals = [], []
    for reveal in range(1, STEPS + 1):
        for token in vocab:
            rows.append([int(template.tokens[0]), token])
            reveals.append([0, reveal])
    lengths = torch.full((len(rows),), 2)
    return Trajectory(torch.tensor(rows), lengths, torch.tensor(reveals), STEPS, length_fixed=True)


@pytest.fixture
def template():
    return Template(torch.tensor([3, 1]), torch.tensor([True, False]))


def test_template_paths_sum_to_one_and_pinned_steps_cost_nothing(toy_model, template):
    paths = template_paths(template)
    with torch.no_grad():
        log_probs = toy_model.log_probs(paths)
    assert torch.allclose(torch.exp(log_probs.sum(-1)).sum(), torch.tensor(1.0), atol=1e-5)
    assert (log_probs[:, 0] == 0).all()  # the length is no decision


def test_sampler_keeps_pins_and_matches_the_scorer(toy_model, template):
    generator = torch.Generator().manual_seed(0)
    sampled = toy_model.sample(20_000, STEPS, generator, template=template)
    assert sampled.length_fixed and (sampled.lengths == 2).all()
    assert template.matches(sampled.tokens) and (sampled.reveal_step[:, 0] == 0).all()
    paths = template_paths(template)
    with torch.no_grad():
        probability = torch.exp(toy_model.log_probs(paths).sum(-1))
    expected = {}
    for row in range(len(paths)):
        token = int(paths.tokens[row, 1])
        expected[token] = expected.get(token, 0.0) + probability[row].item()
    counts = torch.bincount(sampled.tokens[:, 1], minlength=5).float() / len(sampled)
    total_variation = 0.5 * sum(abs(counts[t].item() - p) for t, p in expected.items())
    assert total_variation < 0.02


def test_kl_to_itself_is_zero_and_to_another_model_positive_on_free_steps(toy_model, template):
    import copy

    other = copy.deepcopy(toy_model)
    with torch.no_grad():
        for parameter in other.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    paths = template_paths(template)
    with torch.no_grad():
        assert torch.allclose(toy_model.kl(paths, toy_model), torch.zeros(len(paths), STEPS + 1))
        kl = toy_model.kl(paths, other)
    assert (kl[:, 0] == 0).all() and (kl[:, 1:].sum(-1) > 0).all()


def test_protein_template_strings():
    tokenizer = AminoAcidTokenizer()
    template = Template.from_string(tokenizer, "mk--W")
    assert template.pinned.tolist() == [True, True, False, False, True]
    assert template.tokens[[0, 1, 4]].tolist() == [tokenizer.index[a] for a in "MKW"]
    with pytest.raises(MolseikoError, match=r"position 3: 'X' is neither an amino acid"):
        Template.from_string(tokenizer, "MKX-")
    from molseiko.diffusion.tokenizer import SelfiesTokenizer

    with pytest.raises(MolseikoError, match="need a protein model"):
        Template.from_string(SelfiesTokenizer(["[C]"]), "C-")
