"""Importers: reference frames and model predictions from the formats people have.

Reference formats (each returns a :class:`~analysis.datasets.frames.ReferenceSet`):
    ``extxyz``  extended XYZ with energy and forces (ASE's convention),
    ``nep``     NEP/GPUMD ``train.xyz``/``test.xyz`` (``energy=``, ``force:R:3``, lower-case keys allowed),
    ``outcar``  VASP OUTCAR, every ionic step (AIMD),
    ``vasprun`` VASP vasprun.xml, every ionic step,
    ``deepmd``  DeePMD system folders (``type.raw`` + ``set.*/*.npy`` or ``*.raw``), via dpdata,
    ``archive`` a .zip/.tar(.gz) of any of these, e.g. a zipped tree of DeePMD systems or OUTCARs
                (:mod:`analysis.datasets.archive`: unpacked safely, every source imported).

Prediction formats (each returns :class:`~analysis.datasets.frames.Predictions` matched to a reference):
    ``nep-out``    GPUMD's ``energy_*.out`` (eV/atom: predicted, reference) and ``force_*.out``
                   (eV/Å: 3 predicted, 3 reference components per atom),
    ``deepmd-out`` ``dp test -d PREFIX`` outputs ``PREFIX.e.out`` (or ``PREFIX.e_peratom.out``)
                   and ``PREFIX.f.out`` (reference columns first, then predicted).

Every problem with a file raises :class:`~analysis.core.errors.InputFileError` naming the file and
the reason; nothing is written by this module.
"""
from __future__ import annotations

import io
import math
import re
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
from ase import Atoms
from numpy.typing import NDArray

from analysis.datasets.frames import Predictions, ReferenceSet, make_frame, structure_hash
from analysis.core.errors import InputFileError

ReferenceFormat = Literal["extxyz", "nep", "outcar", "vasprun", "deepmd", "archive"]
PredictionFormat = Literal["nep-out", "deepmd-out"]

#: conversion factors to eV for the accepted energy units
ENERGY_UNITS: dict[str, float] = {
    "eV": 1.0,
    "meV": 1e-3,
    "Ha": 27.211386245988,
    "Ry": 13.605693122994,
    "kcal/mol": 0.0433641043,
    "kJ/mol": 0.0103642688,
}
#: per-atom energies or force components beyond this (eV/atom, eV/Å) are taken as a units mistake
MAX_PLAUSIBLE_EV = 1.0e4


def detect_format(path: Path) -> ReferenceFormat | PredictionFormat:
    """Guess a file's format from its name (and, for XYZ, its first line)."""
    name = path.name
    if path.is_dir():
        if (path / "type.raw").is_file():
            return "deepmd"
        if any(path.glob("energy_*.out")):
            return "nep-out"
        if any(path.glob("*.e.out")) or any(path.glob("*.e_peratom.out")):
            return "deepmd-out"
        raise InputFileError(path, "folder is neither a DeePMD system (no type.raw) nor a folder of NEP/DeePMD outputs")
    if name.startswith("OUTCAR"):
        return "outcar"
    if name.startswith("vasprun") or name.endswith(".xml"):
        return "vasprun"
    if re.match(r"(energy|force)_\w+\.out$", name):
        return "nep-out"
    if re.search(r"\.(e|e_peratom|f|v|v_peratom)\.out$", name):
        return "deepmd-out"
    if name.endswith((".xyz", ".extxyz")):
        head = _first_lines(path, 2)
        if len(head) < 2:
            raise InputFileError(path, "file is empty or has no frame")
        if re.search(r"(^|\s)(lattice|properties)=", head[1]) or ":force:R:3" in head[1].lower() and "forces:" not in head[1]:
            return "nep"
        return "extxyz"
    raise InputFileError(
        path,
        "unknown format: expected .xyz/.extxyz, OUTCAR, vasprun.xml, a DeePMD folder, a .zip/.tar.gz of those, "
        "NEP energy_*.out/force_*.out or DeePMD *.e.out/*.f.out",
    )


