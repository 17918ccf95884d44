"""One process at a time per run directory (an advisory lock, released when the process dies)."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from molseiko.errors import MolseikoError


@contextmanager
def run_lock(run_dir: str | Path):
    """Hold `RUN/.lock` for the block; a second molseiko process on the same run gets a one-line
    error instead of interleaving its rounds with ours. No-op where fcntl is missing (Windows)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise MolseikoError(
                f"{run_dir} is in use by another molseiko process; wait for it to finish"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
