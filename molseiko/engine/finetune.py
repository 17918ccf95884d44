"""KL-regularized policy-gradient fine-tuning of a diffusion policy against a reward model.

Maximizes J(theta) = E_{x ~ p_theta}[R(x)] - alpha KL(p_theta || p_pre) - beta KL(p_theta || p_prev)
over whole denoising paths; the optimum is
p*(path) ∝ p_pre^(a/(a+b)) p_prev^(b/(a+b)) exp(R/(a+b)) with a = alpha, b = beta.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from molseiko.diffusion.masked import MaskedDiffusion
from molseiko.diffusion.trajectory import Trajectory

RewardFunction = Callable[[Trajectory], torch.Tensor]
"""Maps sampled paths (`B`) to rewards, a `B` float tensor (no gradient)."""


@dataclass
class FinetuneConfig:
    """Settings of the policy-gradient fine-tuner."""

    alpha: float = 0.05
    """Weight of KL(p_theta || p_pre), the leash to the pretrained model."""
    beta: float = 0.0
    """Weight of KL(p_theta || p_prev), the leash to the previous round's model."""
    iterations: int = 20
    """Sample-and-update iterations."""
    batch_size: int = 64
    """Paths sampled per iteration."""
    denoising_steps: int = 16
    """Reverse steps T of each sampled path."""
    steps_per_update: int | None = None
    """Decision steps per path that get a gradient (uniformly subsampled); None = all T + 1."""
    ppo_epochs: int = 1
    """Gradient steps on each sampled batch; above 1, PPO's clipped ratio keeps them close."""
    clip: float = 0.2
    """PPO clip range for the probability ratio."""
    lr: float = 1e-4
    max_grad_norm: float = 1.0


@dataclass
class FinetuneStats:
    """One iteration of fine-tuning."""

    iteration: int
    reward: float
    """Mean reward of the sampled paths."""
    kl_pretrained: float
    """Mean path KL(p_theta || p_pre), estimated from exact per-step KLs."""
    kl_previous: float
    """Mean path KL(p_theta || p_prev)."""


def leave_one_out_baseline(values: torch.Tensor) -> torch.Tensor:
    """For each row, the mean of the other rows (`B x ...` -> `B x ...`)."""
    batch = values.shape[0]
    if batch < 2:
        return torch.zeros_like(values)
    return (values.sum(0, keepdim=True) - values) / (batch - 1)


def cost_to_go(costs: torch.Tensor) -> torch.Tensor:
    """Sum of the costs of all later steps, `B x S` -> `B x S` (the last column is 0)."""
    return costs.flip(-1).cumsum(-1).flip(-1) - costs


class PolicyGradientFinetuner:
    """REINFORCE with a leave-one-out baseline (optionally PPO-clipped) on denoising paths.

    The KL terms enter as per-step costs c_t = alpha KL_t(p_pre) + beta KL_t(p_prev), exact for
    each visited state. Their gradient has two parts: the direct gradient of each c_t, and the
    score-function part, in which each action is credited with the costs of the states it leads to
    (the cost-to-go). Both are kept, so the fixed point is the KL-regularized optimum.
    """

    def __init__(self, pretrained: MaskedDiffusion, config: FinetuneConfig):
        self.pretrained = _frozen(pretrained)
        self.config = config

    def run(
        self,
        policy: MaskedDiffusion,
        reward: RewardFunction,
        previous: MaskedDiffusion | None = None,
        generator: torch.Generator | None = None,
        progress: Callable[[FinetuneStats], None] | None = None,
    ) -> list[FinetuneStats]:
        """Fine-tune `policy` in place; `previous` defaults to a frozen copy of it at the start."""
        config = self.config
        previous = _frozen(previous if previous is not None else policy)
        references = (self.pretrained, previous)
        optimizer = torch.optim.Adam(
            [p for p in policy.parameters() if p.requires_grad], lr=config.lr
        )
        # Cosine decay to 10%: large early steps, then settling instead of jittering at the end.
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer,
            lambda i: 0.1 + 0.45 * (1 + math.cos(math.pi * min(i / max(config.iterations, 1), 1))),
        )
        history = []
        for iteration in range(config.iterations):
            policy.eval()
            trajectory = policy.sample(config.batch_size, config.denoising_steps, generator)
            rewards = reward(trajectory).to(policy.device).float().detach()  # B
            with torch.no_grad():
                old = policy.score(trajectory, references)
            costs = config.alpha * old.kl[0] + config.beta * old.kl[1]  # B x (T+1)
            returns = rewards[:, None] - cost_to_go(costs)  # B x (T+1)
            advantages = returns - leave_one_out_baseline(returns)
            for _ in range(config.ppo_epochs):
                steps = self._choose_steps(trajectory.num_steps, generator)
                self._update(
                    policy, optimizer, trajectory, references, old.log_probs, advantages, steps
                )
            schedule.step()
            stats = FinetuneStats(
                iteration,
                rewards.mean().item(),
                old.kl[0].sum(-1).mean().item(),
                old.kl[1].sum(-1).mean().item(),
            )
            history.append(stats)
            if progress is not None:
                progress(stats)
        policy.eval()
        return history

    def _choose_steps(self, num_steps: int, generator: torch.Generator | None) -> list[int]:
        wanted = self.config.steps_per_update
        if wanted is None or wanted >= num_steps:
            return list(range(num_steps))
        return sorted(torch.randperm(num_steps, generator=generator)[:wanted].tolist())

    def _update(self, policy, optimizer, trajectory, references, old_log_probs, advantages, steps):
        config = self.config
        policy.train()
        new = policy.score(trajectory, references, steps)
        ratio = torch.exp(new.log_probs - old_log_probs[:, steps])  # B x S
        advantage = advantages[:, steps]
        surrogate = torch.minimum(
            ratio * advantage, ratio.clamp(1 - config.clip, 1 + config.clip) * advantage
        )
        costs = config.alpha * new.kl[0] + config.beta * new.kl[1]  # B x S, direct gradient
        scale = trajectory.num_steps / len(steps)  # unbiased for the sum over all steps
        loss = scale * (costs - surrogate).sum(-1).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), config.max_grad_norm)
        optimizer.step()


def _frozen(model: MaskedDiffusion) -> MaskedDiffusion:
    frozen = copy.deepcopy(model).eval()
    frozen.requires_grad_(False)
    return frozen
