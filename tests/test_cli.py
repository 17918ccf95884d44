"""CLI tests on tiny models trained in the test (Typer's CliRunner)."""

import re

import pandas as pd
import pytest
from rdkit import Chem
from typer.testing import CliRunner

from molseiko.cli import app
from tests.conftest import SMILES

runner = CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny checkpoint made by `molseiko pretrain` on 20 molecules."""
    folder = tmp_path_factory.mktemp("pretrain")
    data = folder / "train.csv"
    pd.DataFrame({"smiles": SMILES * 3}).to_csv(data, index=False)
    out = folder / "tiny.pt"
    result = runner.invoke(
        app,
        [
            "pretrain",
            "--data",
            str(data),
            "--out",
            str(out),
            "--preset",
            "tiny",
            "--max-steps",
            "40",
            "--batch-size",
            "16",
            "--eval-every",
            "20",
            "--seed",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    return folder, data, out


def test_pretrain_writes_checkpoint_state_and_curve(trained):
    folder, _, out = trained
    assert out.is_file() and (folder / "tiny.pt.train.pt").is_file()
    curve = pd.read_csv(folder / "tiny.curve.csv")
    assert curve.step.tolist() == [20, 40]
    assert curve.valid_loss.notna().all()


def test_pretrain_resume_continues_from_saved_step(trained, tmp_path):
    folder, data, out = trained
    copy = tmp_path / "tiny.pt"
    copy.write_bytes(out.read_bytes())
    (tmp_path / "tiny.pt.train.pt").write_bytes((folder / "tiny.pt.train.pt").read_bytes())
    result = runner.invoke(
        app,
        [
            "pretrain",
            "--data",
            str(data),
            "--out",
            str(copy),
            "--preset",
            "tiny",
            "--max-steps",
            "60",
            "--batch-size",
            "16",
            "--eval-every",
            "20",
            "--seed",
            "1",
            "--resume",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "resuming from step 40" in result.output
    assert "step 60" in result.output


def test_sample_writes_sdf_with_property_tags(trained, tmp_path):
    _, _, model = trained
    out = tmp_path / "s.sdf"
    result = runner.invoke(
        app, ["sample", "--n", "30", "--out", str(out), "--model", str(model), "--steps", "8"]
    )
    assert result.exit_code == 0, result.output
    records = [m for m in Chem.SDMolSupplier(str(out)) if m is not None]
    valid = int(re.search(r"(\d+)/30 valid molecules", result.output).group(1))
    assert len(records) == valid > 0
    for mol in records:
        assert {"QED", "SA", "MW", "logP", "rings", "SMILES"} <= set(mol.GetPropNames())
        assert 0.0 <= float(mol.GetProp("QED")) <= 1.0


def test_sample_is_reproducible_by_seed_and_writes_csv(trained, tmp_path):
    _, _, model = trained
    outputs = []
    for name in ("a.csv", "b.csv"):
        args = ["sample", "--n", "12", "--out", str(tmp_path / name), "--model", str(model)]
        assert runner.invoke(app, args + ["--seed", "7"]).exit_code == 0
        outputs.append(pd.read_csv(tmp_path / name))
    assert outputs[0].equals(outputs[1]) and len(outputs[0]) == 12


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("smiles\nCCO\nC1CC\nCCN\n", "invalid SMILES at row 2: 'C1CC'"),
        ("", "empty"),
        ("name\nCCO\n", "no 'smiles' column"),
    ],
)
def test_pretrain_bad_input_is_one_line_error(tmp_path, content, message):
    data = tmp_path / "bad.csv"
    data.write_text(content)
    result = runner.invoke(
        app, ["pretrain", "--data", str(data), "--out", str(tmp_path / "m.pt"), "--preset", "tiny"]
    )
    assert result.exit_code == 1
    assert message in result.output
    assert result.output.strip().count("\n") == 0 and "Traceback" not in result.output


def test_sample_bad_arguments(tmp_path):
    missing = runner.invoke(app, ["sample", "--model", str(tmp_path / "none.pt"), "--n", "2"])
    assert missing.exit_code == 1 and "no such checkpoint" in missing.output
    suffix = runner.invoke(app, ["sample", "--out", str(tmp_path / "x.txt")])
    assert suffix.exit_code == 1 and "unknown output format" in suffix.output


def test_pretrain_on_protein_fasta_then_sample_sequences(tmp_path):
    from molseiko.diffusion.checkpoint import load_model

    fasta = tmp_path / "family.fasta"
    fasta.write_text("".join(f">v{i}\nMKTAYIAKQR{'GS'[i % 2]}QISFVK\n" for i in range(40)))
    out = tmp_path / "protein.pt"
    result = runner.invoke(
        app,
        [
            "pretrain",
            "--data",
            str(fasta),
            "--out",
            str(out),
            "--preset",
            "tiny",
            "--max-steps",
            "30",
            "--eval-every",
            "1000",
            "--batch-size",
            "8",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "38 training and 2 held-out designs" in result.output
    model = load_model(out)
    assert model.tokenizer.domain == "protein" and len(model.tokenizer) == 22
    bad = tmp_path / "bad.fasta"
    bad.write_text(">a\nMKTAY\n>b\nMKXAY\n")
    result = runner.invoke(app, ["pretrain", "--data", str(bad), "--out", str(tmp_path / "b.pt")])
    assert result.exit_code == 1
    assert "record 2 (b): residue 3 is 'X' (unknown)" in result.output


def test_fit_simulator_cli_writes_a_simulator_the_score_command_uses(tmp_path):
    import numpy as np

    wild = "MKTAYIAKQR"
    rng = np.random.default_rng(0)
    rows = ["sequence,brightness"]
    for _ in range(1500):
        letters = list(wild)
        for i in rng.choice(len(wild), rng.integers(0, 4), replace=False):
            letters[i] = "ACDEFGHIKLMNPQRSTVWY"[rng.integers(20)]
        value = 3.5 - 0.4 * sum(a != b for a, b in zip(letters, wild, strict=True))
        rows.append(f"{''.join(letters)},{value}")
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "wt.fasta").write_text(f">wt\n{wild}\n")
    args = ["fit-simulator", "--data", str(tmp_path / "t.csv"), "--wild-type"]
    args += [str(tmp_path / "wt.fasta"), "--column", "brightness", "--members", "2"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "sim.npz")])
    assert result.exit_code == 0, result.output
    r2 = float(re.search(r"holdout_r2=([-0-9.e]+)", result.output).group(1))
    assert r2 > 0.9  # an additive landscape inside the sigmoid's range
    result = runner.invoke(app, [*args[:-4], "--column", "nope", "--out", str(tmp_path / "x")])
    assert result.exit_code == 1 and "no 'nope' column" in result.output
