"""The `molseiko` command line: parse, build the parts, call the library, print."""

from __future__ import annotations

import functools
import math
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
    data: Path = typer.Option(
        ...,
        help="CSV with a 'smiles' column or .smi (molecules); FASTA or CSV 'sequence' (proteins).",
    ),
    out: Path = typer.Option(..., help="Where to write the model checkpoint (.pt)."),
    test_idx: Path = typer.Option(None, help="JSON list of 0-based rows to hold out."),
    model: str = typer.Option(
        "sequence",
        help="sequence: masked diffusion over SELFIES or residues; graph: over atoms and bonds "
        "(molecules only).",
    ),
    preset: str = typer.Option(
        None,
        help="Model size: zinc_small (molecules), protein_small, protein_compact (proteins), "
        "zinc_graph (graph model), tiny, graph_tiny.",
    ),
    max_steps: int = typer.Option(200_000, help="Stop after this many optimizer steps."),
    max_minutes: float = typer.Option(110.0, help="Stop after this much wall time."),
    batch_size: int = typer.Option(128),
    lr: float = typer.Option(1e-3),
    eval_every: int = typer.Option(500, help="Steps between validation losses."),
    checkpoint_minutes: float = typer.Option(10.0, help="Minutes between resumable checkpoints."),
    seed: int = typer.Option(0),
    device: str = typer.Option("cpu", help="cpu or cuda."),
    resume: bool = typer.Option(False, help="Continue from OUT.train.pt if present."),
    skip_invalid: bool = typer.Option(False, help="Drop invalid designs instead of stopping."),
    where: str = typer.Option(
        None,
        help="Protein tables: keep rows with COLUMN>=NUMBER (or <=, >, <), e.g. "
        "'medianBrightness>=2.5' for the fluorescent variants. --test-idx then counts kept rows.",
    ),
):
    """Pretrain a masked-diffusion model: SELFIES (or atom-and-bond graphs, --model graph) for
    SMILES data, residues for protein data."""
    import torch

    from molseiko.diffusion.denoiser import DenoiserConfig
    from molseiko.diffusion.graph import GraphDenoiserConfig
    from molseiko.diffusion.training import (
        Pretrainer,
        TrainConfig,
        is_sequence_data,
        load_graph_training_data,
        load_sequence_data,
        load_training_data,
    )

    if model not in ("sequence", "graph"):
        raise MolseikoError(f"unknown --model {model!r} (known: sequence, graph)")
    graph = model == "graph"
    presets = (
        {"zinc_graph": GraphDenoiserConfig.zinc_graph, "graph_tiny": GraphDenoiserConfig.tiny}
        if graph
        else {
            "zinc_small": DenoiserConfig.zinc_small,
            "protein_small": DenoiserConfig.protein_small,
            "protein_compact": DenoiserConfig.protein_compact,
            "tiny": DenoiserConfig.tiny,
        }
    )
    proteins = is_sequence_data(data)
    if graph and proteins:
        raise MolseikoError(f"{data}: graph models are for molecules; this is protein data")
    default = "zinc_graph" if graph else ("protein_small" if proteins else "zinc_small")
    preset = preset or default
    if preset not in presets:
        raise MolseikoError(
            f"unknown preset {preset!r} for a {model} model (known: {', '.join(presets)})"
        )
    torch.manual_seed(seed)
    if graph:
        if where is not None:
            raise MolseikoError(
                "--where filters protein tables; molecule data has no value columns"
            )
        prepared = load_graph_training_data(
            data, test_idx, skip_invalid, seed=seed, max_atoms=presets[preset]().max_atoms
        )
    elif proteins:
        prepared = load_sequence_data(data, test_idx, skip_invalid, seed=seed, where=where)
    elif where is not None:
        raise MolseikoError("--where filters protein tables; molecule data has no value columns")
    else:
        prepared = load_training_data(data, test_idx, skip_invalid, seed=seed)
    denoiser = presets[preset]()
    if prepared.summary["max_length"] > denoiser.max_len:
        raise MolseikoError(
            f"{data}: designs up to {prepared.summary['max_length']} tokens, but preset "
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
        f"{prepared.summary['train']} training and {prepared.summary['valid']} held-out designs, "
        f"vocabulary {prepared.summary['vocab_size']}"
    )
    trainer = Pretrainer(
        prepared.train,
        prepared.valid,
        prepared.tokenizer,
        config,
        out,
        _device(device),
        meta={**prepared.summary, "model": model, "preset": preset, "seed": seed},
    )
    if resume and trainer.resume():
        typer.echo(f"resuming from step {trainer.step}")
    row = trainer.run()
    typer.echo(f"step {row['step']}: valid loss {row['valid_loss']}; wrote {out}")


