"""KL-regularized policy-gradient fine-tuning of a diffusion policy against a reward model.

Maximizes J(theta) = E_{x ~ p_theta}[R(x)] - alpha KL(p_theta || p_pre) - beta KL(p_theta || p_prev)
over whole denoising paths; the optimum is
p*(path) ∝ p_pre^(a/(a+b)) p_prev^(b/(a+b)) exp(R/(a+b)) with a = alpha, b = beta.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

from molseiko.diffusion.masked import MaskedDiffusion
from molseiko.diffusion.trajectory import Template, Trajectory

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

    def __post_init__(self):
        if self.steps_per_update is not None and self.steps_per_update < 2:
            # With one scored step the cost-to-go estimate has nothing to draw on.
            raise ValueError("steps_per_update must be at least 2 (or None for all steps)")
        if self.iterations < 1 or self.batch_size < 2 or self.denoising_steps < 1:
            raise ValueError("iterations and denoising_steps must be >= 1, batch_size >= 2")


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
        optimizer: torch.optim.Optimizer | None = None,
        template: Template | None = None,
        **overrides,
    ) -> list[FinetuneStats]:
        """Fine-tune `policy` in place; `previous` defaults to a frozen copy of it at the start.
        With a `template`, paths keep its pinned positions (they are never a decision).

        `optimizer` carries Adam's state across calls (online policy gradient takes one step
        per round); keyword `overrides` replace config fields for this call only (`lr` only where
        no `optimizer` is given: a given one keeps its own).
        """
        config = replace(self.config, **overrides)
        # A reference with zero weight costs a forward pass per step and changes nothing: skip it.
        references, weights = [self.pretrained], [config.alpha]
        if config.beta > 0:
            references.append(_frozen(previous if previous is not None else policy))
            weights.append(config.beta)
        optimizer = optimizer or self.optimizer_for(policy, config.lr)
        # Cosine decay to 10%: large early steps, then settling instead of jittering at the end.
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer,
            lambda i: 0.1 + 0.45 * (1 + math.cos(math.pi * min(i / max(config.iterations, 1), 1))),
        )
        history = []
        for iteration in range(config.iterations):
            policy.eval()
            trajectory = policy.sample(
                config.batch_size, config.denoising_steps, generator, template=template
            )
            rewards = reward(trajectory).to(policy.device).float().detach()  # B
            old = None
            if config.ppo_epochs > 1:  # several steps on one batch need the sampling policy
                with torch.no_grad():
                    old = policy.score(trajectory, references)
            kls = None
            for _ in range(config.ppo_epochs):
                steps = self._choose_steps(trajectory.num_steps, generator, config)
                update_kls = self._update(
                    policy, optimizer, trajectory, rewards, references, weights, steps, old, config
                )
                kls = update_kls if kls is None else kls
            schedule.step()
            stats = FinetuneStats(
                iteration,
                rewards.mean().item(),
                kls[0],
                kls[1] if len(kls) > 1 else float("nan"),
            )
            history.append(stats)
            if progress is not None:
                progress(stats)
        policy.eval()
        return history

    def optimizer_for(
        self, policy: MaskedDiffusion, lr: float | None = None
    ) -> torch.optim.Optimizer:
        return torch.optim.Adam(
            [p for p in policy.parameters() if p.requires_grad], lr=lr or self.config.lr
        )

    def _choose_steps(
        self, num_steps: int, generator: torch.Generator | None, config: FinetuneConfig
    ) -> list[int]:
        wanted = config.steps_per_update
        if wanted is None or wanted >= num_steps:
            return list(range(num_steps))
        device = generator.device if generator is not None else "cpu"
        draw = torch.randperm(num_steps, generator=generator, device=device)
        return sorted(draw[:wanted].tolist())

    def _update(
        self, policy, optimizer, trajectory, rewards, references, weights, steps, old, config
    ) -> list[float]:
        """One gradient step on decision steps `steps`; returns the path KL estimates."""
        num_steps = trajectory.num_steps
        # Scored in eval mode: with dropout the scored policy would differ from the sampler.
        policy.eval()
        new = policy.score(trajectory, references, steps)
        costs = sum(w * kl for w, kl in zip(weights, new.kl, strict=True))  # B x S
        if old is None:
            # On-policy: the ratio is 1 and the cost-to-go of each scored step is estimated from
            # the other scored steps (a uniform subset of the rest, hence the rescaling).
            old_log_probs = new.log_probs.detach()
            rescale = (num_steps - 1) / (len(steps) - 1) if len(steps) > 1 else 0.0
            to_go = rescale * cost_to_go(costs.detach())
        else:
            old_log_probs = old.log_probs[:, steps]
            old_costs = sum(w * kl for w, kl in zip(weights, old.kl, strict=True))
            to_go = cost_to_go(old_costs)[:, steps]
        returns = rewards[:, None] - to_go  # B x S
        advantage = returns - leave_one_out_baseline(returns)
        ratio = torch.exp(new.log_probs - old_log_probs)  # B x S
        surrogate = torch.minimum(
            ratio * advantage, ratio.clamp(1 - config.clip, 1 + config.clip) * advantage
        )
        scale = num_steps / len(steps)  # unbiased for the sum over all steps
        loss = scale * (costs - surrogate).sum(-1).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), config.max_grad_norm)
        optimizer.step()
        return [scale * kl.detach().sum(-1).mean().item() for kl in new.kl]


def _frozen(model: MaskedDiffusion) -> MaskedDiffusion:
    frozen = copy.deepcopy(model).eval()
    frozen.requires_grad_(False)
    return frozen
