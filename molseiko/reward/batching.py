"""Designs packed once into flat tensors, from which any minibatch is cut by indexing.

A reward ensemble fits M members for up to 100 epochs over the same designs, in a new random
order each epoch. Building every minibatch from per-design objects (PyG's `Batch.from_data_list`)
took 13-19% of a fit; here the designs are concatenated once per fit and a minibatch is a
few tensor gathers. It holds exactly what `Batch.from_data_list` would give (same order, same
offsets), so fits and predictions do not change."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn.utils.rnn import pad_sequence


@dataclass
class GraphBatch:
    """`G` molecule graphs as one disconnected graph of `N` atoms and `E` directed bonds."""

    x: torch.Tensor
    """`N x ATOM_DIM` atom features."""
    edge_index: torch.Tensor
    """`2 x E` atom indices into `x`."""
    edge_attr: torch.Tensor
    """`E x BOND_DIM` bond features."""
    batch: torch.Tensor
    """`N` graph of each atom, 0..G-1."""
    num_graphs: int
    descriptors: torch.Tensor | None = None
    """`G x D` standardized molecule-level descriptors, or None."""


def _starts(sizes: torch.Tensor) -> torch.Tensor:
    """Where each of consecutive blocks of these sizes begins (an exclusive cumulative sum)."""
    return torch.cumsum(sizes, 0) - sizes


def _segments(starts: torch.Tensor, sizes: torch.Tensor) -> torch.Tensor:
    """Indices `starts[0] .. starts[0]+sizes[0]-1, starts[1] .. ` concatenated."""
    within = torch.arange(int(sizes.sum())) - torch.repeat_interleave(_starts(sizes), sizes)
    return torch.repeat_interleave(starts, sizes) + within


class GraphPack:
    """PyG graphs (`x`, `edge_index`, `edge_attr`, optional `descriptors`) concatenated once;
    `take(rows)` is the `GraphBatch` of those graphs in that order. Descriptors are standardized
    here, once: `(raw - center) / scale`, clipped at +-5."""

    def __init__(self, graphs: list, center=None, scale=None, device="cpu"):
        self.device = torch.device(device)
        self.nodes = torch.tensor([graph.num_nodes for graph in graphs], dtype=torch.long)
        self.edges = torch.tensor([graph.edge_index.shape[1] for graph in graphs], dtype=torch.long)
        self.node_start, self.edge_start = _starts(self.nodes), _starts(self.edges)
        self.x = torch.cat([graph.x for graph in graphs])
        self.edge_attr = torch.cat([graph.edge_attr for graph in graphs])
        self.edge_local = torch.cat([graph.edge_index for graph in graphs], dim=1)  # per graph
        self.descriptors = None
        if center is not None:
            raw = torch.cat([graph.descriptors for graph in graphs])
            self.descriptors = ((raw - center) / scale).clamp(-5.0, 5.0).float()

    def __len__(self) -> int:
        return len(self.nodes)

    def take(self, rows) -> GraphBatch:
        rows = torch.as_tensor(rows, dtype=torch.long)
        nodes, edges = self.nodes[rows], self.edges[rows]
        node_rows = _segments(self.node_start[rows], nodes)
        edge_rows = _segments(self.edge_start[rows], edges)
        offset = torch.repeat_interleave(_starts(nodes), edges)  # its graph's first atom, per bond
        edge_index = self.edge_local[:, edge_rows] + offset
        device = self.device
        return GraphBatch(
            x=self.x[node_rows].to(device),
            edge_index=edge_index.to(device),
            edge_attr=self.edge_attr[edge_rows].to(device),
            batch=torch.repeat_interleave(torch.arange(len(rows)), nodes).to(device),
            num_graphs=len(rows),
            descriptors=None if self.descriptors is None else self.descriptors[rows].to(device),
        )


class SequencePack:
    """Token sequences (`L_i` residue indices each) padded once with -1; `take(rows)` is those
    rows cut to their own longest length."""

    def __init__(self, sequences: list, device="cpu"):
        self.device = torch.device(device)
        self.lengths = torch.tensor([len(item) for item in sequences], dtype=torch.long)
        self.tokens = pad_sequence(sequences, batch_first=True, padding_value=-1)

    def __len__(self) -> int:
        return len(self.lengths)

    def take(self, rows) -> torch.Tensor:
        rows = torch.as_tensor(rows, dtype=torch.long)
        width = int(self.lengths[rows].max())
        return self.tokens[rows, :width].to(self.device)