def _first_lines(path: Path, n: int) -> list[str]:
    try:
        with open(path, errors="replace") as handle:
            return [line for _, line in zip(range(n), handle)]
    except OSError as exc:
        raise InputFileError(path, f"cannot open: {exc.strerror}") from exc


# --------------------------------------------------------------------------- reference data
def import_reference(
    path: str | Path,
    *,
    fmt: ReferenceFormat | None = None,
    element: str | None = None,
    temperature_k: float | None = None,
    energy_unit: str = "eV",
) -> ReferenceSet:
    """Read reference frames (DFT energies and forces) from ``path``.

    Args:
        path: file (or DeePMD folder).
        fmt: format name; guessed from the file name when None.
        element: element label for every frame (default: from the frame's species).
        temperature_k: simulation temperature in K for every frame (default: the frame's own
            ``temperature`` info key, else unknown).
        energy_unit: unit of the energies in the file (a key of :data:`ENERGY_UNITS`); forces are
            taken in the same energy unit per Å.

    Raises:
        InputFileError: the file is missing, empty, truncated, has no energies or forces, holds
            NaN/inf, implausible magnitudes (a units mistake), or is of an unknown format.
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(path, "no such file")
    if path.is_file() and path.stat().st_size == 0:
        raise InputFileError(path, "file is empty")
    if energy_unit not in ENERGY_UNITS:
        raise InputFileError(path, f"unknown energy unit {energy_unit!r}; use one of {', '.join(ENERGY_UNITS)}")
    from analysis.datasets.archive import import_archive, is_archive

    if fmt == "archive" or (fmt is None and path.is_file() and is_archive(path)):
        return import_archive(path, element=element, temperature_k=temperature_k, energy_unit=energy_unit)
    fmt = fmt or detect_format(path)  # type: ignore[assignment]
    readers = {
        "extxyz": _read_extxyz,
        "nep": _read_nep_xyz,
        "outcar": _read_outcar,
        "vasprun": _read_vasprun,
        "deepmd": _read_deepmd,
    }
    if fmt not in readers:
        raise InputFileError(path, f"format {fmt!r} is not a reference format (use one of {', '.join(readers)})")
    raw = readers[fmt](path)
    if not raw:
        raise InputFileError(path, "no frames found")
    scale = ENERGY_UNITS[energy_unit]
    frames = []
    for index, (atoms, energy, forces) in enumerate(raw):
        _check_frame(path, index, atoms, energy, forces, scale)
        temp = temperature_k if temperature_k is not None else _info_temperature(atoms)
        frames.append(
            make_frame(
                atoms,
                energy * scale,
                np.asarray(forces, dtype=np.float64) * scale,
                temperature_k=temp,
                source=f"{path.name}#{index}",
                element=element,
                extra_info={k: v for k, v in atoms.info.items() if k in ("config_type", "sampler", "weight")},
            )
        )
    provenance = {"source_files": [str(path)], "format": fmt, "energy_unit_in_file": energy_unit}
    return ReferenceSet(frames, provenance)


def _info_temperature(atoms: Atoms) -> float:
    value = atoms.info.get("temperature", atoms.info.get("temperature_k"))
    try:
        return float(value) if value is not None else math.nan
    except (TypeError, ValueError):
        return math.nan


def _check_frame(path: Path, index: int, atoms: Atoms, energy: float | None, forces: object, scale: float) -> None:
    where = f"frame {index}"
    if len(atoms) == 0:
        raise InputFileError(path, f"{where} has no atoms")
    if energy is None:
        raise InputFileError(path, f"{where} has no energy")
    if forces is None:
        raise InputFileError(path, f"{where} has no forces")
    forces_arr = np.asarray(forces, dtype=np.float64)
    if forces_arr.shape != (len(atoms), 3):
        raise InputFileError(path, f"{where}: forces have shape {forces_arr.shape}, expected ({len(atoms)}, 3)")
    if not math.isfinite(energy):
        raise InputFileError(path, f"{where}: energy is {energy}")
    if not np.all(np.isfinite(forces_arr)):
        raise InputFileError(path, f"{where}: forces contain NaN or inf")
    if not np.all(np.isfinite(atoms.positions)):
        raise InputFileError(path, f"{where}: positions contain NaN or inf")
    per_atom = abs(energy * scale) / len(atoms)
    if per_atom > MAX_PLAUSIBLE_EV:
        raise InputFileError(
            path, f"{where}: |energy| of {per_atom:.3g} eV/atom is implausible: wrong energy unit (is it meV?)"
        )
    if np.abs(forces_arr * scale).max() > MAX_PLAUSIBLE_EV:
        raise InputFileError(path, f"{where}: force components over {MAX_PLAUSIBLE_EV:g} eV/Å: wrong unit?")


RawFrame = tuple[Atoms, "float | None", "NDArray[np.float64] | None"]


def _labels(atoms: Atoms, *, prefer_free_energy: bool = False) -> RawFrame:
    """Energy and forces of a parsed frame; VASP's TOTEN (free energy) is preferred for VASP files,
    since the forces are derivatives of the free energy."""
    energy = forces = None
    if atoms.calc is not None:
        results = atoms.calc.results
        keys = ("free_energy", "energy") if prefer_free_energy else ("energy", "free_energy")
        energy = results.get(keys[0], results.get(keys[1]))
        forces = atoms.calc.results.get("forces")
    if energy is None:
        energy = atoms.info.get("energy")
    if forces is None:
        forces = atoms.arrays.get("forces", atoms.arrays.get("force"))
    return atoms, (None if energy is None else float(energy)), forces


def _ase_read(path: Path, fmt: str, text: str | None = None) -> list[Atoms]:
    from ase.io import read

    try:
        source: object = io.StringIO(text) if text is not None else path
        frames = read(source, index=":", format=fmt)
    except StopIteration:
        raise InputFileError(path, "no frames found") from None
    except Exception as exc:  # ASE raises many exception types on bad files
        raise InputFileError(path, f"cannot parse as {fmt}: {type(exc).__name__}: {exc}") from exc
    return list(frames) if isinstance(frames, list) else [frames]


def _read_extxyz(path: Path) -> list[RawFrame]:
    return [_labels(a) for a in _ase_read(path, "extxyz")]


def _read_nep_xyz(path: Path) -> list[RawFrame]:
    """NEP's train.xyz/test.xyz: extended XYZ with case-insensitive keys and ``force:R:3``."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(path, f"cannot read as text: {exc}") from exc
    text = re.sub(r"(?i)(^|\s)lattice=", r"\1Lattice=", text)
    text = re.sub(r"(?i)(^|\s)properties=", r"\1Properties=", text)
    text = re.sub(r"(?i)(^|\s)energy=", r"\1energy=", text)
    text = re.sub(r"(?i)(^|\s)virial=", r"\1virial=", text)
    return [_labels(a) for a in _ase_read(path, "extxyz", text=text)]


