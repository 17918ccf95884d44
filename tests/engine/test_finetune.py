"""The fine-tuner against the closed-form KL-regularized optimum on an enumerable toy space."""

import copy

import pytest
import torch

from molseiko.diffusion.denoiser import DenoiserConfig
from molseiko.diffusion.masked import MaskedDiffusion
from molseiko.diffusion.tokenizer import SelfiesTokenizer
from molseiko.engine.finetune import (
    FinetuneConfig,
    PolicyGradientFinetuner,
    cost_to_go,
    leave_one_out_baseline,
)
from tests.conftest import all_paths, design_key, design_marginal

LENGTH, STEPS = 3, 4  # designs: every sequence of 1..3 symbols over 3 symbols (39 designs)


@pytest.fixture(scope="module")
def toy():
    """A random pretrained model, its exact design marginal, and a random reward table."""
    torch.manual_seed(0)
    config = DenoiserConfig(d_model=32, n_layers=2, n_heads=2, d_ff=64, max_len=LENGTH)
    model = MaskedDiffusion(SelfiesTokenizer(["[C]", "[N]", "[O]"]), config)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0.0, 0.3)
    model.eval()
    paths = all_paths(LENGTH, STEPS)
    pretrained = design_marginal(model, paths)
    generator = torch.Generator().manual_seed(1)
    table = {
        design: 3.0 * torch.rand(1, generator=generator).item() for design in sorted(pretrained)
    }
    return model, paths, pretrained, table


def reward_of(table):
    def reward(trajectory):
        return torch.tensor([table[design_key(trajectory, i)] for i in range(len(trajectory))])

    return reward


def total_variation(p, q):
    return 0.5 * sum(abs(p[k] - q[k]) for k in p)


def tilted(pretrained, table, alpha):
    weights = {
        d: p * torch.exp(torch.tensor(table[d] / alpha)).item() for d, p in pretrained.items()
    }
    total = sum(weights.values())
    return {d: w / total for d, w in weights.items()}


def test_finetuned_sampler_approaches_closed_form_optimum(toy):
    model, paths, pretrained, table = toy
    target = tilted(pretrained, table, alpha=1.0)
    policy = copy.deepcopy(model)
    config = FinetuneConfig(
        alpha=1.0, beta=0.0, iterations=300, batch_size=256, denoising_steps=STEPS, lr=3e-3
    )
    history = PolicyGradientFinetuner(model, config).run(
        policy, reward_of(table), generator=torch.Generator().manual_seed(2)
    )
    before = total_variation(pretrained, target)
    after = total_variation(design_marginal(policy, paths), target)
    assert before > 0.2
    assert after < 0.1 and after < 0.5 * before
    assert history[-1].reward > history[0].reward
    assert history[0].kl_pretrained == pytest.approx(0.0, abs=1e-6)


def test_very_large_alpha_leaves_the_model_where_it_was(toy):
    model, paths, pretrained, table = toy
    policy = copy.deepcopy(model)
    config = FinetuneConfig(
        alpha=1e4, iterations=40, batch_size=128, denoising_steps=STEPS, lr=3e-3
    )
    PolicyGradientFinetuner(model, config).run(
        policy, reward_of(table), generator=torch.Generator().manual_seed(3)
    )
    assert total_variation(design_marginal(policy, paths), pretrained) < 0.02


def test_leave_one_out_baseline_and_cost_to_go_known_values():
    values = torch.tensor([[1.0], [2.0], [6.0]])
    assert leave_one_out_baseline(values).flatten().tolist() == [4.0, 3.5, 1.5]
    costs = torch.tensor([[1.0, 2.0, 3.0]])
    assert cost_to_go(costs).tolist() == [[5.0, 3.0, 0.0]]


def test_per_call_overrides_reach_the_update(toy):
    """`run(..., steps_per_update=2, lr=...)` scores 2 decision steps per update and steps
    with that learning rate, whatever the finetuner was built with."""
    model, _, _, table = toy
    policy = copy.deepcopy(model)
    config = FinetuneConfig(alpha=1.0, iterations=2, batch_size=8, denoising_steps=STEPS)
    scored = []
    score = policy.score

    def recording(trajectory, references, steps=None):
        scored.append(None if steps is None else len(steps))
        return score(trajectory, references, steps)

    policy.score = recording
    finetuner = PolicyGradientFinetuner(model, config)  # steps_per_update None: every step
    finetuner.run(policy, reward_of(table), generator=torch.Generator().manual_seed(4))
    assert scored == [STEPS + 1] * 2  # every step, the length draw included
    scored.clear()
    made = []
    finetuner.optimizer_for = lambda policy, lr=None: (
        made.append(lr) or torch.optim.SGD(policy.parameters(), lr=lr)
    )
    finetuner.run(
        policy,
        reward_of(table),
        generator=torch.Generator().manual_seed(4),
        steps_per_update=2,
        lr=0.5,
    )
    assert scored == [2, 2] and made == [0.5]
