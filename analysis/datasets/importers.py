"""Importers of reference frames (DFT energies and forces) from the formats people have.

Formats (each read into a :class:`~analysis.datasets.frames.ReferenceSet`):
    ``extxyz``  extended XYZ and NEP/GPUMD ``train.xyz``/``test.xyz`` (one reader, keys in any case:
                :mod:`analysis.datasets.xyz`); ``nep`` is accepted as another name for it,
    ``outcar``  VASP OUTCAR, every complete ionic step (AIMD),
    ``vasprun`` VASP vasprun.xml, every complete ionic step,
    ``deepmd``  DeePMD system folders (``type.raw`` + ``set.*/*.npy`` or ``*.raw``; mixed-type
                systems with ``real_atom_types.npy`` read with their real types),
    ``pwmat-movement``, ``abacus``, ``qe-pw``, ``qe-cp``, ``cp2k-output``, ``cp2k-aimd``, ``fhi-aims``,
    ``siesta`` through dpdata, ``ase-traj``, ``ase-db`` through ASE (:mod:`analysis.datasets.dpdata_formats`),
    ``archive`` a .zip/.tar(.gz) of any of these (:mod:`analysis.datasets.archive`),
    ``folder``  a folder of any of these, at any depth (:func:`analysis.datasets.archive.import_folder`).

A file's format is read from its content (:mod:`analysis.datasets.sniff`), its name only when the
content says nothing; gzip and bzip2 files are decompressed first. Predictions made elsewhere are
read by :mod:`analysis.datasets.predictions`.

Every problem with a file raises :class:`~analysis.core.errors.InputFileError` naming the file and
the reason; what a file loses on the way in (the cut last step of a killed run) is said in the set's
``provenance["warnings"]``. Nothing is written by this module.
"""
from __future__ import annotations

import io
import math
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from ase import Atoms
from ase.data import chemical_symbols
from numpy.typing import NDArray

from analysis.core.errors import InputFileError
from analysis.datasets import sniff
from analysis.datasets.columns import content_hashes
from analysis.datasets.frames import ReferenceSet, make_frame, temperature_key

ReferenceFormat = Literal["extxyz", "nep", "outcar", "vasprun", "deepmd", "archive", "folder", "pwmat-movement", "abacus", "qe-pw",
                          "qe-cp", "cp2k-output", "cp2k-aimd", "fhi-aims", "siesta", "ase-traj", "ase-db"]

#: conversion factors to eV for the accepted energy units
ENERGY_UNITS: dict[str, float] = {
    "eV": 1.0,
    "meV": 1e-3,
    "Ha": 27.211386245988,
    "Ry": 13.605693122994,
    "kcal/mol": 0.0433641043,
    "kJ/mol": 0.0103642688,
}
_BOHR_A = 0.529177210903
#: conversion factors to eV/Å for the accepted force units (default: the energy unit per Å)
FORCE_UNITS: dict[str, float] = {
    "eV/Å": 1.0,
    "eV/A": 1.0,
    "meV/Å": 1e-3,
    "eV/bohr": 1.0 / _BOHR_A,
    "Ha/bohr": ENERGY_UNITS["Ha"] / _BOHR_A,
    "Ry/bohr": ENERGY_UNITS["Ry"] / _BOHR_A,
    "kcal/mol/Å": ENERGY_UNITS["kcal/mol"],
    "kJ/mol/Å": ENERGY_UNITS["kJ/mol"],
}
#: |energy| per atom beyond this (eV/atom) is no total energy of any code (all-electron U is about 7.6e5)
MAX_PLAUSIBLE_EV = 1.0e6
#: force components beyond this (eV/Å) are a unit mistake: AIMD of metals up to 1.2 Tc stays below ~15 eV/Å
MAX_FORCE_EV_PER_A = 100.0
#: the largest spread (max - min) of per-atom energies among the frames of one element at one
#: temperature (eV/atom); an AIMD run spreads by tenths of an eV at most. Unknown temperature:
#: the frames may be any structures (volume scans, defects), so the bound is looser.
MAX_SPREAD_EV = 2.0
MAX_SPREAD_UNKNOWN_T_EV = 100.0
UNIT_HINT = "give the file's unit with --energy-unit (CLI) or convert it to eV and eV/Å"
OUTCAR_HINT = "for OUTCARs of vdW runs, NWRITE=0 or VASP 6.3 import the run's vasprun.xml instead"

