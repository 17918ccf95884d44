import math
import re
import sqlite3

import numpy as np
import pytest

from molseiko.engine.acquisition import (
    BootstrapMax,
    Greedy,
    Thompson,
    UpperConfidenceBound,
    sequential_batch,
)
from molseiko.engine.campaign import batch_sizes
from molseiko.engine.config import CampaignConfig
from molseiko.engine.ledger import Ledger
from molseiko.errors import MolseikoError
from molseiko.oracles.base import OracleResult
from molseiko.reward.ensemble import EnsemblePrediction

MEMBERS = np.array([[1.0, 0.0], [2.0, 0.0], [3.0, 3.0]])  # 3 members x 2 designs


def prediction():
    return EnsemblePrediction(MEMBERS.mean(0), MEMBERS.std(0), MEMBERS)


def test_acquisitions_known_values():
    assert Greedy()(prediction()).tolist() == [2.0, 1.0]
    ucb = UpperConfidenceBound(bonus=1.5)(prediction())
    assert ucb[0] == pytest.approx(2.0 + 1.5 * math.sqrt(2 / 3))
    assert ucb[1] == pytest.approx(1.0 + 1.5 * math.sqrt(2.0))
    assert BootstrapMax()(prediction()).tolist() == [3.0, 3.0]
    thompson = Thompson()
    thompson.new_round(np.random.default_rng(0), 3)
    assert thompson(prediction()).tolist() == MEMBERS[thompson.member].tolist()


def test_scaled_prediction_stretches_the_spread_around_an_unchanged_mean():
    wide = prediction().scaled(2.0)
    assert wide.mean.tolist() == [2.0, 1.0]
    assert wide.std == pytest.approx(2 * MEMBERS.std(0))
    assert wide.members.tolist() == [[0.0, -1.0], [2.0, -1.0], [4.0, 5.0]]
    ucb = UpperConfidenceBound(bonus=1.0)(wide)
    assert ucb == pytest.approx([2.0 + 2 * math.sqrt(2 / 3), 1.0 + 2 * math.sqrt(2.0)])
    assert BootstrapMax()(wide).tolist() == [4.0, 5.0]  # mean + 2 (max - mean)
    same = prediction().scaled(1.0)
    assert np.array_equal(same.members, MEMBERS) and np.array_equal(same.std, MEMBERS.std(0))


def two_questions() -> EnsemblePrediction:
    """Designs 0-2: member 0 alone is optimistic (one disagreement, spread 0.3); designs 3-4:
    members 1 and 2 disagree, orthogonally to that (spread 0.2); design 5: no spread."""
    a = np.array([2.0, -1.0, -1.0]) * 0.3 / math.sqrt(2)
    b = np.array([0.0, 1.0, -1.0]) * 0.2 * math.sqrt(1.5)
    means = np.array([1.0, 0.99, 0.98, 1.0, 0.99, 1.05])
    members = means + np.stack([a, a, a, b, b, np.zeros(3)], axis=1)
    return EnsemblePrediction(members.mean(0), members.std(0), members)


def test_sequential_batch_spends_one_pick_per_question():
    prediction = two_questions()
    assert prediction.std == pytest.approx([0.3, 0.3, 0.3, 0.2, 0.2, 0.0])
    plain, values = UpperConfidenceBound(bonus=1.0).batch(prediction, 3)
    assert plain.tolist() == [0, 1, 2, 3, 4, 5]  # ucb asks member 0's question three times
    order, taken = sequential_batch(prediction, bonus=1.0, size=3)
    # Design 0 believed measured with noise the pool's mean variance: a design of the same
    # question keeps sqrt(v noise / (v + noise)) of its spread, the other question all of it.
    noise = (3 * 0.09 + 2 * 0.04) / 6

    def kept(v):
        return math.sqrt(v * noise / (v + noise))

    assert order.tolist() == [0, 3, 1, 4, 2, 5]
    assert taken[[0, 3]] == pytest.approx([1.3, 1.2])
    assert taken[1] == pytest.approx(0.99 + kept(0.09))  # 1.18: below design 3's 1.2
    # After design 1 (same question as 0, now at kept(0.09)) and design 3, the rest follow
    # by their acquisition after the last pick; each only ever loses bonus.
    assert np.all(taken <= values + 1e-12)
    assert taken[5] == pytest.approx(1.05)
    assert UpperConfidenceBound(1.0, sequential=True).batch(prediction, 3)[0].tolist() == (
        order.tolist()
    )


