"""Pretraining a masked-diffusion model on SMILES: data preparation, the loop, resumable state."""

from __future__ import annotations

import copy
import csv
import json
import math
import operator
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from molseiko.diffusion.checkpoint import atomic_save, build_model, model_from_state, model_state
from molseiko.diffusion.denoiser import DenoiserConfig
from molseiko.diffusion.graph import GraphDenoiserConfig
from molseiko.diffusion.graph_vocab import AtomBondVocabulary
from molseiko.diffusion.tokenizer import SelfiesTokenizer
from molseiko.domains.molecule import to_selfies
from molseiko.errors import MolseikoError


@dataclass
class TrainConfig:
    """Optimisation settings of `molseiko pretrain`."""

    batch_size: int = 128
    """Molecules per step."""
    lr: float = 1e-3
    """Peak AdamW learning rate."""
    weight_decay: float = 0.01
    warmup_steps: int = 500
    """Linear warm-up before the cosine decay."""
    max_steps: int = 200_000
    """Stop after this many steps ..."""
    max_minutes: float = 110.0
    """... or after this much wall time, whichever comes first (the cosine decay follows both)."""
    ema_decay: float = 0.999
    """Exponential moving average of weights; the saved model holds the averaged weights."""
    eval_every: int = 500
    """Steps between validation losses."""
    eval_size: int = 2000
    """Held-out molecules in each validation loss."""
    checkpoint_minutes: float = 10.0
    """Wall time between resumable checkpoints."""
    seed: int = 0
    denoiser: DenoiserConfig | GraphDenoiserConfig = field(
        default_factory=DenoiserConfig.zinc_small
    )
    """The model: a token denoiser (SELFIES, amino acids) or a graph denoiser."""


@dataclass
class EncodedSet:
    """Molecules as token id lists, with their source rows."""

    ids: list[list[int]]
    """Token ids per molecule."""
    rows: list[int]
    """Row of each molecule in the source file."""


def encode_smiles(
    smiles: list[str], skip_invalid: bool, source: str
) -> tuple[list[str], list[int]]:
    """SELFIES of each SMILES; an invalid one is an error naming its row, or skipped if asked."""
    selfies, rows = [], []
    for row, smi in enumerate(smiles):
        encoded = to_selfies(smi)
        if encoded is None:
            if skip_invalid:
                continue
            raise MolseikoError(
                f"{source}: invalid SMILES at row {row + 1}: {smi!r} "
                "(fix it or pass --skip-invalid)"
            )
        selfies.append(encoded)
        rows.append(row)
    if not selfies:
        raise MolseikoError(f"{source}: no valid molecules")
    return selfies, rows


def length_bucketed_batches(
    lengths: torch.Tensor, batch_size: int, generator: torch.Generator
) -> list[torch.Tensor]:
    """One epoch of index batches: shuffled, then sorted by length within windows of 50 batches
    so that padding stays small, then the batches shuffled."""
    order = torch.randperm(len(lengths), generator=generator)
    window = batch_size * 50
    batches = []
    for start in range(0, len(order), window):
        chunk = order[start : start + window]
        chunk = chunk[torch.argsort(lengths[chunk], stable=True)]
        batches.extend(chunk.split(batch_size))
    permutation = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in permutation]