def _read_outcar(path: Path) -> list[RawFrame]:
    return [_labels(a, prefer_free_energy=True) for a in _ase_read(path, "vasp-out")]


def _read_vasprun(path: Path) -> list[RawFrame]:
    with open(path, "rb") as handle:
        handle.seek(max(0, path.stat().st_size - 512))
        tail = handle.read().decode(errors="replace")
    if "</modeling>" not in tail:
        raise InputFileError(path, "file is truncated (no closing </modeling>): the VASP run did not finish writing it")
    return [_labels(a, prefer_free_energy=True) for a in _ase_read(path, "vasp-xml")]


def _read_deepmd(path: Path) -> list[RawFrame]:
    import dpdata

    fmt = "deepmd/npy" if any(path.glob("set.*")) else "deepmd/raw"
    try:
        system = dpdata.LabeledSystem(str(path), fmt=fmt)
    except Exception as exc:  # dpdata raises assorted errors on bad folders
        raise InputFileError(path, f"cannot read DeePMD system ({fmt}): {type(exc).__name__}: {exc}") from exc
    if len(system) == 0:
        raise InputFileError(path, "DeePMD system has no frames")
    if "energies" not in system.data or "forces" not in system.data:
        raise InputFileError(path, "DeePMD system has no energies or forces (energy.npy/force.npy)")
    out: list[RawFrame] = []
    for i, atoms in enumerate(system.to_ase_structure()):
        out.append((atoms, float(system.data["energies"][i]), np.asarray(system.data["forces"][i])))
    return out


