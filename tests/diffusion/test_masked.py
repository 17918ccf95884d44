import itertools
import math
from collections import Counter

import pytest
import torch

from molseiko.diffusion.checkpoint import load_model, save_model
from molseiko.diffusion.denoiser import DenoiserConfig
from molseiko.diffusion.masked import MaskedDiffusion
from molseiko.diffusion.schedule import LogLinearSchedule
from molseiko.diffusion.tokenizer import MASK_ID, PAD_ID, SelfiesTokenizer
from molseiko.diffusion.trajectory import Trajectory
from molseiko.domains.molecule import to_selfies
from tests.conftest import SMILES, all_paths, design_key

STEPS = 2


def test_schedule_keeps_masked_share_equal_to_t():
    q = LogLinearSchedule().reveal_probabilities(8)
    still_masked = torch.cumprod(1 - q, 0)
    assert torch.allclose(still_masked, 1 - torch.arange(1, 9) / 8, atol=1e-6)
    assert q[-1] == 1.0


def test_path_probabilities_sum_to_one(toy_model):
    paths = all_paths()
    with torch.no_grad():
        log_probs = toy_model.log_probs(paths)
    assert log_probs.shape == (len(paths), STEPS + 1)
    assert torch.exp(log_probs.sum(-1)).sum().item() == pytest.approx(1.0, abs=1e-5)


def test_sampler_matches_scored_path_distribution(toy_model):
    """The sampler and the scorer are separate code; the design frequencies must agree."""
    paths = all_paths()
    with torch.no_grad():
        path_probs = torch.exp(toy_model.log_probs(paths).sum(-1))
    exact = Counter()
    for row in range(len(paths)):
        exact[design_key(paths, row)] += path_probs[row].item()
    n = 20_000
    samples = toy_model.sample(n, STEPS, torch.Generator().manual_seed(0), batch_size=n)
    counts = Counter(design_key(samples, row) for row in range(n))
    total_variation = 0.5 * sum(abs(counts[k] / n - exact[k]) for k in exact)
    assert set(counts) <= set(exact)
    assert total_variation < 0.02


def test_sampled_paths_are_encoded_like_enumerated_ones(toy_model):
    samples = toy_model.sample(50, STEPS, torch.Generator().manual_seed(1))
    paths = all_paths()
    with torch.no_grad():
        table = {
            (design_key(paths, r), tuple(paths.reveal_step[r].tolist())): lp
            for r, lp in enumerate(toy_model.log_probs(paths).sum(-1).tolist())
        }
        sampled = toy_model.log_probs(samples)
    for row in range(len(samples)):
        key = (design_key(samples, row), tuple(samples.reveal_step[row].tolist()))
        assert sampled[row].sum().item() == pytest.approx(table[key], abs=1e-5)


def test_step_subset_matches_full_columns(toy_model):
    samples = toy_model.sample(20, STEPS, torch.Generator().manual_seed(2))
    with torch.no_grad():
        full = toy_model.log_probs(samples)
        assert torch.allclose(toy_model.log_probs(samples, steps=[2, 0]), full[:, [2, 0]])


def test_kl_to_itself_is_zero_and_matches_brute_force(toy_model):
    other = MaskedDiffusion(toy_model.tokenizer, toy_model.config)
    torch.manual_seed(5)
    with torch.no_grad():
        for parameter in other.parameters():
            parameter.normal_(0.0, 0.7)
    paths = all_paths()
    with torch.no_grad():
        assert toy_model.kl(paths, toy_model).abs().max().item() < 1e-6
        kl = toy_model.kl(paths, other)
    q = toy_model.schedule.reveal_probabilities(STEPS)
    for row in [0, 5, 7, 20, 41]:
        for step in range(1, STEPS + 1):
            assert kl[row, step].item() == pytest.approx(
                brute_force_step_kl(
                    toy_model, other, paths.select([row]), step, q[step - 1].item()
                ),
                abs=1e-5,
            )
    p = torch.softmax(toy_model.length_logits, -1)
    r = torch.softmax(other.length_logits, -1)
    assert kl[0, 0].item() == pytest.approx((p * (p / r).log()).sum().item(), abs=1e-6)


def brute_force_step_kl(model_a, model_b, path: Trajectory, step: int, q: float) -> float:
    """KL between two reverse steps by enumerating every joint outcome of the masked positions."""
    state = path.state_before(step)
    with torch.no_grad():
        probs_a = model_a.token_log_probs(state, path.padding)[0].exp()
        probs_b = model_b.token_log_probs(state, path.padding)[0].exp()
    masked = (state[0] == MASK_ID).nonzero().flatten().tolist()
    outcomes = [MASK_ID, *range(2, probs_a.shape[-1])]
    total = 0.0
    for outcome in itertools.product(outcomes, repeat=len(masked)):
        pa = pb = 1.0
        for position, token in zip(masked, outcome, strict=True):
            if token == MASK_ID:
                pa, pb = pa * (1 - q), pb * (1 - q)
            else:
                pa, pb = (
                    pa * q * probs_a[position, token].item(),
                    pb * q * probs_b[position, token].item(),
                )
        if pa > 0:
            total += pa * math.log(pa / pb)
    return total


