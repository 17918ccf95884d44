import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from rdkit import Chem
from rdkit.Chem import QED

from molseiko.diffusion.checkpoint import load_model
from molseiko.engine.build import build_campaign
from molseiko.engine.campaign import (
    draw_count,
    error_over_spread,
    held_out,
    spread_calibration,
    spread_ranks_errors,
)
from molseiko.engine.ledger import Ledger
from molseiko.errors import MolseikoError


def same_weights(model: torch.nn.Module, other: torch.nn.Module) -> bool:
    return all(
        torch.equal(a, b) for a, b in zip(model.parameters(), other.parameters(), strict=True)
    )


def test_campaign_spends_budget_once_and_writes_run_directory(tiny_config, tmp_path):
    config = tiny_config()
    campaign = build_campaign(config, tmp_path / "run")
    pretrained = load_model(config.model)
    summaries = campaign.run()
    assert [s.calls for s in summaries] == [10, 20, 30]
    ledger = Ledger(tmp_path / "run" / "ledger.sqlite")
    rows = ledger.measurements()
    assert len(rows) == 30 == len({key for key, _, _ in rows})
    for key, value, _ in rows[:5]:  # the ledger holds the oracle's own numbers
        assert value == pytest.approx(QED.qed(Chem.MolFromSmiles(key)))
    metrics = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert metrics["round"].tolist() == [1, 2, 3]
    assert (metrics.best.diff().dropna() >= 0).all()
    assert metrics.spread.isna().tolist() == [True, False, False]  # no ensemble before round 1
    table = pd.read_csv(tmp_path / "run" / "rounds" / "round_02.csv")
    assert table.r_hat.notna().all() and table.value.notna().sum() > 0
    second = table.dropna(subset=["value"])  # how far the ensemble's errors outgrew its spread
    ratio = np.sqrt(np.mean((second.value - second.r_hat) ** 2) / np.mean(second.s_hat**2))
    assert len(second) == 10 and metrics.error_over_spread.iloc[1] == pytest.approx(ratio)
    assert math.isnan(metrics.error_over_spread.iloc[0])
    assert metrics.spread_factor.tolist() == [1.0, 1.0, 1.0]  # the spread as the ensemble gave it
    assert len(list(Chem.SDMolSupplier(str(tmp_path / "run" / "rounds" / "round_02.sdf")))) == 10
    for name in ("config.toml", "progress.png", "rounds.png", "state.json"):
        assert (tmp_path / "run" / name).is_file()
    # Fine-tuning moved the policy away from the pretrained weights.
    assert not same_weights(campaign.policy, pretrained) and metrics.kl_pretrained.iloc[-1] > 0


def test_pretrained_variant_never_fine_tunes(tiny_config, tmp_path):
    config = tiny_config(variant="pretrained", budget=20)
    campaign = build_campaign(config, tmp_path / "run")
    campaign.run()
    assert same_weights(campaign.policy, load_model(config.model))
    assert Ledger(tmp_path / "run" / "ledger.sqlite").count_measured() == 20


def test_only_a_ranked_pool_is_oversampled(tiny_config, tmp_path, monkeypatch):
    """Without a reward model to rank it (round 1, `pretrained`, select = "sample") the batch
    is the first new designs, so a round draws about the batch, not pool_factor times it; a
    ranked round draws the whole pool at once. Every batch is still full."""
    from molseiko.engine.campaign import Campaign

    draws = []
    original = Campaign.draw_pool

    def spy(self, round_, pool, parents, attempt, generator):
        draws.append((self.config.variant, self.config.select, round_, attempt, pool))
        return original(self, round_, pool, parents, attempt, generator)

    monkeypatch.setattr(Campaign, "draw_pool", spy)
    settings = dict(budget=30, batch_size=10, pool_factor=8, finetune_iterations=1)
    cases = [
        ("pretrained", "ucb", 0),
        ("ucb", "sample", 0),
        ("ucb", "ucb", 0),
        ("ucb", "sequential", 0),
        ("pretrained", "ucb", 1),  # a family limit thins what is drawn: the whole pool
    ]
    for variant, select, limit in cases:
        run = tmp_path / f"{variant}-{select}-{limit}"
        config = tiny_config(variant=variant, select=select, max_per_scaffold=limit, **settings)
        build_campaign(config, run).run()
        ledger = Ledger(run / "ledger.sqlite")
        if not limit:  # (a family limit may leave a batch short even of the whole pool)
            assert [len(ledger.round_table(r)) for r in (1, 2, 3)] == [10, 10, 10]
        for round_ in (1, 2, 3):
            sizes = [d[4] for d in draws if d[:3] == (variant, select, round_)]
            draws[:] = [d for d in draws if d[:3] != (variant, select, round_)]
            if (select != "sample" and variant != "pretrained" and round_ > 1) or limit:
                assert sizes[0] == 80  # ranked or thinned: the whole pool in one draw
            else:
                assert sizes[0] == 10 and sum(sizes) < 80, sizes


def test_draw_count_known_answers():
    """What a round that ranks nothing draws: the batch at first, then what it still needs
    over the share that survived (never below 10%) with half again as margin, capped at the
    pool, and the whole pool on the last try."""
    assert draw_count(100, 1000, kept=0, drawn=0, attempt=0, tries=5) == 100
    assert draw_count(100, 1000, kept=90, drawn=100, attempt=1, tries=5) == 17  # 10 / 0.9 x 1.5
    assert draw_count(100, 1000, kept=60, drawn=300, attempt=2, tries=5) == 300  # 40 / 0.2 x 1.5
    assert draw_count(100, 1000, kept=5, drawn=500, attempt=1, tries=5) == 1000  # survival 0.1
    assert draw_count(100, 1000, kept=99, drawn=100, attempt=4, tries=5) == 1000  # the last try