# --------------------------------------------------------------------------- predictions
def import_predictions(
    paths: str | Path | Sequence[str | Path],
    reference: ReferenceSet,
    *,
    model: str,
    fmt: PredictionFormat | None = None,
    universal: bool = False,
    check_reference_tol_ev: float = 1e-3,
) -> Predictions:
    """Read a model's predictions made elsewhere and match them to ``reference`` frame by frame.

    The files list frames in the order of the reference set they were computed on (NEP's
    train.xyz/test.xyz, DeePMD's system), which must be ``reference`` in its frame order.

    Args:
        paths: the output files (or the folder holding them).
        reference: the reference set the model was tested on.
        model: model name to store the predictions under.
        fmt: 'nep-out' or 'deepmd-out' (guessed from the names when None).
        universal: whether the model is a universal one (gets the per-element constant shift).
        check_reference_tol_ev: the reference columns in the files must match ``reference`` to
            this tolerance (eV/atom, eV/Å); a mismatch means the files belong to other data.

    Raises:
        InputFileError: a file is missing, malformed, or its frame/atom counts or reference
            columns do not match ``reference`` (the message gives the file and both counts).
    """
    files = _expand(paths)
    fmt = fmt or detect_format(files[0])  # type: ignore[assignment]
    arrays = reference.arrays()
    if fmt == "nep-out":
        energy_file = _pick(files, r"energy_\w+\.out$", "NEP energy_*.out")
        force_file = _pick(files, r"force_\w+\.out$", "NEP force_*.out")
        e_cols = _load_columns(energy_file, 2)
        f_cols = _load_columns(force_file, 6)
        e_pred_per_atom, e_ref_per_atom = e_cols[:, 0], e_cols[:, 1]
        f_pred, f_ref = f_cols[:, :3], f_cols[:, 3:6]
        _check_counts(energy_file, len(e_cols), len(arrays), "frames")
        _check_counts(force_file, len(f_cols), int(arrays.n_atoms.sum()), "atoms")
        energy = e_pred_per_atom * arrays.n_atoms
        ref_energy_per_atom = e_ref_per_atom
    elif fmt == "deepmd-out":
        force_file = _pick(files, r"\.f\.out$", "DeePMD *.f.out")
        f_cols = _load_columns(force_file, 6)
        f_ref, f_pred = f_cols[:, :3], f_cols[:, 3:6]
        _check_counts(force_file, len(f_cols), int(arrays.n_atoms.sum()), "atoms")
        e_total = [f for f in files if re.search(r"\.e\.out$", f.name)]
        if e_total:
            e_cols = _load_columns(e_total[0], 2)
            _check_counts(e_total[0], len(e_cols), len(arrays), "frames")
            energy = e_cols[:, 1]
            ref_energy_per_atom = e_cols[:, 0] / arrays.n_atoms
            energy_file = e_total[0]
        else:
            energy_file = _pick(files, r"\.e_peratom\.out$", "DeePMD *.e.out or *.e_peratom.out")
            e_cols = _load_columns(energy_file, 2)
            _check_counts(energy_file, len(e_cols), len(arrays), "frames")
            energy = e_cols[:, 1] * arrays.n_atoms
            ref_energy_per_atom = e_cols[:, 0]
    else:
        raise InputFileError(files[0], f"format {fmt!r} is not a prediction format (use nep-out or deepmd-out)")
    _check_reference_columns(energy_file, ref_energy_per_atom, arrays.energy / arrays.n_atoms, "energy per atom", check_reference_tol_ev)
    _check_reference_columns(force_file, f_ref.ravel(), arrays.forces.ravel(), "force component", check_reference_tol_ev)
    return Predictions(
        model=model,
        dataset_hash=reference.content_hash(),
        frame_id=arrays.frame_id.copy(),
        energy=np.asarray(energy, dtype=np.float64),
        forces=np.asarray(f_pred, dtype=np.float64),
        n_atoms=arrays.n_atoms.copy(),
        meta={"universal": universal, "source_files": [str(f) for f in files], "format": fmt},
        structure_hash=np.array([structure_hash(a) for a in reference.frames], dtype=str),
    )


