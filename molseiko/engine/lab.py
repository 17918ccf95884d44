"""Lab in the loop: `propose` exports the next batch, `ingest` records what the lab measured.

A lab campaign is an ordinary run directory whose objective is `lab` (or `lab:minimize`). Each
`propose` first learns from the previous round (fit the reward ensemble on everything measured
so far, fine-tune, checkpoint), then samples and records the next batch and writes it for the lab:
`rounds/round_XX.sdf` or `.fasta` (designs with ids) and `lab/round_XX_results.csv` (a template
with `id, smiles|sequence, value, failure` to fill in). `ingest` validates a results file
completely before it records anything, in one transaction.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from molseiko.diffusion.checkpoint import checkpoint_domain
from molseiko.domains.base import Domain, get_domain
from molseiko.engine.campaign import Campaign
from molseiko.engine.config import CampaignConfig
from molseiko.engine.ledger import Ledger, design_id
from molseiko.engine.report import write_round
from molseiko.errors import MolseikoError
from molseiko.oracles.base import OracleResult
from molseiko.oracles.lab import LabOracle, read_table
from molseiko.oracles.registry import resolve_objective


def result_columns(domain: Domain) -> list[str]:
    return ["id", domain.key_column, "value", "failure"]


@dataclass
class Proposal:
    round: int
    size: int
    structures: Path
    template: Path
    pending: int
    """Designs of earlier rounds still waiting for results."""


@dataclass
class Ingested:
    rounds: list[int]
    recorded: int
    failures: int
    measured: int
    """Designs measured in the whole campaign after this file."""
    best: float


def propose(campaign: Campaign, size: int | None = None) -> Proposal:
    """Learn from the latest round (if not yet done) and write the next batch for the lab."""
    _require_lab(campaign)
    ledger = campaign.ledger
    last = ledger.last_round()
    if last > campaign.completed:
        if not _template(campaign, last).is_file():  # interrupted right after recording it
            _write_batch(campaign, last, None)
        if not any(
            row["failure"] is not None or row["value"] is not None
            for row in ledger.round_table(last)
        ):
            raise MolseikoError(
                f"round {last} has no results yet: fill {_template(campaign, last)} and run "
                f"`molseiko ingest {campaign.run_dir} FILE` first"
            )
        pool = _pool_file(campaign, last)
        stats = json.loads(pool.read_text()) if pool.is_file() else dict.fromkeys(POOL, math.nan)
        campaign.learn(last, stats)
    left = campaign.config.budget - ledger.count_proposed()
    size = min(size or campaign.config.batch_size, left)
    if size <= 0:
        raise MolseikoError(
            f"the budget of {campaign.config.budget} designs is spent; raise `budget` in "
            f"{campaign.run_dir / 'config.toml'} to go on"
        )
    round_ = last + 1
    stats = campaign.propose_batch(round_, size, campaign._generator(round_))
    table = ledger.round_table(round_)
    if not table:
        raise MolseikoError(
            f"the model proposed no new valid design (validity {stats['validity']:.2f}); "
            "nothing was written"
        )
    template = _write_batch(campaign, round_, stats)
    pending = sum(not done for _, done in ledger.by_id().values()) - len(table)
    structures = campaign.run_dir / "rounds" / f"round_{round_:02d}{campaign.domain.suffix}"
    return Proposal(round_, len(table), structures, template, pending)


def ingest(run_dir: str | Path, path: str | Path, column: str = "value") -> Ingested:
    """Validate a results file against the run's ledger and record it, all or nothing. Needs
    no model: ingesting is instant even when the next `propose` will take minutes."""
    run_dir = Path(run_dir)
    config = CampaignConfig.from_saved(run_dir / "config.toml")
    oracle = resolve_objective(config.objective)
    if not isinstance(oracle, LabOracle):
        raise MolseikoError(_not_lab(run_dir, oracle))
    domain = get_domain(checkpoint_domain(config.model or None))
    ledger = Ledger(run_dir / "ledger.sqlite")
    try:
        return _ingest(run_dir, ledger, oracle, domain, Path(path), column)
    finally:
        ledger.close()


def _ingest(
    run_dir: Path, ledger: Ledger, oracle: LabOracle, domain: Domain, path: Path, column
) -> Ingested:
    header, rows = read_table(path)
    for needed in ("id", column):
        if needed not in header:
            raise MolseikoError(
                f"{path}: no {needed!r} column (columns: {', '.join(header) or 'none'}); "
                f"expected {', '.join(result_columns(domain))}"
            )
    if not rows:
        raise MolseikoError(f"{path}: no result rows under the header")
    known = ledger.by_id()
    at = {name: header.index(name) for name in header}
    keys, raw, failures, problems, seen = [], [], [], [], {}
    for line, row in enumerate(rows, start=2):
        if len(row) != len(header):
            problems.append(f"line {line}: {len(row)} fields, header has {len(header)}")
            continue
        design_id = row[at["id"]].strip()
        if design_id in seen:
            problems.append(f"line {line}: id {design_id} repeats line {seen[design_id]}")
            continue
        seen[design_id] = line
        if design_id not in known:
            problems.append(f"line {line}: unknown id {design_id!r}")
            continue
        key, measured = known[design_id]
        if measured:
            problems.append(f"line {line}: {design_id} was already ingested")
            continue
        design_column = domain.key_column
        given = row[at[design_column]].strip() if design_column in at else ""
        if given and given != key and domain.canonical(given) != key:
            problems.append(f"line {line}: {design_id} is {key}, not {given}")
            continue
        cell = row[at[column]].strip()
        reason = row[at["failure"]].strip() if "failure" in at else ""
        if cell and reason:
            problems.append(f"line {line}: {design_id} has both a value and a failure reason")
        elif cell:
            try:
                value = float(cell)
            except ValueError:
                value = math.nan
            if not math.isfinite(value):
                problems.append(f"line {line}: {column} = {cell!r} is not a number")
                continue
            keys.append(key), raw.append(value), failures.append(None)
        elif reason:
            keys.append(key), raw.append(math.nan), failures.append(reason)
        else:
            problems.append(
                f"line {line}: {design_id} has no {column} (leave the row out if it is not "
                "measured yet, or give a reason in `failure`)"
            )
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise MolseikoError(f"{path}: nothing recorded; {'; '.join(problems[:3])}{more}")
    rounds = _record(ledger, oracle, path, keys, np.array(raw, float), failures)
    for round_ in rounds:
        write_round(run_dir, round_, ledger.round_table(round_), domain)
    values = [value for _, value, _ in ledger.measurements()]
    finite = [v for v in values if math.isfinite(v)]
    return Ingested(
        rounds,
        len(keys),
        sum(f is not None for f in failures),
        len(values),
        max(finite) if finite else math.nan,
    )


def _record(ledger: Ledger, oracle: LabOracle, path: Path, keys, raw, failures) -> list[int]:
    """One transaction per results file; each measurement keeps the round it was proposed in."""
    values = raw if oracle.direction == "maximize" else -raw
    rounds = ledger.rounds_of(keys)
    ledger.record(rounds, f"{oracle.name}:{path.name}", keys, OracleResult(values, failures, raw))
    return sorted(set(rounds))


def _require_lab(campaign: Campaign) -> LabOracle:
    if not isinstance(campaign.oracle, LabOracle):
        raise MolseikoError(_not_lab(campaign.run_dir, campaign.oracle))
    return campaign.oracle


def _not_lab(run_dir: Path, oracle) -> str:
    return (
        f"{run_dir} measures with {oracle.name!r}, not the lab; propose/ingest need "
        'objective = "lab" (or "lab:minimize")'
    )


def _write_batch(campaign: Campaign, round_: int, stats: dict | None) -> Path:
    """The round's structures, table, pool statistics and results template, from the ledger."""
    table = campaign.ledger.round_table(round_)
    write_round(campaign.run_dir, round_, table, campaign.domain)
    template = _template(campaign, round_)
    template.parent.mkdir(exist_ok=True)
    if stats is not None:
        _pool_file(campaign, round_).write_text(json.dumps(stats))
    with open(template, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(result_columns(campaign.domain))
        for position, row in enumerate(table):  # ids as write_round numbers them
            writer.writerow([design_id(round_, position), row["key"], "", ""])
    return template


POOL = ("validity", "uniqueness", "novelty")


def _pool_file(campaign: Campaign, round_: int) -> Path:
    """The sampled pool's validity, uniqueness and novelty, kept for the round's summary."""
    return campaign.run_dir / "lab" / f"round_{round_:02d}_pool.json"


def _template(campaign: Campaign, round_: int) -> Path:
    return campaign.run_dir / "lab" / f"round_{round_:02d}_results.csv"