@app.command("fit-simulator")
@_one_line_errors
def fit_simulator(
    data: Path = typer.Option(..., help="Table with a 'sequence' column and a value column."),
    wild_type: Path = typer.Option(..., help="FASTA whose first record is the wild type."),
    column: str = typer.Option(..., help="The measured value to simulate."),
    out: Path = typer.Option(..., help="Where to write the simulator (.npz)."),
    members: int = typer.Option(5, help="Bootstrap members."),
    epochs: int = typer.Option(300, help="Full-batch optimizer steps per member."),
    holdout: float = typer.Option(0.1, help="Fraction held out to measure the fit first."),
    seed: int = typer.Option(0),
):
    """Fit a global-epistasis landscape simulator (an oracle for retrospective protein campaigns)
    to measured substitution variants of one wild type."""
    from molseiko.domains.protein import read_fasta
    from molseiko.oracles.landscape import fit_from_table

    records = read_fasta(wild_type)
    if not records:
        raise MolseikoError(f"{wild_type}: no FASTA record")
    simulator, report = fit_from_table(data, records[0][1], column, members, epochs, holdout, seed)
    simulator.save(out)
    typer.echo(
        ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in report.items())
    )
    typer.echo(f"wrote {out}")


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
    reference = load_reference(data, test_idx, stereo=diffusion.stereochemistry)
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


@app.command()
@_one_line_errors
def optimize(
    config_file: Path = typer.Argument(None, help="Campaign settings (TOML); flags override."),
    objective: str = typer.Option(
        None, help="Objective: name, tdc:<task>, spec.toml, file.py:Name."
    ),
    budget: int = typer.Option(None, help="Oracle calls (unique designs measured)."),
    batch_size: int = typer.Option(None, help="Designs per round."),
    variant: str = typer.Option(
        None, help="greedy | ucb | bootstrap | thompson | non_adaptive | pretrained | online_pg."
    ),
    alpha: float = typer.Option(None, help="KL weight to the pretrained model."),
    beta: float = typer.Option(None, help="KL weight to the previous round's model."),
    bonus: float = typer.Option(None, help="Exploration bonus weight c (ucb)."),
    model: str = typer.Option(None, help="Diffusion checkpoint (default: shipped model)."),
    seed: int = typer.Option(None),
    device: str = typer.Option(None, help="cpu or cuda."),
    out: Path = typer.Option(
        None, help="Run directory (default runs/<objective>-<variant>-<seed>)."
    ),
    resume: Path = typer.Option(None, help="Continue the campaign in this run directory."),
    scheduler: str = typer.Option(
        None, help="Run oracle calls on processes:N, threads:N or a Dask tcp://host:port."
    ),
):
    """Run a SEIKO campaign: propose, measure, learn the reward, fine-tune, repeat."""
    from molseiko.engine.build import build_campaign, default_run_dir
    from molseiko.engine.campaign import batch_sizes
    from molseiko.engine.config import CampaignConfig

    if device is not None:
        _device(device)
    if resume is not None:
        if not (resume / "config.toml").is_file():
            raise MolseikoError(f"{resume}: not a run directory (no config.toml)")
        given = [config_file, objective, budget, batch_size, variant, alpha, beta, bonus]
        if any(option is not None for option in [*given, model, seed, out]):
            raise MolseikoError(
                f"{resume} already has its settings (config.toml); only --device and "
                "--scheduler apply when resuming"
            )
        config = CampaignConfig.from_saved(
            resume / "config.toml", device=device, scheduler=scheduler
        )
        run_dir = resume
    else:
        overrides = dict(
            objective=objective,
            budget=budget,
            batch_size=batch_size,
            variant=variant,
            alpha=alpha,
            beta=beta,
            bonus=bonus,
            model=model,
            seed=seed,
            device=device,
            scheduler=scheduler,
            out=str(out) if out is not None else None,
        )
        if config_file is not None:
            config = CampaignConfig.from_toml(config_file, **overrides)
        else:
            config = CampaignConfig.from_dict({}, **overrides)
        run_dir = Path(config.out) if config.out else default_run_dir(config)
        if (run_dir / "state.json").is_file():
            raise MolseikoError(f"{run_dir} already holds a campaign: pass --resume {run_dir}")
    from molseiko.oracles.lab import LabOracle
    from molseiko.oracles.registry import resolve_objective

    if isinstance(resolve_objective(config.objective), LabOracle):
        raise MolseikoError(
            "a lab objective is measured outside molseiko: run rounds with "
            f"`molseiko propose {run_dir} --config ...` and `molseiko ingest`"
        )
    with build_campaign(config, run_dir) as campaign:
        _run_campaign(campaign, config, run_dir, len(batch_sizes(config)))


