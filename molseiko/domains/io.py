"""Reading molecule files (CSV with a `smiles` column, .smi) and writing SDF / CSV."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

from rdkit import Chem

from molseiko.domains.molecule import to_mol
from molseiko.errors import MolseikoError


def read_smiles(path: str | Path, column: str = "smiles") -> list[str]:
    """Read SMILES from a CSV (column `column`, gzip allowed) or a .smi file (first field per line).

    Raises MolseikoError for a missing file, an empty file or a missing column. SMILES are
    returned as written; validating them is the caller's job (`check_smiles`).
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise MolseikoError(f"{path}: no such file")
    suffixes = [s.lower() for s in path.suffixes]
    if ".smi" in suffixes or ".txt" in suffixes:
        with _open_text(path) as handle:
            smiles = [
                line.split()[0] for line in handle if line.strip() and not line.startswith("#")
            ]
    else:
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        except pd.errors.EmptyDataError:
            raise MolseikoError(f"{path}: the file is empty") from None
        except (UnicodeDecodeError, pd.errors.ParserError) as err:
            raise MolseikoError(
                f"{path}: not a readable CSV file ({err.__class__.__name__})"
            ) from None
        if column not in frame.columns:
            raise MolseikoError(
                f"{path}: no '{column}' column "
                f"(columns: {', '.join(map(str, frame.columns)) or 'none'})"
            )
        smiles = [s.strip() for s in frame[column].tolist()]
    if not smiles:
        raise MolseikoError(f"{path}: the file holds no molecules")
    return smiles


def read_row_indices(path: str | Path) -> set[int]:
    """0-based row indices from a JSON list (a held-out split such as ZINC250k's test rows)."""
    import json

    try:
        return set(json.loads(Path(path).read_text()))
    except (OSError, ValueError, TypeError) as err:
        raise MolseikoError(f"{path}: not a JSON list of row indices ({err})") from None


def check_smiles(smiles: Sequence[str], source: str = "input") -> list[Chem.Mol]:
    """Parse every SMILES; raise one MolseikoError naming the first invalid entry and the count."""
    mols = [to_mol(s) for s in smiles]
    bad = [i for i, mol in enumerate(mols) if mol is None]
    if bad:
        first = bad[0]
        raise MolseikoError(
            f"{source}: {len(bad)} invalid SMILES, first at entry {first + 1}: {smiles[first]!r}"
        )
    return mols


def write_molecules(path: str | Path, smiles: Sequence[str | None], tags: Iterable[dict]) -> int:
    """Write molecules with per-molecule tags to SDF or CSV, chosen by the file's suffix.

    Invalid entries (None or unparsable) are skipped in SDF (an SDF record needs a molecule) and
    kept with an empty SMILES in CSV. Returns the number of records written.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".sdf", ".csv"):
        raise MolseikoError(f"{path}: unknown output format '{suffix}' (use .sdf or .csv)")
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = list(zip(smiles, tags, strict=True))
    if suffix == ".csv":
        fields = ["smiles"] + sorted({key for _, tag in rows for key in tag})
        with open(path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            for smi, tag in rows:
                writer.writerow({"smiles": smi or "", **{k: _fmt(v) for k, v in tag.items()}})
        return len(rows)
    written = 0
    with Chem.SDWriter(str(path)) as writer:
        for smi, tag in rows:
            mol = to_mol(smi)
            if mol is None:
                continue
            mol.SetProp("_Name", str(tag.get("id", smi)))
            mol.SetProp("SMILES", smi)
            for key, value in tag.items():
                mol.SetProp(str(key), _fmt(value))
            writer.write(mol)
            written += 1
    return written


def _fmt(value) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4f}"
    return str(value)


def _open_text(path: Path):
    if path.suffix.lower() == ".gz":
        import gzip

        return gzip.open(path, "rt")
    return open(path)