def learning_rate(config: TrainConfig, step: int, elapsed_minutes: float) -> float:
    """Warm-up, then cosine decay to 10% over whichever budget (steps or time) runs out first."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = max(step / config.max_steps, elapsed_minutes / config.max_minutes)
    return config.lr * (0.1 + 0.45 * (1 + math.cos(math.pi * min(progress, 1.0))))


class Pretrainer:
    """Trains a diffusion model (token sequences or graphs, as `config.denoiser` says) with
    periodic, resumable checkpoints.

    Writes `out` (the EMA model, loadable by `load_model`), `out.train.pt` (resumable state) and
    `out.curve.csv` (the training curve).
    """

    def __init__(
        self,
        train: list[list[int]],
        valid: list[list[int]],
        tokenizer: SelfiesTokenizer,
        config: TrainConfig,
        out: str | Path,
        device: str = "cpu",
        meta: dict | None = None,
    ):
        self.train, self.valid, self.config = train, valid, config
        self.out = Path(out)
        self.state_path = self.out.with_name(self.out.name + ".train.pt")
        self.curve_path = self.out.with_name(self.out.stem + ".curve.csv")
        self.device = torch.device(device)
        self.meta = meta or {}
        torch.manual_seed(config.seed)
        self.model = build_model(tokenizer, config.denoiser).to(self.device)
        self.model.fit_length_distribution(
            torch.tensor([len(s) for s in train], device=self.device)
        )
        self.ema = copy.deepcopy(self.model).eval()
        self.optimizer = torch.optim.AdamW(
            [p for n, p in self.model.named_parameters() if n != "length_logits"],
            lr=config.lr,
            weight_decay=config.weight_decay,
        )
        self.generator = torch.Generator().manual_seed(config.seed)
        self.step, self.elapsed = 0, 0.0

    def resume(self) -> bool:
        """Load `out.train.pt` if it exists; True when training continues from it."""
        if not self.state_path.is_file():
            return False
        state = torch.load(self.state_path, map_location="cpu", weights_only=True)
        if state["model"]["tokenizer"] != self.model.tokenizer.state_dict():
            raise MolseikoError(f"{self.state_path}: its vocabulary differs from this data's")
        self.model.load_state_dict(model_from_state(state["model"]).state_dict())
        self.ema.load_state_dict(model_from_state(state["ema"]).state_dict())
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.step, self.elapsed = state["step"], state["elapsed"]
        return True

    def save(self) -> None:
        meta = {
            **self.meta,
            "step": self.step,
            "minutes": round(self.elapsed / 60, 2),
            "train_config": json.dumps(asdict(self.config)),
        }
        atomic_save(
            {
                "model": model_state(self.model, meta),
                "ema": model_state(self.ema, meta),
                "optimizer": self.optimizer.state_dict(),
                "generator": self.generator.get_state(),
                "step": self.step,
                "elapsed": self.elapsed,
            },
            self.state_path,
        )
        atomic_save(model_state(self.ema, meta), self.out)

    @torch.no_grad()
    def validation_loss(self) -> float:
        """Negative ELBO per token of the EMA model on a fixed held-out subset, fixed noise."""
        generator = torch.Generator(device=self.device).manual_seed(1234)
        subset = self.valid[: self.config.eval_size]
        total, units = 0.0, 0
        for start in range(0, len(subset), 256):
            batch, count = self.model.collate(subset[start : start + 256])
            loss = self.ema.loss(*batch, generator)
            total += loss.loss.item() * count
            units += count
        return total / max(units, 1)

    def run(self, progress: bool = True) -> dict:
        """Train until a budget runs out; returns the last curve row."""
        from tqdm.auto import tqdm

        config = self.config
        lengths = torch.tensor([len(s) for s in self.train])
        new_curve = not self.curve_path.is_file() or self.step == 0
        curve = open(self.curve_path, "w" if new_curve else "a", newline="")
        writer = csv.writer(curve)
        if new_curve:
            writer.writerow(["step", "molecules", "minutes", "lr", "train_loss", "valid_loss"])
        bar = tqdm(total=config.max_steps, initial=self.step, disable=not progress, unit="step")
        start = time.monotonic() - self.elapsed
        last_checkpoint = time.monotonic()
        running, row = None, {}
        self.model.train()
        done = False
        while not done:
            for indices in length_bucketed_batches(lengths, config.batch_size, self.generator):
                self.elapsed = time.monotonic() - start
                if self.step >= config.max_steps or self.elapsed / 60 >= config.max_minutes:
                    done = True
                    break
                lr = learning_rate(config, self.step, self.elapsed / 60)
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
                batch, _ = self.model.collate([self.train[i] for i in indices])
                loss = self.model.loss(*batch, self._device_generator()).loss
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
                self.optimizer.step()
                self._update_ema()
                self.step += 1
                running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
                bar.update(1)
                bar.set_postfix(loss=f"{running:.3f}", min=f"{self.elapsed / 60:.1f}")
                if self.step % config.eval_every == 0:
                    row = self._log(writer, curve, lr, running)
                if time.monotonic() - last_checkpoint > config.checkpoint_minutes * 60:
                    self.save()
                    last_checkpoint = time.monotonic()
        bar.close()
        if not row or row["step"] != self.step:
            row = self._log(
                writer, curve, learning_rate(config, self.step, self.elapsed / 60), running
            )
        curve.close()
        self.save()
        return row

    def _device_generator(self) -> torch.Generator:
        if self.device.type == "cpu":
            return self.generator
        seed = int(torch.randint(0, 2**62, (1,), generator=self.generator))
        return torch.Generator(device=self.device).manual_seed(seed)

    @torch.no_grad()
    def _update_ema(self) -> None:
        decay = min(self.config.ema_decay, (1 + self.step) / (10 + self.step))
        for ema_param, param in zip(self.ema.parameters(), self.model.parameters(), strict=True):
            ema_param.lerp_(param, 1 - decay)

    def _log(self, writer, handle, lr: float, running: float | None) -> dict:
        row = {
            "step": self.step,
            "molecules": self.step * self.config.batch_size,
            "minutes": round(self.elapsed / 60, 2),
            "lr": lr,
            "train_loss": round(running, 4) if running is not None else math.nan,
            "valid_loss": round(self.validation_loss(), 4) if self.valid else math.nan,
        }
        writer.writerow(row.values())
        handle.flush()
        return row


@dataclass
class TrainingData:
    """Tokenized (or graph-encoded) training and held-out designs."""

    tokenizer: SelfiesTokenizer | AtomBondVocabulary
    train: list
    valid: list
    summary: dict
    """Row counts and sources, recorded in the checkpoint's metadata."""