def test_sequential_batch_without_a_bonus_or_spread_is_greedy():
    prediction = two_questions()
    greedy = np.argsort(-prediction.mean, kind="stable")
    order, taken = sequential_batch(prediction, bonus=0.0, size=4)
    assert order.tolist() == greedy.tolist()
    assert taken == pytest.approx(prediction.mean)
    flat = prediction.scaled(0.0)  # a gated bonus: no spread at all
    order, taken = UpperConfidenceBound(bonus=1.0, sequential=True).batch(flat, 4)
    assert order.tolist() == greedy.tolist() and taken == pytest.approx(prediction.mean)


def test_sequential_batch_puts_unpredicted_designs_last():
    members = np.array([[0.5, np.nan, 0.1], [0.7, np.nan, 0.2], [0.6, np.nan, 0.3]])
    prediction = EnsemblePrediction(members.mean(0), members.std(0), members)
    order, taken = sequential_batch(prediction, bonus=1.0, size=3)
    assert order.tolist() == [0, 2, 1]
    assert math.isnan(taken[1]) and np.isfinite(taken[[0, 2]]).all()


def test_batch_sizes():
    assert batch_sizes(CampaignConfig(budget=500, batch_size=100)) == [100] * 5
    assert batch_sizes(CampaignConfig(budget=250, batch_size=100)) == [100, 100, 50]
    adaptive_free = CampaignConfig(budget=500, batch_size=100, variant="non_adaptive")
    assert batch_sizes(adaptive_free) == [400, 100]


def test_config_rejects_unknown_keys_and_variants(tmp_path):
    with pytest.raises(MolseikoError, match="unknown variant"):
        CampaignConfig(variant="magic")
    with pytest.raises(MolseikoError, match="unknown config keys buget"):
        CampaignConfig.from_dict({"buget": 3})
    config = CampaignConfig(objective="tdc:osimertinib_mpo", alpha=0.2, out='a "b"')
    path = tmp_path / "c.toml"
    path.write_text(config.to_toml())
    assert CampaignConfig.from_toml(path) == config
    assert CampaignConfig.from_toml(path, budget=7, seed=None).budget == 7


@pytest.mark.parametrize(
    "setting, message",
    [
        ({"alpha": "0.05"}, "alpha must be a number, not '0.05'"),  # quoted in the TOML
        ({"budget": 500.0}, "budget must be an integer"),
        ({"batch_size": True}, "batch_size must be an integer"),
        ({"calibrate_spread": "false"}, "calibrate_spread must be true or false"),
        ({"objective": 3}, "objective must be a string"),
        ({"alpha": -1.0}, "alpha must be >= 0"),
        ({"alpha": -0.5, "beta": -1.0}, "alpha, beta must be >= 0"),
        ({"finetune_lr": 0.0}, "finetune_lr must be > 0"),
        ({"seed": -1}, "seed must be >= 0"),
        ({"gate_bonus": 2}, "gate_bonus must be true or false"),
        ({"ensemble_size": np.float64(5.0)}, "ensemble_size must be an integer"),
        ({"device": "gpu"}, "unknown device 'gpu'"),
    ],
)
def test_config_rejects_values_of_the_wrong_type_or_range(setting, message):
    with pytest.raises(MolseikoError, match=f"^(config key )?{re.escape(message)}"):
        CampaignConfig.from_dict(setting)


def test_config_takes_what_earlier_versions_saved_and_numpy_scalars(tmp_path):
    """An integer for a number, 0 / 1 for a flag, numpy scalars (a sweep's np.linspace), a
    lower-confidence-bound bonus, mps: all become plain values, and config.toml reads back."""
    setting = {
        "alpha": 1,
        "beta": np.linspace(0.0, 0.1, 3)[1],
        "budget": np.int64(40),
        "calibrate_spread": 0,
        "gate_bonus": np.bool_(True),
        "bonus": -1.0,
        "device": "mps",
    }
    config = CampaignConfig.from_dict(setting)
    assert type(config.alpha) is float and type(config.beta) is float and config.beta == 0.05
    assert type(config.budget) is int and config.calibrate_spread is False
    assert config.gate_bonus is True and config.bonus == -1.0
    path = tmp_path / "c.toml"
    path.write_text(config.to_toml())
    assert CampaignConfig.from_toml(path) == config
    assert CampaignConfig.from_dict({"device": "cuda:1"}).device == "cuda:1"
    path.write_text('alpha = "0.05"\n')
    with pytest.raises(MolseikoError, match=f"^{re.escape(str(path))}: config key alpha"):
        CampaignConfig.from_toml(path)  # the file is named


