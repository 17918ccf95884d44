"""One process at a time per run directory (an advisory lock the kernel drops when the process
dies, so a `kill -9` never leaves a stale lock behind)."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from molseiko.errors import MolseikoError


class RunLock:
    """Holds `RUN/.lock`. A second holder (another process, or another Campaign on the same run
    in this one) gets a one-line error instead of interleaving its rounds with ours. No-op where
    fcntl is missing (Windows)."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self._handle = None

    def acquire(self) -> RunLock:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            return self
        self.run_dir.mkdir(parents=True, exist_ok=True)
        handle = open(self.run_dir / ".lock", "w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise MolseikoError(
                f"{self.run_dir} is in use by another molseiko process; wait for it to finish"
            ) from None
        self._handle = handle
        return self

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing the file drops the flock
            self._handle = None


@contextmanager
def run_lock(run_dir: str | Path):
    """The lock for the duration of a block."""
    lock = RunLock(run_dir).acquire()
    try:
        yield
    finally:
        lock.release()
