"""Oracle evaluation spread over workers: any `concurrent.futures.Executor`, or a Dask cluster.

`scheduler` strings (config key or `--scheduler`): "" runs in the campaign's process;
"processes:N" and "threads:N" use a local pool; "tcp://host:port" (any Dask address) uses a Dask
distributed cluster (`pip install molseiko[dask]`). Workers get the objective's spec string and
build the oracle themselves (once per worker process), so nothing needs to pickle; a spec naming a
file (TOML, plugin, assay table) must be readable at the same path on the workers, and a docking
oracle's poses folder (RUN/poses) writable there. Each worker runs the oracle's `for_worker()`
form: docking docks one ligand at a time per worker instead of starting its own machine-wide pool.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from molseiko.errors import MolseikoError
from molseiko.oracles.base import Oracle


class ParallelOracle(Oracle):
    """Splits each batch into chunks measured on an executor. A chunk whose worker fails
    (crash, lost worker, unpicklable result) fails only its own designs, with the reason."""

    def __init__(
        self,
        oracle: Oracle,
        executor: Executor,
        chunk_size: int = 1,
        spec: str | None = None,
        owner=None,
    ):
        self.oracle, self.executor, self.chunk_size = oracle, executor, max(1, chunk_size)
        self.spec = spec  # workers rebuild the oracle from it; None: send the oracle itself
        self.owner = owner  # keeps a Dask client alive as long as the oracle
        self.name, self.direction = oracle.name, oracle.direction
        self.cost, self.description = oracle.cost, oracle.description
        self.deterministic = oracle.deterministic
        if hasattr(oracle, "poses"):
            self.poses = oracle.poses
            """Folder the workers write docked poses into (the same path on every worker)."""

    def measure(self, designs: Sequence[str]):
        designs = list(designs)
        raw, failures = np.full(len(designs), np.nan), [None] * len(designs)
        for positions, values, reasons in self._chunks(designs):
            raw[positions] = values
            for i, reason in zip(positions, reasons, strict=True):
                failures[i] = reason
        return raw, failures

    def parts(self, designs: Sequence[str]):
        """Each chunk as its worker finishes it (see `Oracle.parts`)."""
        designs = list(designs)
        return self._streamed(self._chunks(designs), len(designs))

    def _chunks(self, designs: list[str]):
        """(positions, raw values, reasons) per chunk, in the order the chunks finish. Chunks
        whose worker failed come last: if every one failed, nothing is handed back at all."""
        starts = range(0, len(designs), self.chunk_size)
        chunks = [list(range(i, min(i + self.chunk_size, len(designs)))) for i in starts]
        if self.spec is None:
            submit = functools.partial(self.executor.submit, self.oracle.measure)
        else:
            poses = str(self.poses) if getattr(self, "poses", None) else None
            submit = functools.partial(self.executor.submit, _measure_spec, self.spec, poses=poses)
        futures = {submit([designs[i] for i in chunk]): chunk for chunk in chunks}
        lost = []
        for future in as_completed(futures):
            chunk = futures[future]
            try:
                values, reasons = future.result()
                values = np.asarray(values, float).reshape(-1)
                if len(values) != len(chunk) or len(reasons) != len(chunk):
                    raise ValueError(f"{len(values)} values for {len(chunk)} designs")
            except Exception as err:  # one lost worker must not lose the other chunks
                reason = f"{self.name}: worker failed ({err.__class__.__name__}: {err})"
                lost.append((chunk, np.full(len(chunk), np.nan), [reason] * len(chunk)))
                continue
            yield chunk, values, list(reasons)
        if lost and len(lost) == len(chunks):
            # Nothing came back at all: a broken setup (no workers, a spec the workers cannot
            # read), not bad designs. Stop before anything is recorded; the budget is kept.
            first_reason = lost[0][2][0]
            raise MolseikoError(f"every worker failed on this batch ({first_reason})")
        yield from lost


@functools.lru_cache(maxsize=8)
def _worker_oracle(spec: str) -> Oracle:
    from molseiko.oracles.registry import resolve_objective

    return resolve_objective(spec).for_worker()


def _measure_spec(spec: str, designs: list[str], poses: str | None = None):
    oracle = _worker_oracle(spec)
    if poses is not None and hasattr(oracle, "poses"):
        oracle.poses = Path(poses)
    return oracle.measure(designs)


def parallel(spec: str, scheduler: str, chunk_size: int = 1) -> Oracle:
    """The objective `spec` names, evaluated as `scheduler` says (see the module docstring)."""
    from molseiko.oracles.registry import resolve_objective

    oracle = resolve_objective(spec)
    from molseiko.oracles.lab import LabOracle

    if not scheduler or isinstance(oracle, LabOracle):  # the lab measures outside anyway
        return oracle
    if Path(spec).exists() or ".py:" in spec:
        path, colon, rest = spec.partition(".py:") if ".py:" in spec else (spec, "", "")
        spec = str(Path(path + (".py" if colon else "")).resolve()) + (":" + rest if colon else "")
    kind, _, count = scheduler.partition(":")
    if kind in ("processes", "threads"):
        try:
            workers = int(count)
            if workers < 1:
                raise ValueError
        except ValueError:
            raise MolseikoError(
                f"scheduler {scheduler!r}: use {kind}:N with N >= 1 workers"
            ) from None
        if kind == "threads":
            return ParallelOracle(oracle, ThreadPoolExecutor(workers), chunk_size, spec)
        pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"))
        return ParallelOracle(oracle, pool, chunk_size, spec)
    if "://" in scheduler:
        try:
            from distributed import Client
        except ImportError:
            raise MolseikoError(
                f"scheduler {scheduler!r} needs Dask: pip install 'molseiko[dask]'"
            ) from None
        try:
            client = Client(scheduler, timeout="10s")
        except OSError as err:
            raise MolseikoError(f"no Dask scheduler at {scheduler} ({err})") from None
        executor = client.get_executor(pure=False)
        return ParallelOracle(oracle, executor, chunk_size, spec, owner=client)
    raise MolseikoError(
        f"unknown scheduler {scheduler!r} (use processes:N, threads:N or a Dask address "
        "like tcp://host:8786)"
    )
