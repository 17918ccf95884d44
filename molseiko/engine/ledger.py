"""The campaign ledger: every proposed design and every measurement, in SQLite, committed."""

from __future__ import annotations

import math
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from molseiko.oracles.base import OracleResult

SCHEMA = """
CREATE TABLE IF NOT EXISTS designs (
    key TEXT PRIMARY KEY, round INTEGER NOT NULL, position INTEGER NOT NULL,
    proposed_at REAL NOT NULL, r_hat REAL, s_hat REAL, acquisition REAL, source TEXT);
CREATE TABLE IF NOT EXISTS measurements (
    key TEXT PRIMARY KEY REFERENCES designs(key), round INTEGER NOT NULL, oracle TEXT NOT NULL,
    value REAL, raw REAL, failure TEXT, measured_at REAL NOT NULL);
"""


class Ledger:
    """Designs are keyed by canonical SMILES; a design is measured at most once."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.connection = sqlite3.connect(self.path, isolation_level=None)
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute("PRAGMA synchronous=FULL")
        self.connection.executescript(SCHEMA)
        columns = {row[1] for row in self.connection.execute("PRAGMA table_info(designs)")}
        if "source" not in columns:  # a ledger written before designs had a source
            try:
                self.connection.execute("ALTER TABLE designs ADD COLUMN source TEXT")
            except sqlite3.OperationalError:  # another process opening it added it first
                pass

    def close(self) -> None:
        self.connection.close()

    def propose(
        self,
        round_: int,
        keys: Sequence[str],
        r_hat: Sequence[float],
        s_hat: Sequence[float],
        acquisition: Sequence[float],
        source: Sequence[str | None] | None = None,
    ) -> None:
        """Record a round's batch, all or nothing. `source` says per design where it came from
        (sample, crossover, edit, library); None: not known. A round proposed in several parts
        (online_pg resumed mid-round) numbers each part after the last; a design proposed before
        is skipped and takes no position."""
        now = time.time()
        source = [None] * len(keys) if source is None else source
        columns = zip(keys, r_hat, s_hat, acquisition, source, strict=True)
        with self.connection:
            self.connection.execute("BEGIN IMMEDIATE")
            known = {key for key in keys if self.is_known(key)}
            (start,) = self.connection.execute(
                "SELECT COALESCE(MAX(position) + 1, 0) FROM designs WHERE round = ?", (round_,)
            ).fetchone()
            fresh = []
            for column in columns:  # the first of repeats
                if column[0] not in known:
                    known.add(column[0])
                    fresh.append(column)
            rows = [
                (k, round_, start + i, now, _real(r), _real(s), _real(a), where)
                for i, (k, r, s, a, where) in enumerate(fresh)
            ]
            self.connection.executemany(
                "INSERT OR IGNORE INTO designs (key, round, position, proposed_at, r_hat, s_hat, "
                "acquisition, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def record(
        self, round_: int | Sequence[int], oracle: str, keys: Sequence[str], result: OracleResult
    ) -> None:
        """Record measurements, all or nothing, before anything else uses them. `round_` is the
        round they belong to, or one round per key."""
        now = time.time()
        rounds = [round_] * len(keys) if isinstance(round_, int) else list(round_)
        rows = [
            (k, n, oracle, _real(v), _real(r), f, now)
            for k, n, v, r, f in zip(
                keys, rounds, result.values, result.raw, result.failures, strict=True
            )
        ]
        with self.connection:
            self.connection.execute("BEGIN IMMEDIATE")
            self.connection.executemany(
                "INSERT INTO measurements VALUES (?, ?, ?, ?, ?, ?, ?)", rows
            )

    def proposed(self, round_: int) -> list[str]:
        """Keys proposed in a round, in batch order."""
        rows = self.connection.execute(
            "SELECT key FROM designs WHERE round = ? ORDER BY position", (round_,)
        )
        return [key for (key,) in rows]

    def unmeasured(self, round_: int) -> list[str]:
        rows = self.connection.execute(
            "SELECT d.key FROM designs d LEFT JOIN measurements m ON d.key = m.key "
            "WHERE d.round = ? AND m.key IS NULL ORDER BY d.position",
            (round_,),
        )
        return [key for (key,) in rows]

    def measurements(self) -> list[tuple[str, float, int]]:
        """(key, value, round) of every measurement, in the order its designs were proposed
        (round, then place in the batch): the same whichever worker finished first or however
        the clock was set, so a reward model fit on them is too. Value NaN for failures."""
        rows = self.connection.execute(
            "SELECT m.key, m.value, m.round FROM measurements m LEFT JOIN designs d "
            "ON d.key = m.key ORDER BY COALESCE(d.round, m.round), d.position, m.rowid"
        )
        return [(k, math.nan if v is None else v, r) for k, v, r in rows]

    def count_measured(self) -> int:
        """Designs sent for measurement so far (failures included): what the budget counts."""
        return self.connection.execute("SELECT COUNT(*) FROM measurements").fetchone()[0]

    def rounds_of(self, keys: Sequence[str]) -> list[int]:
        """The round each (proposed) design was proposed in."""
        rounds = dict(self.connection.execute("SELECT key, round FROM designs"))
        return [rounds[key] for key in keys]

    def count_proposed(self) -> int:
        return self.connection.execute("SELECT COUNT(*) FROM designs").fetchone()[0]

    def last_round(self) -> int:
        """The latest round with a proposed batch (0: none yet)."""
        return self.connection.execute("SELECT COALESCE(MAX(round), 0) FROM designs").fetchone()[0]

    def by_id(self) -> dict[str, tuple[str, bool]]:
        """Every design's stable id (`r03_0007`: round 3, batch position 7) -> (key, measured)."""
        rows = self.connection.execute(
            "SELECT d.round, d.position, d.key, m.key IS NOT NULL "
            "FROM designs d LEFT JOIN measurements m ON d.key = m.key"
        )
        return {design_id(r, p): (key, bool(done)) for r, p, key, done in rows}

    def is_known(self, key: str) -> bool:
        return (
            self.connection.execute("SELECT 1 FROM designs WHERE key = ?", (key,)).fetchone()
            is not None
        )

    def round_table(self, round_: int) -> list[dict]:
        """The round's designs with predictions and (if measured) values, in batch order."""
        cursor = self.connection.execute(
            "SELECT d.key, d.r_hat, d.s_hat, d.acquisition, m.value, m.raw, m.failure, d.source "
            "FROM designs d LEFT JOIN measurements m ON d.key = m.key WHERE d.round = ? "
            "ORDER BY d.position",
            (round_,),
        )
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor]


def design_id(round_: int, position: int) -> str:
    """A design's stable id: its round and position in that round's batch."""
    return f"r{round_:02d}_{position:04d}"


def _real(value) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value
