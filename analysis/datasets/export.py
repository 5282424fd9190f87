"""A data set, or a selection of it, written for another group's fitting code.

Formats:
    ``extxyz``  one extended XYZ file, ASE's keys (``energy=``, a ``forces`` column) or the keys
                named (``energy_key``/``forces_key``: ``DFT_energy``, ...),
    ``mace``    one extended XYZ file in MACE's keys: ``REF_energy=``, a ``REF_forces`` column and
                ``config_type`` (``mace_run_train --energy_key REF_energy --forces_key REF_forces``,
                and what ``mace_eval_configs`` keeps as the reference beside its predictions),
    ``deepmd``  a folder of DeePMD npy systems written by dpdata, one per element and temperature
                (``Cu_1358K/``: the folder name carries the temperature back in), with
                ``type_map.raw``; frames of another atom count or species order get a system of their own,
    ``ase-db``  an ASE SQLite database (``ase.db``), the temperature, element label, frame id and
                source as key-value pairs.

NEP's ``train.xyz``/``test.xyz`` with ``nep.in`` need the fitting hyper-parameters and split of
:mod:`analysis.models`, which this layer does not import: :mod:`analysis.models.export` writes them
through the same writer as ``fit --write-only``, and runs the ``export`` command.

Every format keeps the frames' order and each frame's temperature (``temperature=`` in extended
XYZ, the system folder's name for DeePMD, a key-value pair in the database), so that importing the
export gives the same frames, labels and temperatures at the store's precision (8 decimals).
Nothing is written unless all of it is: files go through a temporary name, folders through a
temporary folder, then a rename; an existing target is refused.
"""
from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from analysis.datasets.frames import ReferenceSet, frame_energy, frame_forces, temperature_key, temperature_label

ExportFormat = Literal["extxyz", "mace", "deepmd", "ase-db"]
FORMATS: tuple[str, ...] = ("extxyz", "mace", "deepmd", "ase-db")
#: info keys written with the frames (the rest of ``atoms.info`` is the store's business)
_KEPT = ("frame_id", "source", "config_type", "weight")


def parse_temperatures(text: str | None) -> list[float | None] | None:
    """'300,1358,unknown' -> [300.0, 1358.0, None]; None for no selection.

    Raises:
        ValueError: a value that is neither a number nor 'unknown'.
    """
    if not text:
        return None
    out: list[float | None] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if part.lower() in ("unknown", "nan", "none"):
            out.append(None)
            continue
        try:
            out.append(float(part.rstrip("Kk")))
        except ValueError:
            raise ValueError(f"temperature {part!r} is neither a number (K) nor 'unknown'") from None
    return out


def select(ref: ReferenceSet, *, elements: Iterable[str] | None = None, temperatures: Iterable[float | None] | None = None,
           frame_ids: Iterable[str] | None = None) -> list[Atoms]:
    """The frames of ``ref`` (in its order) of the given element labels, temperatures (None: unknown) and ids.

    Raises:
        ValueError: an element or temperature that selects nothing, naming what the set has.
    """
    frames = list(ref.frames)
    if elements is not None:
        wanted = set(elements)
        missing = sorted(wanted - set(ref.elements))
        if missing:
            raise ValueError(f"the data set has no frames of {', '.join(missing)} (it has {', '.join(ref.elements)})")
        frames = [a for a in frames if a.info["element"] in wanted]
    if temperatures is not None:
        keys = {temperature_key(t) for t in temperatures}
        present = {temperature_key(a.info["temperature"]) for a in frames}
        missing_t = [k for k in keys if k not in present]
        if missing_t:
            have = ", ".join(temperature_label(t) for t in sorted(present, key=lambda t: (t is None, t or 0.0)))
            raise ValueError(f"no frames at {', '.join(temperature_label(t) for t in missing_t)} K in the selection (it has {have})")
        frames = [a for a in frames if temperature_key(a.info["temperature"]) in keys]
    if frame_ids is not None:
        ids = set(frame_ids)
        frames = [a for a in frames if str(a.info["frame_id"]) in ids]
    if not frames:
        raise ValueError("the selection holds no frames")
    return frames


def _info(atoms: Atoms) -> dict[str, Any]:
    """What a written frame carries besides its labels: temperature (when known), id, source, config type."""
    info: dict[str, Any] = {k: atoms.info[k] for k in _KEPT if k in atoms.info and atoms.info[k] != ""}
    temp = temperature_key(atoms.info.get("temperature"))
    if temp is not None:
        info["temperature"] = temp
    return info


def _bare(atoms: Atoms) -> Atoms:
    return Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)


def xyz_frames(frames: Sequence[Atoms], *, energy_key: str = "energy", forces_key: str = "forces",
               config_type: bool = False) -> list[Atoms]:
    """Copies of ``frames`` labelled for ASE's extended XYZ writer under the given keys.

    ``energy``/``forces`` go through a SinglePointCalculator (ASE writes them as ``energy=`` and a
    ``forces`` column); other keys become ``info``/``arrays`` entries (``REF_energy``, ``REF_forces``).
    """
    out = []
    for atoms in frames:
        copy = _bare(atoms)
        copy.info.update(_info(atoms))
        if config_type:
            copy.info.setdefault("config_type", "Default")  # mace_run_train's name for frames of no special type
        energy, forces = frame_energy(atoms), frame_forces(atoms)
        if energy_key == "energy" and forces_key == "forces":
            copy.calc = SinglePointCalculator(copy, energy=energy, forces=forces)
        else:
            copy.info[energy_key] = energy
            copy.arrays[forces_key] = np.array(forces, dtype=np.float64)
        out.append(copy)
    return out


