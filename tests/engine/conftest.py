"""A tiny pretrained checkpoint and campaign settings that run in seconds."""

from __future__ import annotations

import pytest

from molseiko.diffusion.denoiser import DenoiserConfig
from molseiko.diffusion.tokenizer import SelfiesTokenizer
from molseiko.diffusion.training import Pretrainer, TrainConfig
from molseiko.domains.molecule import to_selfies
from molseiko.engine.config import CampaignConfig
from tests.conftest import SMILES


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    selfies = [to_selfies(s) for s in SMILES]
    tokenizer = SelfiesTokenizer.from_selfies(selfies)
    ids = [tokenizer.encode(s) for s in selfies]
    out = tmp_path_factory.mktemp("model") / "tiny.pt"
    config = TrainConfig(
        batch_size=10,
        max_steps=60,
        warmup_steps=5,
        eval_every=1000,
        seed=0,
        denoiser=DenoiserConfig.tiny(),
    )
    Pretrainer(ids, ids[:5], tokenizer, config, out).run(progress=False)
    return out


@pytest.fixture
def tiny_config(tiny_checkpoint):
    def make(**overrides) -> CampaignConfig:
        settings = dict(
            objective="qed",
            budget=30,
            batch_size=10,
            variant="ucb",
            ensemble_size=2,
            ensemble_epochs=5,
            finetune_iterations=2,
            finetune_batch=8,
            finetune_lr=1e-3,
            denoising_steps=4,
            steps_per_update=3,
            model=str(tiny_checkpoint),
            seed=0,
        )
        settings.update(overrides)
        return CampaignConfig(**settings)

    return make
