"""What a file is, read from its content: format detection, compressed inputs, and the size checks
made before any parser sees a file.

Detection looks at the first few kilobytes (after decompressing gzip or bzip2) and falls back to
the file name only when the content says nothing: ``Ni.OUTCAR``, ``outcar`` and ``run1-OUTCAR`` are
all OUTCARs, a ``vasprun.xml.gz`` is a vasprun.xml. The limits here protect the importer from
files that would make it run for hours or fill the memory (an XYZ header declaring 10^9 atoms, a
30 MB line, a gzip bomb); each message names the limit and the setting that raises it.
"""
from __future__ import annotations

import bz2
import gzip
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Literal

from analysis.core.errors import InputFileError

Format = Literal["extxyz", "nep", "outcar", "vasprun", "deepmd", "nep-out", "deepmd-out", "pwmat-movement", "qe-pw", "cp2k-output",
                 "fhi-aims", "siesta", "ase-traj", "ase-db"]

#: settings that raise the limits (environment variables, in MB)
LINE_SETTING = "MLFF_ATLAS_MAX_LINE_MB"
UNPACKED_SETTING = "MLFF_ATLAS_MAX_UNPACKED_MB"
#: the shortest possible atom line of an XYZ file ('H 0 0 0\n'): a declared atom count needs at least this many bytes per atom
MIN_ATOM_LINE_BYTES = 8
_HEAD_BYTES = 8192
_COMPRESSED = {b"\x1f\x8b": "gzip", b"BZh": "bzip2"}


def _setting_mb(name: str, default_mb: float) -> int:
    raw = os.environ.get(name)
    if not raw:
        return int(default_mb * 2**20)
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number (MB)") from None
    if value <= 0:
        raise ValueError(f"{name}={raw!r} must be positive")
    return int(value * 2**20)


def max_line_bytes() -> int:
    """The longest accepted text line (``MLFF_ATLAS_MAX_LINE_MB``, default 1 MB)."""
    return _setting_mb(LINE_SETTING, 1)


def max_unpacked_bytes() -> int:
    """The most bytes an archive or compressed file may unpack to (``MLFF_ATLAS_MAX_UNPACKED_MB``,
    default ten times the upload limit ``MLFF_ATLAS_MAX_UPLOAD_MB``)."""
    from analysis.core.config import max_upload_bytes

    return _setting_mb(UNPACKED_SETTING, 10 * max_upload_bytes() / 2**20)


def compression(path: Path) -> str | None:
    """'gzip' or 'bzip2' when the file starts with that magic number, else None."""
    try:
        with open(path, "rb") as handle:
            magic = handle.read(3)
    except OSError as exc:
        raise InputFileError(path, f"cannot open: {exc.strerror}") from exc
    for prefix, kind in _COMPRESSED.items():
        if magic.startswith(prefix):
            return kind
    return None


def inner_name(name: str) -> str:
    """The name of a compressed file without its compression suffix ('vasprun.xml.gz' -> 'vasprun.xml')."""
    return re.sub(r"\.(gz|gzip|bz2|bzip2)$", "", name, flags=re.IGNORECASE)


def _open_compressed(path: Path, kind: str) -> IO[bytes]:
    return gzip.open(path, "rb") if kind == "gzip" else bz2.open(path, "rb")  # type: ignore[return-value]


@contextmanager
def decompressed(path: Path, folder: Path) -> Iterator[Path]:
    """``path`` itself, or its decompressed copy in ``folder`` (under its inner name) when it is gzip or bzip2.

    The copy is streamed and stops at :func:`max_unpacked_bytes` (a gzip bomb never fills the disk).

    Raises:
        InputFileError: a damaged compressed file, or one that unpacks beyond the limit.
    """
    kind = compression(path) if path.is_file() else None
    if kind is None:
        yield path
        return
    target = folder / (inner_name(path.name) if inner_name(path.name) != path.name else f"{path.name}.out")
    limit = max_unpacked_bytes()
    written = 0
    try:
        with _open_compressed(path, kind) as src, open(target, "wb") as dst:
            while chunk := src.read(1 << 20):
                written += len(chunk)
                if written > limit:
                    raise InputFileError(
                        path, f"unpacks to more than {limit / 2**20:.0f} MB, the limit set by {UNPACKED_SETTING} (in MB)"
                    )
                dst.write(chunk)
    except (OSError, EOFError, ValueError) as exc:
        target.unlink(missing_ok=True)
        raise InputFileError(path, f"damaged {kind} file: {type(exc).__name__}: {exc}") from exc
    try:
        yield target
    finally:
        target.unlink(missing_ok=True)