def _write_atomically(out: Path, write: Any, *, folder: bool) -> Path:
    """Call ``write(tmp)`` on a temporary file or folder beside ``out``, then rename it to ``out``.

    Raises:
        FileExistsError: ``out`` exists (it is left alone).
    """
    out = Path(out)
    if out.exists():
        raise FileExistsError(f"{out} exists: choose another --out or remove it first")
    out.parent.mkdir(parents=True, exist_ok=True)
    if folder:
        tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    else:
        fd, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
        os.close(fd)
        tmp = Path(name)
        tmp.unlink()  # writers that open by name (sqlite) want no file there
    try:
        write(tmp)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
        raise
    return out


def write_atomic_file(out: Path, write: Any) -> Path:
    """``write(tmp_path)``, then the file renamed to ``out`` (an existing ``out`` is refused)."""
    return _write_atomically(out, write, folder=False)


def write_atomic_folder(out: Path, write: Any) -> Path:
    """``write(tmp_folder)``, then the folder renamed to ``out`` (an existing ``out`` is refused)."""
    return _write_atomically(out, write, folder=True)


def write_extxyz(frames: Sequence[Atoms], out: Path, *, energy_key: str = "energy", forces_key: str = "forces",
                 mace: bool = False) -> Path:
    """One extended XYZ file; ``mace`` writes MACE's keys (REF_energy, REF_forces, config_type)."""
    from ase.io import write

    labelled = xyz_frames(frames, energy_key="REF_energy" if mace else energy_key,
                          forces_key="REF_forces" if mace else forces_key, config_type=mace)
    return write_atomic_file(out, lambda tmp: write(tmp, labelled, format="extxyz"))


def _system_name(element: str, temp: float | None) -> str:
    return f"{element}_{temperature_label(temp)}K" if temp is not None else f"{element}_T-unknown"


def deepmd_groups(frames: Sequence[Atoms]) -> dict[str, list[Atoms]]:
    """System folder name -> frames: one per element label, temperature, and atom sequence."""
    by_key: dict[tuple[str, float | None], dict[tuple[int, ...], list[Atoms]]] = {}
    for atoms in frames:
        key = (str(atoms.info["element"]), temperature_key(atoms.info["temperature"]))
        by_key.setdefault(key, {}).setdefault(tuple(atoms.numbers.tolist()), []).append(atoms)
    out: dict[str, list[Atoms]] = {}
    for (element, temp), shapes in by_key.items():
        base = _system_name(element, temp)
        for i, group in enumerate(shapes.values()):
            out[base if i == 0 else f"{base}-{len(group[0])}atoms-{i}"] = group
    return out


def write_deepmd(frames: Sequence[Atoms], out: Path) -> Path:
    """A folder of DeePMD npy systems through dpdata (see :func:`deepmd_groups`), each with ``type_map.raw``."""
    import dpdata

    def write(folder: Path) -> None:
        for name, group in deepmd_groups(frames).items():
            symbols = group[0].get_chemical_symbols()
            names = sorted(set(symbols))
            system = dpdata.LabeledSystem(data={
                "atom_names": names,
                "atom_numbs": [symbols.count(n) for n in names],
                "atom_types": np.array([names.index(s) for s in symbols], dtype=int),
                "orig": np.zeros(3),
                "cells": np.array([a.cell.array for a in group], dtype=np.float64),
                "coords": np.array([a.positions for a in group], dtype=np.float64),
                "energies": np.array([frame_energy(a) for a in group], dtype=np.float64),
                "forces": np.array([frame_forces(a) for a in group], dtype=np.float64),
                "nopbc": not bool(np.all(group[0].pbc)),
            })
            system.to("deepmd/npy", str(folder / name))

    return write_atomic_folder(out, write)


def write_ase_db(frames: Sequence[Atoms], out: Path) -> Path:
    """An ASE SQLite database: each frame with its labels (a SinglePointCalculator) and key-value pairs."""
    import ase.db

    def write(tmp: Path) -> None:
        with ase.db.connect(tmp, type="db", append=False) as db:
            for atoms in frames:
                copy = _bare(atoms)
                copy.calc = SinglePointCalculator(copy, energy=frame_energy(atoms), forces=frame_forces(atoms))
                pairs = {k: v for k, v in _info(atoms).items() if isinstance(v, (str, int, float)) and not
                         (isinstance(v, float) and math.isnan(v))}
                pairs["element"] = str(atoms.info["element"])
                db.write(copy, key_value_pairs=pairs)

    return write_atomic_file(out, write)


def export_frames(frames: Sequence[Atoms], fmt: ExportFormat, out: Path, *, energy_key: str = "energy",
                  forces_key: str = "forces") -> Path:
    """Write ``frames`` in ``fmt`` to ``out`` (a file, or a folder for deepmd); returns ``out``.

    Raises:
        ValueError: an unknown format.
        FileExistsError: ``out`` exists.
    """
    if fmt == "extxyz":
        return write_extxyz(frames, out, energy_key=energy_key, forces_key=forces_key)
    if fmt == "mace":
        return write_extxyz(frames, out, mace=True)
    if fmt == "deepmd":
        return write_deepmd(frames, out)
    if fmt == "ase-db":
        return write_ase_db(frames, out)
    raise ValueError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)} (or nep: analysis.models.export)")
