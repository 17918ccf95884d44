"""A bootstrap ensemble of regressors: mean and spread of member predictions.

One fitting loop (bootstrap resamples, out-of-bag early stopping, seeded members) for every kind of
design; what differs is the featurizer: molecule graphs for a GINE network (`RewardEnsemble`), or
one-hot residues for a 1D CNN (`SequenceEnsemble`)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from molseiko.domains.molecule import to_mol
from molseiko.errors import MolseikoError
from molseiko.reward.batching import GraphPack, SequencePack
from molseiko.reward.features import DESCRIPTORS, mol_to_graph
from molseiko.reward.gnn import GINERegressor

GRAPH_CACHE = 200_000
"""Most molecule graphs kept in memory (about 2 KB each)."""


@dataclass
class EnsembleConfig:
    """Reward-ensemble settings."""

    members: int = 5
    hidden: int = 64
    layers: int = 3
    max_epochs: int = 100
    patience: int = 10
    """Epochs without improvement on a member's out-of-bag molecules before it stops."""
    lr: float = 2e-3
    batch_size: int = 128
    warm_start: bool = False
    """Continue from the previous round's weights instead of a fresh initialisation."""
    descriptors: bool = False
    """Molecules: give each member RDKit's 2D descriptors beside the graph, standardized on the
    designs it is fit on (clipped at 5 standard deviations)."""
    seed: int = 0


@dataclass
class EnsemblePrediction:
    """Predictions for `N` designs, in the objective's units."""

    mean: np.ndarray
    """`N` member mean (r_hat)."""
    std: np.ndarray
    """`N` member standard deviation (s_hat)."""
    members: np.ndarray
    """`M x N` each member's prediction."""

    def scaled(self, factor: float) -> EnsemblePrediction:
        """The same mean with the members' spread around it stretched by `factor` (std and each
        member's deviation alike), e.g. to match the errors the ensemble actually makes."""
        members = self.mean + factor * (self.members - self.mean)
        return EnsemblePrediction(self.mean, factor * self.std, members)


class RewardEnsemble:
    """Molecules (SMILES) -> GINE graph networks."""

    """M GINE members, each fit on its own bootstrap resample with early stopping on its
    out-of-bag molecules (the ~37% the resample left out), so no data are set aside."""

    def __init__(self, config: EnsembleConfig | None = None, device: str = "cpu"):
        self.config = config or EnsembleConfig()
        self.device = torch.device(device)
        self.models: list[GINERegressor] = []
        self.y_mean, self.y_std = 0.0, 1.0
        self._graphs: dict[str, object] = {}
        self.d_center = self.d_scale = None  # descriptor standardization, set by fit

    # ---- what a subclass changes -------------------------------------------------------------
    def _featurize(self, design: str):
        """The features of one design; None if it is not a valid design."""
        mol = to_mol(design)
        return None if mol is None else mol_to_graph(mol, self.config.descriptors)

    def _pack(self, items: list):
        """The designs' features packed once; `.take(rows)` is a model input of those rows
        (descriptors, when fitted with them, standardized by this fit's centre and scale)."""
        return GraphPack(items, self.d_center, self.d_scale, self.device)

    def _standardize(self, items: list) -> None:
        """Centre and scale of the molecule-level features over the designs being fit."""
        if self.config.descriptors:
            values = torch.cat([item.descriptors for item in items])
            self.d_center = values.mean(0)
            spread = values.std(0, unbiased=False)
            self.d_scale = torch.where(spread > 1e-8, spread, torch.ones_like(spread))

    def _new_member(self) -> torch.nn.Module:
        width = len(DESCRIPTORS) if self.config.descriptors else 0
        return GINERegressor(self.config.hidden, self.config.layers, descriptors=width)

    # ---- shared -------------------------------------------------------------------------------
    def _graph(self, smiles: str | None):
        """The cached features of a design; None if it is not valid (featurized once)."""
        if smiles is None:
            return None
        if smiles not in self._graphs:
            if len(self._graphs) >= GRAPH_CACHE:  # bounded: forget the oldest half
                for key in list(self._graphs)[: GRAPH_CACHE // 2]:
                    del self._graphs[key]
            self._graphs[smiles] = self._featurize(smiles)
        return self._graphs[smiles]

    def fit(self, smiles: Sequence[str], values: Sequence[float], round_: int = 0) -> list[float]:
        """Fit every member on (design, value) pairs with finite values; returns each member's
        best out-of-bag RMSE in objective units. Resamples and initialisations are seeded by
        (seed, round_, member), so refitting a round's data reproduces that round's ensemble."""
        values = np.asarray(values, dtype=float)
        keep = np.isfinite(values)
        smiles = [s for s, k in zip(smiles, keep, strict=True) if k]
        values = values[keep]
        if len(values) < 2:
            raise MolseikoError("reward model: need at least two measured designs to fit")
        self.y_mean = float(values.mean())
        self.y_std = float(values.std()) or 1.0
        targets = torch.tensor((values - self.y_mean) / self.y_std, dtype=torch.float)
        graphs = [self._graph(s) for s in smiles]
        if any(graph is None for graph in graphs):
            bad = next(s for s, graph in zip(smiles, graphs, strict=True) if graph is None)
            raise MolseikoError(f"reward model: invalid design {bad!r}")
        self._standardize(graphs)
        pack = self._pack(graphs)
        rng = np.random.default_rng([self.config.seed, round_])
        previous = self.models if self.config.warm_start else []
        self.models, errors = [], []
        for member in range(self.config.members):
            in_bag = rng.integers(0, len(pack), len(pack))
            out_of_bag = np.setdiff1d(np.arange(len(pack)), in_bag)
            if len(out_of_bag) == 0:
                out_of_bag = in_bag[:1]
            # Seeded initialisation and dropout, without touching the caller's torch RNG.
            cuda = [self.device.index or 0] if self.device.type == "cuda" else []
            with torch.random.fork_rng(devices=cuda):
                torch.manual_seed(self.config.seed * 1_000_003 + round_ * 1009 + member)
                model = (
                    copy.deepcopy(previous[member])
                    if member < len(previous)
                    else self._new_member()
                ).to(self.device)
                errors.append(self._fit_member(model, pack, targets, in_bag, out_of_bag, rng))
            self.models.append(model.eval())
        return [e * self.y_std for e in errors]

    def _fit_member(self, model, pack, targets, in_bag, out_of_bag, rng) -> float:
        config = self.config
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=1e-5)
        validation = pack.take(out_of_bag)
        validation_targets = targets[out_of_bag].to(self.device)
        best, best_state, stale = float("inf"), copy.deepcopy(model.state_dict()), 0
        for _ in range(config.max_epochs):
            model.train()
            order = rng.permutation(in_bag)
            for start in range(0, len(order), config.batch_size):
                rows = order[start : start + config.batch_size]
                batch = pack.take(rows)
                loss = torch.mean((model(batch) - targets[rows].to(self.device)) ** 2)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            model.eval()
            with torch.no_grad():
                error = torch.sqrt(torch.mean((model(validation) - validation_targets) ** 2)).item()
            if error < best - 1e-4:
                best, best_state, stale = error, copy.deepcopy(model.state_dict()), 0
            else:
                stale += 1
                if stale >= config.patience:
                    break
        model.load_state_dict(best_state)
        return best

    @torch.no_grad()
    def predict(self, smiles: Sequence[str | None]) -> EnsemblePrediction:
        """Member predictions for designs; invalid ones (None) get NaN."""
        if not self.models:
            raise MolseikoError("reward model: predict called before fit")
        valid = [i for i, s in enumerate(smiles) if self._graph(s) is not None]
        members = np.full((len(self.models), len(smiles)), np.nan)
        for start in range(0, len(valid), 512):  # in chunks: memory stays bounded for libraries
            rows = valid[start : start + 512]
            batch = self._pack([self._graph(smiles[i]) for i in rows]).take(range(len(rows)))
            for m, model in enumerate(self.models):
                members[m, rows] = model(batch).cpu().numpy() * self.y_std + self.y_mean
        return EnsemblePrediction(members.mean(0), members.std(0), members)


