"""Known answers for the pick rules of benchmarks/pool_headroom.py that are not the engine's."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from feedback_efficiency import label_of  # noqa: E402
from pool_headroom import probe_rounds, source_bias  # noqa: E402


def write_round(run: Path, round_: int, rows: list[tuple[str, float, float]]) -> None:
    (run / "rounds").mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(rows, columns=["source", "r_hat", "value"])
    frame.to_csv(run / "rounds" / f"round_{round_:02d}.csv", index=False)


def test_source_bias_shrinks_each_source_towards_the_batch_mean(tmp_path):
    # edits overrated by 0.2 (four of them), crossovers underrated by 0.1 (four), one NaN dropped
    rows = [("edit", 0.5, 0.3)] * 4 + [("crossover", 0.4, 0.5)] * 4 + [("sample", 0.3, np.nan)]
    write_round(tmp_path, 2, rows)
    bias = source_bias(tmp_path, 3, prior=4.0)
    overall = (-0.2 * 4 + 0.1 * 4) / 8  # -0.05
    assert bias["*"] == pytest.approx(overall)
    # each source: overall + sum(residual - overall) / (n + prior), n = prior = 4
    assert bias["edit"] == pytest.approx(overall + 4 * (-0.2 - overall) / 8)
    assert bias["crossover"] == pytest.approx(overall + 4 * (0.1 - overall) / 8)
    assert "sample" not in bias  # its only design has no measurement: it falls back on "*"
    assert bias["crossover"] - bias["edit"] == pytest.approx(0.15)  # half of 0.3: shrunk


def test_source_bias_needs_a_predicted_batch(tmp_path):
    write_round(tmp_path, 1, [("library", np.nan, 0.2)])
    assert source_bias(tmp_path, 2) == {}  # round 1 had no r_hat
    assert source_bias(tmp_path, 5) == {}  # no round_04.csv


def test_a_probe_with_other_settings_resumes_under_its_own_label(tmp_path):
    table = tmp_path / "probe.csv"
    run = tmp_path / "osimertinib_mpo-ucb-3"
    calls = []

    def probe(run_, round_, scratch):
        calls.append(round_)
        return [{"run": run_.name + label_of({"pool_factor": 30}), "round": round_}]

    probe_rounds([run], [2, 3], table, probe, label_of({"pool_factor": 30}))
    assert calls == [2, 3]
    probe_rounds([run], [2, 3, 4], table, probe, label_of({"pool_factor": 30}))
    assert calls == [2, 3, 4]  # rounds 2 and 3 were found in the table, not probed again
    assert pd.read_csv(table).run.tolist() == ["osimertinib_mpo-ucb-3+pool_factor=30"] * 3
