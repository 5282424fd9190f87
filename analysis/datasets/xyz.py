"""A reader of extended XYZ and NEP ``train.xyz``/``test.xyz``: keys in any case, bounded memory.

One pass over the file, one line at a time (each read with a length cap), one numpy conversion
per frame's atom block. Before a frame's atoms are read, its declared atom count is checked
against the bytes left in the file, so a header declaring 10^9 atoms in a 778-byte file is
refused at once. Comment-line keys are matched case-insensitively (``Energy=``, ``energy=``,
``Lattice``, ``lattice``, ``Config_type``, ``Weight``, ``Virial``); spaces around ``=`` are
allowed (FitSNAP writes ``Lattice = "..."``). Per-atom columns come from ``Properties=`` (default
``species:S:1:pos:R:3``), forces from a ``force`` or ``forces`` column.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers
from numpy.typing import NDArray

from analysis.core.errors import InputFileError
from analysis.datasets.sniff import LINE_SETTING, max_line_bytes

#: the shortest possible atom line ('H 0 0 0\n'): a declared atom count needs this many bytes per atom at least
MIN_ATOM_LINE_BYTES = 8
#: info keys kept on the frames (lower-case name -> stored name)
KEPT_INFO = {"config_type": "config_type", "weight": "weight", "temperature": "temperature", "temperature_k": "temperature",
             "sampler": "sampler"}
# key="quoted value" (spaces allowed around '='), key=bare (an empty bare value stays empty), or a bare flag
_PAIR = re.compile(r"""([A-Za-z_][\w:.-]*)(?:\s*=\s*("[^"]*"|'[^']*'|\{[^}]*\})|\s*=([^\s"']*))?""")
_TYPES = {"S": str, "R": float, "I": int, "L": bool}

XyzFrame = tuple[Atoms, "float | None", "NDArray[np.float64] | None"]


def parse_comment(line: str) -> dict[str, str]:
    """The key=value pairs of an extended XYZ comment line, keys lower-cased, quotes removed.

    A bare word is a flag ('T'); a key given twice keeps the first value.
    """
    out: dict[str, str] = {}
    for match in _PAIR.finditer(line):
        key = match[1].lower()
        if match[2] is not None:
            value = match[2][1:-1]
        elif match[3] is not None:
            value = match[3]
        else:
            value = "T"
        out.setdefault(key, value)
    return out


def _columns(properties: str, path: Path, frame: int) -> list[tuple[str, str, int]]:
    parts = properties.split(":")
    if len(parts) % 3:
        raise InputFileError(path, f"frame {frame}: Properties={properties!r} is not name:type:count triples")
    cols = []
    for i in range(0, len(parts), 3):
        name, kind, count = parts[i].lower(), parts[i + 1].upper(), parts[i + 2]
        if kind not in _TYPES or not count.isdigit() or int(count) < 1:
            raise InputFileError(path, f"frame {frame}: Properties entry {':'.join(parts[i:i + 3])!r} is not understood")
        cols.append((name, kind, int(count)))
    return cols


def _floats(text: str, n: int, what: str, path: Path, frame: int) -> NDArray[np.float64]:
    try:
        values = np.array([float(v) for v in text.replace(",", " ").split()], dtype=np.float64)
    except ValueError:
        raise InputFileError(path, f"frame {frame}: {what} {text[:60]!r} is not numeric") from None
    if values.size != n:
        raise InputFileError(path, f"frame {frame}: {what} has {values.size} numbers, expected {n}")
    return values


def _pbc(text: str | None, has_cell: bool) -> list[bool]:
    if text is None:
        return [has_cell] * 3
    flags = [t.upper() in ("T", "TRUE", "1") for t in text.split()]
    return flags if len(flags) == 3 else [has_cell] * 3


def _frame(path: Path, frame: int, comment: str, block: list[bytes]) -> XyzFrame:
    keys = parse_comment(comment)
    cols = _columns(keys.get("properties", "species:S:1:pos:R:3"), path, frame)
    width = sum(c for _, _, c in cols)
    tokens = b" ".join(block).split()
    if len(tokens) != width * len(block):
        bad = next((i for i, line in enumerate(block) if len(line.split()) != width), 0)
        raise InputFileError(path, f"frame {frame}, atom {bad}: {len(block[bad].split())} columns, Properties gives {width}")
    table = np.array(tokens, dtype=object).reshape(len(block), width) if block else np.zeros((0, width), dtype=object)
    start = 0
    species = positions = forces = None
    for name, kind, count in cols:
        part = table[:, start:start + count]
        start += count
        if name in ("species", "z") and species is None:
            species = part[:, 0]
            species_kind = kind
        elif name in ("pos", "positions") and kind == "R" and count == 3:
            positions = _numeric(part, path, frame, name)
        elif name in ("force", "forces") and kind == "R" and count == 3:
            forces = _numeric(part, path, frame, name)
    if species is None or positions is None:
        raise InputFileError(path, f"frame {frame}: no species or positions column in Properties")
    try:
        if species_kind == "S":
            numbers = [atomic_numbers[s.decode()] for s in species]
        else:
            numbers = [int(s) for s in species]
    except (KeyError, ValueError) as exc:
        raise InputFileError(path, f"frame {frame}: unknown chemical symbol or number {exc.args[0]!r}") from None
    cell = _floats(keys["lattice"], 9, "Lattice", path, frame).reshape(3, 3) if "lattice" in keys else np.zeros((3, 3))
    atoms = Atoms(numbers=numbers, positions=positions, cell=cell, pbc=_pbc(keys.get("pbc"), "lattice" in keys))
    energy: float | None = None
    for key in ("energy", "free_energy"):
        if key in keys:
            try:
                energy = float(keys[key])
            except ValueError:
                raise InputFileError(path, f"frame {frame}: {key}={keys[key][:40]!r} is not a number") from None
            break
    atoms.info.update(_info(keys))
    return atoms, energy, forces


def _info(keys: dict[str, str]) -> dict[str, Any]:
    info: dict[str, Any] = {}
    for key, stored in KEPT_INFO.items():
        if key in keys and stored not in info:
            value: Any = keys[key]
            try:
                value = float(value) if stored in ("weight", "temperature") else value
            except ValueError:
                pass
            info[stored] = value
    return info


def _numeric(part: NDArray[Any], path: Path, frame: int, name: str) -> NDArray[np.float64]:
    try:
        return part.astype(np.float64)
    except ValueError:
        raise InputFileError(path, f"frame {frame}: the {name} column holds a value that is not a number") from None


def read_xyz(path: Path) -> list[XyzFrame]:
    """Every frame of an extended XYZ file as (atoms, energy or None, forces or None).

    Raises:
        InputFileError: naming the frame (and line) of a wrong atom count, a line over the length
            limit (``MLFF_ATLAS_MAX_LINE_MB``), a header that declares more atoms than the file
            can hold, a column or value that cannot be read.
    """
    size = path.stat().st_size
    limit = max_line_bytes()
    frames: list[XyzFrame] = []
    lineno = 0
    with open(path, "rb") as handle:

        def line() -> bytes:
            nonlocal lineno
            text = handle.readline(limit + 1)
            lineno += 1
            if len(text) > limit:
                raise InputFileError(path, f"line {lineno} is longer than {limit / 2**20:.3g} MB, the limit set by {LINE_SETTING} (in MB)")
            return text

        while True:
            count_line = line()
            if not count_line:
                return frames
            if not count_line.strip():
                continue
            index = len(frames)
            try:
                declared = int(count_line.split()[0])
            except ValueError:
                raise InputFileError(path, f"line {lineno} should give frame {index}'s atom count, found {count_line[:40]!r}") from None
            comment = line()
            left = size - handle.tell()
            if declared < 0 or declared * MIN_ATOM_LINE_BYTES > left:
                raise InputFileError(path, f"frame {index} declares {declared} atoms but only {left} bytes follow (at least "
                                     f"{MIN_ATOM_LINE_BYTES} per atom line): the file is truncated or its header is wrong")
            block = []
            for _ in range(declared):
                atom = line()
                if not atom.strip():
                    raise InputFileError(path, f"frame {index} declares {declared} atoms but has {len(block)} (line {lineno})")
                block.append(atom)
            try:
                text = comment.decode("utf-8")
            except UnicodeDecodeError:
                raise InputFileError(path, f"line {lineno - declared}: the comment line of frame {index} is not UTF-8 text") from None
            frames.append(_frame(path, index, text, block))