def _expand(paths: str | Path | Sequence[str | Path]) -> list[Path]:
    items = [paths] if isinstance(paths, (str, Path)) else list(paths)
    files: list[Path] = []
    for item in map(Path, items):
        if item.is_dir():
            files.extend(sorted(p for p in item.iterdir() if p.is_file()))
        elif item.is_file():
            files.append(item)
            # a NEP energy file implies its force file beside it, and vice versa
            match = re.match(r"(energy|force)_(\w+)\.out$", item.name)
            if match:
                other = item.with_name(f"{'force' if match[1] == 'energy' else 'energy'}_{match[2]}.out")
                if other.is_file() and other not in items:
                    files.append(other)
            match = re.match(r"(.*)\.(e|e_peratom|f)\.out$", item.name)
            if match:
                for suffix in ("e", "e_peratom", "f"):
                    other = item.with_name(f"{match[1]}.{suffix}.out")
                    if other.is_file() and other not in files and other not in items:
                        files.append(other)
        else:
            raise InputFileError(item, "no such file")
    if not files:
        raise InputFileError(Path(str(items[0])) if items else Path("."), "no prediction files given")
    return files


def _pick(files: list[Path], pattern: str, what: str) -> Path:
    for file in files:
        if re.search(pattern, file.name):
            return file
    raise InputFileError(files[0].parent if files else Path("."), f"missing {what} beside {', '.join(f.name for f in files)}")


def _load_columns(path: Path, ncols: int) -> NDArray[np.float64]:
    if path.stat().st_size == 0:
        raise InputFileError(path, "file is empty")
    rows = []
    with open(path, errors="replace") as handle:
        for lineno, line in enumerate(handle, 1):
            text = line.split("#", 1)[0].strip()
            if not text:
                continue
            parts = text.split()
            if len(parts) < ncols:
                raise InputFileError(path, f"line {lineno} has {len(parts)} columns, expected {ncols} (truncated?)")
            try:
                values = [float(p) for p in parts[:ncols]]
            except ValueError:
                raise InputFileError(path, f"line {lineno} is not numeric: {text[:60]!r}") from None
            rows.append(values)
    if not rows:
        raise InputFileError(path, "no data lines")
    data = np.array(rows, dtype=np.float64)
    if not np.all(np.isfinite(data)):
        bad = int(np.flatnonzero(~np.isfinite(data).all(axis=1))[0])
        raise InputFileError(path, f"data row {bad + 1} contains NaN or inf")
    return data


def _check_counts(path: Path, got: int, expected: int, what: str) -> None:
    if got != expected:
        raise InputFileError(path, f"has {got} {what} but the reference set has {expected} {what}")


def _check_reference_columns(path: Path, in_file: NDArray[np.float64], reference: NDArray[np.float64], what: str, tol: float) -> None:
    diff = np.abs(in_file - reference)
    if len(diff) and diff.max() > tol:
        i = int(diff.argmax())
        raise InputFileError(
            path,
            f"its reference {what} column differs from the reference set by {diff[i]:.3g} eV (row {i + 1}): "
            "the file belongs to other data or another frame order",
        )


def import_file(
    path: str | Path,
    *,
    fmt: ReferenceFormat | None = None,
    element: str | None = None,
    temperature: float | None = None,
    energy_unit: str = "eV",
) -> ReferenceSet:
    """Alias of :func:`import_reference` with ``temperature`` in K (used by the dashboard)."""
    return import_reference(path, fmt=fmt, element=element, temperature_k=temperature, energy_unit=energy_unit)