def _spread_note(summary) -> str:
    """How the round's spread compared with its errors, and how much of it the pick used."""
    notes = []
    if math.isfinite(summary.error_over_spread):
        notes.append(f"errors {summary.error_over_spread:.1f}x it")
    factor = summary.spread_factor
    if math.isfinite(summary.spread) and math.isfinite(factor) and factor != 1:
        # Only where the batch was predicted and something picks by the spread.
        notes.append("bonus off" if factor == 0 else f"stretched x{factor:.1f}")
    return f" ({', '.join(notes)})" if notes else ""


def _run_campaign(campaign, config, run_dir: Path, rounds: int) -> None:
    if campaign.completed:
        typer.echo(f"resuming {run_dir} after round {campaign.completed}")
    typer.echo(
        f"objective {campaign.oracle.name}, variant {config.variant}, budget {config.budget} "
        f"in {rounds} rounds -> {run_dir}"
    )

    def show(summary):
        typer.echo(
            f"round {summary.round}/{rounds}  calls {summary.calls}  best {summary.best:.4f}  "
            f"top10 {summary.top10:.4f}  valid {summary.validity:.2f}  "
            f"unique {summary.uniqueness:.2f}  spread {summary.spread:.3f}"
            + _spread_note(summary)
            + f"  KL {summary.kl_pretrained:.2f}  ({summary.seconds_sample:.0f}s sample, "
            f"{summary.seconds_measure:.0f}s measure, {summary.seconds_fit:.0f}s fit, "
            f"{summary.seconds_finetune:.0f}s fine-tune)"
        )

    summaries = campaign.run(progress=show)
    best = summaries[-1] if summaries else None
    if best is not None:
        typer.echo(f"done: best {best.best:.4f}, top-10 mean {best.top10:.4f}")
    typer.echo(f"results in {run_dir}: metrics.csv, rounds/, ledger.sqlite, progress.png")


@app.command()
@_one_line_errors
def propose(
    run_dir: Path = typer.Argument(..., help="The lab campaign's run directory (made if new)."),
    batch: int = typer.Option(None, help="Designs in this batch (default: config batch_size)."),
    config_file: Path = typer.Option(
        None, "--config", help="Settings for a new campaign (TOML); objective lab by default."
    ),
    objective: str = typer.Option(None, help="lab (high is good) or lab:minimize."),
    budget: int = typer.Option(None, help="Designs the lab will measure in all (new run)."),
    model: str = typer.Option(None, help="Diffusion checkpoint (new run; default: shipped)."),
    seed: int = typer.Option(None),
    device: str = typer.Option(None, help="cpu or cuda."),
):
    """Lab in the loop: learn from every result so far and write the next batch to measure."""
    from molseiko.engine import lab
    from molseiko.engine.build import build_campaign
    from molseiko.engine.config import CampaignConfig

    if device is not None:
        _device(device)
    saved = run_dir / "config.toml"
    if saved.is_file():
        given = [objective, budget, model, seed, config_file]
        if any(option is not None for option in given):
            raise MolseikoError(
                f"{run_dir} already has its settings (config.toml); only --batch and --device "
                "apply to later rounds"
            )
        config = CampaignConfig.from_saved(saved, device=device)
    else:
        overrides = dict(objective=objective, budget=budget, model=model, seed=seed, device=device)
        table = {"objective": "lab"}
        if config_file is not None:
            config = CampaignConfig.from_toml(config_file, **overrides)
        else:
            config = CampaignConfig.from_dict(table, **overrides)
        config.out = str(run_dir)
    with build_campaign(config, run_dir) as campaign:
        proposal = lab.propose(campaign, batch)
    if campaign.summaries:
        last = campaign.summaries[-1]
        typer.echo(
            f"learned from {last.calls} measurements (best {last.best:.4g}, top-10 mean "
            f"{last.top10:.4g}); KL to pretrained {last.kl_pretrained:.2f}"
        )
    typer.echo(f"round {proposal.round}: {proposal.size} designs to measure")
    typer.echo(f"  structures: {proposal.structures}")
    typer.echo(f"  fill in:    {proposal.template}  (value, or a reason in failure)")
    if proposal.pending:
        typer.echo(f"  still waiting for {proposal.pending} results from earlier rounds")
    typer.echo(f"then: molseiko ingest {run_dir} {proposal.template}")