RawFrame = tuple[Atoms, "float | None", "NDArray[np.float64] | None"]


@dataclass(frozen=True)
class ReadOptions:
    """What a reader is told beyond the path: where to put warnings, and the user's hints."""

    warnings: list[str]
    type_map: Sequence[str] | None = None
    energy_key: str | None = None
    forces_key: str | None = None


def detect_format(path: Path) -> str:
    """A file's format from its content, else its name (gzip/bzip2 looked into); a folder's from what it holds.

    Returns:
        A reference format ('folder' for a folder of reference files), or 'nep-out'/'deepmd-out'
        for prediction files and folders.
    """
    path = Path(path)
    if path.is_dir():
        if (path / "type.raw").is_file():
            return "deepmd"
        from analysis.datasets.archive import reference_sources
        from analysis.datasets.dpdata_formats import sniff_folder

        if (kind := sniff_folder(path)) is not None:
            return kind

        if reference_sources(path):
            return "folder"
        names = [p.name.lower() for p in path.iterdir()]
        if any(re.match(r"energy_\w+\.out$", n) for n in names):
            return "nep-out"
        if any(re.search(r"\.(e|e_peratom|f)\.out$", n) for n in names):
            return "deepmd-out"
        raise InputFileError(path, "folder holds no reference data (no DeePMD system with type.raw, OUTCAR, vasprun.xml or "
                             "extended XYZ file, at any depth) and no NEP/DeePMD outputs")
    from analysis.datasets.archive import is_archive

    if is_archive(path):
        return "archive"
    if not path.is_file():
        raise InputFileError(path, "no such file")
    kind = sniff.compression(path)
    if kind is None:
        fmt = sniff.sniff_text(sniff.head_text(path))
    else:
        with tempfile.TemporaryDirectory(prefix="atlas-sniff-") as folder, sniff.decompressed(path, Path(folder)) as inner:
            fmt = sniff.sniff_text(sniff.head_text(inner))
    fmt = fmt or sniff.sniff_name(path.name)
    if fmt is None:
        raise InputFileError(
            path,
            "unknown format: expected extended XYZ or NEP train.xyz, an OUTCAR, a vasprun.xml, a DeePMD folder, a PWmat "
            "MOVEMENT, ABACUS, Quantum ESPRESSO, CP2K, FHI-aims or SIESTA output, an ASE .traj or .db, a .zip/.tar.gz of "
            "those, NEP energy_*.out/force_*.out or DeePMD *.e.out/*.f.out (give --format to say which)",
        )
    return fmt


