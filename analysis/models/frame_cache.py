"""Per-frame prediction cache: a structure a model has evaluated once is never evaluated again.

Jobs are keyed by the whole data set (its content hash), so adding frames to a set, importing the
same structures under another name, or relabelling them with another DFT code makes a new job.
This cache sits under the jobs: every frame result is stored under

    (model identity and package versions, dtype, device kind) x (structure hash)

where the structure hash (:func:`analysis.datasets.frames.structure_hash`) covers atomic numbers, positions, cell and periodicity (rounded to 1e-6,
so a round trip through extended XYZ hashes the same) and nothing else: predictions do not
depend on labels, frame ids or temperatures. A job looks its frames up first and sends only the
missing ones to the model. Frames the model refused are cached too (with the error), so they are
not retried.

The cache is a diskcache ``Cache`` in ``<cache dir>/frame-results`` (size-limited; an evicted
entry is simply computed again). Values are raw bytes, never pickles, each with a checksum:
``b"H"`` + 16-byte BLAKE2b digest + float64 energy + float64 forces, or ``b"R"`` + digest + the
UTF-8 error. A value whose digest does not match (a flipped byte) is deleted and counted in
:attr:`FrameCache.discarded`; the frame is computed again. A database SQLite cannot read is moved
aside and a new one made (:func:`analysis.core.storage.open_cache`).
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from analysis.core.config import cache_dir

SIZE_LIMIT_BYTES = 4 * 2**30


def model_key(identity: dict[str, Any], versions: dict[str, str], dtype: str, device: str) -> str:
    """Key (16 hex digits) of a model as run: its identity, package versions, dtype and device kind.

    The device kind is 'cpu' or 'cuda' (any CUDA index): the same model on CPU and GPU differs in
    the last digits, so their results are kept apart.
    """
    kind = "cuda" if device.startswith("cuda") else device
    text = json.dumps({"model": identity, "versions": versions, "dtype": dtype, "device": kind}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _digest(payload: bytes) -> bytes:
    return hashlib.blake2b(payload, digest_size=16).digest()


def _encode(energy: float, forces: NDArray[np.float64]) -> bytes:
    payload = np.concatenate([[energy], np.asarray(forces, dtype=np.float64).ravel()]).astype("<f8").tobytes()
    return b"H" + _digest(payload) + payload


def _encode_error(error: str) -> bytes:
    payload = error.encode("utf-8")
    return b"R" + _digest(payload) + payload


def _decode(value: bytes, n_atoms: int) -> tuple[float, NDArray[np.float64], str | None] | None:
    """(energy, forces, error) of a stored value; None when it does not fit ``n_atoms`` or fails its checksum."""
    kind, digest, payload = value[:1], value[1:17], value[17:]
    if kind not in (b"H", b"R") or len(digest) != 16 or _digest(payload) != digest:
        return None
    if kind == b"R":
        return float("nan"), np.full((n_atoms, 3), np.nan), payload.decode("utf-8", "replace")
    if len(payload) != 8 * (1 + 3 * n_atoms):
        return None
    data = np.frombuffer(payload, dtype="<f8")
    return float(data[0]), data[1:].reshape(n_atoms, 3).astype(np.float64), None


class FrameCache:
    """The per-frame result store (open it once per job; close it when done).

    Args:
        path: folder of the diskcache database (default ``<cache dir>/frame-results``).
        size_limit: bytes kept before the least recently stored entries are evicted.
    """

    def __init__(self, path: Path | None = None, *, size_limit: int = SIZE_LIMIT_BYTES, check: bool = False) -> None:
        self.path = Path(path) if path is not None else cache_dir() / "frame-results"
        self.size_limit = size_limit
        self.discarded = 0  # values that failed their checksum (deleted, computed again)
        self.moved_aside: list[str] = []  # damaged databases moved aside (folder: reason)
        self._cache = self._open(check)

    def _open(self, check: bool) -> Any:
        from analysis.core.storage import open_cache

        return open_cache(self.path, check=check, timeout=60, size_limit=self.size_limit,
                          on_damage=lambda aside, why: self.moved_aside.append(f"{aside}: {why}"))

    def _recover(self, exc: BaseException) -> None:
        """A read or write hit a damaged database: move it aside and continue on a new one."""
        from analysis.core.storage import is_damaged_db, move_aside

        if not is_damaged_db(exc):
            raise exc
        self._cache.close()
        self.moved_aside.append(f"{move_aside(self.path, f'{type(exc).__name__}: {exc}')}: {exc}")
        self._cache = self._open(False)

    def get_many(self, key: str, hashes: Sequence[str], n_atoms: Sequence[int]) -> dict[int, tuple[float, NDArray[np.float64], str | None]]:
        """Index -> (energy eV, forces eV/Å, error or None) for the frames found under model ``key``."""
        import sqlite3

        try:
            return self._get_many(key, hashes, n_atoms)
        except sqlite3.DatabaseError as exc:
            self._recover(exc)
            return {}

    def _get_many(self, key: str, hashes: Sequence[str], n_atoms: Sequence[int]) -> dict[int, tuple[float, NDArray[np.float64], str | None]]:
        found: dict[int, tuple[float, NDArray[np.float64], str | None]] = {}
        for i, (h, n) in enumerate(zip(hashes, n_atoms)):
            value = self._cache.get(f"{key}:{h}")
            if value is None:
                continue
            decoded = _decode(value, int(n)) if isinstance(value, bytes) else None
            if decoded is None:
                self._cache.delete(f"{key}:{h}")
                self.discarded += 1
                continue
            found[i] = decoded
        return found

    def verify_all(self) -> int:
        """Delete every value that fails its checksum; returns how many (for ``jobs --repair``)."""
        bad = 0
        for key in list(self._cache.iterkeys()):
            value = self._cache.get(key)
            kind, digest, payload = (value[:1], value[1:17], value[17:]) if isinstance(value, bytes) else (b"", b"", b"")
            if kind not in (b"H", b"R") or _digest(payload) != digest:
                self._cache.delete(key)
                bad += 1
        return bad

    def put_many(
        self,
        key: str,
        hashes: Sequence[str],
        energy: NDArray[np.float64],
        forces: Sequence[NDArray[np.float64]],
        failed: dict[int, str],
    ) -> None:
        """Store the results of frames ``hashes`` (``failed``: index -> error of refused frames)."""
        import sqlite3

        try:
            with self._cache.transact():
                for i, h in enumerate(hashes):
                    value = _encode_error(failed[i]) if i in failed else _encode(float(energy[i]), forces[i])
                    self._cache.set(f"{key}:{h}", value)
        except sqlite3.DatabaseError as exc:
            self._recover(exc)  # the results are in the job's chunks; the cache only saves recomputation

    def __len__(self) -> int:
        return len(self._cache)

    def volume(self) -> int:
        """Bytes the cache takes on disk."""
        return int(self._cache.volume())

    def clear(self) -> int:
        """Remove every stored result; returns how many there were."""
        return int(self._cache.clear())

    def close(self) -> None:
        self._cache.close()

    def __enter__(self) -> FrameCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
