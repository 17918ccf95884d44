"""Masking schedules: alpha(t) is the probability that a token is still clean at time t."""

from __future__ import annotations

import torch


class LogLinearSchedule:
    """alpha(t) = 1 - t (MDLM's log-linear schedule): at time t each token is masked w.p. t.

    The continuous-time ELBO weight of a masked token's cross-entropy is
    -alpha'(t) / (1 - alpha(t)), here 1 / t.
    """

    def alpha(self, t: torch.Tensor) -> torch.Tensor:
        return 1.0 - t

    def loss_weight(self, t: torch.Tensor) -> torch.Tensor:
        return 1.0 / t

    def unmask_probability(self, t: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """Probability that a token masked at time t is revealed by time s < t."""
        return (self.alpha(s) - self.alpha(t)) / (1.0 - self.alpha(t))

    def reveal_probabilities(self, steps: int) -> torch.Tensor:
        """Per-step reveal probabilities on a uniform grid from t=1 to t=0, shape `T`; last is 1."""
        grid = torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64)
        return self.unmask_probability(grid[:-1], grid[1:]).float()