# --------------------------------------------------------------------------- reference data
def import_reference(
    path: str | Path,
    *,
    fmt: ReferenceFormat | None = None,
    element: str | None = None,
    temperature_k: float | None = None,
    energy_unit: str = "eV",
    type_map: Sequence[str] | None = None,
    energy_key: str | None = None,
    forces_key: str | None = None,
    force_unit: str | None = None,
) -> ReferenceSet:
    """Read reference frames (DFT energies and forces) from ``path``.

    Args:
        path: file (plain, gzip or bzip2), DeePMD folder or archive.
        fmt: format name; read from the content (then the name) when None.
        element: element label for every frame (default: from the frame's species); a label that
            contradicts the atoms is an error.
        temperature_k: simulation temperature in K for every frame (default: the frame's own
            ``temperature`` info key, else unknown).
        energy_unit: unit of the energies in the file (a key of :data:`ENERGY_UNITS`); forces are
            taken in the same energy unit per Å.
        type_map: element of each DeePMD type number, for systems without ``type_map.raw``.
        energy_key: extended XYZ: the comment-line key of the reference energy (any case), for a
            file whose key is none of :data:`analysis.datasets.xyz.ENERGY_KEYS` or has several.
        forces_key: extended XYZ: the ``Properties`` column of the reference forces.
        force_unit: unit of the forces in the file (a key of :data:`FORCE_UNITS`: eV/bohr, Ha/bohr, ...);
            default the energy unit per Å.

    Raises:
        InputFileError: the file is missing, empty, truncated where no complete step remains, has
            no energies or forces, holds NaN/inf, magnitudes that betray another unit, or is of an
            unknown format.
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(path, "no such file")
    if path.is_file() and path.stat().st_size == 0:
        raise InputFileError(path, "file is empty")
    if energy_unit not in ENERGY_UNITS:
        raise InputFileError(path, f"unknown energy unit {energy_unit!r}; use one of {', '.join(ENERGY_UNITS)}")
    if force_unit is not None and force_unit not in FORCE_UNITS:
        raise InputFileError(path, f"unknown force unit {force_unit!r}; use one of {', '.join(FORCE_UNITS)}")
    from analysis.datasets.archive import import_archive, import_folder

    fmt = FORMAT_ALIASES.get(fmt, fmt) if fmt else detect_format(path)  # type: ignore[assignment]
    if fmt == "archive":
        return import_archive(path, element=element, temperature_k=temperature_k, energy_unit=energy_unit,
                              energy_key=energy_key, forces_key=forces_key, type_map=type_map, force_unit=force_unit)
    if fmt == "folder" or (path.is_dir() and fmt in READERS and fmt not in FOLDER_FORMATS):
        return import_folder(path, element=element, temperature_k=temperature_k, energy_unit=energy_unit,
                             type_map=type_map, energy_key=energy_key, forces_key=forces_key, force_unit=force_unit)
    if fmt not in READERS:
        raise InputFileError(path, f"format {fmt!r} is not a reference format (use one of {', '.join(READERS)}, archive, folder)")
    warnings: list[str] = []
    with tempfile.TemporaryDirectory(prefix="atlas-unpack-") as folder, sniff.decompressed(path, Path(folder)) as inner:
        problem = sniff.text_problem(inner) if fmt in TEXT_FORMATS and inner.is_file() else None
        if problem:
            raise InputFileError(path, f"{problem} (read as {fmt})")
        try:
            raw = READERS[fmt](inner, ReadOptions(warnings, type_map, energy_key, forces_key))
        except InputFileError as exc:
            if inner == path:
                raise
            raise InputFileError(path, exc.reason) from exc
    if not raw:
        raise InputFileError(path, "no frames found")
    scale = ENERGY_UNITS[energy_unit]
    f_scale = FORCE_UNITS[force_unit] if force_unit is not None else scale
    frames = []
    raw.reverse()  # popped from the end, so each parsed frame is freed once its labelled copy exists
    for index in range(len(raw)):
        atoms, energy, forces = raw.pop()
        _check_frame(path, index, atoms, energy, forces, scale, f_scale)
        label = check_label(path, index, atoms, element)
        temp = temperature_k if temperature_k is not None else _info_temperature(atoms)
        frames.append(
            make_frame(
                atoms,
                float(energy) * scale,  # type: ignore[arg-type]
                np.asarray(forces, dtype=np.float64) * f_scale,
                temperature_k=temp,
                source=f"{path.name}#{index}",
                element=label,
                extra_info={k: v for k, v in atoms.info.items() if k in ("config_type", "sampler", "weight")},
            )
        )
    for frame, digest in zip(frames, content_hashes(frames)):  # the frame's identity: its source (file#index) and its content
        frame.info["content_hash"] = digest
    check_units(path, frames)
    provenance = {"source_files": [str(path)], "format": fmt, "energy_unit_in_file": energy_unit,
                  **({"force_unit_in_file": force_unit} if force_unit else {})}
    if warnings:
        provenance["warnings"] = [f"{path.name}: {w}" for w in warnings]
    return ReferenceSet(frames, provenance)


def check_label(path: Path, index: int, atoms: Atoms, element: str | None) -> str | None:
    """The element label of a frame: ``element`` when it agrees with the atoms, else InputFileError.

    An elemental frame takes only its own symbol; a compound takes any label that is not a single
    element's symbol (its formula by default).
    """
    if element is None:
        return None
    species = sorted(set(atoms.get_chemical_symbols()))
    if len(species) == 1 and element != species[0]:
        raise InputFileError(path, f"frame {index} holds {species[0]} atoms but the element label given is {element!r}")
    if len(species) > 1 and element in chemical_symbols[1:]:
        raise InputFileError(path, f"frame {index} is a compound ({atoms.get_chemical_formula(mode='reduce')}) but the "
                             f"element label given is the element {element!r}; leave the label out or give the compound's name")
    return element


def _info_temperature(atoms: Atoms) -> float:
    key = temperature_key(atoms.info.get("temperature", atoms.info.get("temperature_k")))
    return math.nan if key is None else key


def _check_frame(path: Path, index: int, atoms: Atoms, energy: float | None, forces: object, scale: float,
                 f_scale: float) -> None:
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
        raise InputFileError(path, f"{where}: |energy| of {per_atom:.3g} eV/atom is no total energy: wrong unit; {UNIT_HINT}")
    biggest = float(np.abs(forces_arr * f_scale).max())
    if biggest > MAX_FORCE_EV_PER_A:
        raise InputFileError(path, f"{where}: a force component of {biggest:.4g} eV/Å, beyond the {MAX_FORCE_EV_PER_A:g} eV/Å "
                             f"no metal's AIMD reaches: the forces are in another unit (meV/Å?); {UNIT_HINT}")


def check_units(path: Path, frames: list[Atoms]) -> None:
    """Refuse per-atom energies that spread, within one element and temperature, far beyond any metal's.

    Raises:
        InputFileError: naming the group, its spread, the bound and the unit option.
    """
    groups: dict[tuple[str, float | None], list[float]] = {}
    for atoms in frames:
        key = (str(atoms.info["element"]), temperature_key(atoms.info["temperature"]))
        groups.setdefault(key, []).append(float(atoms.calc.results["energy"]) / len(atoms))
    for (element, temp), values in groups.items():
        spread = max(values) - min(values)
        bound = MAX_SPREAD_EV if temp is not None else MAX_SPREAD_UNKNOWN_T_EV
        if spread > bound:
            at = f"{temp:g} K" if temp is not None else "unknown temperature"
            raise InputFileError(path, f"the per-atom energies of {element} at {at} spread over {spread:.3g} eV/atom, beyond "
                                 f"the {bound:g} eV/atom any metal shows: the energies are in another unit (meV, kJ/mol, kcal/mol?); {UNIT_HINT}")


def _labels(atoms: Atoms, *, prefer_free_energy: bool = False) -> RawFrame:
    """Energy and forces of a frame parsed by ASE; VASP's TOTEN (free energy) is preferred for VASP
    files, since the forces are derivatives of the free energy."""
    energy = forces = None
    if atoms.calc is not None:
        results = atoms.calc.results
        keys = ("free_energy", "energy") if prefer_free_energy else ("energy", "free_energy")
        energy = results.get(keys[0], results.get(keys[1]))
        forces = results.get("forces")
    return atoms, (None if energy is None else float(energy)), forces


def _ase_read(path: Path, fmt: str, text: str | None = None, hint: str = "") -> list[Atoms]:
    from ase.io import read

    try:
        source: object = io.StringIO(text) if text is not None else path
        frames = read(source, index=":", format=fmt)
    except StopIteration:
        raise InputFileError(path, "no frames found") from None
    except Exception as exc:  # ASE raises many exception types on bad files
        raise InputFileError(path, f"cannot parse as {fmt}: {type(exc).__name__}: {exc}{'; ' + hint if hint else ''}") from exc
    return list(frames) if isinstance(frames, list) else [frames]


def _read_xyz(path: Path, opts: ReadOptions) -> list[RawFrame]:
    from analysis.datasets.xyz import read_xyz

    return read_xyz(path, energy_key=opts.energy_key, forces_key=opts.forces_key)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError as exc:
        raise InputFileError(path, f"cannot read: {exc.strerror}") from exc


#: an OUTCAR's final energy block of one ionic step, through its energy(sigma->0) line (a few lines below the header)
_ENERGY_BLOCK = re.compile(r"FREE ENERGIE OF THE ION-ELECTRON SYSTEM[^\n]*\n(?:[^\n]*\n){0,10}?[^\n]*energy\(sigma->0\)[^\n]*\n")


def outcar_steps(text: str) -> tuple[int, int, int]:
    """(ionic steps begun, steps with a final energy, steps with a force block) of an OUTCAR's text."""
    begun = {int(m) for m in re.findall(r"Iteration\s+(\d+)\(", text)}
    energies = len(_ENERGY_BLOCK.findall(text))  # whole blocks only: a run cut inside one has not finished that step
    forces = len(re.findall(r"POSITION\s+TOTAL-FORCE", text))
    return (max(begun) if begun else energies), energies, forces