@pytest.mark.parametrize("operators", ["acyclic", "graph_ga"])
def test_no_fine_tuning_keeps_the_pretrained_policy_but_still_learns_the_reward(
    tiny_config, tmp_path, operators, monkeypatch
):
    """finetune_iterations = 0 with graph_crossover = 1 (the benchmark's no-generator
    ablation): the policy is never updated, and after round 1 the batch is the pool's
    crossover children, made by the operators asked for, with the highest r_hat + s_hat, in
    that order."""
    from molseiko.domains import graph_ga, molecule

    made = {"acyclic": 0, "graph_ga": 0}

    def counted(name, operator):
        def wrapped(parents, count, rng):
            made[name] += 1
            return operator(parents, count, rng)

        return wrapped

    monkeypatch.setattr(molecule, "graph_crossover", counted("acyclic", molecule.graph_crossover))
    monkeypatch.setattr(graph_ga, "ga_children", counted("graph_ga", graph_ga.ga_children))
    config = tiny_config(
        budget=20,
        finetune_iterations=0,
        graph_crossover=1.0,
        infill=0.0,
        infill_parents=6,
        crossover_operators=operators,
    )
    campaign = build_campaign(config, tmp_path / "run")
    assert campaign.finetuner is None
    summaries = campaign.run()
    assert same_weights(campaign.policy, load_model(config.model))
    assert [s.kl_pretrained for s in summaries] == [0.0, 0.0]
    batch = pd.read_csv(tmp_path / "run" / "rounds" / "round_02.csv")
    assert set(batch.source) == {"crossover"}
    np.testing.assert_allclose(batch.acquisition, batch.r_hat + batch.s_hat)  # ucb, c = 1
    assert batch.acquisition.is_monotonic_decreasing
    assert made[operators] >= 1 and sum(made.values()) == made[operators]
    for variant in ("online_pg", "non_adaptive"):  # these are defined by their fine-tuning
        with pytest.raises(MolseikoError, match="finetune_iterations must be >= 1"):
            tiny_config(variant=variant, finetune_iterations=0)
    with pytest.raises(MolseikoError, match="crossover_operators must be one of acyclic"):
        tiny_config(crossover_operators="jensen")
    with pytest.raises(MolseikoError, match="finetune_iterations must be >= 0"):
        tiny_config(finetune_iterations=-1)


def test_select_sequential_takes_the_batch_in_the_order_it_picks(
    tiny_config, tmp_path, monkeypatch
):
    """select = "sequential": the batch is the pool's first `size` designs in the order
    sequential_batch picks them, each recorded with its acquisition when it was taken (the
    first at r_hat + s_hat, the rest with a bonus only ever shrunk)."""
    from molseiko.engine import acquisition

    calls = []
    original = acquisition.UpperConfidenceBound.batch

    def spy(self, prediction, size):
        order, values = original(self, prediction, size)
        calls.append((prediction, size, order, values))
        return order, values

    monkeypatch.setattr(acquisition.UpperConfidenceBound, "batch", spy)
    config = tiny_config(
        budget=20,
        ensemble_size=3,
        finetune_iterations=0,
        graph_crossover=1.0,
        infill=0.0,
        infill_parents=6,
        select="sequential",
    )
    build_campaign(config, tmp_path / "run").run()
    ((prediction, size, order, values),) = calls
    assert size == 10
    expected, taken = acquisition.sequential_batch(prediction, 1.0, 10)
    assert order.tolist() == expected.tolist()
    batch = pd.read_csv(tmp_path / "run" / "rounds" / "round_02.csv")
    np.testing.assert_allclose(batch.acquisition, taken[order[:10]])
    np.testing.assert_allclose(batch.r_hat, prediction.mean[order[:10]], rtol=1e-5)
    ucb = batch.r_hat + batch.s_hat
    assert batch.acquisition[0] == pytest.approx(ucb[0])
    assert np.all(batch.acquisition <= ucb + 1e-9) and np.all(
        batch.acquisition >= batch.r_hat - 1e-9
    )
    assert np.any(batch.acquisition < ucb - 1e-6)  # the bonus was shared out
    for variant in ("greedy", "bootstrap", "thompson"):
        with pytest.raises(MolseikoError, match="needs variant ucb or non_adaptive"):
            tiny_config(variant=variant, select="sequential")
    for setting in ({"bonus": -1.0}, {"max_per_scaffold": 2}):
        with pytest.raises(MolseikoError, match="sequential' needs bonus >= 0 .* no max_per"):
            tiny_config(select="sequential", **setting)
    with pytest.raises(MolseikoError, match="select must be 'sample', 'ucb' or 'sequential'"):
        tiny_config(select="batch")


def test_non_adaptive_spends_all_but_one_batch_first(tiny_config, tmp_path):
    summaries = build_campaign(tiny_config(variant="non_adaptive"), tmp_path / "run").run()
    assert [s.calls for s in summaries] == [20, 30]


SLOW_ORACLE = """
import time
from molseiko.oracles.base import Oracle

class Slow(Oracle):
    name = "slow_heavy_atoms"
    def measure(self, designs):
        time.sleep(0.05 * len(designs))
        with open({log!r}, "a") as handle:
            handle.write("".join(d + "\\n" for d in designs))
        values = [float(len(d)) for d in designs]
        return values, [None] * len(designs)
"""