def load_training_data(
    path: str | Path,
    test_indices: str | Path | None = None,
    skip_invalid: bool = False,
    valid_fraction: float = 0.05,
    seed: int = 0,
) -> TrainingData:
    """Read SMILES, hold out the rows in `test_indices` (a JSON list of 0-based rows) or else a
    random `valid_fraction`, and tokenize with a vocabulary built from the training rows only."""
    from molseiko.domains.io import read_smiles

    smiles = read_smiles(path)
    held_out = held_out_rows(len(smiles), test_indices, valid_fraction, seed)
    selfies, rows = encode_smiles(smiles, skip_invalid, str(path))
    train_selfies = [s for s, r in zip(selfies, rows, strict=True) if r not in held_out]
    valid_selfies = [s for s, r in zip(selfies, rows, strict=True) if r in held_out]
    if not train_selfies:
        raise MolseikoError(f"{path}: every molecule is held out; nothing left to train on")
    tokenizer = SelfiesTokenizer.from_selfies(train_selfies)
    train = [tokenizer.encode(s) for s in train_selfies]
    # A held-out molecule with a symbol unseen in training cannot be scored; drop and count it.
    valid_all = [tokenizer.encode(s) for s in valid_selfies]
    valid = [v for v in valid_all if v is not None]
    summary = {
        "data": str(path),
        "rows": len(smiles),
        "invalid_skipped": len(smiles) - len(selfies),
        "train": len(train),
        "valid": len(valid),
        "valid_out_of_vocabulary": len(valid_all) - len(valid),
        "vocab_size": len(tokenizer),
        "max_length": max(len(s) for s in train),
    }
    return TrainingData(tokenizer, train, valid, summary)


def load_graph_training_data(
    path: str | Path,
    test_indices: str | Path | None = None,
    skip_invalid: bool = False,
    valid_fraction: float = 0.05,
    seed: int = 0,
    max_atoms: int = 40,
    min_type_count: int | None = None,
) -> TrainingData:
    """Read SMILES and hold out rows as `load_training_data` does, then encode molecules as
    graphs over the training rows' atom types (those seen `min_type_count` times; default 100
    from 10,000 training molecules on, else every type seen). Molecules with
    a rarer atom type, more than `max_atoms` atoms, or that do not decode back to themselves are
    left out and counted in the summary."""
    from molseiko.domains.io import read_smiles
    from molseiko.domains.molecule import to_mol

    smiles = read_smiles(path)
    held_out = held_out_rows(len(smiles), test_indices, valid_fraction, seed)
    invalid = [row for row, smi in enumerate(smiles) if to_mol(smi) is None]
    if invalid and not skip_invalid:
        raise MolseikoError(
            f"{path}: invalid SMILES at row {invalid[0] + 1}: {smiles[invalid[0]]!r} "
            "(fix it or pass --skip-invalid)"
        )
    bad = set(invalid)
    train_smiles = [s for r, s in enumerate(smiles) if r not in held_out and r not in bad]
    valid_smiles = [s for r, s in enumerate(smiles) if r in held_out and r not in bad]
    if not train_smiles:
        raise MolseikoError(f"{path}: every molecule is held out; nothing left to train on")
    if min_type_count is None:
        min_type_count = 100 if len(train_smiles) >= 10_000 else 1
    vocabulary = AtomBondVocabulary.from_smiles(train_smiles, min_type_count)
    train_all = [vocabulary.encode(s, max_atoms) for s in train_smiles]
    valid_all = [vocabulary.encode(s, max_atoms) for s in valid_smiles]
    train = [g for g in train_all if g is not None]
    valid = [g for g in valid_all if g is not None]
    if not train:
        raise MolseikoError(f"{path}: no molecule fits the graph vocabulary")
    summary = {
        "data": str(path),
        "rows": len(smiles),
        "invalid_skipped": len(invalid),
        "train": len(train),
        "valid": len(valid),
        "train_not_encoded": len(train_all) - len(train),
        "valid_out_of_vocabulary": len(valid_all) - len(valid),
        "vocab_size": len(vocabulary),
        "atom_types": " ".join(vocabulary.types),
        "max_length": max(len(g) for g in train),
    }
    return TrainingData(vocabulary, train, valid, summary)