def _read_outcar(path: Path, opts: ReadOptions) -> list[RawFrame]:
    warnings = opts.warnings
    text = _read_text(path)
    begun, energies, forces = outcar_steps(text)
    if forces < energies:
        raise InputFileError(path, f"{energies} ionic steps have energies but only {forces} have forces (NWRITE=0 writes "
                             "forces only for some steps; no step is kept without its forces): import the run's vasprun.xml, "
                             "which holds every step's forces")
    complete = min(energies, forces)
    if complete == 0:
        raise InputFileError(path, f"no complete ionic step (energy and forces): the run stopped before its first step ended; {OUTCAR_HINT}")
    if complete < begun or complete < forces:
        end = _outcar_step_end(text, complete)
        with tempfile.TemporaryDirectory(prefix="atlas-outcar-") as folder:
            cut = Path(folder) / "OUTCAR"
            cut.write_text(text[:end])
            try:
                frames = _ase_read(cut, "vasp-out", hint=OUTCAR_HINT)
            except InputFileError as exc:
                raise InputFileError(path, exc.reason) from exc
        warnings.append(f"the run stops inside ionic step {complete + 1} (killed or still running?): imported the "
                        f"{complete} complete steps, dropped {begun - complete} cut step(s)")
    else:
        frames = _ase_read(path, "vasp-out", hint=OUTCAR_HINT)
    if len(frames) != complete:
        raise InputFileError(path, f"ASE read {len(frames)} ionic steps where the file has {complete} complete ones; {OUTCAR_HINT}")
    return [_labels(a, prefer_free_energy=True) for a in frames]