def head_text(path: Path, n_bytes: int = _HEAD_BYTES) -> str:
    """The first ``n_bytes`` of a file as text (undecodable bytes replaced)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(n_bytes).decode("utf-8", errors="replace")
    except OSError as exc:
        raise InputFileError(path, f"cannot open: {exc.strerror}") from exc


def text_problem(path: Path) -> str | None:
    """Why a file that should be text is not (UTF-16/32, binary bytes, another encoding), or None.

    A UTF-8 byte-order mark is fine (the readers skip it); a few stray non-UTF-8 bytes are too
    (a Latin-1 character in a comment), more than 1 % of the first kilobytes are not.
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(_HEAD_BYTES)
    except OSError as exc:
        raise InputFileError(path, f"cannot open: {exc.strerror}") from exc
    for bom, name in ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"), (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16")):
        if head.startswith(bom):
            return f"is {name} text (it starts with a {name} byte-order mark): the readers take UTF-8 or ASCII; convert it (iconv -f {name} -t UTF-8)"
    if b"\x00" in head:
        odd, even = head[1::2].count(0), head[0::2].count(0)
        if len(head) > 16 and max(odd, even) > 0.4 * len(head) / 2 and min(odd, even) < 0.05 * len(head) / 2:
            return "looks like UTF-16 text without a byte-order mark (every other byte is 0): convert it to UTF-8 (iconv -f UTF-16LE -t UTF-8)"
        return f"holds binary data ({head.count(0)} zero bytes in its first {len(head)}), not text"
    bad = head.decode("utf-8", errors="replace")[:-1].count("\ufffd")  # the last character may be cut in two
    if bad > 0.01 * len(head):
        return f"is not UTF-8 text ({bad} of its first {len(head)} bytes are not): convert it to UTF-8 or ASCII"
    return None


def sniff_text(head: str) -> Format | None:
    """The format a file's first kilobytes show, or None when they show none."""
    head = head.removeprefix("\ufeff")  # a UTF-8 byte-order mark
    stripped = head.lstrip()
    if stripped.startswith("<?xml") or stripped.startswith("<modeling"):
        return "vasprun" if "<modeling" in head else None
    first = stripped.split("\n", 1)[0]
    if re.match(r"\s*vasp\.\d", first) or re.search(r"(?m)^\s*(POTCAR|INCAR):", head):
        return "outcar"
    if re.match(r"#.*\bdata_(e|fx)\b.*\bpred_", first):
        return "deepmd-out"
    from analysis.datasets.dpdata_formats import sniff_head

    if (other := sniff_head(head)) is not None:
        return other  # type: ignore[return-value]
    lines = head.split("\n")
    if len(lines) >= 2 and re.fullmatch(r"\s*\d+\s*", lines[0]):
        return "extxyz"  # extended XYZ and NEP's train.xyz: one reader, keys in any case
    return None


def sniff_name(name: str) -> Format | None:
    """The format a file name suggests (case-insensitive), or None."""
    low = inner_name(name).lower()
    if "outcar" in low:
        return "outcar"
    if low.startswith("vasprun") or low.endswith(".xml"):
        return "vasprun"
    if re.match(r"(energy|force)_\w+\.out$", low):
        return "nep-out"
    if re.search(r"\.(e|e_peratom|f)\.out$", low):
        return "deepmd-out"
    if low.endswith((".xyz", ".extxyz")):
        return "extxyz"
    if "movement" in low:
        return "pwmat-movement"
    if low.endswith(".traj"):
        return "ase-traj"
    if low.endswith(".db"):
        return "ase-db"
    return None