@app.command()
@_one_line_errors
def ingest(
    run_dir: Path = typer.Argument(..., help="The lab campaign's run directory."),
    results: Path = typer.Argument(..., help="CSV with id and value (and optional failure)."),
    column: str = typer.Option("value", help="The column holding the measured values."),
):
    """Record the lab's results for proposed designs (all rows valid, or nothing recorded)."""
    from molseiko.engine import lab
    from molseiko.engine.lock import run_lock

    if not (run_dir / "config.toml").is_file():
        raise MolseikoError(f"{run_dir}: not a run directory (no config.toml)")
    with run_lock(run_dir):
        report = lab.ingest(run_dir, results, column)
    rounds = ", ".join(str(r) for r in report.rounds)
    typer.echo(
        f"recorded {report.recorded} results for round {rounds} ({report.failures} failed); "
        f"{report.measured} measured so far, best {report.best:.4g}"
    )
    typer.echo(f"next: molseiko propose {run_dir}")


@app.command()
@_one_line_errors
def score(
    input: Path = typer.Argument(..., help="Molecules: .csv (smiles column), .smi or .sdf."),
    objective: str = typer.Option(
        ..., help="Objective: name, tdc:<task>, spec.toml, file.py:Name."
    ),
    out: Path = typer.Option(..., help="Output .csv or .sdf."),
):
    """Score existing molecules with an objective: raw and transformed values side by side."""
    from molseiko.domains.io import read_smiles, write_molecules
    from molseiko.domains.molecule import canonical_smiles
    from molseiko.oracles.registry import resolve_objective

    oracle = resolve_objective(objective)
    if input.suffix.lower() == ".sdf":
        from rdkit import Chem

        if not input.is_file():
            raise MolseikoError(f"{input}: no such file")
        smiles = [
            Chem.MolToSmiles(m) if m is not None else "" for m in Chem.SDMolSupplier(str(input))
        ]
    else:
        smiles = read_smiles(input)
    keys = [canonical_smiles(s) or s for s in smiles]
    result = oracle(keys)
    tags = []
    for i in range(len(keys)):
        # The oracle's own number under its name; a minimized one (SA, docking energy) also
        # gets the higher-is-better score a campaign maximizes.
        tag = {"id": f"mol_{i:05d}", "input_smiles": smiles[i], oracle.name: result.raw[i]}
        if oracle.direction == "minimize":
            tag[f"{oracle.name}_score"] = result.values[i]
        tag.update({name: column[i] for name, column in result.details.items()})
        tag["failure"] = result.failures[i] or ""
        tags.append(tag)
    write_molecules(out, keys, tags)
    failed = sum(f is not None for f in result.failures)
    typer.echo(f"scored {len(keys)} molecules with {oracle.name} ({failed} failed) -> {out}")


@app.command()
def oracles():
    """List the known objectives."""
    from molseiko.oracles.registry import known_objectives

    for name, description in sorted(known_objectives().items()):
        typer.echo(f"{name:32s} {description}")


def _device(name: str) -> str:
    from molseiko.engine.config import check_device

    return check_device(name, available=True)


if __name__ == "__main__":
    app()
