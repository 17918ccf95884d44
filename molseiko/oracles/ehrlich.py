"""Ehrlich holo functions (Stanton et al. 2024, "Closed-form test functions for biophysical
sequence design"), implemented here from the published definition.

A function is defined by
- a feasibility process: a transition matrix A over v states whose zero entries are banned
  transitions (a band of b states in a random cyclic order; self-loops and the cycle itself are
  always allowed, so the chain is ergodic). A sequence is feasible iff every consecutive pair is
  an allowed transition;
- c motifs a(i) of length k with spacings s(i) (s_1 = 0, increasing, span < L // c);
- a quantization q (1 <= q <= k).

    h_q(x, a, s) = max_l floor(q * #{j : x[l + s_j] = a_j} / k) / q
    f(x)         = prod_i h_q(x, a(i), s(i))   for feasible x of length L

so f is in [0, 1] and f = 1 exactly when every motif is present with its spacing. Infeasible
sequences are failures with the reason (never -inf in a reward model's data). The motifs are drawn
as one feasible chain of distinct states, so a feasible optimum exists; `optimum()` builds one.
With the 20 amino acids as states, designs are protein-like strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from molseiko.domains.protein import AMINO_ACIDS
from molseiko.errors import MolseikoError
from molseiko.oracles.base import Oracle


@dataclass(frozen=True)
class EhrlichSpec:
    length: int = 32
    motifs: int = 4
    motif_length: int = 4
    quantization: int | None = None
    """Defaults to motif_length (no quantization)."""
    states: int = 20
    band: int | None = None
    """Banned transitions per state; defaults to states // 4."""
    seed: int = 0

    def __post_init__(self):
        k, c, v = self.motif_length, self.motifs, self.states
        if min(self.length, c, k) < 1 or self.seed < 0:
            raise MolseikoError("ehrlich: L, c and k must be positive and seed non-negative")
        if k < 2:
            raise MolseikoError("ehrlich: motifs need at least 2 elements (k >= 2)")
        if not 2 <= v <= len(AMINO_ACIDS):
            raise MolseikoError(f"ehrlich: states must be 2..{len(AMINO_ACIDS)}")
        if c * k > v:
            raise MolseikoError(f"ehrlich: {c} motifs x {k} need {c * k} distinct states > {v}")
        if self.length // c < k:
            raise MolseikoError(f"ehrlich: length {self.length} cannot hold {c} motifs of {k}")
        if not 1 <= (self.quantization or k) <= k:
            raise MolseikoError("ehrlich: quantization must be between 1 and motif_length")
        if not 0 <= (self.band if self.band is not None else v // 4) <= v - 2:
            raise MolseikoError("ehrlich: band must leave each state at least two moves")


class EhrlichOracle(Oracle):
    """An Ehrlich function over protein letters (state i = the i-th of ACDEFGHIKLMNPQRSTVWY)."""

    cost = "cheap"

    def __init__(self, spec: EhrlichSpec | None = None, name: str | None = None):
        self.spec = spec or EhrlichSpec()
        s = self.spec
        self.alphabet = AMINO_ACIDS[: s.states]
        self.q = s.quantization or s.motif_length
        rng = np.random.default_rng([s.seed, s.length, s.motifs, s.motif_length, s.states])
        self.allowed = _transition_mask(
            s.states, s.band if s.band is not None else s.states // 4, rng
        )
        self.motif_states, self.spacings = self._draw_motifs(rng)
        self.name = name or (
            f"ehrlich_v{s.states}_L{s.length}_c{s.motifs}_k{s.motif_length}_q{self.q}_s{s.seed}"
        )
        self.description = (
            f"Ehrlich function: {s.motifs} motifs of {s.motif_length} in length {s.length} "
            f"over {s.states} states, quantization {self.q}; optimum 1.0"
        )

    # ---- the definition ------------------------------------------------------------------------
    def _draw_motifs(self, rng) -> tuple[np.ndarray, np.ndarray]:
        s = self.spec
        c, k, v = s.motifs, s.motif_length, s.states
        for _ in range(1000):  # a chain of c*k distinct states, each an allowed move from the last
            chain = [int(rng.integers(v))]
            while len(chain) < c * k:
                moves = [j for j in np.flatnonzero(self.allowed[chain[-1]]) if j not in chain]
                if not moves:
                    break
                chain.append(int(rng.choice(moves)))
            if len(chain) == c * k:
                break
        else:  # pragma: no cover - the band leaves plenty of moves for valid specs
            raise MolseikoError("ehrlich: could not draw feasible motifs; use a smaller band")
        motifs = np.array(chain).reshape(c, k)
        span = s.length // c
        spacings = np.zeros((c, k), dtype=int)
        for i in range(c):
            spacings[i, 1:] = np.sort(rng.choice(np.arange(1, span), k - 1, replace=False))
        return motifs, spacings

    def feasible(self, states: np.ndarray) -> int | None:
        """None if every transition is allowed, else the first position whose move is banned."""
        banned = ~self.allowed[states[:-1], states[1:]]
        return int(np.argmax(banned)) + 1 if banned.any() else None

    def motif_presence(self, states: np.ndarray) -> np.ndarray:
        """`c` quantized presences h_q(x, a(i), s(i))."""
        k, length = self.spec.motif_length, len(states)
        presence = np.zeros(len(self.motif_states))
        for i, (motif, spacing) in enumerate(zip(self.motif_states, self.spacings, strict=True)):
            starts = np.arange(length - spacing[-1])
            matches = (states[starts[:, None] + spacing[None, :]] == motif[None, :]).sum(1)
            presence[i] = np.floor(self.q * matches.max() / k) / self.q
        return presence

    def value(self, states: np.ndarray) -> float:
        return float(np.prod(self.motif_presence(states)))

    # ---- the oracle contract ---------------------------------------------------------------------
    def measure(self, designs: Sequence[str]):
        raw = np.full(len(designs), np.nan)
        failures: list[str | None] = [None] * len(designs)
        index = {letter: i for i, letter in enumerate(self.alphabet)}
        for n, design in enumerate(designs):
            design = (design or "").strip().upper()
            if len(design) != self.spec.length:
                failures[n] = f"length {len(design)}, the function needs {self.spec.length}"
                continue
            bad = next((letter for letter in design if letter not in index), None)
            if bad is not None:
                failures[n] = f"{bad!r} is not one of the {self.spec.states} states"
                continue
            states = np.array([index[letter] for letter in design])
            position = self.feasible(states)
            if position is not None:
                move = f"{design[position - 1]}->{design[position]}"
                failures[n] = f"infeasible: banned transition {move} at position {position}"
                continue
            raw[n] = self.value(states)
        return raw, failures

    # ---- helpers for benchmarks and pretraining data ---------------------------------------------
    def to_string(self, states: Sequence[int]) -> str:
        return "".join(self.alphabet[i] for i in states)

    def optimum(self) -> str:
        """A feasible sequence with value 1: motif i in block i, gaps filled by staying put."""
        s = self.spec
        span = s.length // s.motifs
        states = np.empty(s.length, dtype=int)
        states[:] = self.motif_states[0, 0]
        for i in range(s.motifs):
            for j in range(s.motif_length):
                start = i * span + self.spacings[i, j]
                end = i * span + (self.spacings[i, j + 1] if j + 1 < s.motif_length else span)
                if i == s.motifs - 1 and j == s.motif_length - 1:
                    end = s.length
                states[start:end] = self.motif_states[i, j]
        return self.to_string(states)

    def sample_feasible(self, n: int, rng: np.random.Generator) -> list[str]:
        """`n` random feasible sequences (uniform start, uniform over allowed moves)."""
        v, length = self.spec.states, self.spec.length
        # Every state has the same number of allowed moves (the band is the same size for all),
        # so one vectorized draw per position serves the whole batch.
        moves = np.stack([np.flatnonzero(row) for row in self.allowed])  # v x (v - band)
        out = np.empty((n, length), dtype=int)
        out[:, 0] = rng.integers(v, size=n)
        for position in range(1, length):
            out[:, position] = moves[out[:, position - 1], rng.integers(moves.shape[1], size=n)]
        return [self.to_string(row) for row in out]


def _transition_mask(states: int, band: int, rng) -> np.ndarray:
    """allowed[i, j]: in a random cyclic order of the states, each state may not move to the `band`
    states just before it; everything else (itself and its successor included) is allowed."""
    order = rng.permutation(states)
    rank = np.empty(states, dtype=int)
    rank[order] = np.arange(states)
    back = (rank[:, None] - rank[None, :]) % states  # how far j is *behind* i in the cycle
    return ~((back >= 1) & (back <= band))


def parse_ehrlich(spec: str) -> EhrlichOracle:
    """`ehrlich` or `ehrlich:L=32,c=4,k=4,q=4,v=20,b=5,seed=0`."""
    keys = {
        "L": "length",
        "c": "motifs",
        "k": "motif_length",
        "q": "quantization",
        "v": "states",
        "b": "band",
        "seed": "seed",
    }
    settings = {}
    _, _, rest = spec.partition(":")
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, _, value = part.partition("=")
        if key not in keys:
            raise MolseikoError(f"ehrlich: unknown setting {key!r} (known: {', '.join(keys)})")
        try:
            settings[keys[key]] = int(value)
        except ValueError:
            raise MolseikoError(f"ehrlich: {key} must be an integer, not {value!r}") from None
    return EhrlichOracle(EhrlichSpec(**settings))
