"""The `molseiko` command line: parse, build the parts, call the library, print."""

from __future__ import annotations

import functools
from pathlib import Path

import typer

from molseiko.errors import MolseikoError

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)


def _one_line_errors(command):
    """Print a MolseikoError as one line and exit 1, instead of a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except MolseikoError as err:
            typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
            raise typer.Exit(1) from None

    return wrapper


@app.command()
@_one_line_errors
def sample(
    n: int = typer.Option(1000, "--n", help="Number of molecules to sample."),
    out: Path = typer.Option(Path("samples.sdf"), help="Output file: .sdf or .csv."),
    model: Path = typer.Option(None, help="Checkpoint (default: the shipped ZINC250k model)."),
    steps: int = typer.Option(32, help="Denoising steps."),
    seed: int = typer.Option(0, help="Random seed."),
    device: str = typer.Option("cpu", help="cpu or cuda."),
    batch_size: int = typer.Option(256, help="Molecules denoised at once."),
):
    """Sample molecules from a pretrained diffusion model and write them with QED, SA, MW, logP."""
    import torch
    from tqdm.auto import tqdm

    from molseiko.diffusion.checkpoint import load_model
    from molseiko.domains.io import write_molecules
    from molseiko.domains.molecule import to_mol
    from molseiko.domains.properties import properties

    if n < 1:
        raise MolseikoError("--n must be at least 1")
    if out.suffix.lower() not in (".sdf", ".csv"):
        raise MolseikoError(f"{out}: unknown output format '{out.suffix}' (use .sdf or .csv)")
    diffusion = load_model(model, device=_device(device))
    generator = torch.Generator(device=diffusion.device).manual_seed(seed)
    with tqdm(total=n, unit="mol", desc="sampling") as bar:
        trajectory = diffusion.sample(n, steps, generator, batch_size, progress=bar.update)
    smiles = diffusion.decode(trajectory)
    tags = [{"id": f"sample_{i:05d}", **properties(to_mol(s))} for i, s in enumerate(smiles)]
    written = write_molecules(out, smiles, tags)
    valid = sum(s is not None for s in smiles)
    typer.echo(f"{valid}/{n} valid molecules; wrote {written} records to {out}")


@app.command()
@_one_line_errors
def pretrain(
    data: Path = typer.Option(..., help="SMILES file: CSV with a 'smiles' column, or .smi."),
    out: Path = typer.Option(..., help="Where to write the model checkpoint (.pt)."),
    test_idx: Path = typer.Option(None, help="JSON list of 0-based rows to hold out."),
    preset: str = typer.Option("zinc_small", help="Model size preset: zinc_small or tiny."),
    max_steps: int = typer.Option(200_000, help="Stop after this many optimizer steps."),
    max_minutes: float = typer.Option(110.0, help="Stop after this much wall time."),
    batch_size: int = typer.Option(128),
    lr: float = typer.Option(1e-3),
    eval_every: int = typer.Option(500, help="Steps between validation losses."),
    checkpoint_minutes: float = typer.Option(10.0, help="Minutes between resumable checkpoints."),
    seed: int = typer.Option(0),
    device: str = typer.Option("cpu", help="cpu or cuda."),
    resume: bool = typer.Option(False, help="Continue from OUT.train.pt if present."),
    skip_invalid: bool = typer.Option(False, help="Drop invalid SMILES instead of stopping."),
):
    """Pretrain a SELFIES masked-diffusion model on a SMILES file."""
    import torch

    from molseiko.diffusion.denoiser import DenoiserConfig
    from molseiko.diffusion.training import Pretrainer, TrainConfig, load_training_data

    presets = {"zinc_small": DenoiserConfig.zinc_small, "tiny": DenoiserConfig.tiny}
    if preset not in presets:
        raise MolseikoError(f"unknown preset {preset!r} (known: {', '.join(presets)})")
    torch.manual_seed(seed)
    prepared = load_training_data(data, test_idx, skip_invalid, seed=seed)
    denoiser = presets[preset]()
    if prepared.summary["max_length"] > denoiser.max_len:
        raise MolseikoError(
            f"{data}: molecules up to {prepared.summary['max_length']} tokens, but preset "
            f"{preset!r} covers {denoiser.max_len}"
        )
    config = TrainConfig(
        batch_size=batch_size,
        lr=lr,
        max_steps=max_steps,
        max_minutes=max_minutes,
        eval_every=eval_every,
        checkpoint_minutes=checkpoint_minutes,
        seed=seed,
        denoiser=denoiser,
        warmup_steps=min(500, max(1, max_steps // 10)),
    )
    typer.echo(
        f"{prepared.summary['train']} training and {prepared.summary['valid']} held-out molecules, "
        f"vocabulary {prepared.summary['vocab_size']}"
    )
    trainer = Pretrainer(
        prepared.train,
        prepared.valid,
        prepared.tokenizer,
        config,
        out,
        _device(device),
        meta={**prepared.summary, "preset": preset, "seed": seed},
    )
    if resume and trainer.resume():
        typer.echo(f"resuming from step {trainer.step}")
    row = trainer.run()
    typer.echo(f"step {row['step']}: valid loss {row['valid_loss']}; wrote {out}")


@app.command("evaluate-model")
@_one_line_errors
def evaluate_model(
    model: Path = typer.Option(None, help="Checkpoint (default: the shipped ZINC250k model)."),
    n: int = typer.Option(10_000, "--n", help="Number of molecules to sample."),
    steps: int = typer.Option(32, help="Denoising steps."),
    seed: int = typer.Option(0),
    data: Path = typer.Option(Path("data/zinc250k/zinc250k.csv.gz"), help="Reference SMILES file."),
    test_idx: Path = typer.Option(
        Path("data/zinc250k/valid_idx_zinc250k.json"), help="JSON list of held-out rows."
    ),
    fcd: bool = typer.Option(True, help="Compute the Fréchet ChemNet Distance."),
    out: Path = typer.Option(None, help="Also write the metrics as a one-row CSV."),
    device: str = typer.Option("cpu", help="cpu or cuda."),
):
    """Sample from a checkpoint and report validity, uniqueness, novelty, FCD and descriptor
    Wasserstein distances against the held-out molecules."""
    import torch
    from tqdm.auto import tqdm

    from molseiko.diffusion.checkpoint import load_model
    from molseiko.evaluation import load_reference, sample_quality

    diffusion = load_model(model, device=_device(device))
    reference = load_reference(data, test_idx)
    generator = torch.Generator(device=diffusion.device).manual_seed(seed)
    with tqdm(total=n, unit="mol", desc="sampling") as bar:
        trajectory = diffusion.sample(n, steps, generator, progress=bar.update)
    quality = sample_quality(
        diffusion.decode(trajectory),
        reference.test,
        reference.training_keys,
        reference.test_properties,
        compute_fcd=fcd,
    )
    row = quality.as_row()
    for key, value in row.items():
        typer.echo(f"{key:>12}: {value:.4f}" if isinstance(value, float) else f"{key:>12}: {value}")
    if out is not None:
        import pandas as pd

        pd.DataFrame([row]).to_csv(out, index=False)
        typer.echo(f"wrote {out}")


def _device(name: str) -> str:
    import torch

    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise MolseikoError(f"unknown device {name!r} (use cpu or cuda)")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise MolseikoError("--device cuda requested but no CUDA GPU is visible to torch")
    return name


if __name__ == "__main__":
    app()