def load_sequence_data(
    path: str | Path,
    test_indices: str | Path | None = None,
    skip_invalid: bool = False,
    valid_fraction: float = 0.05,
    seed: int = 0,
    where: str | None = None,
) -> TrainingData:
    """Protein sequences from FASTA (.fasta/.fa, .gz allowed) or a CSV with a `sequence` column;
    held-out rows as in `load_training_data`. A non-standard residue stops it with the record
    and position, unless `skip_invalid` (then it is dropped and counted)."""
    from molseiko.diffusion.tokenizer import AminoAcidTokenizer
    from molseiko.domains.protein import check_sequence

    sequences = read_sequences(path, where)
    held_out = held_out_rows(len(sequences), test_indices, valid_fraction, seed)
    tokenizer = AminoAcidTokenizer()
    train, valid, invalid = [], [], 0
    for row, (record, sequence) in enumerate(sequences):
        try:
            ids = tokenizer.encode(check_sequence(sequence, record))
        except MolseikoError:
            if not skip_invalid:
                raise
            invalid += 1
            continue
        (valid if row in held_out else train).append(ids)
    if not train:
        raise MolseikoError(f"{path}: no sequence left to train on")
    summary = {
        "data": str(path),
        "where": where,
        "rows": len(sequences),
        "invalid_skipped": invalid,
        "train": len(train),
        "valid": len(valid),
        "valid_out_of_vocabulary": 0,
        "vocab_size": len(tokenizer),
        "max_length": max(len(s) for s in train),
    }
    return TrainingData(tokenizer, train, valid, summary)


_COMPARISONS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}


def parse_row_filter(text: str) -> tuple[str, str, float]:
    """`"medianBrightness>=2.5"` -> ("medianBrightness", ">=", 2.5)."""
    match = re.fullmatch(r"\s*([^<>=\s]+)\s*(>=|<=|>|<)\s*([-+0-9.eE]+)\s*", text)
    try:
        return match.group(1), match.group(2), float(match.group(3))
    except (AttributeError, ValueError):
        raise MolseikoError(
            f"row filter {text!r}: write COLUMN>=NUMBER (or <=, >, <), e.g. medianBrightness>=2.5"
        ) from None


def read_sequences(path: str | Path, where: str | None = None) -> list[tuple[str, str]]:
    """(where, sequence) pairs from FASTA or from a CSV/TSV `sequence` column; `where`
    (`COLUMN>=NUMBER`, tables only) keeps the rows whose value passes, e.g. the fluorescent
    variants of a landscape. A row with a blank or non-numeric value there is dropped."""
    path = Path(path)
    name = path.name.lower().removesuffix(".gz")
    if name.endswith((".fasta", ".fa", ".faa")):
        from molseiko.domains.protein import read_fasta

        if where is not None:
            raise MolseikoError(f"{path}: a row filter needs a table with value columns, not FASTA")
        return [
            (f"{path} record {i + 1} ({header.split()[0] if header else ''})", seq)
            for i, (header, seq) in enumerate(read_fasta(path))
        ]
    from molseiko.oracles.lab import read_table

    header, rows = read_table(path)
    if "sequence" not in header:
        raise MolseikoError(
            f"{path}: no 'sequence' column (columns: {', '.join(header)}); or give a FASTA file"
        )
    at = header.index("sequence")
    keep = _row_filter(path, header, where)
    return [(f"{path}:{line}", row[at]) for line, row in enumerate(rows, start=2) if keep(row)]


def _row_filter(path: Path, header: list[str], where: str | None):
    if where is None:
        return lambda row: True
    column, op, threshold = parse_row_filter(where)
    if column not in header:
        raise MolseikoError(f"{path}: no column {column!r} to filter on ({', '.join(header)})")
    at, compare = header.index(column), _COMPARISONS[op]

    def keep(row: list[str]) -> bool:
        try:
            value = float(row[at])
        except ValueError:
            return False
        return value == value and compare(value, threshold)

    return keep


def is_sequence_data(path: str | Path) -> bool:
    """FASTA, or a table with a `sequence` column (and no `smiles` column)."""
    path = Path(path)
    name = path.name.lower().removesuffix(".gz")
    if name.endswith((".fasta", ".fa", ".faa")):
        return True
    if name.endswith(".smi"):
        return False
    try:
        from molseiko.oracles.lab import read_table

        header, _ = read_table(path)
    except MolseikoError:
        return False
    lowered = [h.lower() for h in header]
    return "sequence" in lowered and "smiles" not in lowered


def held_out_rows(
    rows: int, test_indices: str | Path | None, valid_fraction: float, seed: int
) -> set[int]:
    """The rows listed in `test_indices` (a JSON list of 0-based rows), or else a seeded random
    `valid_fraction` of the `rows`."""
    from molseiko.domains.io import read_row_indices

    if test_indices is not None:
        return read_row_indices(test_indices)
    permutation = torch.randperm(rows, generator=torch.Generator().manual_seed(seed))
    return set(permutation[: int(rows * valid_fraction)].tolist())
