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
entry is simply computed again). Values are raw bytes, never pickles: ``b"F"`` + float64
energy + float64 forces, or ``b"E"`` + the UTF-8 error.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Sequence

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


def _encode(energy: float, forces: NDArray[np.float64]) -> bytes:
    return b"F" + np.concatenate([[energy], np.asarray(forces, dtype=np.float64).ravel()]).astype("<f8").tobytes()


def _decode(value: bytes, n_atoms: int) -> tuple[float, NDArray[np.float64], str | None] | None:
    """(energy, forces, error) of a stored value; None when it does not fit ``n_atoms``."""
    if value[:1] == b"E":
        return float("nan"), np.full((n_atoms, 3), np.nan), value[1:].decode("utf-8", "replace")
    if value[:1] != b"F" or len(value) != 1 + 8 * (1 + 3 * n_atoms):
        return None
    data = np.frombuffer(value, dtype="<f8", offset=1)
    return float(data[0]), data[1:].reshape(n_atoms, 3).astype(np.float64), None


class FrameCache:
    """The per-frame result store (open it once per job; close it when done).

    Args:
        path: folder of the diskcache database (default ``<cache dir>/frame-results``).
        size_limit: bytes kept before the least recently stored entries are evicted.
    """

    def __init__(self, path: Path | None = None, *, size_limit: int = SIZE_LIMIT_BYTES) -> None:
        import diskcache

        self.path = Path(path) if path is not None else cache_dir() / "frame-results"
        self._cache = diskcache.Cache(str(self.path), timeout=60, size_limit=size_limit)

    def get_many(self, key: str, hashes: Sequence[str], n_atoms: Sequence[int]) -> dict[int, tuple[float, NDArray[np.float64], str | None]]:
        """Index -> (energy eV, forces eV/Å, error or None) for the frames found under model ``key``."""
        found: dict[int, tuple[float, NDArray[np.float64], str | None]] = {}
        for i, (h, n) in enumerate(zip(hashes, n_atoms)):
            value = self._cache.get(f"{key}:{h}")
            if isinstance(value, bytes):
                decoded = _decode(value, int(n))
                if decoded is not None:
                    found[i] = decoded
        return found

    def put_many(
        self,
        key: str,
        hashes: Sequence[str],
        energy: NDArray[np.float64],
        forces: Sequence[NDArray[np.float64]],
        failed: dict[int, str],
    ) -> None:
        """Store the results of frames ``hashes`` (``failed``: index -> error of refused frames)."""
        with self._cache.transact():
            for i, h in enumerate(hashes):
                value = b"E" + failed[i].encode("utf-8") if i in failed else _encode(float(energy[i]), forces[i])
                self._cache.set(f"{key}:{h}", value)

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

    def __enter__(self) -> "FrameCache":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
