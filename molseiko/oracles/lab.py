"""Measurements from outside the process: the lab itself (values arrive by `molseiko ingest`) and
assay tables (a CSV of measured values looked up by canonical key, for retrospective campaigns)."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from molseiko.domains.molecule import canonical_smiles
from molseiko.errors import MolseikoError
from molseiko.oracles.base import Oracle

KEY_COLUMNS = ("smiles", "canonical", "canonical_smiles", "sequence")
AGGREGATES = {"median": np.median, "mean": np.mean, "max": np.max, "min": np.min}


class LabOracle(Oracle):
    """The wet lab: it is never called; `molseiko propose` exports batches and `molseiko ingest`
    records what comes back. `direction` says whether high or low raw values are good."""

    cost = "expensive"
    deterministic = False

    def __init__(self, direction: str = "maximize"):
        if direction not in ("maximize", "minimize"):
            raise MolseikoError(f"lab direction must be maximize or minimize, not {direction!r}")
        self.direction = direction
        self.name = "lab" if direction == "maximize" else "lab:minimize"
        self.description = "measured outside molseiko; rounds go by `propose` and `ingest`"

    def measure(self, designs: Sequence[str]):
        raise MolseikoError(
            "a lab campaign gets its values from the lab: use `molseiko propose RUN` and "
            "`molseiko ingest RUN results.csv` instead of `optimize`"
        )


class AssayOracle(Oracle):
    """Values looked up in a measured table by canonical SMILES (or sequence). Blank cells are
    unmeasured; repeated measurements of one design are aggregated (median by default); a
    design missing from the table is a failure ("not in assay table"), never a made-up value."""

    cost = "cheap"

    def __init__(
        self,
        path: str | Path,
        column: str | None = None,
        key_column: str | None = None,
        aggregate: str = "median",
        direction: str = "maximize",
        name: str | None = None,
    ):
        if aggregate not in AGGREGATES:
            raise MolseikoError(f"aggregate must be one of {', '.join(AGGREGATES)}")
        if direction not in ("maximize", "minimize"):
            raise MolseikoError(f"direction must be 'maximize' or 'minimize', not {direction!r}")
        self.path, self.direction = Path(path), direction
        header, rows = read_table(self.path)
        self.key_column = _pick(header, key_column, KEY_COLUMNS, self.path, "key")
        self.column = column or _only_value_column(header, self.key_column, self.path)
        if self.column not in header:
            raise MolseikoError(
                f"{self.path}: no column {self.column!r} (columns: {', '.join(header)})"
            )
        self.sequences = self.key_column.lower() == "sequence"
        self.name = name or f"assay:{self.path.stem}:{self.column}"
        self.description = f"{self.column} from {self.path.name} ({aggregate} of repeats)"
        self.table, self.skipped = self._load(rows, header, AGGREGATES[aggregate])
        if not self.table:
            raise MolseikoError(f"{self.path}: no measured values in column {self.column!r}")

    def _load(self, rows, header, aggregate) -> tuple[dict[str, float], int]:
        key_at, value_at = header.index(self.key_column), header.index(self.column)
        values: dict[str, list[float]] = {}
        skipped = 0
        for line, row in enumerate(rows, start=2):
            if len(row) != len(header):
                raise MolseikoError(
                    f"{self.path}:{line}: {len(row)} fields where the header has {len(header)}"
                )
            cell = row[value_at].strip()
            if not cell:
                continue  # unmeasured
            value = _number(cell)
            if value is None:
                raise MolseikoError(
                    f"{self.path}:{line}: {self.column} = {cell!r} is not a finite number"
                )
            key = self._key(row[key_at])
            if key is None:
                skipped += 1  # an unparsable structure cannot be looked up; counted, not fatal
                continue
            values.setdefault(key, []).append(value)
        return {key: float(aggregate(v)) for key, v in values.items()}, skipped

    def _key(self, design: str) -> str | None:
        design = design.strip()
        if self.sequences:
            from molseiko.domains.protein import canonical_sequence

            return canonical_sequence(design)  # a stop codon or odd letter: not a design
        return canonical_smiles(design) if design else None

    def measure(self, designs: Sequence[str]):
        raw = np.full(len(designs), np.nan)
        failures: list[str | None] = [None] * len(designs)
        for i, design in enumerate(designs):
            key = self._key(design)
            if key is None:
                failures[i] = "invalid SMILES" if not self.sequences else "empty sequence"
            elif key not in self.table:
                failures[i] = "not in assay table"
            else:
                raw[i] = self.table[key]
        return raw, failures


def read_table(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a delimited text file (`,` `;` or tab, sniffed; .gz allowed) with a
    one-line error for a missing, empty or non-UTF-8 file."""
    import gzip

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise MolseikoError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise MolseikoError(f"{path}: is a folder, not a table") from None
    if path.suffix == ".gz":
        try:
            data = gzip.decompress(data)
        except OSError as err:
            raise MolseikoError(f"{path}: not a gzip file ({err})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise MolseikoError(
            f"{path}: not UTF-8 text (byte {err.start}); save it as 'CSV UTF-8'"
        ) from None
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise MolseikoError(f"{path}: empty file (expected a header row)")
    header_line = lines[0]
    delimiter = max(",;\t", key=header_line.count)
    reader = csv.reader(lines, delimiter=delimiter)
    header = [name.strip() for name in next(reader)]
    rows = [row for row in reader if any(cell.strip() for cell in row)]
    return header, rows


def _number(cell: str) -> float | None:
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _pick(header, given, candidates, path, what) -> str:
    if given is not None:
        if given not in header:
            raise MolseikoError(f"{path}: no column {given!r} (columns: {', '.join(header)})")
        return given
    lowered = {name.lower(): name for name in header}
    for name in candidates:
        if name in lowered:
            return lowered[name]
    raise MolseikoError(
        f"{path}: no {what} column (looked for {', '.join(candidates)}; "
        f"columns: {', '.join(header)})"
    )


def _only_value_column(header, key_column, path) -> str:
    others = [name for name in header if name != key_column]
    if len(others) == 1:
        return others[0]
    raise MolseikoError(
        f"{path}: say which column holds the values (`column = ...`); columns: {', '.join(others)}"
    )
