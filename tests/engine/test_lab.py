"""Lab in the loop through the CLI: propose, a scripted lab fills the template, ingest, repeat;
and every kind of bad results file is refused with one line, changing nothing."""

from __future__ import annotations

import csv
import sqlite3

import pandas as pd
import pytest
from rdkit import Chem
from typer.testing import CliRunner

from molseiko.cli import app
from molseiko.oracles.registry import resolve_objective

runner = CliRunner()


def lab_measures(template, out, fail_every: int = 0) -> dict[str, float]:
    """The scripted lab: heavy-atom count as the assay; every `fail_every`-th compound is lost."""
    rows = list(csv.DictReader(open(template)))
    measured = {}
    for i, row in enumerate(rows):
        if fail_every and i % fail_every == 0:
            row["failure"] = "synthesis failed"
        else:
            value = float(Chem.MolFromSmiles(row["smiles"]).GetNumHeavyAtoms())
            row["value"] = f"{value:g}"
            measured[row["smiles"]] = value
    with open(out, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return measured


@pytest.fixture
def lab_config(tiny_config, tmp_path):
    path = tmp_path / "lab.toml"
    path.write_text(tiny_config(objective="lab", budget=24, batch_size=8).to_toml())
    return path


def ledger_rows(run) -> list[tuple]:
    with sqlite3.connect(run / "ledger.sqlite") as connection:
        return connection.execute("SELECT key, round, value, failure FROM measurements").fetchall()


def test_three_round_lab_campaign_through_the_cli(lab_config, tmp_path):
    run = tmp_path / "run"
    truth: dict[str, float] = {}
    for round_ in (1, 2, 3):
        args = ["propose", str(run)] + (["--config", str(lab_config)] if round_ == 1 else [])
        proposed = runner.invoke(app, args)
        assert proposed.exit_code == 0, proposed.output
        assert f"round {round_}: 8 designs" in proposed.output
        template = run / "lab" / f"round_{round_:02d}_results.csv"
        sdf = [m for m in Chem.SDMolSupplier(str(run / "rounds" / f"round_{round_:02d}.sdf"))]
        assert len(sdf) == 8 and sdf[0].GetProp("id") == f"r{round_:02d}_0000"
        results = tmp_path / f"results_{round_}.csv"
        truth.update(lab_measures(template, results, fail_every=4 if round_ == 2 else 0))
        ingested = runner.invoke(app, ["ingest", str(run), str(results)])
        assert ingested.exit_code == 0, ingested.output
        failed = 2 if round_ == 2 else 0
        assert f"recorded 8 results for round {round_} ({failed} failed)" in ingested.output
        assert f"{8 * round_} measured so far" in ingested.output
    rows = ledger_rows(run)
    assert len(rows) == 24 and len({key for key, *_ in rows}) == 24  # nothing measured twice
    for key, _, value, failure in rows:
        assert (value is None) == (failure == "synthesis failed")
        if value is not None:
            assert value == truth[key]
    # The second and third proposals learned from everything measured before them.
    metrics = pd.read_csv(run / "metrics.csv")
    assert list(metrics["round"]) == [1, 2] and list(metrics.calls) == [8, 16]
    assert list(metrics.failures) == [0, 2]
    assert (run / "checkpoints" / "policy_round_02.pt").is_file()
    assert pd.read_csv(run / "rounds" / "round_03.csv").r_hat.notna().all()
    spent = runner.invoke(app, ["propose", str(run)])
    assert spent.exit_code == 1 and "budget of 24 designs is spent" in spent.output


def test_propose_waits_for_results_and_partial_results_are_kept(lab_config, tmp_path):
    run = tmp_path / "run"
    assert runner.invoke(app, ["propose", str(run), "--config", str(lab_config)]).exit_code == 0
    waiting = runner.invoke(app, ["propose", str(run)])
    assert waiting.exit_code == 1 and "round 1 has no results yet" in waiting.output
    template = run / "lab" / "round_01_results.csv"
    full = tmp_path / "full.csv"
    lab_measures(template, full)
    lines = full.read_text().splitlines()
    first, rest = tmp_path / "first.csv", tmp_path / "rest.csv"
    first.write_text("\n".join(lines[:4]) + "\n")  # three results arrive early
    rest.write_text("\n".join(lines[:1] + lines[4:]) + "\n")
    assert runner.invoke(app, ["ingest", str(run), str(first)]).exit_code == 0
    proposed = runner.invoke(app, ["propose", str(run), "--batch", "4"])
    assert proposed.exit_code == 0, proposed.output
    assert "round 2: 4 designs" in proposed.output and "waiting for 5 results" in proposed.output
    late = runner.invoke(app, ["ingest", str(run), str(rest)])
    assert late.exit_code == 0 and "for round 1 (0 failed)" in late.output
    assert len(ledger_rows(run)) == 8


BAD_FILES = {
    "unknown id": ("id,value\nr01_0000,1\nr09_0001,2\n", "unknown id 'r09_0001'"),
    "duplicate id": ("id,value\nr01_0000,1\nr01_0000,2\n", "id r01_0000 repeats line 2"),
    "non-numeric": ("id,value\nr01_0000,high\n", "value = 'high' is not a number"),
    "missing value": ("id,value,failure\nr01_0000,,\n", "r01_0000 has no value"),
    "wrong columns": ("compound,ic50\nr01_0000,1\n", "no 'id' column (columns: compound, ic50)"),
    "empty": ("", "empty file"),
    "header only": ("id,value\n", "no result rows"),
    "wrong smiles": ("id,smiles,value\nr01_0000,CCCCCCCCCCCCCCCCCCCCCCCC,1\n", "r01_0000 is "),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_results_files_change_nothing(case, lab_config, tmp_path):
    run = tmp_path / "run"
    assert runner.invoke(app, ["propose", str(run), "--config", str(lab_config)]).exit_code == 0
    text, message = BAD_FILES[case]
    bad = tmp_path / "bad.csv"
    bad.write_text(text)
    before = (run / "rounds" / "round_01.csv").read_text()
    result = runner.invoke(app, ["ingest", str(run), str(bad)])
    assert result.exit_code == 1 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert ledger_rows(run) == [] and (run / "rounds" / "round_01.csv").read_text() == before


def test_ingest_refuses_wrong_encoding_and_results_already_ingested(lab_config, tmp_path):
    run = tmp_path / "run"
    assert runner.invoke(app, ["propose", str(run), "--config", str(lab_config)]).exit_code == 0
    latin = tmp_path / "latin.csv"
    latin.write_bytes("id,value,note\nr01_0000,1,5 µM\n".encode("latin-1"))
    result = runner.invoke(app, ["ingest", str(run), str(latin)])
    assert result.exit_code == 1 and "not UTF-8" in result.output
    # A semicolon file from a European spreadsheet is read like a comma one.
    good = tmp_path / "good.csv"
    good.write_text("id;value\nr01_0000;1.5\nr01_0001;2\n")
    assert runner.invoke(app, ["ingest", str(run), str(good)]).exit_code == 0
    again = runner.invoke(app, ["ingest", str(run), str(good)])
    assert again.exit_code == 1 and "r01_0000 was already ingested" in again.output
    assert sorted(v for _, _, v, _ in ledger_rows(run)) == [1.5, 2.0]


def test_lab_minimize_flips_values_but_keeps_raw(tiny_config, tmp_path):
    config = tmp_path / "lab.toml"
    config.write_text(tiny_config(objective="lab:minimize", budget=8, batch_size=8).to_toml())
    run = tmp_path / "run"
    assert runner.invoke(app, ["propose", str(run), "--config", str(config)]).exit_code == 0
    results = tmp_path / "r.csv"
    results.write_text("id,value\nr01_0000,7.5\n")
    assert runner.invoke(app, ["ingest", str(run), str(results)]).exit_code == 0
    with sqlite3.connect(run / "ledger.sqlite") as connection:
        assert connection.execute("SELECT value, raw FROM measurements").fetchall() == [(-7.5, 7.5)]


def test_optimize_refuses_a_lab_objective_and_propose_a_computed_one(tiny_config, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(tiny_config(objective="lab").to_toml())
    result = runner.invoke(app, ["optimize", str(config), "--out", str(tmp_path / "a")])
    assert result.exit_code == 1 and "molseiko propose" in result.output
    config.write_text(tiny_config(objective="qed").to_toml())
    result = runner.invoke(app, ["propose", str(tmp_path / "b"), "--config", str(config)])
    assert result.exit_code == 1 and "not the lab" in result.output


def test_assay_table_oracle_looks_up_canonical_smiles_and_aggregates(tmp_path):
    table = tmp_path / "assay.csv"
    table.write_text(
        "Smiles;pchembl;note\n"
        "OCC;5.0;a\n"
        "C(O)C;6.0;repeat of ethanol, other SMILES\n"
        "c1ccccc1;;unmeasured\n"
        "not_a_smiles;4.0;skipped\n"
        "CC(=O)O;7.25;\n"
    )
    oracle = resolve_objective(f"assay:{table}:pchembl")
    result = oracle(["CCO", "OC(C)=O", "c1ccccc1", "CCCC", "xx"])
    assert list(result.values[:2]) == [5.5, 7.25]  # median of the two ethanol rows
    assert result.failures[2:] == ["not in assay table", "not in assay table", "invalid SMILES"]
    assert oracle.skipped == 1
    spec = tmp_path / "assay.toml"
    spec.write_text(
        'oracle = "assay"\npath = "assay.csv"\ncolumn = "pchembl"\ndirection = "minimize"\n'
    )
    flipped = resolve_objective(str(spec))
    assert flipped(["CCO"]).values[0] == -5.5 and flipped(["CCO"]).raw[0] == 5.5
    bad = tmp_path / "bad.csv"
    bad.write_text("smiles,value\nCCO,>10\n")
    with pytest.raises(Exception, match=r"bad.csv:2: value = '>10' is not a finite number"):
        resolve_objective(f"assay:{bad}")


def test_assay_oracle_needs_a_value_column_when_ambiguous(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("smiles,a,b\nCCO,1,2\n")
    with pytest.raises(Exception, match="say which column holds the values"):
        resolve_objective(f"assay:{table}")


def test_shipped_seh_assay_example_reads_chembl_values():
    oracle = resolve_objective("oracles/examples/seh_assay.toml")
    # CHEMBL242255 (ACU) is measured once in the table, pChEMBL 8.80.
    result = oracle(["O=C(NC1CCCCC1)NC12CC3CC(CC(C3)C1)C2", "CCO"])
    assert result.values[0] == 8.8 and result.failures[1] == "not in assay table"
    assert len(oracle.table) == 1812


def test_shipped_gfp_brightness_lookup_reads_the_sarkisyan_table():
    from molseiko.domains.protein import read_fasta
    from molseiko.oracles.registry import ORACLE_DIR

    oracle = resolve_objective("oracles/examples/gfp_brightness.toml")
    wild = read_fasta(ORACLE_DIR.parent / "data/protein/gfp/avGFP_wt.fasta")[0][1]
    mutant = wild[:108] + "D" + wild[109:]  # SA108D (0-based position 108), one barcode: 1.30103
    result = oracle([wild, mutant, wild[:-1] + "W"])
    assert result.values[0] == pytest.approx(3.7192121319) and result.values[1] == 1.30103000388
    assert result.failures[2] == "not in assay table"
    assert len(oracle.table) == 51_715 and oracle.skipped == 2_310  # stop-codon variants left out


def test_a_propose_interrupted_before_its_files_recovers(lab_config, tmp_path):
    run = tmp_path / "run"
    assert runner.invoke(app, ["propose", str(run), "--config", str(lab_config)]).exit_code == 0
    template = run / "lab" / "round_01_results.csv"
    expected = template.read_text()
    template.unlink()  # as if killed between recording the batch and writing its files
    (run / "lab" / "round_01_pool.json").unlink()
    again = runner.invoke(app, ["propose", str(run)])
    assert again.exit_code == 1 and "round 1 has no results yet" in again.output
    assert template.read_text() == expected  # rebuilt from the ledger, same ids and designs
    lab_measures(template, tmp_path / "r.csv")
    assert runner.invoke(app, ["ingest", str(run), str(tmp_path / "r.csv")]).exit_code == 0
    proposed = runner.invoke(app, ["propose", str(run)])
    assert proposed.exit_code == 0 and "round 2: 8 designs" in proposed.output