class SequenceEnsemble(RewardEnsemble):
    """Protein sequences -> 1D CNNs over one-hot residues (the same bootstrap and interface)."""

    def _featurize(self, design: str):
        from molseiko.domains.protein import AMINO_ACIDS, canonical_sequence

        sequence = canonical_sequence(design)
        if sequence is None:
            return None
        return torch.tensor([AMINO_ACIDS.index(letter) for letter in sequence], dtype=torch.long)

    def _standardize(self, items: list) -> None:
        if self.config.descriptors:
            raise MolseikoError("reward model: descriptors are for molecules, not sequences")

    def _pack(self, items: list):
        return SequencePack(items, self.device)

    def _new_member(self) -> torch.nn.Module:
        return SequenceCNN(self.config.hidden, self.config.layers)


class SequenceCNN(torch.nn.Module):
    """Residue one-hot -> `layers` dilated residual convolutions -> masked mean + max pool -> MLP.
    Padding is -1 and is masked out everywhere."""

    def __init__(self, hidden: int = 64, layers: int = 3, dropout: float = 0.1):
        from torch import nn

        super().__init__()
        self.embed = nn.Linear(20, hidden)
        self.convs = nn.ModuleList(
            nn.Conv1d(hidden, hidden, kernel_size=5, padding=2 * 2**i, dilation=2**i)
            for i in range(layers)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(layers))
        self.head = nn.Sequential(
            nn.Linear(2 * hidden, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 1)
        )

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        mask = (tokens >= 0).unsqueeze(-1).float()  # B x L x 1
        onehot = torch.nn.functional.one_hot(tokens.clamp(min=0), 20).float() * mask
        hidden = self.embed(onehot)  # B x L x H
        for conv, norm in zip(self.convs, self.norms, strict=True):
            update = conv((hidden * mask).transpose(1, 2)).transpose(1, 2)
            hidden = hidden + torch.relu(norm(update))
        hidden = hidden * mask
        mean = hidden.sum(1) / mask.sum(1).clamp(min=1)
        top = hidden.masked_fill(mask == 0, float("-inf")).amax(1)
        return self.head(torch.cat([mean, top], dim=-1)).squeeze(-1)
