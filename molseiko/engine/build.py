"""Where strings become objects: a CampaignConfig turned into a ready Campaign."""

from __future__ import annotations

import copy
import os
from dataclasses import replace
from pathlib import Path

from molseiko.diffusion.checkpoint import load_model
from molseiko.domains.base import DEFAULT_OPERATORS, get_domain
from molseiko.engine.acquisition import BootstrapMax, Greedy, Thompson, UpperConfidenceBound
from molseiko.engine.campaign import Campaign
from molseiko.engine.config import MODEL_FREE, CampaignConfig, check_device
from molseiko.engine.finetune import FinetuneConfig, PolicyGradientFinetuner
from molseiko.errors import MolseikoError
from molseiko.oracles.parallel import parallel
from molseiko.reward.ensemble import EnsembleConfig, RewardEnsemble, SequenceEnsemble

DEFAULT_GRAPH_CROSSOVER = 0.5
"""Share of the pool crossed from the best measured molecules when the config leaves it at -1."""
DEFAULT_INFILL = 0.5
"""Share of what crossover leaves that is edited by the policy when the config leaves it at -1
(the rest is sampled fresh): 0.5 of the pool without crossover, 0.25 with the default's."""
DEFAULT_CROSSOVER = 0.5
"""Share of those edits that splice two parents first, when the config leaves it at -1."""
SAVED_KEYS = ("objective", "budget", "batch_size", "variant", "seed")
"""Keys every saved config.toml has had since the first release: one without them was cut short
(a crash, an edit) and would continue another campaign on this ledger."""


def default_run_dir(config: CampaignConfig) -> Path:
    objective = Path(config.objective.replace(":", "_")).stem
    return Path("runs") / f"{objective}-{config.variant}-{config.seed}"


def acquisition_for(config: CampaignConfig):
    """The variant's optimism; None for the variants that rank nothing (pretrained, online_pg)."""
    if config.variant in MODEL_FREE:
        return None
    if config.variant in ("ucb", "non_adaptive"):
        return UpperConfidenceBound(config.bonus, sequential=config.select == "sequential")
    return {"greedy": Greedy, "bootstrap": BootstrapMax, "thompson": Thompson}[config.variant]()


def build_campaign(config: CampaignConfig, run_dir: str | Path | None = None) -> Campaign:
    """All the parts of a campaign from its settings; writes the resolved config.toml."""
    run_dir = Path(run_dir or config.out or default_run_dir(config))
    check_device(config.device, available=True)  # whichever way the device came (file, flag)
    oracle = parallel(config.objective, config.scheduler, config.oracle_chunk)
    policy = load_model(config.model or None, device=config.device)
    domain = get_domain(policy.tokenizer.domain, config.crossover_operators)  # fails early
    saved = run_dir / "config.toml"
    previous = CampaignConfig.from_saved(saved, SAVED_KEYS) if saved.is_file() else None
    # Keys it lacks were read as PREDATING (the run did without); crossovers saved before their
    # operators could be chosen were the acyclic cut, the only one then.
    if previous is not None and not previous.crossover_operators and previous.graph_crossover > 0:
        previous = replace(previous, crossover_operators="acyclic")
    # A default (-1) is as the run did so far; else cross molecules, and edit where the model can.
    if config.graph_crossover == -1.0:
        default = DEFAULT_GRAPH_CROSSOVER if domain.crossover else 0.0
        if config.infill != -1.0:  # the user's edits keep their share
            default = min(default, round(1.0 - config.infill, 6))
        config = replace(config, graph_crossover=previous.graph_crossover if previous else default)
    if not config.crossover_operators and config.graph_crossover > 0:
        default = DEFAULT_OPERATORS[domain.name]  # as the run did so far, else the domain's own
        config = replace(
            config, crossover_operators=previous.crossover_operators if previous else default
        )
    if config.infill == -1.0:
        default = DEFAULT_INFILL * (1.0 - config.graph_crossover)
        default = default if hasattr(policy, "infill") else 0.0
        config = replace(config, infill=previous.infill if previous else default)
    if config.infill_crossover == -1.0:
        default = DEFAULT_CROSSOVER if config.infill > 0 else 0.0
        config = replace(
            config, infill_crossover=previous.infill_crossover if previous else default
        )
    protein = policy.tokenizer.domain == "protein"
    if protein:  # sequences have no RDKit descriptors
        config = replace(config, ensemble_descriptors=False)
    ensemble = finetuner = None
    if config.variant not in MODEL_FREE:
        ensemble = (SequenceEnsemble if protein else RewardEnsemble)(
            EnsembleConfig(
                members=config.ensemble_size,
                max_epochs=config.ensemble_epochs,
                descriptors=config.ensemble_descriptors,
                seed=config.seed,
            ),
            device=config.device,
        )
    if config.variant != "pretrained" and config.finetune_iterations > 0:
        finetuner = PolicyGradientFinetuner(
            copy.deepcopy(policy),
            FinetuneConfig(
                alpha=config.alpha,
                beta=config.beta,
                iterations=config.finetune_iterations,
                batch_size=config.finetune_batch,
                denoising_steps=config.denoising_steps,
                steps_per_update=config.steps_per_update,
                lr=config.finetune_lr,
            ),
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    if getattr(oracle, "poses", False) is None:  # an oracle that can keep poses (docking)
        oracle.poses = run_dir / "poses"
    if previous is not None and not previous.same_campaign(config):
        raise MolseikoError(
            f"{run_dir} holds a campaign with other settings; use --resume or --out"
        )
    # The Campaign takes the run's lock first: a refused second process writes nothing.
    campaign = Campaign(
        policy, oracle, config, run_dir, ensemble, acquisition_for(config), finetuner
    )
    text = config.to_toml()
    if not saved.is_file() or saved.read_text() != text:  # atomic: a kill leaves old or new
        tmp = saved.with_name(saved.name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, saved)
    return campaign
