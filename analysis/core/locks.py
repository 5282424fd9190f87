"""File locks for read-modify-write of shared files (``fcntl``, released when the process dies)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive ``fcntl`` lock on ``<path>.lock`` while the block runs (waits for other holders)."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class NoSlotFree(RuntimeError):
    """Every slot of a :func:`slot` pool is held."""


@contextmanager
def slot(folder: Path, n_slots: int) -> Iterator[int]:
    """Hold one of ``n_slots`` slots (``fcntl`` locks on ``folder/slot-K.lock``) while the block runs.

    Bounds how many imports run at once across the processes of a server; a dead process frees its slot.

    Raises:
        NoSlotFree: all slots are held (the caller answers 'busy' instead of queueing unbounded work).
    """
    import fcntl

    folder.mkdir(parents=True, exist_ok=True)
    for k in range(max(1, n_slots)):
        handle = open(folder / f"slot-{k}.lock", "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        try:
            yield k
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()
        return
    raise NoSlotFree(f"all {n_slots} slots are busy")