def _outcar_step_end(text: str, n: int) -> int:
    """Where the ``n``-th ionic step's final energy block ends in an OUTCAR's text."""
    matches = list(_ENERGY_BLOCK.finditer(text))
    return matches[n - 1].end()


def _read_vasprun(path: Path, opts: ReadOptions) -> list[RawFrame]:
    warnings = opts.warnings
    text = _read_text(path)
    begun = text.count("<calculation>")
    complete = text.count("</calculation>")
    if "</modeling>" in text[-4096:] and begun == complete:
        frames = _ase_read(path, "vasp-xml")
    else:  # cut by a killed run (or cut and closed again by hand: a step begun and not ended)
        if complete == 0:
            raise InputFileError(path, "file is truncated before its first ionic step ended (no </calculation>): nothing to import")
        end = text.rindex("</calculation>") + len("</calculation>")
        frames = _ase_read(path, "vasp-xml", text=text[:end] + "\n</modeling>\n")
        warnings.append(f"the file stops inside ionic step {complete + 1} (the run was killed?): imported the {complete} "
                        f"complete steps, dropped {begun - complete} cut step(s)")
    return [_labels(a, prefer_free_energy=True) for a in frames]


def _read_deepmd(path: Path, opts: ReadOptions) -> list[RawFrame]:
    type_map = opts.type_map
    map_file = path / "type_map.raw"
    names = list(type_map) if type_map else (map_file.read_text().split() if map_file.is_file() else None)
    if names is None:
        raise InputFileError(path, "the DeePMD system has no type_map.raw, so its type numbers name no element: give "
                             "the elements in type order with --type-map (e.g. --type-map O,H)")
    bad = [n for n in names if n not in chemical_symbols[1:]]
    if bad:
        raise InputFileError(path, f"type map entry {bad[0]!r} is not a chemical element")
    for npy in sorted(path.glob("set.*/*.npy")):
        _check_npy(npy)
    if any(path.glob("set.*/real_atom_types.npy")):
        return _read_deepmd_mixed(path, names)
    import dpdata

    fmt = "deepmd/npy" if any(path.glob("set.*")) else "deepmd/raw"
    try:
        system = dpdata.LabeledSystem(str(path), fmt=fmt, type_map=names)
    except Exception as exc:  # dpdata raises assorted errors on bad folders
        raise InputFileError(path, f"cannot read DeePMD system ({fmt}): {type(exc).__name__}: {exc}") from exc
    if len(system) == 0:
        raise InputFileError(path, "DeePMD system has no frames")
    if "energies" not in system.data or "forces" not in system.data:
        raise InputFileError(path, "DeePMD system has no energies or forces (energy.npy/force.npy)")
    types = np.asarray(system.data["atom_types"])
    symbols = [system.data["atom_names"][t] for t in types]
    out: list[RawFrame] = []
    for i in range(len(system)):
        atoms = Atoms(symbols=symbols, positions=system.data["coords"][i], cell=system.data["cells"][i], pbc=not system.nopbc)
        out.append((atoms, float(system.data["energies"][i]), np.asarray(system.data["forces"][i], dtype=np.float64)))
    return out