def test_ledger_records_once_and_survives_reopening(tmp_path):
    ledger = Ledger(tmp_path / "l.sqlite")
    ledger.propose(1, ["CCO", "CCN"], [0.1, 0.2], [0.0, 0.1], [0.1, 0.3])
    assert ledger.unmeasured(1) == ["CCO", "CCN"]
    result = OracleResult(np.array([0.5]), [None], np.array([0.5]))
    ledger.record(1, "qed", ["CCO"], result)
    with pytest.raises(sqlite3.IntegrityError):  # a design is never measured twice
        ledger.record(1, "qed", ["CCO"], result)
    failed = OracleResult(np.array([np.nan]), ["invalid SMILES"], np.array([np.nan]))
    ledger.record(1, "qed", ["CCN"], failed)
    ledger.close()
    reopened = Ledger(tmp_path / "l.sqlite")
    assert reopened.count_measured() == 2 and reopened.unmeasured(1) == []
    rows = reopened.measurements()
    assert rows[0] == ("CCO", 0.5, 1) and math.isnan(rows[1][1])
    table = reopened.round_table(1)
    assert table[1]["failure"] == "invalid SMILES" and table[0]["acquisition"] == 0.1


def test_a_round_proposed_in_parts_numbers_each_part_after_the_last(tmp_path):
    """online_pg resumed mid-round proposes its round again: positions go on from the last
    one, and designs proposed before (or repeated) take none, so ids stay unique."""
    ledger = Ledger(tmp_path / "l.sqlite")
    nan = [math.nan] * 2
    ledger.propose(2, ["CCO", "CCN"], nan, nan, nan)
    ledger.propose(2, ["CCN", "CCC", "CCC"], *[[math.nan] * 3] * 3)
    ledger.propose(3, ["CCCl"], [0.1], [0.0], [0.1])
    positions = dict(ledger.connection.execute("SELECT key, position FROM designs WHERE round = 2"))
    assert positions == {"CCO": 0, "CCN": 1, "CCC": 2}
    assert [row["key"] for row in ledger.round_table(2)] == ["CCO", "CCN", "CCC"]
    assert ledger.connection.execute(
        "SELECT position FROM designs WHERE key = 'CCCl'"
    ).fetchone() == (0,)
    ledger.propose(4, ["CO", "CO"], [0.1, 0.9], [0.0, 0.0], [0.1, 0.9])  # the first one counts
    assert [(row["key"], row["r_hat"]) for row in ledger.round_table(4)] == [("CO", 0.1)]
    # Parts recorded as workers finish come back in batch order (then the next round).
    one = OracleResult(np.array([1.0]), [None], np.array([1.0]))
    for key in ("CCCl", "CCC", "CCO", "CCN"):
        ledger.record(3 if key == "CCCl" else 2, "qed", [key], one)
    assert [key for key, _, _ in ledger.measurements()] == ["CCO", "CCN", "CCC", "CCCl"]


def test_ledger_keeps_each_designs_source_and_opens_ledgers_written_before_it(tmp_path):
    """A ledger from before designs had a source (the old table, no column) gains the column on
    opening: its designs read back with source None, new ones with theirs."""
    with sqlite3.connect(tmp_path / "old.sqlite") as old:
        old.execute(
            "CREATE TABLE designs (key TEXT PRIMARY KEY, round INTEGER NOT NULL, position "
            "INTEGER NOT NULL, proposed_at REAL NOT NULL, r_hat REAL, s_hat REAL, "
            "acquisition REAL)"
        )
        old.execute("INSERT INTO designs VALUES ('CCO', 1, 0, 0.0, 0.1, 0.0, 0.1)")
    ledger = Ledger(tmp_path / "old.sqlite")
    ledger.propose(2, ["CCN", "CCC"], [0.2] * 2, [0.1] * 2, [0.3] * 2, source=["edit", "crossover"])
    assert ledger.round_table(1)[0]["source"] is None
    assert [row["source"] for row in ledger.round_table(2)] == ["edit", "crossover"]
    with pytest.raises(ValueError):  # one source per design
        ledger.propose(3, ["CCCl"], [0.2], [0.1], [0.3], source=["edit", "edit"])


def test_pmo_auc_known_values():
    from molseiko.engine.report import pmo_auc_top_k

    # Constant 1.0 from the first call: the curve rises from 0 to 1 over the first 100 calls.
    assert pmo_auc_top_k([1.0] * 300, 300, k=1) == pytest.approx((50 + 200) / 300)
    # Early stop at 100 calls of value 0.5: carried flat to the budget of 200.
    assert pmo_auc_top_k([0.5] * 100, 200, k=1) == pytest.approx((25 + 50) / 200)
    values = [0.0] * 100 + [1.0] * 100  # top-1 is 0 at 100 calls, then 1 at 200
    assert pmo_auc_top_k(values, 200, k=1) == pytest.approx(50 / 200)
    assert pmo_auc_top_k([float("nan")] * 10, 10, k=10) == 0.0
