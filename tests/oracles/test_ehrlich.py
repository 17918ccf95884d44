"""Ehrlich functions: the published definition checked on hand-made cases and invariants."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from molseiko.errors import MolseikoError
from molseiko.oracles.ehrlich import EhrlichOracle, EhrlichSpec, _transition_mask
from molseiko.oracles.registry import resolve_objective


@pytest.mark.parametrize("length, motifs, k", [(32, 2, 4), (32, 4, 4), (64, 4, 4), (16, 3, 3)])
def test_the_optimum_is_feasible_and_scores_one(length, motifs, k):
    oracle = EhrlichOracle(EhrlichSpec(length=length, motifs=motifs, motif_length=k, seed=3))
    result = oracle([oracle.optimum()])
    assert result.failures == [None] and result.values[0] == 1.0


def test_value_is_the_product_of_quantized_motif_presence():
    oracle = EhrlichOracle(EhrlichSpec(length=32, motifs=2, motif_length=4, quantization=4))
    best = oracle.optimum()
    states = np.array([oracle.alphabet.index(a) for a in best])
    # Break one element of motif 0 everywhere it occurs: presence 3/4 -> value 0.75 x 1.
    motif, spacing = oracle.motif_states[0], oracle.spacings[0]
    broken = states.copy()
    broken[broken == motif[1]] = motif[0]  # a_1 -> a_0 keeps feasibility (a_0 -> a_0 self-loop)
    assert oracle.motif_presence(broken)[0] == 0.75
    assert oracle.value(broken) == pytest.approx(0.75 * oracle.motif_presence(broken)[1])
    # Hand computation of h for a window: count matches at the best offset.
    hits = max(int((broken[start + spacing] == motif).sum()) for start in range(32 - spacing[-1]))
    assert hits == 3


def test_quantization_floors_presence():
    spec = EhrlichSpec(length=32, motifs=2, motif_length=4, quantization=2, seed=1)
    oracle = EhrlichOracle(spec)
    states = np.array([oracle.alphabet.index(a) for a in oracle.optimum()])
    states[states == oracle.motif_states[0][1]] = oracle.motif_states[0][0]
    # 3 of 4 elements present, quantized to halves: floor(2 * 3 / 4) / 2 = 0.5.
    assert oracle.motif_presence(states)[0] == 0.5


def test_infeasible_sequences_are_flagged_failures_not_values():
    oracle = EhrlichOracle(EhrlichSpec(length=16, motifs=2, motif_length=4, seed=0))
    i, j = np.argwhere(~oracle.allowed)[0]
    bad = oracle.alphabet[i] * 8 + oracle.alphabet[j] * 8
    result = oracle([bad, "A" * 15, "B" * 16, oracle.optimum()])
    assert np.isnan(result.values[:3]).all() and result.values[3] == 1.0
    assert (
        result.failures[0].startswith("infeasible: banned transition")
        and "position 8" in (result.failures[0])
    )
    assert (
        "length 15" in result.failures[1]
        and "'B' is not one of the 20 states" in (result.failures[2])
    )


def test_transition_structure_is_a_band_with_an_ergodic_chain():
    mask = _transition_mask(20, 5, np.random.default_rng(0))
    assert mask.diagonal().all() and (mask.sum(1) == 15).all()
    reach = np.linalg.matrix_power(mask.astype(float), 19)
    assert (reach > 0).all()  # every state reaches every other: the feasible set is connected


def test_feasible_samples_are_feasible_and_rarely_good():
    oracle = EhrlichOracle(EhrlichSpec(length=32, motifs=4, motif_length=4, seed=0))
    samples = oracle.sample_feasible(500, np.random.default_rng(0))
    result = oracle(samples)
    assert all(f is None for f in result.failures)
    assert result.values.max() < 1.0 and np.median(result.values) < 0.1
    # Uniform over allowed moves: from each state, each of its 15 moves about equally often.
    states = np.array([[oracle.alphabet.index(a) for a in s] for s in samples])
    pairs = states[:, :-1].ravel() * 20 + states[:, 1:].ravel()
    counts = np.bincount(pairs, minlength=400).reshape(20, 20)
    allowed = counts[oracle.allowed]
    assert (counts[~oracle.allowed] == 0).all() and allowed.min() > 0.5 * allowed.mean()


def test_enumerated_tiny_function_matches_brute_force():
    """v=4, L=4, one motif of 2: compare against a direct reading of the definition."""
    oracle = EhrlichOracle(EhrlichSpec(length=4, motifs=1, motif_length=2, states=4, band=1))
    motif, spacing = oracle.motif_states[0], oracle.spacings[0]
    for states in itertools.product(range(4), repeat=4):
        x = np.array(states)
        feasible = all(oracle.allowed[a, b] for a, b in zip(x[:-1], x[1:], strict=False))
        best = max(
            sum(x[start + s] == a for s, a in zip(spacing, motif, strict=True)) / 2
            for start in range(4 - spacing[-1])
        )
        result = oracle([oracle.to_string(x)])
        if feasible:
            assert result.values[0] == best
        else:
            assert np.isnan(result.values[0])


def test_specs_and_bad_settings():
    oracle = resolve_objective("ehrlich:L=64,c=4,k=4,seed=2")
    assert oracle.spec.length == 64 and oracle(["A" * 64]).failures[0] is None
    with pytest.raises(MolseikoError, match="need 20 distinct states > 16"):
        resolve_objective("ehrlich:v=16,c=5,k=4")
    with pytest.raises(MolseikoError, match="must be positive"):
        resolve_objective("ehrlich:c=0")
    with pytest.raises(MolseikoError, match="unknown setting 'x'"):
        resolve_objective("ehrlich:x=1")
    same = resolve_objective("ehrlich:L=64,c=4,k=4,seed=2")
    assert np.array_equal(same.motif_states, oracle.motif_states)  # seeded: reproducible
