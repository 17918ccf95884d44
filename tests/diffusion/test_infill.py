"""Editing designs (infill): re-noise part of a design and denoise it again with the policy.
Known answers on the enumerable toy model; pinned template positions never change."""

from __future__ import annotations

import torch

from molseiko.diffusion.denoiser import DenoiserConfig
from molseiko.diffusion.masked import MaskedDiffusion, _insert_delete, _splice
from molseiko.diffusion.tokenizer import MASK_ID, AminoAcidTokenizer
from molseiko.diffusion.trajectory import Template
from tests.conftest import all_paths

STEPS = 2


def test_fully_masked_edit_draws_from_the_models_length_two_marginal(toy_model):
    """mask_fraction 1 and no indels: a child of a length-2 parent is a fresh length-2 sample, so
    its design distribution is the model's marginal over length-2 paths (length step left out)."""
    paths = all_paths(steps=STEPS)
    with torch.no_grad():
        probability = torch.exp(toy_model.log_probs(paths)[:, 1:].sum(-1))
    expected: dict[str | None, float] = {}
    for row in (paths.lengths == 2).nonzero().squeeze(-1).tolist():
        design = toy_model.tokenizer.to_design(paths.tokens[row])
        expected[design] = expected.get(design, 0.0) + probability[row].item()
    assert abs(sum(expected.values()) - 1.0) < 1e-5

    n = 10_000
    children = toy_model.infill(
        ["CO"], n, 1.0, STEPS, torch.Generator().manual_seed(0), indel_rate=0.0
    )
    counts: dict[str | None, int] = {}
    for child in children:
        counts[child] = counts.get(child, 0) + 1
    keys = set(expected) | set(counts)
    total_variation = 0.5 * sum(abs(counts.get(k, 0) / n - expected.get(k, 0.0)) for k in keys)
    assert len(children) == n and total_variation < 0.025


def test_an_edit_masks_at_least_one_token_and_keeps_the_rest(toy_model):
    """With a tiny mask fraction, exactly one of the two tokens is redrawn: a child of "CC" keeps
    one carbon, so it is never "NN", "NO", "ON" or "OO" (and never longer: no indels)."""
    children = toy_model.infill(
        ["CC"], 2_000, 1e-6, STEPS, torch.Generator().manual_seed(1), indel_rate=0.0
    )
    assert set(children) <= {"CC", "CN", "CO"} and len(set(children)) > 1


def test_parents_the_vocabulary_cannot_encode_are_skipped(toy_model):
    generator = torch.Generator().manual_seed(2)
    assert toy_model.infill(["not a smiles", "S"], 10, 0.5, STEPS, generator) == []
    children = toy_model.infill(["not a smiles", "CN"], 10, 0.5, STEPS, generator)
    assert len(children) == 10


def test_insert_delete_keeps_lengths_in_bounds_and_rates_honest():
    generator = torch.Generator().manual_seed(0)
    tokens = torch.arange(2, 42)
    assert torch.equal(_insert_delete(tokens, 0.0, 60, generator), tokens)
    changes = []
    for _ in range(500):
        child = _insert_delete(tokens, 0.1, 60, generator)
        assert 1 <= len(child) <= 60
        inserted = int((child == MASK_ID).sum())
        changes.append((inserted, len(tokens) + inserted - len(child)))
    inserted, deleted = (sum(column) / len(changes) for column in zip(*changes, strict=True))
    assert abs(inserted - 4.0) < 0.4 and abs(deleted - 4.0) < 0.4  # 40 tokens x rate 0.1
    kept = _insert_delete(tokens, 0.1, 60, generator)
    real = kept[kept != MASK_ID].tolist()
    assert real == sorted(real)  # deletions and insertions never reorder the kept tokens
    assert len(_insert_delete(tokens, 1.0, 40, generator)) <= 40


def test_edits_under_a_template_change_only_free_positions():
    torch.manual_seed(0)
    config = DenoiserConfig(d_model=16, n_layers=1, n_heads=2, d_ff=32, max_len=6)
    model = MaskedDiffusion(AminoAcidTokenizer(), config).eval()
    template = Template.from_string(model.tokenizer, "MK--W-")
    children = model.infill(
        ["MKAAWA"], 200, 0.5, 4, torch.Generator().manual_seed(0), template=template
    )
    assert len(children) == 200 and all(len(c) == 6 for c in children)
    assert all(c[:2] == "MK" and c[4] == "W" for c in children)
    assert len({c[2:4] + c[5] for c in children}) > 20  # the free positions were redrawn


