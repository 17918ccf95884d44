"""A sampled denoising path, stored compactly enough to re-score it under any model."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from molseiko.diffusion.tokenizer import MASK_ID


@dataclass
class Trajectory:
    """One batch of reverse-diffusion paths.

    Step 0 chooses each sequence's length; steps 1..T reveal masked tokens. The state before
    denoising step k holds `tokens` where `reveal_step < k` and the mask token elsewhere, so the
    whole path is recoverable from the final tokens and the reveal steps.
    """

    tokens: torch.Tensor
    """`B x L` long: final tokens, padding id beyond each length."""
    lengths: torch.Tensor
    """`B` long: the sampled sequence lengths."""
    reveal_step: torch.Tensor
    """`B x L` long: denoising step (1..T) that revealed each position; 0 for padding and for
    positions that were fixed (never masked)."""
    num_denoising_steps: int
    """T, the number of reverse steps."""

    @property
    def num_steps(self) -> int:
        """Decision steps per path: the length choice plus T reverse steps."""
        return self.num_denoising_steps + 1

    def __len__(self) -> int:
        return self.tokens.shape[0]

    @property
    def padding(self) -> torch.Tensor:
        """`B x L` bool, True beyond each sequence's end."""
        positions = torch.arange(self.tokens.shape[1], device=self.tokens.device)
        return positions[None] >= self.lengths[:, None]

    def state_before(self, step: int) -> torch.Tensor:
        """`B x L` long: the noisy state that denoising step `step` (1..T) acts on."""
        masked = self.reveal_step >= step
        return torch.where(masked, torch.full_like(self.tokens, MASK_ID), self.tokens)

    def select(self, rows: torch.Tensor | slice) -> Trajectory:
        """The sub-batch `rows`, trimmed to its own longest sequence."""
        lengths = self.lengths[rows]
        width = int(lengths.max()) if len(lengths) else 0
        return Trajectory(
            self.tokens[rows][:, :width],
            lengths,
            self.reveal_step[rows][:, :width],
            self.num_denoising_steps,
        )

    def to(self, device: torch.device | str) -> Trajectory:
        return Trajectory(
            self.tokens.to(device),
            self.lengths.to(device),
            self.reveal_step.to(device),
            self.num_denoising_steps,
        )