def test_reverse_step_keeps_clean_tokens_and_fills_masks(toy_model):
    state = torch.tensor([[3, MASK_ID], [MASK_ID, MASK_ID], [4, PAD_ID]])
    padding = state == PAD_ID
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        nxt, revealed = toy_model.reverse_step(state, padding, 0.5, generator)
        clean = state != MASK_ID
        assert torch.equal(nxt[clean], state[clean])
        assert torch.equal(revealed, (state == MASK_ID) & (nxt != MASK_ID))
        assert (nxt[revealed] >= 2).all()
    final, _ = toy_model.reverse_step(state, padding, 1.0, generator)
    assert not (final == MASK_ID).any() and torch.equal(final[padding], state[padding])


def test_log_probs_are_differentiable(toy_model):
    samples = toy_model.sample(8, STEPS, torch.Generator().manual_seed(3))
    toy_model.log_probs(samples).sum().backward()
    assert toy_model.denoiser.head.weight.grad.abs().sum() > 0
    assert toy_model.length_logits.grad.abs().sum() > 0


@pytest.fixture
def small_model():
    tokenizer = SelfiesTokenizer.from_selfies(to_selfies(s) for s in SMILES)
    torch.manual_seed(0)
    return MaskedDiffusion(tokenizer, DenoiserConfig.tiny())


def test_loss_decreases_on_tiny_dataset(small_model):
    tokens, lengths = small_model.tokenizer.pad(
        [small_model.tokenizer.from_design(s) for s in SMILES]
    )

    def fixed_noise_loss():
        with torch.no_grad():
            return small_model.loss(tokens, lengths, torch.Generator().manual_seed(9)).loss.item()

    before = fixed_noise_loss()
    optimizer = torch.optim.Adam(small_model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    for _ in range(150):
        loss = small_model.loss(tokens, lengths, generator).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert fixed_noise_loss() < 0.7 * before


def test_loss_only_counts_masked_real_tokens(small_model):
    tokens, lengths = small_model.tokenizer.pad(
        [small_model.tokenizer.from_design(s) for s in SMILES]
    )
    out = small_model.loss(tokens, lengths, torch.Generator().manual_seed(0))
    # Low-discrepancy times average to ~0.5, so about half the real tokens are masked.
    assert 0.3 < out.masked_fraction.item() < 0.7 and torch.isfinite(out.loss)


def test_checkpoint_round_trip(small_model, tmp_path):
    small_model.fit_length_distribution(torch.tensor([3, 3, 5]))
    save_model(small_model, tmp_path / "m.pt")
    loaded = load_model(tmp_path / "m.pt")
    samples = small_model.sample(6, 4, torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(loaded.log_probs(samples), small_model.log_probs(samples), atol=1e-6)
    assert loaded.decode(samples) == small_model.decode(samples)


def test_decode_flags_invalid_designs(small_model):
    tokenizer = small_model.tokenizer
    branch = tokenizer.index["[Branch1]"]
    carbon = tokenizer.index["[C]"]
    paths = Trajectory(
        torch.tensor([[branch, PAD_ID], [carbon, carbon]]),
        torch.tensor([1, 2]),
        torch.ones(2, 2, dtype=torch.long),
        1,
    )
    assert small_model.decode(paths) == [None, "CC"]


def test_local_convolution_ignores_padding_and_old_configs_load():
    from molseiko.diffusion.denoiser import DenoiserConfig, TransformerDenoiser

    torch.manual_seed(0)
    config = DenoiserConfig(d_model=16, n_layers=1, n_heads=2, d_ff=32, max_len=16, conv_kernel=3)
    model = TransformerDenoiser(9, config).eval()
    tokens = torch.tensor([[3, 4, 5, 6]])
    padded = torch.tensor([[3, 4, 5, 6, 0, 0], [3, 4, 5, 6, 7, 8]])
    mask = torch.tensor([[False] * 4 + [True] * 2, [False] * 6])
    alone = model(tokens, torch.zeros(1, 4, dtype=torch.bool))
    together = model(padded, mask)
    torch.testing.assert_close(together[0, :4], alone[0], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(together[1, 3], alone[0, 3])  # a real right neighbour is seen
    saved = {k: v for k, v in vars(DenoiserConfig.zinc_small()).items() if k != "conv_kernel"}
    assert TransformerDenoiser(9, DenoiserConfig(**saved)).local is None
