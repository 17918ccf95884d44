"""A GINE graph network that regresses one scalar per molecule (one ensemble member)."""

from __future__ import annotations

import torch
from torch import nn

from molseiko.reward.features import ATOM_DIM, BOND_DIM


class GINERegressor(nn.Module):
    """Graph isomorphism network with edge features (Hu et al. 2020), sum + mean readout; with
    `descriptors` > 0, that many standardized molecule-level descriptors (`batch.descriptors`)
    pass through one hidden layer and join the readout, as Chemprop's extra features do."""

    def __init__(
        self, hidden: int = 64, layers: int = 3, dropout: float = 0.1, descriptors: int = 0
    ):
        super().__init__()
        from torch_geometric.nn import GINEConv

        self.embed = nn.Linear(ATOM_DIM, hidden)
        self.convs = nn.ModuleList(
            GINEConv(
                nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden)),
                edge_dim=BOND_DIM,
            )
            for _ in range(layers)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(layers))
        self.describe = (
            nn.Sequential(nn.Dropout(dropout), nn.Linear(descriptors, hidden), nn.ReLU())
            if descriptors
            else None
        )
        self.head = nn.Sequential(
            nn.Linear((3 if descriptors else 2) * hidden, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, 1),
        )

    def forward(self, batch) -> torch.Tensor:
        """Predictions `G` for a batch of `G` graphs (a `GraphBatch`, or a PyG `Batch`)."""
        from torch_geometric.nn import global_add_pool, global_mean_pool

        hidden = self.embed(batch.x)  # N x H
        for conv, norm in zip(self.convs, self.norms, strict=True):
            hidden = hidden + torch.relu(norm(conv(hidden, batch.edge_index, batch.edge_attr)))
        graphs = batch.num_graphs
        pooled = torch.cat(
            [
                global_add_pool(hidden, batch.batch, size=graphs) / 10.0,
                global_mean_pool(hidden, batch.batch, size=graphs),
            ],
            dim=-1,
        )  # G x 2H; the sum is scaled so that size information does not swamp the mean
        if self.describe is not None:
            pooled = torch.cat([pooled, self.describe(batch.descriptors)], dim=-1)  # G x 3H
        return self.head(pooled).squeeze(-1)
