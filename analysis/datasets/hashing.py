"""The store's hashes computed on columns, vectorised, equal to their per-frame definitions.

:meth:`ReferenceSet.content_hash`, :func:`frame_content_hash` and :func:`structure_hash`
(:mod:`analysis.datasets.frames`) hash floats as their ``'%.8f'`` text (or rounded to 1e-6 Å):
stored hashes, job keys and the fits' element hashes all depend on those definitions, so they
must not change. Formatting 6 x 10^7 floats one by one in Python takes minutes; here the text is
built for whole arrays at once:

* ``fl(x * 1e8)`` differs from the exact product by at most half an ulp, so wherever it lies
  farther than a few ulps from a rounding tie (``k + 1/2``) its nearest integer is the correctly
  rounded one; the few values near a tie, and any beyond 2^50, are formatted by Python itself;
* the texts themselves are Python's, one ``%`` per chunk of values (several times faster than a
  format call per value), in one buffer sliced per frame by offsets computed from those integers,
  and fed to SHA-256 as the per-frame code does.

``tests/analysis/datasets/test_hashing.py`` checks equality with the per-frame definitions on
random values, ties, negative zeros and large magnitudes.
"""
from __future__ import annotations

import hashlib

import numpy as np
from numpy.typing import NDArray

_SCALE = 10**8


def rounded_1e8(values: NDArray[np.float64]) -> list[int] | NDArray[np.int64]:
    """``round(x * 1e8)`` as Python's ``'%.8f'`` rounds it (exactly, half to even on the binary value)."""
    x = np.asarray(values, dtype=np.float64).ravel()
    r = x * 1e8
    n = np.rint(r)
    risky = ~np.isfinite(r) | (np.abs(r) > 2.0**50) | (np.abs(np.abs(r - n) - 0.5) < 8 * np.spacing(np.abs(r)) + 1e-9)
    out = n.astype(np.int64, copy=True) if not risky.any() else np.where(risky, 0, n).astype(np.int64)
    if risky.any():
        for i in np.flatnonzero(risky):
            text = f"{x[i]:.8f}"
            if not np.isfinite(x[i]):
                raise ValueError(f"cannot hash a non-finite value {x[i]!r}")
            out[i] = int(text.replace(".", ""))  # may exceed int64 only beyond 9e10: refused by the caller's range
    return out


def fixed_text_buffer(values: NDArray[np.float64], *, chunk: int = 1 << 20) -> tuple[bytes, NDArray[np.int64]]:
    """The ``'%.8f'`` texts of ``values`` (flattened), each followed by one blank, as one buffer, and
    (N+1,) offsets: value ``i``'s text is ``buffer[offsets[i]:offsets[i+1]-1]``.

    The texts are Python's own (one ``%`` over a chunk of values: about 0.15 µs a value); the
    offsets come from the correctly rounded integers (:func:`rounded_1e8`). Negative values that
    round to zero are written as ``0.00000000``, as :func:`analysis.datasets.frames._fixed_text` does.
    """
    flat = np.asarray(values, dtype=np.float64).ravel()
    n = np.asarray(rounded_1e8(flat), dtype=np.int64)
    ip = np.abs(n) // _SCALE
    ndig = np.searchsorted(10 ** np.arange(1, 19, dtype=np.int64), ip, side="right") + 1  # digits of the integer part
    length = (n < 0) + ndig + 10  # sign, integer digits, '.', 8 decimals, blank
    offsets = np.concatenate([[0], np.cumsum(length)]).astype(np.int64)
    parts = []
    for lo in range(0, len(flat), chunk):
        part = flat[lo : lo + chunk].tolist()
        parts.append((("%.8f " * len(part)) % tuple(part)).replace("-0.00000000 ", "0.00000000 ").encode())
    buf = b"".join(parts)
    if len(buf) != int(offsets[-1]):
        raise RuntimeError("fixed-point text lengths disagree with the rounded values")  # never seen; guards the offsets
    return buf, offsets


def _text_of(buf: bytes, offsets: NDArray[np.int64], lo: int, hi: int) -> bytes:
    """The blank-joined texts of values ``lo:hi`` (no trailing blank), as ``_fixed_text`` gives them."""
    if hi <= lo:
        return b""
    return buf[int(offsets[lo]) : int(offsets[hi]) - 1]


