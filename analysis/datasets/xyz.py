"""A reader of extended XYZ and NEP ``train.xyz``/``test.xyz``: keys in any case, bounded memory.

One pass over the file, one line at a time (each read with a length cap), one numpy conversion
per frame's atom block. Before a frame's atoms are read, its declared atom count is checked
against the bytes left in the file, so a header declaring 10^9 atoms in a 778-byte file is
refused at once. Comment-line keys are matched case-insensitively (``Energy=``, ``energy=``,
``Lattice``, ``lattice``, ``Config_type``, ``Weight``, ``Virial``); spaces around ``=`` are
allowed (FitSNAP writes ``Lattice = "..."``). Per-atom columns come from ``Properties=`` (default
``species:S:1:pos:R:3``).

Labels: the energy is the comment-line key named by ``energy_key``, else the one of
:data:`ENERGY_KEYS` the frame has (``energy``/``Energy``, MACE's ``REF_energy``, ``DFT_energy``,
``free_energy``); the forces are the column named by ``forces_key``, else the one of
:data:`FORCES_KEYS` (``forces``, ``force``, ``REF_forces``, ``DFT_forces``). A frame with two of
them (``energy`` and ``REF_energy``) is refused, naming both and the option, since the file does
not say which is the reference; the one exception is ASE's own pair ``energy`` + ``free_energy``
(an ASE calculator that reports both), where ``energy`` is taken, as before. A frame with none
gets a message listing the keys it does have. :func:`read_xyz_predictions` reads a model's
predictions written beside the reference under a prefix (``MACE_energy``, a ``MACE_forces``
column: mace-torch's ``mace_eval_configs``).
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
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
#: reference energy keys recognised (lower case; the comment line's case does not matter), in order of preference
ENERGY_KEYS: tuple[str, ...] = ("energy", "ref_energy", "dft_energy", "free_energy")
#: reference force columns recognised (lower case)
FORCES_KEYS: tuple[str, ...] = ("forces", "force", "ref_forces", "dft_forces")
#: how the options are named in messages (the CLI's flags; the Data page has fields of the same names)
ENERGY_OPTION = "--energy-key (CLI) or the energy key field (Data page)"
FORCES_OPTION = "--forces-key (CLI) or the forces key field (Data page)"
PREFIX_OPTION = "--pred-prefix (CLI) or the prediction prefix field (Data page)"
_SHOWN = {"energy": "energy/Energy", "ref_energy": "REF_energy", "dft_energy": "DFT_energy", "free_energy": "free_energy",
          "forces": "forces", "force": "force", "ref_forces": "REF_forces", "dft_forces": "DFT_forces"}
# key="quoted value" (spaces allowed around '='), key=bare (an empty bare value stays empty), or a bare flag
_PAIR = re.compile(r"""([A-Za-z_][\w:.-]*)(?:\s*=\s*("[^"]*"|'[^']*'|\{[^}]*\})|\s*=([^\s"']*))?""")
_TYPES = {"S": str, "R": float, "I": int, "L": bool}
_STRUCTURAL = ("properties", "lattice", "pbc")

XyzFrame = tuple[Atoms, "float | None", "NDArray[np.float64] | None"]


@dataclass(frozen=True)
class PredictedFrame:
    """One frame of an extended XYZ file carrying a model's predictions beside the reference."""

    n_atoms: int
    ref_energy: float
    pred_energy: float
    ref_forces: NDArray[np.float64]
    pred_forces: NDArray[np.float64]


def _comment_pairs(line: str) -> dict[str, tuple[str, str]]:
    """lower-case key -> (key as written, value without quotes); a key given twice keeps the first."""
    out: dict[str, tuple[str, str]] = {}
    for match in _PAIR.finditer(line):
        if match[2] is not None:
            value = match[2][1:-1]
        elif match[3] is not None:
            value = match[3]
        else:
            value = "T"
        out.setdefault(match[1].lower(), (match[1], value))
    return out


def parse_comment(line: str) -> dict[str, str]:
    """The key=value pairs of an extended XYZ comment line, keys lower-cased, quotes removed.

    A bare word is a flag ('T'); a key given twice keeps the first value.
    """
    return {k: v for k, (_, v) in _comment_pairs(line).items()}


def _columns(properties: str, path: Path, frame: int) -> list[tuple[str, str, int, str]]:
    """(lower-case name, type, count, name as written) of each ``Properties`` column."""
    parts = properties.split(":")
    if len(parts) % 3:
        raise InputFileError(path, f"frame {frame}: Properties={properties!r} is not name:type:count triples")
    cols = []
    for i in range(0, len(parts), 3):
        name, kind, count = parts[i], parts[i + 1].upper(), parts[i + 2]
        if kind not in _TYPES or not count.isdigit() or int(count) < 1:
            raise InputFileError(path, f"frame {frame}: Properties entry {':'.join(parts[i:i + 3])!r} is not understood")
        cols.append((name.lower(), kind, int(count), name))
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


def _listing(names: list[str]) -> str:
    return ", ".join(names) if names else "none"


def pick_key(frame: int, present: dict[str, str], explicit: str | None, candidates: tuple[str, ...], what: str,
             option: str, path: Path, where: str) -> str | None:
    """The key (lower case) to read ``what`` from: ``explicit`` when given, else the one of ``candidates`` present.

    Args:
        present: lower-case key -> the key as written, of what the frame has (comment keys or columns).
        where: 'comment line' or 'Properties' (for messages).

    Returns:
        The key, or None when no candidate is present (the caller says what is missing).

    Raises:
        InputFileError: ``explicit`` is absent (listing what there is), or several candidates are present.
    """
    if explicit:
        key = explicit.lower()
        if key not in present:
            raise InputFileError(path, f"frame {frame} has no {what} {explicit!r} ({where} has: {_listing(list(present.values()))})")
        return key
    found = [c for c in candidates if c in present]
    if found == ["energy", "free_energy"]:  # ASE writes both for a calculator that reports both: keep 'energy', as always
        return "energy"
    if len(found) > 1:
        names = " and ".join(present[c] for c in found)
        raise InputFileError(path, f"frame {frame} has {names}: several {what} keys, and the file does not say which is the "
                             f"reference; name it with {option}")
    return found[0] if found else None


def missing_message(frame: int, what: str, candidates: tuple[str, ...], present: dict[str, str], option: str, where: str) -> str:
    """'frame 0 has no energy: ...' listing what was looked for and what the frame has."""
    wanted = ", ".join(_SHOWN.get(c, c) for c in candidates)
    return (f"frame {frame} has no {what}: none of {wanted} on its {where} (it has: {_listing(list(present.values()))}); "
            f"name the {what} key with {option}")


@dataclass
class _Parsed:
    """A frame's comment keys and columns, parsed once."""

    atoms: Atoms
    keys: dict[str, tuple[str, str]]  # lower -> (as written, value)
    columns: dict[str, tuple[str, NDArray[Any], str]]  # lower -> (type, values, as written)


def _parse(path: Path, frame: int, comment: str, block: list[bytes]) -> _Parsed:
    pairs = _comment_pairs(comment)
    keys = {k: v for k, (_, v) in pairs.items()}
    cols = _columns(keys.get("properties", "species:S:1:pos:R:3"), path, frame)
    width = sum(c for _, _, c, _ in cols)
    tokens = b" ".join(block).split()
    if len(tokens) != width * len(block):
        bad = next((i for i, line in enumerate(block) if len(line.split()) != width), 0)
        raise InputFileError(path, f"frame {frame}, atom {bad}: {len(block[bad].split())} columns, Properties gives {width}")
    table = np.array(tokens, dtype=object).reshape(len(block), width) if block else np.zeros((0, width), dtype=object)
    start = 0
    species = positions = None
    columns: dict[str, tuple[str, NDArray[Any], str]] = {}
    for name, kind, count, written in cols:
        part = table[:, start:start + count]
        start += count
        if name in ("species", "z") and species is None:
            species = part[:, 0]
            species_kind = kind
        elif name in ("pos", "positions") and kind == "R" and count == 3 and positions is None:
            positions = _numeric(part, path, frame, written)
        elif name not in columns:
            columns[name] = (kind if count == 3 else f"{kind}{count}", part, written)
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
    atoms.info.update(_info(keys))
    return _Parsed(atoms, pairs, columns)


def _energy_value(path: Path, frame: int, parsed: _Parsed, key: str) -> float:
    written, value = parsed.keys[key]
    try:
        return float(value)
    except ValueError:
        raise InputFileError(path, f"frame {frame}: {written}={value[:40]!r} is not a number") from None


def _forces_value(path: Path, frame: int, parsed: _Parsed, key: str) -> NDArray[np.float64]:
    kind, part, written = parsed.columns[key]
    if kind != "R":
        raise InputFileError(path, f"frame {frame}: the {written} column is not 3 real numbers per atom (Properties gives {kind})")
    return _numeric(part, path, frame, written)


def _label_keys(path: Path, frame: int, parsed: _Parsed, energy_key: str | None, forces_key: str | None,
                ) -> tuple[str | None, str | None, dict[str, str], dict[str, str]]:
    comment = {k: w for k, (w, _) in parsed.keys.items() if k not in _STRUCTURAL}
    columns = {k: w for k, (_, _, w) in parsed.columns.items()}
    e_key = pick_key(frame, comment, energy_key, ENERGY_KEYS, "energy", ENERGY_OPTION, path, "comment line")
    f_key = pick_key(frame, columns, forces_key, FORCES_KEYS, "forces", FORCES_OPTION, path, "Properties")
    return e_key, f_key, comment, columns


def _frame(path: Path, frame: int, comment: str, block: list[bytes], energy_key: str | None = None,
           forces_key: str | None = None) -> XyzFrame:
    parsed = _parse(path, frame, comment, block)
    e_key, f_key, comment_keys, columns = _label_keys(path, frame, parsed, energy_key, forces_key)
    energy = _energy_value(path, frame, parsed, e_key) if e_key else None
    forces = _forces_value(path, frame, parsed, f_key) if f_key else None
    if energy is None:
        raise InputFileError(path, missing_message(frame, "energy", ENERGY_KEYS, comment_keys, ENERGY_OPTION, "comment line"))
    if forces is None:
        raise InputFileError(path, missing_message(frame, "forces", FORCES_KEYS, columns, FORCES_OPTION, "Properties"))
    return parsed.atoms, energy, forces


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


def _blocks(path: Path) -> Iterator[tuple[int, str, list[bytes]]]:
    """(frame index, comment line, atom lines) of each frame, one frame in memory at a time.

    Raises:
        InputFileError: a wrong atom count, a line over the length limit, a header that declares
            more atoms than the file can hold, a comment line that is not UTF-8.
    """
    size = path.stat().st_size
    limit = max_line_bytes()
    lineno = 0
    index = 0
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
            if lineno == 1:
                count_line = count_line.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark
            if not count_line:
                return
            if not count_line.strip():
                if not _skip_blank(handle, lineno_box := [lineno]):
                    return
                lineno = lineno_box[0]
                continue
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
            yield index, text, block
            index += 1


def _skip_blank(handle: Any, lineno: list[int]) -> bool:
    """Skip the blank lines that follow, a megabyte at a time (a file of 300 MB of newlines is read in
    a second, not line by line); ``lineno[0]`` counts them. Returns False at the end of the file."""
    while True:
        start = handle.tell()
        chunk = handle.read(1 << 20)
        if not chunk:
            return False
        rest = chunk.lstrip()
        if not rest:
            lineno[0] += chunk.count(b"\n")
            continue
        line_start = chunk.rfind(b"\n", 0, len(chunk) - len(rest)) + 1  # the start of the first line that is not blank
        lineno[0] += chunk.count(b"\n", 0, line_start)
        handle.seek(start + line_start)
        return True


def read_xyz(path: Path, *, energy_key: str | None = None, forces_key: str | None = None) -> list[XyzFrame]:
    """Every frame of an extended XYZ file as (atoms, energy, forces).

    Args:
        energy_key: the comment-line key of the reference energy (any case); detected when None.
        forces_key: the ``Properties`` column of the reference forces (any case); detected when None.

    Raises:
        InputFileError: naming the frame (and line) of a wrong atom count, a line over the length
            limit (``MLFF_ATLAS_MAX_LINE_MB``), a header that declares more atoms than the file
            can hold, a column or value that cannot be read, a missing or ambiguous label key.
    """
    return [_frame(path, index, text, block, energy_key, forces_key) for index, text, block in _blocks(path)]


def prediction_prefixes(comment: str) -> list[str]:
    """The prefixes P (as written) of a frame's ``Penergy=`` keys that have a ``Pforces`` column beside
    them, the reference conventions (``REF_``, ``DFT_``, ``free_``) left out."""
    pairs = _comment_pairs(comment)
    props = pairs.get("properties", ("", "species:S:1:pos:R:3"))[1].split(":")
    columns = {props[i].lower() for i in range(0, len(props) - 2, 3)}
    out = []
    for low, (written, _) in pairs.items():
        if low.endswith("energy") and low not in ENERGY_KEYS and low != "energy":
            prefix = written[: -len("energy")]
            if prefix and f"{prefix.lower()}forces" in columns:
                out.append(prefix)
    return out


def first_comment(path: Path) -> str | None:
    """The comment line of the file's first frame (None when the file does not start like an XYZ frame)."""
    limit = max_line_bytes()
    try:
        with open(path, "rb") as handle:
            first = handle.readline(limit + 1).removeprefix(b"\xef\xbb\xbf")
            while first and not first.strip():
                first = handle.readline(limit + 1)
            if not re.fullmatch(rb"\s*\d+\s*", first or b"x"):
                return None
            return handle.readline(limit + 1).decode("utf-8", errors="replace")
    except OSError as exc:
        raise InputFileError(path, f"cannot open: {exc.strerror}") from exc


def read_xyz_predictions(path: Path, prefix: str | None = None, *, energy_key: str | None = None,
                         forces_key: str | None = None) -> tuple[str, Iterator[PredictedFrame]]:
    """A model's predictions written into an extended XYZ beside the reference (``mace_eval_configs``).

    Args:
        prefix: the predictions' key prefix (``MACE_`` for ``MACE_energy`` and a ``MACE_forces``
            column); detected from the first frame when None and only one fits.
        energy_key, forces_key: the reference's keys, detected as in :func:`read_xyz` when None.

    Returns:
        The prefix used, and the frames one at a time (the file is read as they are consumed).

    Raises:
        InputFileError: no prefix or several (naming them and the option), a frame without the
            prefixed keys or without reference labels (naming what it has).
    """
    comment = first_comment(path)
    if comment is None:
        raise InputFileError(path, "is not an extended XYZ file (its first line is no atom count)")
    if prefix is None:
        found = prediction_prefixes(comment)
        if not found:
            keys = list(w for w, _ in _comment_pairs(comment).values())
            raise InputFileError(path, f"holds no predictions: no PREFIXenergy key with a PREFIXforces column beside it (such as "
                                 f"MACE_energy and MACE_forces, mace_eval_configs' default --info_prefix) on frame 0, whose "
                                 f"comment line has: {_listing(keys)}; name the prefix with {PREFIX_OPTION}")
        if len(found) > 1:
            raise InputFileError(path, f"holds the predictions of several models ({', '.join(f'{p}energy' for p in found)}): "
                                 f"choose one with {PREFIX_OPTION}")
        prefix = found[0]
    chosen = prefix

    def frames() -> Iterator[PredictedFrame]:
        for index, text, block in _blocks(path):
            parsed = _parse(path, index, text, block)
            comment_keys = {k: w for k, (w, _) in parsed.keys.items() if k not in _STRUCTURAL}
            columns = {k: w for k, (_, _, w) in parsed.columns.items()}
            p_energy, p_forces = f"{chosen}energy".lower(), f"{chosen}forces".lower()
            if p_energy not in parsed.keys or p_forces not in parsed.columns:
                raise InputFileError(path, f"frame {index} has no {chosen}energy key and {chosen}forces column (comment line has: "
                                     f"{_listing(list(comment_keys.values()))}; Properties: {_listing(list(columns.values()))})")
            others = {k: w for k, w in comment_keys.items() if k != p_energy}
            e_key = pick_key(index, others, energy_key, ENERGY_KEYS, "reference energy", ENERGY_OPTION, path, "comment line")
            f_key = pick_key(index, {k: w for k, w in columns.items() if k != p_forces}, forces_key, FORCES_KEYS,
                             "reference forces", FORCES_OPTION, path, "Properties")
            if e_key is None or f_key is None:
                missing = (missing_message(index, "reference energy", ENERGY_KEYS, others, ENERGY_OPTION, "comment line")
                           if e_key is None else
                           missing_message(index, "reference forces", FORCES_KEYS, columns, FORCES_OPTION, "Properties"))
                raise InputFileError(path, f"{missing}; predictions are matched to the data set's frames by the reference values "
                                     "beside them. mace_eval_configs drops energy=/forces (ASE's calculator keys): give it the "
                                     "reference under REF_energy/REF_forces (python -m analysis export --format mace)")
            yield PredictedFrame(len(parsed.atoms), _energy_value(path, index, parsed, e_key), _energy_value(path, index, parsed, p_energy),
                                 _forces_value(path, index, parsed, f_key), _forces_value(path, index, parsed, p_forces))

    return chosen, frames()
