"""Saving and loading diffusion checkpoints (plain tensors and builtins, weights_only): token
(SELFIES, amino-acid) and graph models, told apart by the checkpoint's format string."""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path

import torch

from molseiko.diffusion.denoiser import DenoiserConfig
from molseiko.diffusion.graph import GraphDenoiserConfig, GraphDiffusion
from molseiko.diffusion.masked import MaskedDiffusion
from molseiko.diffusion.tokenizer import tokenizer_from_state
from molseiko.errors import MolseikoError

FORMAT = "molseiko.masked_diffusion.selfies/1"
GRAPH_FORMAT = GraphDiffusion.checkpoint_format
DiffusionModel = MaskedDiffusion | GraphDiffusion
DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "data" / "models" / "selfies_zinc250k.pt"


def atomic_save(obj: dict, path: str | Path) -> None:
    """torch.save through a temporary file, so a kill never leaves a half-written checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def build_model(tokenizer, config: DenoiserConfig | GraphDenoiserConfig) -> DiffusionModel:
    """A fresh model of the family that `config` describes."""
    if isinstance(config, GraphDenoiserConfig):
        return GraphDiffusion(tokenizer, config)
    return MaskedDiffusion(tokenizer, config)


def model_state(model: DiffusionModel, meta: dict | None = None) -> dict:
    """Everything needed to rebuild `model`."""
    return {
        "format": GRAPH_FORMAT if isinstance(model, GraphDiffusion) else FORMAT,
        "config": asdict(model.config),
        "tokenizer": model.tokenizer.state_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "meta": meta or {},
    }


def save_model(model: DiffusionModel, path: str | Path, meta: dict | None = None) -> None:
    atomic_save(model_state(model, meta), path)


def model_from_state(state: dict) -> DiffusionModel:
    configs = {FORMAT: DenoiserConfig, GRAPH_FORMAT: GraphDenoiserConfig}
    if state.get("format") not in configs:
        raise MolseikoError(f"not a molseiko diffusion checkpoint (format {state.get('format')!r})")
    tokenizer = tokenizer_from_state(state["tokenizer"])
    model = build_model(tokenizer, configs[state["format"]](**state["config"]))
    model.load_state_dict(state["state_dict"])
    return model


def _read_state(path: str | Path | None) -> dict:
    path = Path(path) if path is not None else DEFAULT_MODEL
    if not path.is_file():
        raise MolseikoError(f"{path}: no such checkpoint (train one with `molseiko pretrain`)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a corrupt or foreign file: one line, not a traceback
        raise MolseikoError(f"{path}: cannot read checkpoint ({err.__class__.__name__})") from None
    if "model" in state and "format" not in state:  # a training state written by `pretrain`
        state = state["model"]
    return state


def load_model(
    path: str | Path | None = None, device: str | torch.device = "cpu"
) -> DiffusionModel:
    """Load a checkpoint (default: the shipped ZINC250k model) in eval mode on `device`."""
    return model_from_state(_read_state(path)).to(device).eval()


def checkpoint_domain(path: str | Path | None = None) -> str:
    """The design domain ("molecule" or "protein") of a checkpoint, without building the model."""
    state = _read_state(path)
    try:
        return tokenizer_from_state(state["tokenizer"]).domain
    except (KeyError, ValueError) as err:
        raise MolseikoError(f"{path}: not a molseiko checkpoint ({err})") from None