def _check_npy(path: Path) -> None:
    """Refuse a ``.npy`` that is no numeric array (damaged, or pickled objects: never loaded), naming the file."""
    from numpy.lib import format as npy_format

    try:
        with open(path, "rb") as handle:
            version = npy_format.read_magic(handle)
            reader = npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0
            shape, _fortran, dtype = reader(handle)
            offset = handle.tell()
    except (ValueError, OSError, EOFError, SyntaxError) as exc:
        raise InputFileError(path, f"is not a numpy .npy array file (damaged?): {' '.join(str(exc).split())[:120]}") from None
    if dtype.hasobject:
        raise InputFileError(path, "holds Python objects (a pickled array), which are never loaded: DeePMD arrays are numbers")
    expected = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if path.stat().st_size < expected:
        raise InputFileError(path, f"is cut short: its header declares {shape} {dtype} ({expected} bytes), the file has {path.stat().st_size}")


def _read_deepmd_mixed(path: Path, names: list[str]) -> list[RawFrame]:
    """A mixed-type DeePMD system: each frame's types from ``set.*/real_atom_types.npy`` (-1 pads)."""
    out: list[RawFrame] = []
    for folder in sorted(path.glob("set.*")):
        try:
            arrays = {k: np.load(folder / f"{k}.npy", allow_pickle=False) for k in ("coord", "box", "energy", "force", "real_atom_types")}
        except (OSError, ValueError) as exc:
            raise InputFileError(folder, f"cannot read the mixed-type set: {exc}") from exc
        types = arrays["real_atom_types"].astype(np.int64)
        n_frames, n_atoms = types.shape
        coords = arrays["coord"].reshape(n_frames, n_atoms, 3)
        forces = arrays["force"].reshape(n_frames, n_atoms, 3)
        for i in range(n_frames):
            real = types[i] >= 0
            if types[i][real].max(initial=0) >= len(names):
                raise InputFileError(folder, f"frame {i} has type {int(types[i].max())} beyond the type map {names}")
            atoms = Atoms(symbols=[names[t] for t in types[i][real]], positions=coords[i][real],
                          cell=arrays["box"].reshape(n_frames, 3, 3)[i], pbc=True)
            out.append((atoms, float(arrays["energy"].reshape(-1)[i]), forces[i][real].astype(np.float64)))
    return out