@pytest.mark.parametrize("delay", [0.0, 0.7])
def test_kill_9_then_resume_loses_nothing_and_measures_nothing_twice(tiny_config, tmp_path, delay):
    log = tmp_path / "oracle_calls.txt"
    plugin = tmp_path / "slow.py"
    plugin.write_text(SLOW_ORACLE.format(log=str(log)))
    config = tiny_config(objective=f"{plugin}:Slow", budget=40, out=str(tmp_path / "run"))
    (tmp_path / "c.toml").write_text(config.to_toml())
    command = [sys.executable, "-m", "molseiko.cli", "optimize", str(tmp_path / "c.toml")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    ledger_path = tmp_path / "run" / "ledger.sqlite"
    deadline = time.time() + 120
    while time.time() < deadline and _count(ledger_path) < 10:
        time.sleep(0.05)
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = _measured(ledger_path)
    assert 10 <= len(before) < 40
    calls_before = log.read_text().splitlines()

    resumed = subprocess.run(
        [sys.executable, "-m", "molseiko.cli", "optimize", "--resume", str(tmp_path / "run")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    after = _measured(ledger_path)
    assert len(after) == 40
    assert all(after[key] == value for key, value in before.items())  # nothing lost or changed
    calls_after = log.read_text().splitlines()[len(calls_before) :]
    assert not set(calls_after) & set(before)  # nothing recorded was sent to the oracle again
    assert len(calls_after) == len(set(calls_after))


def _count(path) -> int:
    if not path.is_file():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
            return connection.execute("SELECT COUNT(*) FROM measurements").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def _measured(path) -> dict[str, float]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
        return dict(connection.execute("SELECT key, value FROM measurements"))


def test_online_pg_pays_the_oracle_for_every_new_sample(tiny_config, tmp_path):
    config = tiny_config(variant="online_pg", finetune_lr=1e-2)
    campaign = build_campaign(config, tmp_path / "run")
    summaries = campaign.run()
    calls = [s.calls for s in summaries]
    assert (
        calls == sorted(calls)
        and calls[-1] <= 30
        and all(c <= 10 * (i + 1) for i, c in enumerate(calls))
    )
    ledger = Ledger(tmp_path / "run" / "ledger.sqlite")
    assert ledger.count_measured() == calls[-1]
    assert not same_weights(campaign.policy, load_model(config.model))


def test_online_pg_spends_a_last_single_call_without_an_update(tiny_config, tmp_path):
    """budget % batch_size == 1: one path has no leave-one-out baseline, so the last round
    measures one sample of the policy and leaves the policy as it was."""
    config = tiny_config(variant="online_pg", budget=7, batch_size=3)
    campaign = build_campaign(config, tmp_path / "run")
    summaries = campaign.run()
    assert len(summaries) == 3  # batches of 3, 3, 1
    assert summaries[-1].calls - summaries[-2].calls == 1
    assert summaries[-1].kl_pretrained == summaries[-2].kl_pretrained  # no update
    checkpoints = tmp_path / "run" / "checkpoints"
    last, before = (load_model(checkpoints / f"policy_round_{r:02d}.pt") for r in (3, 2))
    assert same_weights(last, before)
    campaign.close()


def test_a_crash_mid_batch_keeps_the_parts_already_measured(tiny_config, tmp_path):
    """The oracle hands back part of round 2, then the process dies: those measurements are
    in the ledger, and the resumed run measures only the rest of the batch."""
    config = tiny_config(budget=20, batch_size=10)
    campaign = build_campaign(config, tmp_path / "run")
    oracle = campaign.oracle
    asked = []

    def dying(designs):
        designs = list(designs)
        asked.append(designs)
        parts = oracle.parts(designs)
        if len(asked) == 2:  # round 2: hand back 4 designs, then die
            yield [0, 1, 2, 3], oracle(designs[:4])
            raise KeyboardInterrupt
        yield from parts

    campaign.oracle = SimpleNamespace(name=oracle.name, parts=dying)
    with pytest.raises(KeyboardInterrupt):
        campaign.run()
    campaign.close()
    ledger = Ledger(tmp_path / "run" / "ledger.sqlite")
    assert ledger.count_measured() == 14 and len(ledger.unmeasured(2)) == 6
    ledger.close()
    resumed = build_campaign(config, tmp_path / "run")
    remeasured = []
    resumed.oracle = SimpleNamespace(
        name=oracle.name,
        parts=lambda designs: remeasured.append(list(designs)) or oracle.parts(designs),
    )
    resumed.run()
    assert remeasured == [asked[1][4:]]  # the 6 designs still unmeasured, nothing twice
    assert Ledger(tmp_path / "run" / "ledger.sqlite").count_measured() == 20
    resumed.close()


def test_a_round_resumed_after_its_batch_fine_tunes_as_the_unbroken_run(tiny_config, tmp_path):
    """Killed after round 2 was measured, before it fine-tuned: the resumed run does not sample
    round 2 again, yet it fine-tunes from the same stream as a run never killed, so round 3's
    batch and the final policy are the same."""
    config = tiny_config(budget=30, batch_size=10)
    unbroken = build_campaign(config, tmp_path / "unbroken")
    unbroken.run()
    killed = build_campaign(config, tmp_path / "killed")
    fit = killed._fit_ensemble

    def dying(round_):
        if round_ == 2:
            raise KeyboardInterrupt
        fit(round_)

    killed._fit_ensemble = dying
    with pytest.raises(KeyboardInterrupt):
        killed.run()
    killed.close()
    resumed = build_campaign(config, tmp_path / "killed")
    assert resumed.completed == 1 and resumed.ledger.count_measured() == 20
    resumed.run()
    for round_ in (2, 3):
        keys = [row["key"] for row in resumed.ledger.round_table(round_)]
        assert keys == [row["key"] for row in unbroken.ledger.round_table(round_)]
    assert same_weights(resumed.policy, unbroken.policy)
    unbroken.close()
    resumed.close()


def test_parts_that_skip_designs_are_an_error_not_a_silent_gap(tiny_config, tmp_path):
    campaign = build_campaign(tiny_config(budget=10), tmp_path / "run")
    oracle = campaign.oracle

    def skipping(designs):
        yield [0, 1], oracle(list(designs)[:2])

    campaign.oracle = SimpleNamespace(name=oracle.name, parts=skipping)
    with pytest.raises(MolseikoError, match="handed back 2 of 10 designs"):
        campaign.run()
    campaign.close()
    assert Ledger(tmp_path / "run" / "ledger.sqlite").count_measured() == 2  # kept


ALL_FAIL_ORACLE = """
from molseiko.oracles.base import Oracle

class AllFail(Oracle):
    name = "all_fail"
    def measure(self, designs):
        return [float("nan")] * len(designs), ["assay plate lost"] * len(designs)
"""


def test_campaign_survives_rounds_without_usable_measurements(tiny_config, tmp_path):
    plugin = tmp_path / "fail.py"
    plugin.write_text(ALL_FAIL_ORACLE)
    campaign = build_campaign(tiny_config(objective=f"{plugin}:AllFail"), tmp_path / "run")
    summaries = campaign.run()
    assert [s.calls for s in summaries] == [10, 20, 30]
    assert [s.failures for s in summaries] == [10, 10, 10]
    table = pd.read_csv(tmp_path / "run" / "rounds" / "round_01.csv")
    assert (table.failure == "assay plate lost").all()


def run_recording_finetune_scales(config, run_dir):
    """Run a campaign; also return the spread factor each fine-tuning ran with."""
    campaign = build_campaign(config, run_dir)
    scales = []
    reward_function = campaign._reward_function
    campaign._reward_function = lambda scale=1.0: scales.append(scale) or reward_function(scale)
    campaign.run()
    return campaign, scales


def test_calibrate_spread_stretches_the_bonus_by_the_last_batchs_error_over_its_spread(
    tiny_config, tmp_path
):
    config = tiny_config(budget=36, batch_size=12, calibrate_spread=True)
    campaign, scales = run_recording_finetune_scales(config, tmp_path / "run")
    rounds = tmp_path / "run" / "rounds"
    second = pd.read_csv(rounds / "round_02.csv").dropna(subset=["value"])
    assert len(second) >= 10
    expected = np.sqrt(np.mean((second.value - second.r_hat) ** 2) / np.mean(second.s_hat**2))
    assert expected != pytest.approx(1.0)
    metrics = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert metrics.error_over_spread.iloc[1] == pytest.approx(expected)
    # Round 2 had no earlier batch with predictions (round 1 is the model's first samples).
    assert campaign.spread_scale(2) == 1.0 and campaign.spread_scale(3) == pytest.approx(expected)
    # Round 3 was chosen by r_hat + c * (scale * s_hat); its CSV keeps the raw s_hat.
    third = pd.read_csv(rounds / "round_03.csv")
    assert third.acquisition.to_numpy() == pytest.approx(
        (third.r_hat + config.bonus * expected * third.s_hat).to_numpy()
    )
    assert scales == [1.0, pytest.approx(expected)]
    metrics = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert metrics.spread_factor.tolist() == pytest.approx([1.0, 1.0, expected], abs=1e-5)
    campaign.close()


def test_gate_bonus_lets_the_spread_act_only_after_a_batch_shows_it_ranking_the_errors(
    tiny_config, tmp_path
):
    config = tiny_config(budget=36, batch_size=12, gate_bonus=True)
    campaign, scales = run_recording_finetune_scales(config, tmp_path / "run")
    rounds = tmp_path / "run" / "rounds"
    second = pd.read_csv(rounds / "round_02.csv")
    # Round 1 (the model's first samples) was never predicted: round 2 is chosen by r_hat alone.
    assert (second.s_hat > 0).all()
    assert second.acquisition.to_numpy() == pytest.approx(second.r_hat.to_numpy())
    measured = second.dropna(subset=["value"])
    assert len(measured) >= 10
    ranks = spread_calibration(*measured[["value", "r_hat", "s_hat"]].to_numpy().T) > 0
    assert campaign.spread_scale(2) == 0.0 and campaign.spread_scale(3) == float(ranks)
    third = pd.read_csv(rounds / "round_03.csv")
    assert third.acquisition.to_numpy() == pytest.approx(
        (third.r_hat + config.bonus * float(ranks) * third.s_hat).to_numpy()
    )
    assert scales == [0.0, float(ranks)]
    metrics = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert metrics.spread_factor.tolist() == [0.0, 0.0, float(ranks)]
    campaign.close()


def test_gate_finetune_false_gates_only_the_choice_of_batches(tiny_config, tmp_path):
    config = tiny_config(budget=36, batch_size=12, gate_bonus=True, gate_finetune=False)
    campaign, scales = run_recording_finetune_scales(config, tmp_path / "run")
    second = pd.read_csv(tmp_path / "run" / "rounds" / "round_02.csv")
    assert second.acquisition.to_numpy() == pytest.approx(second.r_hat.to_numpy())  # gated
    assert scales == [1.0, 1.0]  # the fine-tuning after rounds 1 and 2 was not
    campaign.close()


def test_spread_scale_known_answers_for_each_setting(tiny_config, tmp_path):
    """spread_scale from a given latest checked batch: ranked errors open the gate, anti-ranked
    ones close it (for fine-tuning too unless gate_finetune = false), and calibrate_spread
    stretches by the batch's error over spread."""
    error = np.linspace(0.1, 1.0, 10)
    ranked = (np.zeros(10), error, error / 2)  # errors twice the spread: RMS ratio 2
    anti = (np.zeros(10), error, (1.1 - error) / 2)
    settings = {
        "gate": dict(gate_bonus=True),
        "gate_select": dict(gate_bonus=True, gate_finetune=False),
        "both": dict(gate_bonus=True, calibrate_spread=True),
    }
    expected = {  # (ranked, anti-ranked, none yet) for selection; fine-tuning with anti-ranked
        "gate": ((1.0, 0.0, 0.0), 0.0),
        "gate_select": ((1.0, 0.0, 0.0), 1.0),
        "both": ((2.0, 0.0, 0.0), 0.0),
    }
    for name, overrides in settings.items():
        campaign = build_campaign(tiny_config(**overrides), tmp_path / name)
        scales = []
        for checked in (ranked, anti, None):
            campaign._latest_held_out = lambda round_, checked=checked: checked
            scales.append(campaign.spread_scale(3))
        assert scales == pytest.approx(expected[name][0]), name
        campaign._latest_held_out = lambda round_: anti
        assert campaign.spread_scale(3, finetune=True) == expected[name][1], name
        campaign.close()


def test_spread_ranks_errors_known_answers():
    error = np.linspace(0.0, 0.9, 10)
    value = np.zeros(10)
    assert spread_calibration(value, error, error + 0.1) == pytest.approx(1.0)
    assert spread_ranks_errors(value, error, error + 0.1)  # wider where it errs more
    assert not spread_ranks_errors(value, error, 1.0 - error)  # wider where it errs less
    assert not spread_ranks_errors(value, error, np.full(10, 0.2))  # no ranking at all
    assert not spread_ranks_errors(value[:9], error[:9], error[:9] + 0.1)  # too few designs


def test_error_over_spread_known_answers():
    off_by_ten = {"value": 1.0, "r_hat": 0.0, "s_hat": 0.1}  # errors 10 times the spread
    assert error_over_spread(*held_out([off_by_ten] * 10)) == pytest.approx(10.0)
    # Errors of 0.3 and 0.4 (RMS 0.354) against spreads of 0.1 and 0.2 (RMS 0.158): 2.236.
    pair = [{"value": 0.3, "r_hat": 0.0, "s_hat": 0.1}, {"value": 0.0, "r_hat": 0.4, "s_hat": 0.2}]
    assert error_over_spread(*held_out(pair * 5)) == pytest.approx(math.sqrt(0.125 / 0.025))
    assert math.isnan(error_over_spread(*held_out([off_by_ten] * 9)))  # too few to calibrate on
    failed = [{**off_by_ten, "value": None}] * 20  # failures and unpredicted designs do not count
    unpredicted = [{**off_by_ten, "r_hat": None, "s_hat": None}] * 20
    assert len(held_out(failed + unpredicted + [off_by_ten])[0]) == 1
    assert math.isnan(error_over_spread(*held_out([{**off_by_ten, "s_hat": 0.0}] * 10)))


def test_resume_refits_the_ensemble_from_the_ledger(tiny_config, tmp_path):
    config = tiny_config(budget=20)
    first = build_campaign(config, tmp_path / "run")
    first.run_round(1, 10, last=False)
    with pytest.raises(MolseikoError, match="in use by another molseiko process"):
        build_campaign(config, tmp_path / "run")  # one Campaign per run directory at a time
    first.close()
    resumed = build_campaign(config, tmp_path / "run")
    assert resumed.completed == 1 and resumed.ensemble.models  # ready to rank round 2
    prediction = resumed.ensemble.predict(["CCO"])
    assert np.allclose(prediction.members, first.ensemble.predict(["CCO"]).members)


def test_resume_after_a_round_that_found_nothing_new_still_refits_the_ensemble(
    tiny_config, tmp_path
):
    """A collapsed policy can finish a round with no new design to propose; the ledger's last
    round is then older than the last completed one, and the resumed run must still rank."""
    config = tiny_config(budget=30)
    first = build_campaign(config, tmp_path / "run")
    first.run_round(1, 10, last=False)
    first.draw_pool = lambda *args: []  # round 2: nothing new to propose
    first.run_round(2, 10, last=False)
    assert first.completed == 2 and first.ledger.last_round() == 1
    first.close()
    resumed = build_campaign(config, tmp_path / "run")
    assert resumed.completed == 2 and resumed.ensemble.models  # ready to rank round 3
    resumed.close()


def test_a_kill_while_writing_the_last_rounds_metrics_loses_no_row(
    tiny_config, tmp_path, monkeypatch
):
    """metrics.csv is written before the round counts as done, so a kill in between reruns
    the round (from the ledger: no oracle call) and the resumed run writes every row."""
    from molseiko.engine import campaign as campaign_module

    config = tiny_config(budget=20)
    first = build_campaign(config, tmp_path / "run")
    write_metrics = campaign_module.write_metrics

    def dying(run_dir, summaries):
        if len(summaries) == 2:
            raise KeyboardInterrupt
        write_metrics(run_dir, summaries)

    monkeypatch.setattr(campaign_module, "write_metrics", dying)
    with pytest.raises(KeyboardInterrupt):
        first.run()
    first.close()
    monkeypatch.setattr(campaign_module, "write_metrics", write_metrics)
    resumed = build_campaign(config, tmp_path / "run")
    resumed.run()
    resumed.close()
    assert pd.read_csv(tmp_path / "run" / "metrics.csv")["round"].tolist() == [1, 2]


def test_infill_edits_the_best_measured_designs_into_the_pool(tiny_config, tmp_path):
    """With infill = 1 the whole pool after round 1 is edits: the engine hands the policy the best
    finite measurements, asks for pool x infill children, and proposes only from them."""
    from molseiko.engine.build import DEFAULT_CROSSOVER

    config = tiny_config(budget=20, infill=1.0, infill_parents=3, pool_factor=2)
    campaign = build_campaign(config, tmp_path / "run")
    calls = []
    children = ["CCCCO", "CCCCN", "CCCCF", "CCCCCl", "c1ccncc1", "OCCCO", "NCCCN", "CC(C)CO"]
    children += ["CCCC(=O)O", "CCCCC#N", "CC1CCCC1", "C1CCOC1"]

    def fake_infill(parents, n, mask_fraction, steps, generator, template=None, crossover=0.0):
        calls.append((list(parents), n, mask_fraction, crossover))
        return (children + [None]) * 2  # invalid children are dropped like invalid samples

    campaign.policy.infill = fake_infill
    campaign.run_round(1, 10, last=False)
    assert calls == []  # nothing measured yet: round 1 samples from scratch
    measured = sorted(((v, k) for k, v, _ in campaign.ledger.measurements()), reverse=True)
    campaign.run_round(2, 10, last=True)
    assert calls == [([k for _, k in measured[:3]], 20, config.infill_mask, DEFAULT_CROSSOVER)]
    round_two = campaign.ledger.proposed(2)
    assert len(round_two) == 10 and set(round_two) <= set(children)


def test_infill_needs_feedback_and_an_editing_model(tiny_config, tmp_path):
    campaign = build_campaign(tiny_config(variant="pretrained", infill=1.0), tmp_path / "run")
    assert campaign._parents() == []  # model-free variants use no measurement
    with pytest.raises(MolseikoError, match="infill must lie in"):
        tiny_config(infill=1.5)
    with pytest.raises(MolseikoError, match="infill_mask must lie in"):
        tiny_config(infill_mask=0.0)
    with pytest.raises(MolseikoError, match="infill_crossover must lie in"):
        tiny_config(infill_crossover=-0.5)


def test_default_infill_resolves_per_model_and_is_saved(tiny_config, tmp_path):
    from molseiko.domains.graph_ga import ga_children
    from molseiko.domains.molecule import graph_crossover
    from molseiko.engine.build import DEFAULT_CROSSOVER, DEFAULT_GRAPH_CROSSOVER, DEFAULT_INFILL
    from molseiko.engine.config import CampaignConfig

    # A molecule model: half the pool crossed, half of the rest edited (a quarter), some spliced.
    campaign = build_campaign(tiny_config(budget=10), tmp_path / "run")
    assert campaign.config.graph_crossover == DEFAULT_GRAPH_CROSSOVER == 0.5
    assert campaign.config.infill == DEFAULT_INFILL * 0.5 == 0.25
    assert campaign.config.infill_crossover == DEFAULT_CROSSOVER
    # ... crossed with the Graph GA's operators, named in the saved config.
    assert campaign.config.crossover_operators == "graph_ga"
    assert campaign.domain.crossover is ga_children
    saved = CampaignConfig.from_toml(tmp_path / "run" / "config.toml")
    assert (saved.graph_crossover, saved.infill, saved.infill_crossover) == (0.5, 0.25, 0.5)
    assert saved.crossover_operators == "graph_ga"
    campaign.close()
    resumed = build_campaign(tiny_config(budget=10), tmp_path / "run")  # same campaign
    assert (resumed.config.graph_crossover, resumed.config.infill) == (0.5, 0.25)
    assert resumed.config.crossover_operators == "graph_ga"
    resumed.close()
    # A run saved with the acyclic cut resumes with it when the operators are left empty...
    acyclic = build_campaign(tiny_config(budget=10, crossover_operators="acyclic"), tmp_path / "a")
    assert acyclic.domain.crossover is graph_crossover
    acyclic.close()
    again = build_campaign(tiny_config(budget=10), tmp_path / "a")
    assert again.config.crossover_operators == "acyclic"
    assert again.domain.crossover is graph_crossover
    again.close()
    with pytest.raises(MolseikoError, match="other settings"):  # ...and not with the GA's
        build_campaign(tiny_config(budget=10, crossover_operators="graph_ga"), tmp_path / "a")
    # The user's edits keep their share; crossover takes at most what they leave.
    assert build_campaign(tiny_config(infill=0.8), tmp_path / "e").config.graph_crossover == 0.2
    assert build_campaign(tiny_config(graph_crossover=1.0), tmp_path / "f").config.infill == 0.0


def _drop_keys(run_dir, *keys):
    """Make a saved config look as if it predates `keys`."""
    text = (run_dir / "config.toml").read_text()
    lines = [x for x in text.splitlines() if not x.startswith(tuple(f"{k} =" for k in keys))]
    (run_dir / "config.toml").write_text("\n".join(lines))


def test_runs_saved_before_a_setting_existed_resume_without_it(tiny_config, tmp_path):
    from molseiko.engine.build import DEFAULT_INFILL
    from molseiko.engine.config import CampaignConfig

    # Saved before edits existed (no `infill` key, none of the later ones): none were made.
    old = tmp_path / "old"
    build_campaign(tiny_config(budget=10, infill=0.0), old).close()
    _drop_keys(old, "infill", "infill_crossover", "graph_crossover", "crossover_operators")
    assert CampaignConfig.from_toml(old / "config.toml").infill == -1.0
    saved = CampaignConfig.from_saved(old / "config.toml")  # as the run was made: no edits
    assert (saved.infill, saved.infill_crossover, saved.graph_crossover) == (0.0, 0.0, 0.0)
    again = build_campaign(CampaignConfig.from_toml(old / "config.toml"), old)
    assert (again.config.infill, again.config.infill_crossover) == (0.0, 0.0)
    assert again.config.graph_crossover == 0.0
    again.close()
    # Saved with crossovers before their operators could be chosen: the acyclic cut, the only
    # one then, even though a new molecule campaign now takes the Graph GA's.
    cut = tmp_path / "cut"
    build_campaign(tiny_config(budget=10, crossover_operators="acyclic"), cut).close()
    _drop_keys(cut, "crossover_operators")
    assert CampaignConfig.from_toml(cut / "config.toml").crossover_operators == ""
    resumed = build_campaign(tiny_config(budget=10), cut)
    assert resumed.config.crossover_operators == "acyclic"
    resumed.close()
    assert 'crossover_operators = "acyclic"' in (cut / "config.toml").read_text()
    # Saved with edits but before either crossover existed: edits only, at their old share.
    edits = tmp_path / "edits"
    build_campaign(
        tiny_config(budget=10, infill=DEFAULT_INFILL, graph_crossover=0.0), edits
    ).close()
    _drop_keys(edits, "infill_crossover", "graph_crossover")
    resumed = build_campaign(tiny_config(budget=10), edits)  # a plain CLI call: defaults
    assert resumed.config.infill == DEFAULT_INFILL
    assert (resumed.config.infill_crossover, resumed.config.graph_crossover) == (0.0, 0.0)


def test_runs_saved_before_descriptors_were_the_default_resume_without_them(tiny_config, tmp_path):
    from molseiko.engine.config import CampaignConfig

    old = tmp_path / "old"
    build_campaign(tiny_config(budget=10, ensemble_descriptors=False), old).close()
    _drop_keys(old, "ensemble_descriptors")
    assert CampaignConfig.from_toml(old / "config.toml").ensemble_descriptors  # today's default
    saved = CampaignConfig.from_saved(old / "config.toml")
    assert not saved.ensemble_descriptors  # ...but the run was made without them
    resumed = build_campaign(saved, old)
    assert not resumed.config.ensemble_descriptors and not resumed.ensemble.config.descriptors
    resumed.close()
    assert "ensemble_descriptors = false" in (old / "config.toml").read_text()
    with pytest.raises(MolseikoError, match="other settings"):  # a new campaign is not that run
        build_campaign(tiny_config(budget=10), old)
    new = build_campaign(tiny_config(budget=10), tmp_path / "new")
    assert (
        new.ensemble.config.descriptors
        and "ensemble_descriptors = true" in (tmp_path / "new" / "config.toml").read_text()
    )
    new.close()


def test_edits_the_model_cannot_make_are_replaced_by_fresh_samples(tiny_config, tmp_path):
    """No parent encodes (infill returns nothing): the pool keeps its size with fresh samples."""
    config = tiny_config(budget=20, infill=0.5, graph_crossover=0.0, pool_factor=4)
    campaign = build_campaign(config, tmp_path / "run")
    campaign.run_round(1, 10, last=False)
    campaign.policy.infill = lambda *args, **kwargs: []
    sizes = []
    sample = campaign.policy.sample

    def counting_sample(n, *args, **kwargs):
        sizes.append(n)
        return sample(n, *args, **kwargs)

    campaign.policy.sample = counting_sample
    campaign.propose_batch(2, 10, campaign._generator(2))
    assert sizes[:2] == [20, 20]  # half the pool of 40 fresh, then the 20 missing edits


def test_graph_crossover_children_of_the_best_designs_fill_their_share_of_the_pool(
    tiny_config, tmp_path
):
    """graph_crossover = 1: after round 1 the whole pool is the domain's crossover children of
    the best finite measurements, pool x share of them, and the batch is drawn from them."""
    config = tiny_config(
        budget=20, infill=0.0, graph_crossover=1.0, infill_parents=4, pool_factor=2
    )
    campaign = build_campaign(config, tmp_path / "run")
    calls = []
    children = ["CCCCO", "CCCCN", "CCCCF", "CCCCCl", "c1ccncc1", "OCCCO", "NCCCN", "CC(C)CO"]
    children += ["CCCC(=O)O", "CCCCC#N", "CC1CCCC1", "C1CCOC1"]

    def fake_crossover(parents, count, rng):
        calls.append((list(parents), count))
        return children + ["C1CC"]  # an invalid child is dropped like an invalid sample

    campaign.domain = replace(campaign.domain, crossover=fake_crossover)
    campaign.run_round(1, 10, last=False)
    assert calls == []  # nothing measured yet: round 1 samples from scratch
    measured = sorted(((v, k) for k, v, _ in campaign.ledger.measurements()), reverse=True)
    campaign.run_round(2, 10, last=True)
    assert calls == [([k for _, k in measured[:4]], 20)]
    round_two = campaign.ledger.proposed(2)
    assert len(round_two) == 10 and set(round_two) <= {Chem.CanonSmiles(c) for c in children}


def test_graph_crossover_settings_are_checked(tiny_config):
    with pytest.raises(MolseikoError, match="graph_crossover must lie in"):
        tiny_config(graph_crossover=1.5)
    with pytest.raises(MolseikoError, match="must not exceed 1"):
        tiny_config(infill=0.6, graph_crossover=0.5)


def test_draw_from_library_takes_valid_new_designs_once_in_the_seeds_order():
    from molseiko.domains.molecule import canonical_smiles
    from molseiko.engine.campaign import draw_from_library

    library = ["CCO", "OCC", "not smiles", "c1ccccc1", "CCN", "C(C)N", "CCCl"]
    everything, drawn, valid = draw_from_library(library, 10, 0, canonical_smiles)
    assert sorted(everything) == ["CCCl", "CCN", "CCO", "c1ccccc1"]  # a repeat is drawn once
    assert (drawn, valid) == (7, 6)
    known = {"CCO", "CCN"}
    two, drawn, _ = draw_from_library(library, 2, 0, canonical_smiles, known.__contains__)
    assert two == [key for key in everything if key not in known][:2]  # the same order
    assert drawn < 7  # it stops once it has enough
    assert draw_from_library(library, 10, 1, canonical_smiles)[0] != everything  # seed's order


def test_first_batch_is_drawn_from_the_library_then_the_model_takes_over(tiny_config, tmp_path):
    library = ["OCC(O)CO", "c1ccccc1O", "CC(=O)Nc1ccccc1", "not a molecule", "C1CC", "CCN(CC)CC"]
    library += ["c1ccccc1O"]  # a repeat is drawn once
    path = tmp_path / "shelf.csv"
    pd.DataFrame({"smiles": library, "id": range(len(library))}).to_csv(path, index=False)
    config = tiny_config(budget=8, batch_size=4, first_batch=str(path))
    campaign = build_campaign(config, tmp_path / "run")
    summaries = campaign.run()
    valid = {Chem.CanonSmiles(s) for s in library if Chem.MolFromSmiles(s) is not None}
    first = campaign.ledger.proposed(1)
    assert len(first) == 4 == len(set(first)) and set(first) <= valid
    assert not set(campaign.ledger.proposed(2)) & set(first)  # the model's designs, all new
    assert {row["source"] for row in campaign.ledger.round_table(1)} == {"library"}
    assert [s.calls for s in summaries] == [4, 8]
    again = build_campaign(replace(config, out=str(tmp_path / "again")), tmp_path / "again")
    again.run_round(1, 4, last=False)
    assert again.ledger.proposed(1) == first  # the draw is the seed's
    # Too few valid new designs left: the batch is what there is; none at all is an error.
    empty = tmp_path / "empty.csv"
    pd.DataFrame({"smiles": ["C1CC", "xyz"]}).to_csv(empty, index=False)
    bad = build_campaign(tiny_config(first_batch=str(empty)), tmp_path / "bad")
    with pytest.raises(MolseikoError, match="no valid new designs"):
        bad.run_round(1, 10, last=False)
    wrong = tmp_path / "wrong.csv"
    pd.DataFrame({"SMILES_": ["CCO"]}).to_csv(wrong, index=False)
    worse = build_campaign(tiny_config(first_batch=str(wrong)), tmp_path / "worse")
    with pytest.raises(MolseikoError, match="no 'smiles' column"):
        worse.run_round(1, 10, last=False)


def test_online_pg_measures_the_library_batch_then_learns_from_its_own_samples(
    tiny_config, tmp_path
):
    library = ["OCC(O)CO", "c1ccccc1O", "CC(=O)Nc1ccccc1", "CCN(CC)CC", "CCOC(=O)C", "CCCCCCO"]
    path = tmp_path / "shelf.smi"
    path.write_text("\n".join(library) + "\n")
    config = tiny_config(variant="online_pg", budget=8, batch_size=4, first_batch=str(path))
    campaign = build_campaign(config, tmp_path / "run")
    start = {k: v.clone() for k, v in campaign.policy.state_dict().items()}
    first = campaign.run_round(1, 4, last=False)
    assert set(campaign.ledger.proposed(1)) <= {Chem.CanonSmiles(s) for s in library}
    assert first.calls == 4 and first.kl_pretrained == 0.0
    assert all(torch.equal(start[k], v) for k, v in campaign.policy.state_dict().items())
    campaign.run_round(2, 4, last=True)
    assert campaign.ledger.count_measured() == 8
    assert not all(torch.equal(start[k], v) for k, v in campaign.policy.state_dict().items())


def test_draw_pool_tags_each_candidate_with_its_source_and_is_the_pool_the_round_ranks(
    tiny_config, tmp_path
):
    """Pool of 40 with infill 0.25 and graph_crossover 0.5: 10 fresh samples, the crossover
    children and the edits, each tagged; drawn again with the round's seeds it is the very pool
    the campaign picks its batch from (what benchmarks/pool_headroom.py relies on)."""
    config = tiny_config(budget=20, infill=0.25, graph_crossover=0.5, pool_factor=4)
    campaign = build_campaign(config, tmp_path / "run")
    crossed = ["CCCCO", "CCCCN", "CCCCF", "OCCCO", "NCCCN", "CC(C)CO"]
    edited = ["CCCCCl", "c1ccncc1", "CCCC(=O)O", "CCCCC#N"]
    campaign.domain = replace(campaign.domain, crossover=lambda parents, count, rng: crossed)
    campaign.policy.infill = lambda parents, count, *args, **kwargs: edited
    campaign.run_round(1, 10, last=False)
    parents = campaign._parents()
    drawn = campaign.draw_pool(2, 40, parents, 0, campaign._generator(2))
    sources = [where for _, where in drawn]
    assert sources == ["sample"] * 10 + ["crossover"] * 6 + ["edit"] * 4 + ["sample"] * 6
    assert [d for d, w in drawn if w == "crossover"] == crossed
    assert [d for d, w in drawn if w == "edit"] == edited
    again = campaign.draw_pool(2, 40, parents, 0, campaign._generator(2))
    assert again == drawn  # seeded by the round: the same pool every time
    campaign.propose_batch(2, 10, campaign._generator(2))
    assert set(campaign.ledger.proposed(2)) <= {d for d, _ in drawn if d is not None}
    # Each design of the batch keeps its source, in the ledger and the round's table.
    first_source = {}
    for design, where in drawn:
        first_source.setdefault(design, where)
    batch = campaign.ledger.round_table(2)
    assert [row["source"] for row in batch] == [first_source[row["key"]] for row in batch]
    assert {row["source"] for row in campaign.ledger.round_table(1)} == {"sample"}
    campaign._measure(2)
    campaign.learn(2, {"validity": 1.0, "uniqueness": 1.0, "novelty": 1.0})
    table = pd.read_csv(tmp_path / "run" / "rounds" / "round_02.csv")
    assert list(table.source) == [row["source"] for row in batch]


def test_library_designs_join_the_pool_once_the_ensemble_can_rank_them(tiny_config, tmp_path):
    """library_pool: from round 2 on, the library's valid designs (canonical, never one measured
    before) are ranked with the generated pool; an ensemble that prefers them fills round 2
    with 10 of the 12 and round 3 with the other 2, and validity counts the generator alone."""
    from molseiko.reward.ensemble import EnsemblePrediction

    library = ["OCC(O)CO", "c1ccccc1O", "CC(=O)Nc1ccccc1", "CCN(CC)CC", "CCOC(=O)C", "CCCCCCO"]
    library += ["OC(=O)c1ccccc1", "Cc1ccncc1", "CC(C)(C)O", "NCCO", "C1CCNCC1", "COc1ccccc1"]
    path = tmp_path / "shelf.csv"
    pd.DataFrame({"smiles": library + ["not a molecule", "C1CC"]}).to_csv(path, index=False)
    shelf = {Chem.CanonSmiles(s) for s in library}
    config = tiny_config(
        library=str(path), library_pool=50, graph_crossover=0.0, infill=0.0, pool_factor=2
    )
    campaign = build_campaign(config, tmp_path / "run")
    campaign.run_round(1, 10, last=False)
    assert {row["source"] for row in campaign.ledger.round_table(1)} == {"sample"}

    def prefers_the_shelf(designs):
        mean = np.array([1.0 if d in shelf else 0.0 for d in designs])
        return EnsemblePrediction(mean, np.zeros(len(designs)), mean[None, :])

    parents = campaign._parents()
    drawn = campaign.draw_pool(2, 20, parents, 0, campaign._generator(2))
    assert {d for d, w in drawn if w == "library"} == shelf  # the two invalid rows skipped
    assert all(
        w != "library" for _, w in campaign.draw_pool(2, 20, parents, 1, campaign._generator(2))
    )
    campaign.ensemble.predict = prefers_the_shelf
    stats = campaign.propose_batch(2, 10, campaign._generator(2))
    second = campaign.ledger.proposed(2)
    assert len(second) == 10 and set(second) <= shelf
    assert {row["source"] for row in campaign.ledger.round_table(2)} == {"library"}
    # The pool's statistics describe the generator's 20 samples, not the shelf.
    made = [d for d, w in drawn if w != "library"]
    valid = [d for d in made if d is not None]
    assert stats["validity"] == len(valid) / 20 and len(made) == 20
    assert stats["uniqueness"] == len(set(valid)) / len(valid)
    novel = [d for d in set(valid) if not campaign.ledger.is_known(d) or d in second]
    assert stats["novelty"] == len(novel) / len(set(valid))
    campaign._measure(2)
    campaign.ensemble.predict = prefers_the_shelf
    campaign.propose_batch(3, 10, campaign._generator(3))
    third = campaign.ledger.proposed(3)
    assert set(third) & shelf == shelf - set(second) and len(third) == 10


def test_library_draw_is_new_each_round_and_the_same_on_a_rerun(tiny_config, tmp_path):
    """library_pool smaller than the library: exactly that many canonical designs a round, the
    same ones when a round is drawn again (resume, pool_headroom), other ones the next round."""
    library = [f"C{'C' * n}O" for n in range(40)]  # 40 valid alcohols, each written canonically
    path = tmp_path / "shelf.smi"
    path.write_text("\n".join(library) + "\n")
    campaign = build_campaign(tiny_config(library=str(path), library_pool=10), tmp_path / "run")
    second, third = campaign._library_draw(2), campaign._library_draw(3)
    assert len(second) == len(set(second)) == 10 and set(second) <= set(library)
    assert campaign._library_draw(2) == second
    assert set(third) != set(second) and len(third) == 10
    other_seed = build_campaign(
        tiny_config(library=str(path), library_pool=10, seed=1), tmp_path / "other"
    )
    assert set(other_seed._library_draw(2)) != set(second)


def test_library_pool_settings_are_checked(tiny_config, tmp_path):
    with pytest.raises(MolseikoError, match="needs a library file"):
        tiny_config(library_pool=10)
    with pytest.raises(MolseikoError, match="needs a reward model"):
        tiny_config(library="shelf.csv", library_pool=10, select="sample")
    with pytest.raises(MolseikoError, match="needs a reward model"):
        tiny_config(library="shelf.csv", library_pool=10, variant="pretrained")
    with pytest.raises(MolseikoError, match="library_pool must be >= 0"):
        tiny_config(library_pool=-1)
    # A library that cannot be read stops the campaign before it measures anything.
    pd.DataFrame({"SMILES_": ["CCO"]}).to_csv(tmp_path / "wrong.csv", index=False)
    for library, message in [("missing.csv", "no such file"), ("wrong.csv", "no 'smiles' column")]:
        config = tiny_config(library=str(tmp_path / library), library_pool=10)
        with pytest.raises(MolseikoError, match=message):
            build_campaign(config, tmp_path / "run")
        assert Ledger(tmp_path / "run" / "ledger.sqlite").count_measured() == 0


def test_limit_per_family_keeps_the_order_and_at_most_limit_per_scaffold():
    from molseiko.domains.base import get_domain
    from molseiko.engine.campaign import _limit_per_family

    # scaffolds: benzene, benzene, pyridine, benzene, cyclohexane, pyridine, (none: acyclic)
    ranked = ["Cc1ccccc1", "CCc1ccccc1", "Cc1ccncc1", "Oc1ccccc1", "CC1CCCCC1", "Nc1ccncc1", "CCO"]
    domain = get_domain("molecule")
    assert _limit_per_family(ranked, 1, 10, domain) == [
        "Cc1ccccc1",
        "Cc1ccncc1",
        "CC1CCCCC1",
        "CCO",
    ]
    assert _limit_per_family(ranked, 2, 10, domain) == [
        "Cc1ccccc1",
        "CCc1ccccc1",
        "Cc1ccncc1",
        "CC1CCCCC1",
        "Nc1ccncc1",
        "CCO",
    ]
    assert _limit_per_family(ranked, 2, 3, domain) == ranked[:3]  # stops at `size`
    assert _limit_per_family(ranked, 0, 5, domain) == ranked[:5]  # 0: no limit
