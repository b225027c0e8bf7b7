"""One process at a time per run: a lock file next to the run's record.

Two notebooks (or two `paperlib train`) pointed at one results store may ask for the same run.
The lock is held around "load the record, or train and store it", so the second process waits
for the first, then finds the record and loads it: neither fails, and the run trains once. The
lock is an OS file lock (`filelock`), released when its holder exits, even on SIGKILL, so a
crashed run never blocks the next one (its checkpoint lets the next one resume).

Processes launched together by torchrun train one run together; they take no lock (rank 1
waiting on rank 0 would deadlock their collectives).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout


def lock_path(record_path: str | os.PathLike) -> Path:
    """The lock file of the run whose record is `record_path` (`<run_id>.lock`)."""
    return Path(record_path).with_suffix(".lock")


def _under_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


@contextlib.contextmanager
def run_lock(record_path: str | os.PathLike, *, timeout_s: float = -1) -> Iterator[None]:
    """Hold the run's lock for the body; if another process holds it, say so and wait
    (`timeout_s` < 0: for as long as it takes; otherwise filelock.Timeout after that)."""
    if _under_torchrun():
        yield
        return
    path = lock_path(record_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        print(f"run {path.stem}: another process is training it; waiting for it to finish ({path})",
              file=sys.stderr, flush=True)
        lock.acquire(timeout=timeout_s)
    try:
        yield
    finally:
        lock.release()


__all__ = ["run_lock", "lock_path"]