def structure_hashes(numbers: NDArray[np.int64], positions: NDArray[np.float64], offsets: NDArray[np.int64],
                     cell: NDArray[np.float64], pbc: NDArray[np.bool_]) -> NDArray[np.str_]:
    """(F,) :func:`analysis.datasets.frames.structure_hash` of every frame."""
    nums = np.ascontiguousarray(numbers, dtype=np.int64)
    pos = np.ascontiguousarray(np.round(np.asarray(positions, dtype=np.float64), 6) + 0.0)
    cel = np.ascontiguousarray(np.round(np.asarray(cell, dtype=np.float64), 6) + 0.0)
    pb = np.ascontiguousarray(np.asarray(pbc, dtype=np.uint8))
    out = []
    for i in range(len(offsets) - 1):
        lo, hi = int(offsets[i]), int(offsets[i + 1])
        digest = hashlib.sha256(nums[lo:hi].tobytes())
        digest.update(pos[lo:hi].tobytes())
        digest.update(cel[i].tobytes())
        digest.update(pb[i].tobytes())
        out.append(digest.hexdigest()[:32])
    return np.array(out, dtype=str)


def frame_content_hashes(structure: NDArray[np.str_], energy: NDArray[np.float64], forces: NDArray[np.float64],
                         offsets: NDArray[np.int64], *, texts: dict[str, tuple[bytes, NDArray[np.int64]]] | None = None) -> NDArray[np.str_]:
    """(F,) :func:`analysis.datasets.frames.frame_content_hash` of every frame (``texts``: buffers already made, by name)."""
    texts = texts if texts is not None else {}
    e_buf, e_off = texts.get("energy") or fixed_text_buffer(energy)
    f_buf, f_off = texts.get("forces") or fixed_text_buffer(forces)
    out = []
    for i, s in enumerate(structure.tolist()):
        digest = hashlib.sha256(s.encode())
        digest.update(_text_of(e_buf, e_off, i, i + 1))
        digest.update(_text_of(f_buf, f_off, 3 * int(offsets[i]), 3 * int(offsets[i + 1])))
        out.append(digest.hexdigest()[:32])
    return np.array(out, dtype=str)


def set_content_hash(frame_id: NDArray[np.str_], element: NDArray[np.str_], temperature: NDArray[np.float64],
                     numbers: NDArray[np.int64], positions: NDArray[np.float64], cell: NDArray[np.float64],
                     energy: NDArray[np.float64], forces: NDArray[np.float64], offsets: NDArray[np.int64], *,
                     texts: dict[str, tuple[bytes, NDArray[np.int64]]] | None = None) -> str:
    """:meth:`analysis.datasets.frames.ReferenceSet.content_hash` of frames given as columns (in the set's order)."""
    texts = texts if texts is not None else {}
    p_buf, p_off = fixed_text_buffer(positions)
    c_buf, c_off = fixed_text_buffer(cell)
    e_buf, e_off = texts.get("energy") or fixed_text_buffer(energy)
    f_buf, f_off = texts.get("forces") or fixed_text_buffer(forces)
    nums = np.ascontiguousarray(numbers, dtype=np.int64)
    digest = hashlib.sha256()
    for i, (fid, el, t) in enumerate(zip(frame_id.tolist(), element.tolist(), temperature.tolist())):
        lo, hi = int(offsets[i]), int(offsets[i + 1])
        digest.update(str(fid).encode())
        digest.update(str(el).encode())
        digest.update(f"{t:.3f}".encode())
        digest.update(nums[lo:hi].tobytes())
        digest.update(_text_of(p_buf, p_off, 3 * lo, 3 * hi))
        digest.update(_text_of(c_buf, c_off, 9 * i, 9 * i + 9))
        digest.update(_text_of(e_buf, e_off, i, i + 1))
        digest.update(_text_of(f_buf, f_off, 3 * lo, 3 * hi))
    return digest.hexdigest()[:16]


__all__ = ["fixed_text_buffer", "frame_content_hashes", "rounded_1e8", "set_content_hash", "structure_hashes"]
