"""Protein sequences: the 20 standard amino acids, validation with clear messages, FASTA I/O."""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Sequence
from pathlib import Path

from molseiko.errors import MolseikoError

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
"""The 20 standard residues, one-letter codes, alphabetical."""
_STANDARD = frozenset(AMINO_ACIDS)
_NAMES = {"B": "Asx", "Z": "Glx", "X": "unknown", "U": "selenocysteine", "O": "pyrrolysine"}


def canonical_sequence(sequence: str | None) -> str | None:
    """Upper-case sequence of standard residues; None if empty or any letter is non-standard."""
    if sequence is None:
        return None
    sequence = "".join(sequence.split()).upper()
    if not sequence or not set(sequence) <= _STANDARD:
        return None
    return sequence


def check_sequence(sequence: str, where: str = "sequence") -> str:
    """The canonical sequence, or a one-line error naming the first bad letter and its position."""
    cleaned = "".join(str(sequence).split()).upper()
    if not cleaned:
        raise MolseikoError(f"{where}: empty sequence")
    for position, letter in enumerate(cleaned, start=1):
        if letter not in _STANDARD:
            what = "a stop codon" if letter == "*" else _NAMES.get(letter, "not an amino acid")
            raise MolseikoError(
                f"{where}: residue {position} is {letter!r} ({what}); only the 20 standard amino "
                f"acids ({AMINO_ACIDS}) are supported"
            )
    return cleaned


def read_fasta(path: str | Path) -> list[tuple[str, str]]:
    """(header, sequence) records of a FASTA file (.gz allowed); one-line errors for a missing
    file, no records, or sequence lines before the first header."""
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt") as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        raise MolseikoError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise MolseikoError(f"{path}: not a text FASTA file") from None
    records: list[tuple[str, list[str]]] = []
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line:
            continue
        if line.startswith(">"):
            records.append((line[1:].strip(), []))
        elif not records:
            raise MolseikoError(f"{path}:{number}: sequence before the first '>' header")
        else:
            records[-1][1].append(line)
    if not records:
        raise MolseikoError(f"{path}: no FASTA records")
    return [(header, "".join(parts)) for header, parts in records]


def write_fasta(path: str | Path, sequences: Sequence[str | None], tags: Iterable[dict]) -> int:
    """FASTA with informative headers: `>ID key=value ...` (e.g. `>r03_0007 score=0.71 unc=0.05`).
    Missing sequences are skipped; returns the number of records written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with open(path, "w") as handle:
        for index, (sequence, tag) in enumerate(zip(sequences, tags, strict=True)):
            if not sequence:
                continue
            name = str(tag.get("id", f"seq{index:05d}"))
            fields = " ".join(
                f"{key}={_fmt(value)}" for key, value in tag.items() if key != "id" and value != ""
            )
            handle.write(f">{name} {fields}".rstrip() + "\n")
            for start in range(0, len(sequence), 60):
                handle.write(sequence[start : start + 60] + "\n")
            written += 1
    return written


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace(" ", "_")
