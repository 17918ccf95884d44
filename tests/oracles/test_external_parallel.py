"""External-process oracles (REINVENT4 payload) and oracle calls spread over workers."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest
from rdkit import Chem

from molseiko.oracles.external import ExternalProcessOracle
from molseiko.oracles.parallel import ParallelOracle, parallel
from molseiko.oracles.registry import resolve_objective

SCORER = textwrap.dedent(
    """
    import json, sys
    smiles = [line.strip() for line in sys.stdin if line.strip()]
    scores = [None if "N" in s else float(len(s)) for s in smiles]
    print(json.dumps({"version": 1, "payload": {"predictions": scores}}))
    """
)


def script(tmp_path, body: str, name: str = "scorer.py") -> str:
    path = tmp_path / name
    path.write_text(body)
    return str(path)


def test_reinvent_payload_scores_and_null_fails_one_design(tmp_path):
    oracle = ExternalProcessOracle([sys.executable, script(tmp_path, SCORER)], name="length")
    result = oracle(["CCO", "CCN", "c1ccccc1"])
    assert result.values[0] == 3.0 and result.values[2] == 8.0
    assert np.isnan(result.values[1]) and result.failures[1] == "length: no score (None)"


@pytest.mark.parametrize(
    "body, reason",
    [
        ("import sys; sys.exit('model file missing')", "exit code 1: model file missing"),
        ("print('not json')", "unreadable output"),
        ("print('[1.0]')", "1 scores for 2 designs"),
        ("import time; time.sleep(5)", "timed out after 0.5 s"),
        ('print(\'{"payload": {"a": [1, 2], "b": [3, 4]}}\')', "no endpoint 'predictions'"),
        ("print('{\"payload\": [1, 2]}')", "unreadable output"),
    ],
)
def test_a_failing_program_fails_its_designs_with_the_reason(tmp_path, body, reason):
    oracle = ExternalProcessOracle([sys.executable, script(tmp_path, body)], timeout=0.5)
    result = oracle(["CCO", "CCC"])
    assert np.isnan(result.values).all()
    assert all(reason in failure for failure in result.failures), result.failures


def test_external_spec_from_toml_runs_in_the_spec_folder_and_minimizes(tmp_path):
    script(tmp_path, SCORER)
    spec = tmp_path / "ext.toml"
    spec.write_text(
        f'oracle = "external"\ncommand = "{sys.executable} scorer.py"\ndirection = "minimize"\n'
    )
    result = resolve_objective(str(spec))(["CCCC"])
    assert result.raw[0] == 4.0 and result.values[0] == -4.0


class Flaky:
    """Measures heavy atoms; a design 'boom' kills its chunk."""

    def measure(self, designs):
        if "boom" in designs:
            raise RuntimeError("worker lost")
        return [Chem.MolFromSmiles(s).GetNumHeavyAtoms() for s in designs], [None] * len(designs)


def test_a_lost_chunk_fails_only_its_own_designs():
    from concurrent.futures import ThreadPoolExecutor

    base = resolve_objective("qed")
    base.measure = Flaky().measure
    oracle = ParallelOracle(base, ThreadPoolExecutor(2), chunk_size=2)
    result = oracle(["CCO", "CCCC", "boom", "C", "CCOC"])  # chunks: 2 + 2 + 1
    assert list(result.values[:2]) == [3.0, 4.0] and result.values[4] == 4.0
    assert np.isnan(result.values[2:4]).all() and result.failures[3] == result.failures[2]
    assert "worker failed (RuntimeError: worker lost)" in result.failures[2]


def test_dask_local_cluster_on_loopback_scores_like_serial():
    distributed = pytest.importorskip("distributed")
    smiles = ["CC(=O)Oc1ccccc1C(=O)O", "not_a_smiles", "c1ccccc1O", "CCN(CC)CC", "C1CCNCC1"]
    serial = resolve_objective("tdc:osimertinib_mpo")(smiles)
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=False,
        host="127.0.0.1",
        protocol="tcp",
        dashboard_address=None,
    ) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        oracle = parallel("tdc:osimertinib_mpo", cluster.scheduler_address, 2)
        spread = oracle(smiles)
        oracle.owner.close()
    assert np.array_equal(spread.values, serial.values, equal_nan=True)
    assert spread.failures == serial.failures and spread.failures[1] == "invalid SMILES"


def test_bad_scheduler_is_one_line():
    with pytest.raises(Exception, match="unknown scheduler 'slurm'"):
        parallel("qed", "slurm")
    with pytest.raises(Exception, match="use processes:N"):
        parallel("qed", "processes:many")


def test_process_pool_workers_rebuild_unpicklable_oracles_from_the_spec(tmp_path):
    # tpsa wraps a Boost.Python function and ranolazine_mpo lambdas: neither pickles.
    smiles = ["CC(=O)Oc1ccccc1C(=O)O", "CCN(CC)CC", "xx", "c1ccccc1O"]
    for spec in ("tpsa", "ranolazine_mpo"):
        oracle = parallel(spec, "processes:2", chunk_size=2)
        spread = oracle(smiles)
        oracle.executor.shutdown()
        serial = resolve_objective(spec)(smiles)
        assert np.array_equal(spread.values, serial.values, equal_nan=True)
        assert spread.failures == serial.failures


def test_shipped_external_example_matches_rdkit_logp():
    from rdkit.Chem import Crippen

    oracle = resolve_objective("oracles/examples/external_logp/spec.toml")
    result = oracle(["CC(=O)Oc1ccccc1C(=O)O", "xx"])
    expected = Crippen.MolLogP(Chem.MolFromSmiles("CC(=O)Oc1ccccc1C(=O)O"))
    assert result.values[0] == pytest.approx(expected, abs=1e-4)
    assert result.failures[1] == "external_logp: no score (None)"


def test_a_batch_where_every_worker_failed_records_nothing():
    from concurrent.futures import ThreadPoolExecutor

    from molseiko.errors import MolseikoError

    base = resolve_objective("qed")
    base.measure = Flaky().measure
    oracle = ParallelOracle(base, ThreadPoolExecutor(1), chunk_size=5)
    with pytest.raises(MolseikoError, match="every worker failed on this batch"):
        oracle(["boom", "CCO"])


def test_parts_come_as_chunks_finish_and_lost_chunks_last():
    """A campaign records each part as it comes: a slow chunk does not hold back the others,
    and a lost worker's chunk comes last (so a batch where every worker failed hands back
    nothing at all)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from molseiko.errors import MolseikoError

    release = threading.Event()

    class Slow:
        def measure(self, designs):
            if "CCCC" in designs:
                release.wait(10)  # the first chunk finishes only after the second is seen
            return Flaky().measure(designs)

    base = resolve_objective("qed")
    base.measure = Slow().measure
    oracle = ParallelOracle(base, ThreadPoolExecutor(3), chunk_size=2)
    designs = ["CCO", "CCCC", "boom", "C", "CCOC"]  # chunks: [0, 1] slow, [2, 3] lost, [4]
    parts = oracle.parts(designs)
    positions, first = next(parts)
    assert positions == [4] and first.values.tolist() == [4.0]
    release.set()
    rest = list(parts)
    assert [p for p, _ in rest] == [[0, 1], [2, 3]]
    assert rest[0][1].values.tolist() == [3.0, 4.0]
    assert rest[1][1].failures[0].endswith("worker failed (RuntimeError: worker lost)")
    whole = oracle(designs)  # measure gathers the same parts back into the batch's order
    assert whole.values[[0, 1, 4]].tolist() == [3.0, 4.0, 4.0] and np.isnan(whole.values[2])
    all_lost = ParallelOracle(base, ThreadPoolExecutor(1), chunk_size=1)
    with pytest.raises(MolseikoError, match="every worker failed"):
        next(all_lost.parts(["boom"]))
