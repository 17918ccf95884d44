"""Masked (absorbing-state) discrete diffusion over molecular graphs, with the policy interface.

A molecule is a set of typed atoms and a symmetric matrix of bond orders. Generation is a
decision process of T + 1 steps:

- step 0 draws the number of atoms N from a learnable distribution (fitted to the training data);
- steps 1..T_a reveal the masked atom types (each masked atom w.p. q_t per step), with no bonds
  known yet;
- the following steps reveal the atom pairs as no bond, single, double or triple bond.

Atoms first, then bonds, is itself an absorbing process (bonds are masked from t=0 to 1/2, atoms
from 1/2 to 1), so the training loss is the sum of two MDLM ELBOs. It buys exact valence-aware
sampling: when bonds are chosen every atom's type, and so its allowed valence, is known. An atom
with R valence left and k pairs revealed in the same step lets each of them take at most
floor(R / k) bond orders; bond types past that limit get probability zero. The limit is a
function of the state before the step and of which pairs the step reveals (the same under every
model), so the masked distributions are the policy itself: log-probabilities and KLs stay exact,
and no sampled molecule is repaired afterwards.

Which pairs a bond step reveals is the schedule's choice, not the model's. The default,
"round_robin", reveals one perfect matching of the atoms per step (the circle method: N - 1
steps for even N): k is never above 1, so the limit is just the valence left, and each pair is
decided knowing every bond already placed at both its atoms. With the "random" schedule of the
training process (each pair w.p. q_t, T - T_a steps) an atom has several pairs decided at once;
measured on an early checkpoint, 5% of 32-step samples were single connected molecules, against
59% with round-robin steps (N - 1 of them, about as many forward passes).

Connectivity rule (`connect_mask`, on by default): a design in several fragments is invalid, and
the valence limits alone left 15% of the shipped model's samples in fragments. An exit of a
connected component (of the bonds placed so far) is an undecided pair from one of its atoms to
an atom outside it, both with valence left. When a step reveals a component's last exits, "no
bond" is removed from one of them (the first exit of the component's lowest-numbered atom that
has one), so the component cannot be cut off by a no-bond draw. Like the valence limits, the
rule depends only on the state and the reveal set, so it is part of the policy and scoring
applies it exactly. It cannot join a component that has used up its valence (O=O alone).

Per-step KLs: an atom step is `q * sum over masked atoms` of the atoms' KLs (the reveal draw is
marginalized, as in the sequence model). A bond step's masks depend on which pairs are revealed,
so its KL is that of the bond-type choices given the revealed set, `sum over revealed pairs`; the
reveal draw itself is identical under both models and adds no KL. Both are exact KLs of the
decisions taken at the path's states.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from molseiko.diffusion.graph_vocab import EDGE_MASK, NO_BOND, AtomBondVocabulary, EncodedGraph
from molseiko.diffusion.masked import (
    DiffusionLoss,
    TrajectoryScore,
    _categorical_kl,
    _gumbel_argmax,
)
from molseiko.diffusion.schedule import LogLinearSchedule, stratified_times

NUM_EDGE_TYPES = EDGE_MASK  # no bond, single, double, triple
MAX_PATH = 6
"""Shortest-path lengths in the revealed bond graph are features up to this many bonds."""


@dataclass
class GraphDenoiserConfig:
    """Size of the graph-transformer denoiser."""

    d_node: int = 96
    """Width of atom states."""
    d_edge: int = 24
    """Width of atom-pair states."""
    n_layers: int = 6
    n_heads: int = 4
    d_ff: int = 192
    """Hidden width of each atom feed-forward block."""
    max_atoms: int = 40
    """Largest molecule the size distribution covers."""
    atom_step_share: float = 0.25
    """Share of the T reverse steps spent on atom types (at least one)."""
    bond_schedule: str = "round_robin"
    """How the bond phase reveals atom pairs. "round_robin": one perfect matching per step
    (the circle method over atom indices: N - 1 steps for even N, N for odd), so no atom has two
    pairs decided at once and the valence masks never split an atom's valence. "random": each
    masked pair w.p. q_t in each of the remaining T - T_a steps, as in the training process."""
    atom_loss_share: float = 0.25
    """Share of each training batch that trains the atom phase (the easier one)."""

    @property
    def max_len(self) -> int:  # the engine's name for "largest design"
        return self.max_atoms

    @classmethod
    def zinc_graph(cls) -> GraphDenoiserConfig:
        """About 0.5M parameters; trains at about 360 molecules/s on 2 CPU cores (pair states,
        N x N x d_edge per layer, dominate the cost)."""
        return cls()

    @classmethod
    def tiny(cls) -> GraphDenoiserConfig:
        """A few thousand parameters, for tests."""
        return cls(d_node=16, d_edge=8, n_layers=1, n_heads=2, d_ff=32, max_atoms=12)


class GraphTransformerLayer(nn.Module):
    """Pre-norm attention over atoms with per-head biases from the pair states, then a pair
    update from both endpoint atoms and the attention logits (DiGress-style, dense)."""

    def __init__(self, config: GraphDenoiserConfig):
        super().__init__()
        d, de, heads = config.d_node, config.d_edge, config.n_heads
        if d % heads:
            raise ValueError("d_node must be a multiple of n_heads")
        self.heads = heads
        self.norm_atoms = nn.LayerNorm(d)
        self.norm_pairs = nn.LayerNorm(de)
        self.qkv = nn.Linear(d, 3 * d)
        self.pair_bias = nn.Linear(de, heads)
        self.attention_out = nn.Linear(d, d)
        self.norm_ff = nn.LayerNorm(d)
        self.feed_forward = nn.Sequential(
            nn.Linear(d, config.d_ff), nn.GELU(), nn.Linear(config.d_ff, d)
        )
        self.endpoints = nn.Linear(d, 2 * de)
        self.from_logits = nn.Linear(heads, de)
        self.pair_feed_forward = nn.Sequential(
            nn.GELU(), nn.Linear(de, 2 * de), nn.GELU(), nn.Linear(2 * de, de)
        )

    def forward(
        self, atoms: torch.Tensor, pairs: torch.Tensor, key_padding: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`atoms` B x N x d, `pairs` B x N x N x de, `key_padding` B x N bool (True = padding)."""
        batch, n, d = atoms.shape
        x = self.norm_atoms(atoms)
        p = self.norm_pairs(pairs)
        q, k, v = self.qkv(x).view(batch, n, 3, self.heads, d // self.heads).unbind(2)
        logits = torch.einsum("bihc,bjhc->bijh", q, k) / math.sqrt(d // self.heads)
        logits = logits + self.pair_bias(p)  # B x N x N x H
        weights = logits.masked_fill(key_padding[:, None, :, None], float("-inf")).softmax(2)
        mixed = torch.einsum("bijh,bjhc->bihc", weights, v).reshape(batch, n, d)
        atoms = atoms + self.attention_out(mixed)
        atoms = atoms + self.feed_forward(self.norm_ff(atoms))
        source, target = self.endpoints(atoms).chunk(2, dim=-1)
        update = p + source[:, :, None] + target[:, None, :] + self.from_logits(logits)
        pairs = pairs + self.pair_feed_forward(update)
        return atoms, pairs


class GraphDenoiser(nn.Module):
    """Maps a partly masked graph to atom-type logits and bond-type logits.

    Inputs beyond the tokens are deterministic functions of the state, so scoring stays exact:
    for each atom its revealed valence, its valence left (if its type is known) and its number of
    masked pairs; for each pair the shortest-path length between its atoms in the revealed bond
    graph (one-hot up to MAX_PATH, or unreachable), which tells the network about rings and about
    fragments still to connect; and the masked shares of atoms and pairs, which stand in for time.
    """

    def __init__(self, num_atom_types: int, config: GraphDenoiserConfig):
        super().__init__()
        d, de = config.d_node, config.d_edge
        self.atom_embedding = nn.Embedding(num_atom_types + 1, d)  # + mask
        self.atom_features = nn.Linear(3 + 2, d)
        self.pair_embedding = nn.Embedding(NUM_EDGE_TYPES + 1, de)  # + mask
        self.path_embedding = nn.Embedding(MAX_PATH + 2, de)  # 0 = self, MAX_PATH + 1 = unreachable
        self.layers = nn.ModuleList(GraphTransformerLayer(config) for _ in range(config.n_layers))
        self.atom_head = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, num_atom_types))
        self.pair_head = nn.Sequential(nn.LayerNorm(de), nn.Linear(de, NUM_EDGE_TYPES))

    def forward(
        self,
        atoms: torch.Tensor,
        edges: torch.Tensor,
        padding: torch.Tensor,
        valences: torch.Tensor,
        atom_mask_id: int,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`atoms` B x N, `edges` B x N x N (symmetric), `padding` B x N; returns atom logits
        B x N x A and symmetric bond logits B x N x N x 4."""
        real = ~padding
        pair_real = real[:, :, None] & real[:, None, :]
        masked_pairs = (edges == EDGE_MASK) & pair_real
        orders = torch.where(masked_pairs, 0, edges) * pair_real
        used = orders.sum(-1).float()  # revealed valence, B x N
        known = atoms != atom_mask_id
        capacity = valences[atoms.clamp_max(len(valences) - 1)].float() - used
        capacity = torch.where(known & real, capacity, torch.zeros_like(capacity))
        open_pairs = masked_pairs.sum(-1).float()
        size = real.sum(-1, keepdim=True).clamp_min(1).float()
        atom_share = ((~known) & real).sum(-1, keepdim=True) / size
        pair_share = masked_pairs.sum((1, 2))[:, None] / (size * (size - 1)).clamp_min(1)
        features = torch.stack([used / 4, capacity / 4, open_pairs / size.expand_as(used)], dim=-1)
        shares = torch.cat([atom_share, pair_share], -1)[:, None].expand(-1, atoms.shape[1], -1)
        h = self.atom_embedding(atoms) + self.atom_features(torch.cat([features, shares], -1))
        distances = _path_lengths(orders > 0, padding)
        e = self.pair_embedding(edges) + self.path_embedding(distances)
        for layer in self.layers:
            h, e = layer(h, e, padding)
        atom_logits = self.atom_head(h)
        e = (e + e.transpose(1, 2)) / 2
        return atom_logits, self.pair_head(e)


def _path_lengths(bonded: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
    """`B x N x N` long shortest-path lengths in the bond graph: 0 on the diagonal, 1..MAX_PATH,
    MAX_PATH + 1 beyond that or unreachable."""
    batch, n, _ = bonded.shape
    adjacency = bonded.float()
    eye = torch.eye(n, device=bonded.device, dtype=torch.bool).expand(batch, n, n)
    distance = torch.full(bonded.shape, MAX_PATH + 1, dtype=torch.long, device=bonded.device)
    distance[eye] = 0
    reached = eye.clone()
    frontier = eye.float()
    for length in range(1, MAX_PATH + 1):
        frontier = (frontier @ adjacency) > 0
        new = frontier & ~reached
        distance[new] = length
        reached |= new
        frontier = new.float()
    pad_pairs = padding[:, :, None] | padding[:, None, :]
    return distance.masked_fill(pad_pairs & ~eye, MAX_PATH + 1)


@functools.cache
def round_robin(n: int) -> torch.Tensor:
    """`n x n` long: the round (1..R) that reveals each atom pair in the circle-method schedule,
    0 on the diagonal. Every round is a matching (for even n a perfect one); R = n - 1 for even n,
    n for odd n (one atom sits out each round)."""
    m = n + n % 2
    order = list(range(m))
    rounds = torch.zeros(n, n, dtype=torch.long)
    for r in range(1, m):
        for k in range(m // 2):
            i, j = order[k], order[m - 1 - k]
            if i < n and j < n:
                rounds[i, j] = rounds[j, i] = r
        order = [order[0], order[-1], *order[1:-1]]
    return rounds


def num_rounds(n: int) -> int:
    """Bond rounds of the round-robin schedule for `n` atoms."""
    return n - 1 + n % 2 if n > 1 else 0


@dataclass
class GraphTrajectory:
    """One batch of reverse-diffusion paths over graphs.

    The state before denoising step s holds `atoms` where `atom_reveal < s` and `edges` where
    `edge_reveal < s`, masks elsewhere, so the path is recoverable from the final graph and the
    reveal steps.
    """

    atoms: torch.Tensor
    """`B x N` long final atom types (0 beyond each size)."""
    edges: torch.Tensor
    """`B x N x N` long final symmetric bond ids (0 = none; 0 on the diagonal and padding)."""
    sizes: torch.Tensor
    """`B` long numbers of atoms."""
    atom_reveal: torch.Tensor
    """`B x N` long step (1..T_a) that revealed each atom; 0 for padding."""
    edge_reveal: torch.Tensor
    """`B x N x N` long symmetric step (T_a+1..T) that revealed each pair; 0 on the diagonal
    and for padding."""
    num_denoising_steps: int
    atom_steps: int
    """T_a: steps 1..T_a reveal atoms, T_a+1..T bonds."""
    round_robin: bool = False
    """Bonds were revealed by the deterministic round-robin schedule (no reveal draw)."""

    @property
    def num_steps(self) -> int:
        """Decision steps per path: the size choice plus T reverse steps."""
        return self.num_denoising_steps + 1

    def __len__(self) -> int:
        return self.atoms.shape[0]

    @property
    def padding(self) -> torch.Tensor:
        positions = torch.arange(self.atoms.shape[1], device=self.atoms.device)
        return positions[None] >= self.sizes[:, None]

    @property
    def pairs(self) -> torch.Tensor:
        """`B x N x N` bool: real atom pairs i < j (the bond decisions)."""
        real = ~self.padding
        upper = torch.ones(
            self.atoms.shape[1], self.atoms.shape[1], dtype=torch.bool, device=self.atoms.device
        ).triu(1)
        return real[:, :, None] & real[:, None, :] & upper

    def state_before(self, step: int, atom_mask_id: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The noisy atoms (`B x N`) and edges (`B x N x N`) that step `step` (1..T) acts on."""
        atoms = torch.where(self.atom_reveal >= step, atom_mask_id, self.atoms)
        edges = torch.where(self.edge_reveal >= step, EDGE_MASK, self.edges)
        return atoms, edges

    def select(self, rows: torch.Tensor | slice) -> GraphTrajectory:
        sizes = self.sizes[rows]
        width = int(sizes.max()) if len(sizes) else 0
        return GraphTrajectory(
            self.atoms[rows][:, :width],
            self.edges[rows][:, :width, :width],
            sizes,
            self.atom_reveal[rows][:, :width],
            self.edge_reveal[rows][:, :width, :width],
            self.num_denoising_steps,
            self.atom_steps,
            self.round_robin,
        )

    def to(self, device: torch.device | str) -> GraphTrajectory:
        return GraphTrajectory(
            self.atoms.to(device),
            self.edges.to(device),
            self.sizes.to(device),
            self.atom_reveal.to(device),
            self.edge_reveal.to(device),
            self.num_denoising_steps,
            self.atom_steps,
            self.round_robin,
        )


def valence_left(
    atoms: torch.Tensor, edges: torch.Tensor, padding: torch.Tensor, valences: torch.Tensor
) -> torch.Tensor:
    """`B x N` long: each atom's maximal valence minus the orders of its revealed bonds."""
    real = ~padding
    pair_real = real[:, :, None] & real[:, None, :]
    orders = torch.where(edges == EDGE_MASK, 0, edges) * pair_real
    return valences[atoms.clamp(0, len(valences) - 1)] - orders.sum(-1)


def bond_limits(
    atoms: torch.Tensor,
    edges: torch.Tensor,
    revealing: torch.Tensor,
    padding: torch.Tensor,
    valences: torch.Tensor,
) -> torch.Tensor:
    """Largest bond order each pair revealed in this step may take, `B x N x N` long.

    An atom with R valence left (its type's maximal valence minus its revealed bond orders) and
    k of its pairs revealed in this step gives each of them at most floor(R / k), so whatever
    the pairs draw, no atom exceeds its valence.

    Args:
        atoms: `B x N` known atom types (every real atom is revealed in the bond phase).
        edges: `B x N x N` symmetric edge ids of the state before the step.
        revealing: `B x N x N` symmetric bool, pairs revealed in this step.
    """
    left = valence_left(atoms, edges, padding, valences)
    count = revealing.sum(-1).clamp_min(1)
    per_pair = torch.div(left.clamp_min(0), count, rounding_mode="floor")  # B x N
    return torch.minimum(per_pair[:, :, None], per_pair[:, None, :])


def components(bonded: torch.Tensor) -> torch.Tensor:
    """`B x N x N` bool: atoms i and j are joined by a path of `bonded` pairs (reflexive)."""
    n = bonded.shape[-1]
    eye = torch.eye(n, dtype=torch.bool, device=bonded.device)
    reach = (bonded | eye).float()
    for _ in range(max(1, math.ceil(math.log2(max(n, 2))))):
        reach = ((reach @ reach) > 0).float()
    return reach > 0


def last_exits(
    atoms: torch.Tensor,
    edges: torch.Tensor,
    revealing: torch.Tensor,
    padding: torch.Tensor,
    valences: torch.Tensor,
) -> torch.Tensor:
    """Pairs revealed in this step that must take a bond for the graph to stay connectable,
    `B x N x N` symmetric bool.

    An exit of a connected component (its bonds so far) is an undecided pair from one of its
    atoms to an atom outside it, both with valence left. A component whose exits are all
    revealed in this step would be cut off if every one of them drew "no bond", so one of them
    must bond: the first exit of its lowest-numbered atom with one. The rule is a function of
    the state and the reveal set alone, so it is part of the policy: scoring a path applies it
    exactly as sampling did.
    """
    real = ~padding
    pair_real = real[:, :, None] & real[:, None, :]
    undecided = (edges == EDGE_MASK) & pair_real
    bonded = (edges > NO_BOND) & ~undecided & pair_real
    together = components(bonded)
    free = (valence_left(atoms, edges, padding, valences) > 0) & real
    exits = undecided & ~together & free[:, :, None] & free[:, None, :]
    later = (exits & ~revealing).sum(-1).float()  # B x N: an atom's exits after this step
    component_later = (together.float() @ later[..., None]).squeeze(-1)  # per atom's component
    current = exits & revealing  # a round-robin step is a matching: one per atom at most
    now = current.any(-1)  # B x N
    n = atoms.shape[1]
    index = torch.arange(n, device=atoms.device).expand_as(now)
    candidate = torch.where(together & now[:, None, :], index[:, None, :], n)  # B x N x N
    first = candidate.min(-1).values  # per atom: its component's lowest atom with an exit now
    needs = now & (first == index) & (component_later == 0)
    # With the random schedule an atom can have several exits now: take its first.
    partner = torch.where(current, index[:, None, :], n).min(-1).values  # B x N
    forced = needs[:, :, None] & (index[:, None, :] == partner[:, :, None])
    return forced | forced.transpose(1, 2)


def _mask_bonds(
    log_probs: torch.Tensor, limits: torch.Tensor, forced: torch.Tensor | None = None
) -> torch.Tensor:
    """Renormalized `... x 4` bond log-probabilities with orders above `limits` removed, and
    "no bond" removed where `forced` (if the limit allows a bond)."""
    orders = torch.arange(NUM_EDGE_TYPES, device=log_probs.device)
    allowed = orders <= limits[..., None]
    if forced is not None:
        allowed = allowed & ~((orders == NO_BOND) & (forced & (limits > 0))[..., None])
    return torch.log_softmax(log_probs.masked_fill(~allowed, float("-inf")), -1)


class GraphDiffusion(nn.Module):
    """Two-phase absorbing-state diffusion over atom types and bond orders (see the module
    docstring); `valence_mask=False` samples without the valence limits and `connect_mask=False`
    without the connectivity rule (for measuring them; the rule needs the limits)."""

    checkpoint_format = "molseiko.graph_diffusion.atoms_bonds/1"
    stereochemistry = False
    """Designs carry no stereo marks (compare with stereo-free references)."""

    def __init__(self, tokenizer: AtomBondVocabulary, config: GraphDenoiserConfig):
        super().__init__()
        self.tokenizer = tokenizer  # the engine's name for "the design vocabulary"
        self.config = config
        self.schedule = LogLinearSchedule()
        self.denoiser = GraphDenoiser(len(tokenizer), config)
        self.length_logits = nn.Parameter(torch.zeros(config.max_atoms))  # index i: i + 1 atoms
        self.register_buffer("valences", tokenizer.valence_tensor(), persistent=False)
        self.valence_mask = True
        self.connect_mask = True

    @property
    def device(self) -> torch.device:
        return self.length_logits.device

    def atom_steps(self, steps: int) -> int:
        if steps < 2:
            raise ValueError("graph diffusion needs at least 2 denoising steps (atoms, bonds)")
        return min(steps - 1, max(1, round(steps * self.config.atom_step_share)))

    def fit_length_distribution(self, sizes: torch.Tensor, pseudo_count: float = 1.0) -> None:
        """Set the size distribution to the smoothed histogram of `sizes` (`N` long)."""
        counts = torch.bincount(sizes - 1, minlength=self.config.max_atoms).float()
        with torch.no_grad():
            self.length_logits.copy_((counts[: self.config.max_atoms] + pseudo_count).log())

    # ---- denoiser ---------------------------------------------------------------------------
    def _mask(
        self,
        bond_log_probs: torch.Tensor,
        atoms: torch.Tensor,
        edges: torch.Tensor,
        revealing: torch.Tensor,
        padding: torch.Tensor,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor | None]]:
        """Bond log-probabilities under the valence limits (and the connectivity rule when
        `connect_mask`), with the bounds used, so a reference model can be masked alike."""
        limits = bond_limits(atoms, edges, revealing, padding, self.valences)
        forced = None
        if self.connect_mask:
            forced = last_exits(atoms, edges, revealing, padding, self.valences)
        return _mask_bonds(bond_log_probs, limits, forced), (limits, forced)

    def step_log_probs(
        self, atoms: torch.Tensor, edges: torch.Tensor, padding: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Atom-type (`B x N x A`) and bond-type (`B x N x N x 4`) log-probabilities."""
        atom_logits, bond_logits = self.denoiser(
            atoms, edges, padding, self.valences, self.tokenizer.mask_id
        )
        return F.log_softmax(atom_logits, -1), F.log_softmax(bond_logits, -1)

    def collate(self, graphs: Sequence[EncodedGraph]):
        """A training batch on this model's device, and the number of atoms it holds."""
        atoms, edges, sizes = self.tokenizer.pad(graphs)
        batch = (atoms.to(self.device), edges.to(self.device), sizes.to(self.device))
        return batch, int(sizes.sum())

    def loss(
        self,
        atoms: torch.Tensor,
        edges: torch.Tensor,
        sizes: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> DiffusionLoss:
        """Negative ELBO in nats per atom of clean graphs: each molecule trains one phase (atoms
        with every bond masked, or bonds with every atom known), importance-weighted so that the
        expectation is the sum of both phases' ELBOs."""
        batch, n = atoms.shape
        device = atoms.device
        padding = torch.arange(n, device=device)[None] >= sizes[:, None]
        real = ~padding
        pairs = (
            real[:, :, None]
            & real[:, None, :]
            & torch.ones(n, n, dtype=torch.bool, device=device).triu(1)
        )
        t = stratified_times(batch, generator, device)
        share = self.config.atom_loss_share
        atom_phase = torch.rand(batch, generator=generator, device=device) < share
        phase_weight = torch.where(atom_phase, 1 / share, 1 / (1 - share))
        draw_atoms = torch.rand(batch, n, generator=generator, device=device)
        masked_atoms = atom_phase[:, None] & (draw_atoms < t[:, None]) & real
        draw_pairs = torch.rand(batch, n, n, generator=generator, device=device).triu(1)
        draw_pairs = draw_pairs + draw_pairs.transpose(1, 2)
        masked_edges = atom_phase[:, None, None] | (draw_pairs < t[:, None, None])
        masked_edges = masked_edges & real[:, :, None] & real[:, None, :]
        masked_edges = masked_edges & ~torch.eye(n, dtype=torch.bool, device=device)
        noisy_atoms = torch.where(masked_atoms, self.tokenizer.mask_id, atoms)
        noisy_edges = torch.where(masked_edges, EDGE_MASK, edges)
        atom_log_probs, bond_log_probs = self.step_log_probs(noisy_atoms, noisy_edges, padding)
        weight = self.schedule.loss_weight(t) * phase_weight  # B
        atom_nll = -atom_log_probs.gather(-1, atoms[..., None]).squeeze(-1)
        atom_nll = (atom_nll * masked_atoms).sum(-1)
        bond_nll = -bond_log_probs.gather(-1, edges[..., None]).squeeze(-1)
        bond_nll = (bond_nll * (masked_edges & pairs & ~atom_phase[:, None, None])).sum((1, 2))
        total = (weight * (atom_nll + bond_nll)).sum()
        return DiffusionLoss(total / sizes.sum(), masked_atoms.sum() / sizes.sum())

    # ---- policy interface -------------------------------------------------------------------
    @torch.no_grad()
    def sample(
        self,
        n: int,
        steps: int = 32,
        generator: torch.Generator | None = None,
        batch_size: int = 256,
        progress=None,
        template=None,
    ) -> GraphTrajectory:
        """Sample `n` paths of `steps` reverse steps, in size-sorted chunks of `batch_size`."""
        if template is not None:
            from molseiko.errors import MolseikoError

            raise MolseikoError("templates (fixed positions) need a protein model")
        atom_steps = self.atom_steps(steps)
        logits = F.log_softmax(self.length_logits, -1).expand(n, -1)
        sizes = _gumbel_argmax(logits, generator) + 1
        width = int(sizes.max()) if n else 0
        robin = self.config.bond_schedule == "round_robin"
        if robin:  # the bond phase takes one step per round of the largest molecule
            steps = atom_steps + num_rounds(width)
        trajectory = GraphTrajectory(
            torch.zeros(n, width, dtype=torch.long, device=self.device),
            torch.zeros(n, width, width, dtype=torch.long, device=self.device),
            sizes,
            torch.zeros(n, width, dtype=torch.long, device=self.device),
            torch.zeros(n, width, width, dtype=torch.long, device=self.device),
            steps,
            atom_steps,
            robin,
        )
        order = torch.argsort(sizes)
        for start in range(0, n, batch_size):
            rows = order[start : start + batch_size]
            part = self._denoise(sizes[rows], steps, atom_steps, generator)
            w = part.atoms.shape[1]
            trajectory.atoms[rows, :w] = part.atoms
            trajectory.atom_reveal[rows, :w] = part.atom_reveal
            trajectory.edges[rows, :w, :w] = part.edges
            trajectory.edge_reveal[rows, :w, :w] = part.edge_reveal
            if progress is not None:
                progress(len(rows))
        return trajectory

    def _denoise(
        self, sizes: torch.Tensor, steps: int, atom_steps: int, generator: torch.Generator | None
    ) -> GraphTrajectory:
        width = int(sizes.max())
        device = self.device
        padding = torch.arange(width, device=device)[None] >= sizes[:, None]
        real = ~padding
        upper = torch.ones(width, width, dtype=torch.bool, device=device).triu(1)
        pairs = real[:, :, None] & real[:, None, :] & upper
        atoms = torch.where(padding, 0, self.tokenizer.mask_id)
        edges = torch.where(pairs | pairs.transpose(1, 2), EDGE_MASK, 0)
        atom_reveal = torch.zeros_like(atoms)
        edge_reveal = torch.zeros_like(edges)
        atom_q = self.schedule.reveal_probabilities(atom_steps).tolist()
        robin = self.config.bond_schedule == "round_robin"
        if robin:
            schedule = torch.zeros(len(sizes), width, width, dtype=torch.long)
            for row, size in enumerate(sizes.tolist()):
                schedule[row, :size, :size] = round_robin(size)
            schedule = schedule.to(device)
            steps = atom_steps + num_rounds(width)
        else:
            edge_q = self.schedule.reveal_probabilities(steps - atom_steps).tolist()
        for step in range(1, steps + 1):
            if step <= atom_steps:
                masked = atoms == self.tokenizer.mask_id
                draw = torch.rand(atoms.shape, generator=generator, device=device)
                revealed = masked & (draw < atom_q[step - 1])
                if revealed.any():
                    atom_log_probs, _ = self.step_log_probs(atoms, edges, padding)
                    proposal = _gumbel_argmax(atom_log_probs, generator)
                    atoms = torch.where(revealed, proposal, atoms)
                    atom_reveal[revealed] = step
                continue
            masked = (edges == EDGE_MASK) & upper
            if robin:
                revealed = masked & (schedule == step - atom_steps)
            else:
                draw = torch.rand(edges.shape, generator=generator, device=device)
                revealed = masked & (draw < edge_q[step - atom_steps - 1])
            if not revealed.any():
                continue
            revealing = revealed | revealed.transpose(1, 2)
            _, bond_log_probs = self.step_log_probs(atoms, edges, padding)
            if self.valence_mask:
                bond_log_probs = self._mask(bond_log_probs, atoms, edges, revealing, padding)[0]
            proposal = _gumbel_argmax(bond_log_probs, generator).triu(1)
            proposal = proposal + proposal.transpose(1, 2)
            edges = torch.where(revealing, proposal, edges)
            edge_reveal[revealing] = step
        return GraphTrajectory(
            atoms, edges, sizes, atom_reveal, edge_reveal, steps, atom_steps, robin
        )

    def score(
        self,
        trajectory: GraphTrajectory,
        references: Sequence[GraphDiffusion] = (),
        steps: Sequence[int] | None = None,
    ) -> TrajectoryScore:
        """Per-step log-probabilities of the paths under this model and exact per-step
        KL(this || reference) for each reference, one forward pass of this model per step.

        Args:
            trajectory: paths with T reverse steps.
            references: models to measure KL against (not differentiated).
            steps: decision steps to score (0 = size choice, 1..T reverse steps); all by default.
        """
        steps = list(range(trajectory.num_steps)) if steps is None else list(steps)
        atom_steps = trajectory.atom_steps
        total = trajectory.num_denoising_steps
        atom_q = self.schedule.reveal_probabilities(atom_steps).tolist()
        if not trajectory.round_robin:
            edge_q = self.schedule.reveal_probabilities(total - atom_steps).tolist()
        padding = trajectory.padding
        pairs = trajectory.pairs
        batch = len(trajectory)
        zero = torch.zeros(batch, device=self.device)
        mask_id = self.tokenizer.mask_id
        log_prob_columns, kl_columns = [], [[] for _ in references]
        for step in steps:
            kls = [zero for _ in references]
            if step == 0:
                size_log_probs = F.log_softmax(self.length_logits, -1)
                log_prob = size_log_probs[trajectory.sizes - 1]
                for i, reference in enumerate(references):
                    reference_log_probs = F.log_softmax(reference.length_logits, -1).detach()
                    kls[i] = _categorical_kl(size_log_probs, reference_log_probs).expand(batch)
            elif step <= atom_steps:
                q = atom_q[step - 1]
                masked = trajectory.atom_reveal >= step
                revealed = trajectory.atom_reveal == step
                log_prob = _reveal_log_prob(masked, revealed, q, (1,)).to(zero.dtype)
                rows = masked.any(-1).nonzero().squeeze(-1)
                if len(rows):
                    atoms, edges = (s[rows] for s in trajectory.state_before(step, mask_id))
                    log_probs, _ = self.step_log_probs(atoms, edges, padding[rows])
                    chosen = log_probs.gather(-1, trajectory.atoms[rows][..., None]).squeeze(-1)
                    chosen = (chosen * revealed[rows]).sum(-1)
                    log_prob = log_prob.index_add(0, rows, chosen)
                    for i, reference in enumerate(references):
                        with torch.no_grad():
                            reference_log_probs, _ = reference.step_log_probs(
                                atoms, edges, padding[rows]
                            )
                        kl = _categorical_kl(log_probs, reference_log_probs)
                        kl = (kl * masked[rows]).sum(-1)
                        kls[i] = kls[i].index_add(0, rows, q * kl)
            else:
                masked = (trajectory.edge_reveal >= step) & pairs
                revealed = (trajectory.edge_reveal == step) & pairs
                if trajectory.round_robin:  # the schedule is fixed: no reveal draw
                    log_prob = zero.clone()
                else:
                    q = edge_q[step - atom_steps - 1]
                    log_prob = _reveal_log_prob(masked, revealed, q, (1, 2)).to(zero.dtype)
                rows = revealed.any((1, 2)).nonzero().squeeze(-1)
                if len(rows):
                    atoms, edges = (s[rows] for s in trajectory.state_before(step, mask_id))
                    _, log_probs = self.step_log_probs(atoms, edges, padding[rows])
                    bounds = None
                    if self.valence_mask:
                        revealing = revealed[rows] | revealed[rows].transpose(1, 2)
                        log_probs, bounds = self._mask(
                            log_probs, atoms, edges, revealing, padding[rows]
                        )
                    chosen = log_probs.gather(-1, trajectory.edges[rows][..., None]).squeeze(-1)
                    chosen = torch.where(revealed[rows], chosen, torch.zeros_like(chosen))
                    log_prob = log_prob.index_add(0, rows, chosen.sum((1, 2)))
                    for i, reference in enumerate(references):
                        with torch.no_grad():
                            _, reference_log_probs = reference.step_log_probs(
                                atoms, edges, padding[rows]
                            )
                            if bounds is not None:
                                reference_log_probs = _mask_bonds(reference_log_probs, *bounds)
                        kl = _categorical_kl(log_probs, reference_log_probs)
                        kl = torch.where(revealed[rows], kl, torch.zeros_like(kl)).sum((1, 2))
                        kls[i] = kls[i].index_add(0, rows, kl)
            log_prob_columns.append(log_prob)
            for columns, kl in zip(kl_columns, kls, strict=True):
                columns.append(kl)
        return TrajectoryScore(
            torch.stack(log_prob_columns, dim=-1),
            [torch.stack(columns, dim=-1) for columns in kl_columns],
        )

    def log_probs(
        self, trajectory: GraphTrajectory, steps: Sequence[int] | None = None
    ) -> torch.Tensor:
        """Differentiable per-step log-probabilities, `B x S`; their sum over all steps is the
        path's log-probability."""
        return self.score(trajectory, (), steps).log_probs

    def kl(
        self,
        trajectory: GraphTrajectory,
        reference: GraphDiffusion,
        steps: Sequence[int] | None = None,
    ) -> torch.Tensor:
        """Exact per-step KL(this || reference) along the paths, `B x S`."""
        return self.score(trajectory, (reference,), steps).kl[0]

    def graphs(self, trajectory: GraphTrajectory) -> list[EncodedGraph]:
        """The finished paths as graphs."""
        atoms, edges = trajectory.atoms.cpu(), trajectory.edges.cpu()
        graphs = []
        for row, size in enumerate(trajectory.sizes.cpu().tolist()):
            upper = edges[row, :size, :size].triu(1)
            i, j = (upper != NO_BOND).nonzero(as_tuple=True)
            bonds = list(zip(i.tolist(), j.tolist(), upper[i, j].tolist(), strict=True))
            graphs.append(EncodedGraph(atoms[row, :size].tolist(), bonds))
        return graphs

    def decode(self, trajectory: GraphTrajectory) -> list[str | None]:
        """Designs of finished paths (canonical SMILES); None flags an invalid design (RDKit
        cannot sanitize it, or it is in several fragments)."""
        return [self.tokenizer.to_design(graph) for graph in self.graphs(trajectory)]


def _reveal_log_prob(
    masked: torch.Tensor, revealed: torch.Tensor, q: float, dims: tuple[int, ...]
) -> torch.Tensor:
    """Log-probability of the schedule's reveal draw: revealed w.p. q, kept masked w.p. 1 - q."""
    log_stay = math.log1p(-q) if q < 1 else 0.0
    log_reveal = math.log(q) if q > 0 else float("-inf")
    stay = (masked & ~revealed).sum(dims).float()
    return stay * log_stay + revealed.sum(dims).float() * log_reveal