def _dpdata_reader(fmt: str) -> Callable[[Path, ReadOptions], list[RawFrame]]:
    def read(path: Path, opts: ReadOptions) -> list[RawFrame]:
        from analysis.datasets.dpdata_formats import read_dpdata

        return read_dpdata(path, fmt, opts.warnings)  # type: ignore[return-value]

    return read


def _ase_reader(fmt: str) -> Callable[[Path, ReadOptions], list[RawFrame]]:
    def read(path: Path, opts: ReadOptions) -> list[RawFrame]:
        from analysis.datasets.dpdata_formats import read_ase

        return [_labels(a) for a in read_ase(path, fmt)]

    return read


READERS = {"extxyz": _read_xyz, "nep": _read_xyz, "outcar": _read_outcar, "vasprun": _read_vasprun, "deepmd": _read_deepmd,
           **{f: _dpdata_reader(f) for f in ("pwmat-movement", "abacus", "qe-pw", "qe-cp", "cp2k-output", "cp2k-aimd",
                                             "fhi-aims", "siesta")},
           "ase-traj": _ase_reader("ase-traj"), "ase-db": _ase_reader("ase-db")}
#: formats that are text files (checked for their encoding before a parser sees them)
TEXT_FORMATS = ("extxyz", "nep", "outcar", "vasprun", "pwmat-movement", "qe-pw", "cp2k-output", "fhi-aims", "siesta")
#: formats whose source is a folder (any other folder is a folder of reference files: :func:`analysis.datasets.archive.import_folder`)
FOLDER_FORMATS = ("deepmd", "abacus", "qe-cp", "cp2k-aimd")
#: ``--format`` names that dpdata's own spelling also reaches
FORMAT_ALIASES = {"pwmat/movement": "pwmat-movement", "movement": "pwmat-movement", "abacus/scf": "abacus", "abacus/md": "abacus",
                  "abacus/relax": "abacus", "qe/pw/scf": "qe-pw", "qe/cp/traj": "qe-cp", "cp2k/output": "cp2k-output",
                  "cp2k/aimd_output": "cp2k-aimd", "fhi_aims/md": "fhi-aims", "fhi_aims/scf": "fhi-aims",
                  "siesta/output": "siesta", "siesta/aimd_output": "siesta", "ase/traj": "ase-traj", "traj": "ase-traj",
                  "db": "ase-db", "vasp/outcar": "outcar", "vasp/xml": "vasprun", "deepmd/npy": "deepmd", "deepmd/raw": "deepmd"}


def import_file(
    path: str | Path,
    *,
    fmt: ReferenceFormat | None = None,
    element: str | None = None,
    temperature: float | None = None,
    energy_unit: str = "eV",
    type_map: Sequence[str] | None = None,
    energy_key: str | None = None,
    forces_key: str | None = None,
    force_unit: str | None = None,
) -> ReferenceSet:
    """Alias of :func:`import_reference` with ``temperature`` in K (used by the dashboard)."""
    return import_reference(path, fmt=fmt, element=element, temperature_k=temperature, energy_unit=energy_unit, type_map=type_map,
                            energy_key=energy_key, forces_key=forces_key, force_unit=force_unit)
