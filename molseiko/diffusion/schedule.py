"""Masking schedules: alpha(t) is the probability that a token is still clean at time t."""

from __future__ import annotations

import torch


def stratified_times(
    batch: int, generator: torch.Generator | None, device: torch.device | str
) -> torch.Tensor:
    """`batch` training times in [1e-3, 1): one uniform offset, evenly spread over the batch
    (low-discrepancy, so a batch's loss has less variance than with independent draws)."""
    offset = torch.rand(1, generator=generator, device=device)
    t = (offset + torch.arange(batch, device=device) / batch) % 1.0
    return 1e-3 + (1 - 1e-3) * t


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