def test_splice_joins_a_proper_prefix_to_a_proper_suffix_at_every_cut():
    generator = torch.Generator().manual_seed(3)
    first, second = torch.arange(2, 7), torch.arange(12, 18)  # five and six tokens
    seen = set()
    for _ in range(2_000):
        child = _splice(first, second, 60, generator).tolist()
        cut = sum(token < 12 for token in child)
        assert child[:cut] == first[:cut].tolist() and 1 <= cut <= 4
        suffix = child[cut:]
        assert 1 <= len(suffix) <= 5 and suffix == second[len(second) - len(suffix) :].tolist()
        seen.add((cut, len(suffix)))
    assert len(seen) == 20  # every pair of inner cuts, none favoured out of existence
    assert len(_splice(first, second, 3, generator)) <= 3
    aligned = {tuple(_splice(first, second[:5], 60, generator).tolist()) for _ in range(200)}
    assert aligned == {tuple(range(2, 2 + cut)) + tuple(range(12 + cut, 17)) for cut in range(1, 5)}


def _mismatches_from_two_runs(design: str, first: str, second: str, inner: bool = True) -> int:
    """Fewest letters to change for `design` to read first^i second^j (i, j >= 1 if `inner`)."""
    return min(
        sum(a != b for a, b in zip(design, first * cut + second * (len(design) - cut), strict=True))
        for cut in (range(1, len(design)) if inner else range(len(design) + 1))
    )


def test_crossover_children_join_two_parents_and_mend_one_token():
    """Crossover 1 with a tiny mask: every child is a run of one parent's letter then the
    other's, up to the one redrawn token, in both orders and at many lengths; crossover 0
    keeps the parent's length."""
    torch.manual_seed(0)
    config = DenoiserConfig(d_model=16, n_layers=1, n_heads=2, d_ff=32, max_len=16)
    model = MaskedDiffusion(AminoAcidTokenizer(), config).eval()
    parents = ["AAAAAAAA", "WWWWWWWWWW"]
    generator = torch.Generator().manual_seed(4)
    children = model.infill(parents, 400, 1e-6, 4, generator, indel_rate=0.0, crossover=1.0)
    assert len(children) == 400
    for child in children:
        assert (
            min(
                _mismatches_from_two_runs(child, "A", "W"),
                _mismatches_from_two_runs(child, "W", "A"),
            )
            <= 1
        )
    assert {child[0] for child in children} >= {"A", "W"}
    assert len({len(child) for child in children}) >= 10  # 2..16 letters: cuts vary
    plain = model.infill(parents, 100, 1e-6, 4, generator, indel_rate=0.0, crossover=0.0)
    assert all(len(child) == len(parents[row % 2]) for row, child in enumerate(plain))
    for row, child in enumerate(plain):  # children are dealt to the parents in turn
        assert sum(a != b for a, b in zip(child, parents[row % 2], strict=True)) <= 1


def test_crossover_under_a_template_cuts_aligned_and_keeps_pinned_positions():
    torch.manual_seed(0)
    config = DenoiserConfig(d_model=16, n_layers=1, n_heads=2, d_ff=32, max_len=8)
    model = MaskedDiffusion(AminoAcidTokenizer(), config).eval()
    template = Template.from_string(model.tokenizer, "M------K")
    parents = ["MAAAAAAK", "MWWWWWWK"]
    children = model.infill(
        parents, 300, 1e-6, 4, torch.Generator().manual_seed(5), template=template, crossover=1.0
    )
    assert all(len(c) == 8 and c[0] == "M" and c[-1] == "K" for c in children)
    for child in children:  # the same cut in both parents: A's then W's or W's then A's, in place
        middle = child[1:-1]  # a cut next to a pinned end leaves one parent's letters only
        assert (
            min(
                _mismatches_from_two_runs(middle, "A", "W", inner=False),
                _mismatches_from_two_runs(middle, "W", "A", inner=False),
            )
            <= 1
        )
    assert len({child.count("A") for child in children}) >= 5


def test_crossover_rate_is_the_share_of_spliced_children():
    """Parents of 8 and 10 letters: a splice changes the child's length unless the cuts differ by
    exactly 2 (7 of the 63 cut pairs), so with crossover 0.5 the share of children whose length
    is not their parent's is 0.5 x 56/63 = 0.444; edits alone never change it (no indels)."""
    torch.manual_seed(0)
    config = DenoiserConfig(d_model=16, n_layers=1, n_heads=2, d_ff=32, max_len=16)
    model = MaskedDiffusion(AminoAcidTokenizer(), config).eval()
    parents = ["AAAAAAAA", "WWWWWWWWWW"]
    children = model.infill(
        parents, 2_000, 1e-6, 2, torch.Generator().manual_seed(6), indel_rate=0.0, crossover=0.5
    )
    changed = [len(c) != len(parents[row % 2]) for row, c in enumerate(children)]
    assert abs(sum(changed) / len(changed) - 0.5 * 56 / 63) < 0.04
