"""The engine's CLI surface: optimize, score, oracles."""

import math

import pandas as pd
import pytest
import torch
from rdkit import Chem
from rdkit.Chem import QED
from typer.testing import CliRunner

from molseiko.cli import app
from molseiko.engine.build import build_campaign
from molseiko.errors import MolseikoError

runner = CliRunner()


def test_optimize_from_config_with_flag_override_and_resume(tiny_config, tmp_path):
    config_file = tmp_path / "c.toml"
    config_file.write_text(tiny_config(budget=30).to_toml())
    out = tmp_path / "run"
    result = runner.invoke(app, ["optimize", str(config_file), "--budget", "20", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "round 2/2" in result.output and f"results in {out}" in result.output
    assert "budget = 20" in (out / "config.toml").read_text()  # the flag won, saved resolved
    again = runner.invoke(app, ["optimize", str(config_file), "--out", str(out), "--budget", "20"])
    assert again.exit_code == 1 and "--resume" in again.output
    resumed = runner.invoke(app, ["optimize", "--resume", str(out)])
    assert resumed.exit_code == 0 and "resuming" in resumed.output  # nothing left to do


def test_optimize_bad_input_one_line(tmp_path):
    result = runner.invoke(app, ["optimize", "--objective", "qde", "--out", str(tmp_path / "r")])
    assert result.exit_code == 1 and "unknown objective 'qde'" in result.output
    result = runner.invoke(app, ["optimize", "--variant", "best", "--out", str(tmp_path / "r")])
    assert result.exit_code == 1 and "unknown variant" in result.output
    result = runner.invoke(app, ["optimize", "--resume", str(tmp_path / "nowhere")])
    assert result.exit_code == 1 and "not a run directory" in result.output


def test_score_csv_and_sdf_with_composite_columns(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("smiles\nCC(=O)Oc1ccccc1C(=O)O\nnot_a_molecule\nOCC\n")
    spec = tmp_path / "obj.toml"
    spec.write_text(
        '[[component]]\noracle = "qed"\n'
        '[[component]]\noracle = "mw"\nrole = "filter"\n'
        'transform = { kind = "step", low = 100, high = 500 }\n'
    )
    result = runner.invoke(
        app, ["score", str(source), "--objective", str(spec), "--out", str(tmp_path / "out.csv")]
    )
    assert result.exit_code == 0, result.output
    assert "(1 failed)" in result.output
    table = pd.read_csv(tmp_path / "out.csv")
    aspirin = QED.qed(Chem.MolFromSmiles("CC(=O)Oc1ccccc1C(=O)O"))
    assert table.obj[0] == round(aspirin, 4) and table.obj[2] == 0.0  # ethanol fails the filter
    assert {"qed_raw", "mw_raw", "mw_score", "failure"} <= set(table.columns)
    assert table.failure[1] == "qed: invalid SMILES"
    sdf = runner.invoke(
        app, ["score", str(source), "--objective", "qed", "--out", str(tmp_path / "out.sdf")]
    )
    assert sdf.exit_code == 0
    records = list(Chem.SDMolSupplier(str(tmp_path / "out.sdf")))
    assert len(records) == 2 and float(records[0].GetProp("qed")) == round(aspirin, 4)
    again = runner.invoke(
        app,
        [
            "score",
            str(tmp_path / "out.sdf"),
            "--objective",
            "mw",
            "--out",
            str(tmp_path / "mw.csv"),
        ],
    )
    assert again.exit_code == 0 and len(pd.read_csv(tmp_path / "mw.csv")) == 2


def test_oracles_lists_names():
    result = runner.invoke(app, ["oracles"])
    assert result.exit_code == 0
    assert "osimertinib_mpo" in result.output and "qed" in result.output


def test_optimize_on_worker_processes_measures_what_a_serial_run_measures(tiny_config, tmp_path):
    from molseiko.engine.ledger import Ledger

    config_file = tmp_path / "c.toml"
    config_file.write_text(tiny_config(budget=20, objective="ranolazine_mpo").to_toml())
    measured = []
    for name, extra in (("serial", []), ("spread", ["--scheduler", "processes:2"])):
        out = tmp_path / name
        result = runner.invoke(app, ["optimize", str(config_file), "--out", str(out), *extra])
        assert result.exit_code == 0, result.output
        ledger = Ledger(out / "ledger.sqlite")
        measured.append(ledger.measurements())  # in batch order, whichever worker was first
        ledger.close()
    assert len(measured[0]) == 20 and measured[0] == measured[1]


def test_resume_checks_the_device_it_is_given(tiny_config, tmp_path):
    config_file = tmp_path / "c.toml"
    config_file.write_text(tiny_config(budget=10).to_toml())
    out = tmp_path / "run"
    assert runner.invoke(app, ["optimize", str(config_file), "--out", str(out)]).exit_code == 0
    result = runner.invoke(app, ["optimize", "--resume", str(out), "--device", "tpu"])
    assert result.exit_code == 1 and "unknown device 'tpu'" in result.output


def test_progress_line_says_how_the_spread_compared_and_how_much_of_it_was_used():
    from molseiko.cli import _spread_note
    from molseiko.engine.report import RoundSummary

    nan = math.nan
    fields = dict(calls=200, best=0.9, top10=0.8, batch_mean=0.5, failures=0, validity=1.0)
    fields.update(uniqueness=1.0, novelty=1.0, calibration=0.3, kl_pretrained=0.1)
    fields.update(seconds_sample=1.0, seconds_measure=1.0, seconds_fit=1.0, seconds_finetune=1.0)
    summary = RoundSummary(round=2, spread=0.03, error_over_spread=3.42, **fields)
    assert _spread_note(summary) == " (errors 3.4x it)"
    summary.spread_factor = 0.0
    assert _spread_note(summary) == " (errors 3.4x it, bonus off)"
    summary.spread_factor, summary.error_over_spread = 2.31, nan
    assert _spread_note(summary) == " (stretched x2.3)"
    first = RoundSummary(round=1, spread=nan, spread_factor=0.0, **fields)  # nothing predicted
    assert _spread_note(first) == ""


def test_score_writes_the_measured_value_and_the_score_a_campaign_maximizes(tmp_path):
    from molseiko.domains.properties import sa_score

    source = tmp_path / "in.csv"
    source.write_text("smiles\nCCO\n")
    out = tmp_path / "out.csv"
    result = runner.invoke(app, ["score", str(source), "--objective", "sa", "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    expected = round(sa_score(Chem.MolFromSmiles("CCO")), 4)
    assert expected > 1  # SA runs from 1 (easy) to 10 (hard): the raw value, not its negation
    assert table.sa[0] == expected and table.sa_score[0] == -expected
    maximized = runner.invoke(app, ["score", str(source), "--objective", "qed", "--out", str(out)])
    assert maximized.exit_code == 0 and "qed_score" not in pd.read_csv(out).columns


def test_resume_refuses_settings_it_would_ignore(tiny_config, tmp_path):
    config_file = tmp_path / "c.toml"
    config_file.write_text(tiny_config(budget=10).to_toml())
    out = tmp_path / "run"
    assert runner.invoke(app, ["optimize", str(config_file), "--out", str(out)]).exit_code == 0
    for extra in (["--budget", "20"], [str(config_file)], ["--objective", "logp"]):
        result = runner.invoke(app, ["optimize", *extra, "--resume", str(out)])
        assert result.exit_code == 1 and "already has its settings" in result.output
    assert "budget = 10" in (out / "config.toml").read_text()


def test_a_cut_short_saved_config_is_refused_on_resume(tiny_config, tmp_path):
    config_file = tmp_path / "c.toml"
    config_file.write_text(tiny_config(budget=10).to_toml())
    out = tmp_path / "run"
    assert runner.invoke(app, ["optimize", str(config_file), "--out", str(out)]).exit_code == 0
    saved = out / "config.toml"
    saved.write_text('objective = "qed"\nbudget = 5\n')  # read alone, the rest would be defaults
    result = runner.invoke(app, ["optimize", "--resume", str(out)])
    assert result.exit_code == 1 and "lacks batch_size, variant, seed" in result.output
    saved.write_text("")
    result = runner.invoke(app, ["optimize", "--resume", str(out)])
    assert result.exit_code == 1 and "lacks objective" in result.output


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_a_config_files_cuda_device_without_a_gpu_is_a_one_line_error(tiny_config, tmp_path):
    config_file = tmp_path / "c.toml"
    config_file.write_text(tiny_config(budget=10, device="cuda").to_toml())
    result = runner.invoke(app, ["optimize", str(config_file), "--out", str(tmp_path / "run")])
    assert result.exit_code == 1 and "no CUDA GPU" in result.output
    assert not (tmp_path / "run").exists()
    with pytest.raises(MolseikoError, match="no CUDA GPU"):  # a notebook's build_campaign too
        build_campaign(tiny_config(budget=10, device="cuda:0"), tmp_path / "notebook")
    assert not (tmp_path / "notebook").exists()
