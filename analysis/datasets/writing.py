"""Writing imported frames into a data set: explicit modes, duplicates skipped, one writer at a time.

``refuse`` (the default) leaves an existing data set alone and says which modes there are;
``append`` adds the frames that are not there yet (identical frames, by
:func:`~analysis.datasets.frames.frame_content_hash`, are skipped and counted) and keeps the stored
predictions (they are matched frame by frame, so the new frames wait for an evaluation);
``replace`` writes the new frames alone and drops the predictions made on the old ones. The whole
read-merge-write holds a file lock on the data set, so two imports at once both land. An append is
checked for units against what the data set holds (:func:`check_append_units`), not only on the
incoming file, and refused with nothing written.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from ase import Atoms

from analysis.core.config import data_dir
from analysis.core.locks import locked
from analysis.datasets import store
from analysis.datasets.columns import content_hashes
from analysis.datasets.frames import ReferenceSet, frame_energy, frame_forces, temperature_key

WriteMode = Literal["refuse", "append", "replace"]
MODES: tuple[str, ...] = ("refuse", "append", "replace")


class DatasetExistsError(ValueError):
    """The data set exists and the mode is ``refuse``."""


@dataclass(frozen=True)
class WriteOutcome:
    """What a write did: frames added, identical frames skipped, frames in the data set now."""

    name: str
    path: Path
    added: int
    skipped_duplicates: int
    total: int
    elements: list[str]
    mode: str


def exists_message(name: str, n_frames: int) -> str:
    """The refusal: the data set, its size and the modes that would write into it."""
    return (f"data set {name!r} exists ({n_frames} frames): choose a mode: append (add the new frames; identical ones are "
            "skipped), replace (overwrite it and its predictions), or import under another data set name")


#: the largest difference (eV/atom) between the median per-atom energies of one element's new and stored
#: frames at known temperatures: heating a metal from 300 K to 1.2 Tc raises it by about 1 eV/atom at most;
#: energies in kcal/mol, kJ/mol or meV read as eV are 20-1000 times further off
MAX_ELEMENT_SHIFT_EV = 5.0
#: the range of the ratio of the RMS force of new and stored frames at one element and temperature: two
#: AIMD samples of one state agree within some 10 %; forces in eV/bohr read as eV/Å are 0.53 times, in
#: Ha/bohr 0.019 times, in kcal/mol/Å 23 times the true ones
FORCE_RMS_RATIO = (0.6, 1.0 / 0.6)


def check_append_units(old: ReferenceSet, incoming: list[Atoms], name: str, files: list[str]) -> None:
    """Refuse frames that would make the data set, as it will be after the append, show another unit.

    The unit checks of an import (:func:`analysis.datasets.importers.check_units`: the per-atom energy
    spread of each element and temperature) run on the stored frames of the groups the new frames
    join, with them; then the new frames' per-atom energies are compared with the element's stored
    ones at any known temperature (:data:`MAX_ELEMENT_SHIFT_EV`), and their forces with the stored
    forces of the same element and temperature (:data:`FORCE_RMS_RATIO`, groups of 3 frames or more).

    Raises:
        InputFileError: naming the new file(s), the group, the values, the bound and the unit options.
    """
    from analysis.core.errors import InputFileError
    from analysis.datasets.importers import UNIT_HINT, check_units

    where = Path(files[0]) if len(files) == 1 else Path(", ".join(Path(f).name for f in files) or name)
    stored = old.groups()
    new_groups: dict[tuple[str, float | None], list[Atoms]] = {}
    for atoms in incoming:
        new_groups.setdefault((str(atoms.info["element"]), temperature_key(atoms.info["temperature"])), []).append(atoms)
    try:
        check_units(where, [a for key in new_groups for a in stored.get(key, [])] + incoming)
    except InputFileError as exc:
        raise InputFileError(where, f"with the frames data set {name!r} holds, {exc.reason}") from exc
    hint = f"{UNIT_HINT}; --force-unit gives the forces' unit (eV/bohr, Ha/bohr, ...)"
    for element in sorted({key[0] for key in new_groups}):
        old_e = [_per_atom(a) for (el, t), frames in stored.items() if el == element and t is not None for a in frames]
        new_e = [_per_atom(a) for (el, t), frames in new_groups.items() if el == element and t is not None for a in frames]
        if old_e and new_e and abs(float(np.median(new_e)) - float(np.median(old_e))) > MAX_ELEMENT_SHIFT_EV:
            raise InputFileError(where, f"the new {element} frames' per-atom energies (median {np.median(new_e):.4g} eV/atom) lie "
                                 f"{abs(np.median(new_e) - np.median(old_e)):.3g} eV/atom from those data set {name!r} holds "
                                 f"(median {np.median(old_e):.4g}), beyond the {MAX_ELEMENT_SHIFT_EV:g} eV/atom that heating "
                                 f"explains: another unit (meV, kJ/mol, kcal/mol?), or another code's energy zero; {hint}")
    for key, frames in new_groups.items():
        if key[1] is None or len(frames) < 3 or len(stored.get(key, [])) < 3:
            continue
        ratio = _rms_force(frames) / max(_rms_force(stored[key]), 1e-12)
        if not FORCE_RMS_RATIO[0] <= ratio <= FORCE_RMS_RATIO[1]:
            raise InputFileError(where, f"the new {key[0]} frames at {key[1]:g} K have forces {ratio:.3g} times (RMS) those of the "
                                 f"{len(stored[key])} frames data set {name!r} holds at that temperature, outside "
                                 f"{FORCE_RMS_RATIO[0]:.2g}-{FORCE_RMS_RATIO[1]:.2g}: another force unit (eV/bohr: 0.53, "
                                 f"Ha/bohr: 0.019, meV/Å: 1000)?; {hint}")


def _per_atom(atoms: Atoms) -> float:
    return frame_energy(atoms) / len(atoms)


def _rms_force(frames: list[Atoms]) -> float:
    return float(np.sqrt(np.mean(np.concatenate([frame_forces(a) for a in frames]) ** 2)))


def write_frames(ref: ReferenceSet, name: str, *, mode: WriteMode = "refuse", root: Path | None = None) -> WriteOutcome:
    """Write ``ref`` into user data set ``name`` under ``mode`` (see the module's description).

    Raises:
        DatasetExistsError: ``mode`` is refuse and the data set exists.
        ValueError: an unknown mode, a bad name, or the name of the embedded default data set.
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
    store.check_name(name)
    root = root or data_dir()
    folder = root / "datasets" / name
    with locked(root / "datasets" / f".{name}"):
        exists = (folder / store.MANIFEST).is_file()
        if not exists and any(i.name == name and i.embedded for i in store.iter_datasets()):
            raise ValueError(f"{name!r} is the embedded default data set: choose another data set name")
        incoming, seen = [], set()
        old = store.read_dataset(folder) if exists else None
        if exists and mode == "refuse":
            raise DatasetExistsError(exists_message(name, len(old)))  # type: ignore[arg-type]
        if old is not None and mode == "append":
            seen = set(store.read_columns(folder).content_hash.tolist())  # stored with the frames
        skipped = 0
        known = [a.info.get("content_hash") for a in ref.frames]
        # the importers record each frame's content hash as they build it: hash only frames without one
        missing = [a for a, h in zip(ref.frames, known) if not h]
        computed = iter(content_hashes(missing))
        for atoms, key in zip(ref.frames, [h if h else next(computed) for h in known]):
            if key in seen:
                skipped += 1
                continue
            seen.add(key)
            incoming.append(atoms)
        files = list(ref.provenance.get("source_files", []))
        warnings = list(ref.provenance.get("warnings", []))
        if old is not None and mode == "append":
            if incoming:
                check_append_units(old, incoming, name, files)
            merged = ReferenceSet.merge([old, ReferenceSet(incoming, {})])
            merged.provenance = {**old.provenance, "source_files": [*old.provenance.get("source_files", []), *files]}
            if warnings or old.provenance.get("warnings"):
                merged.provenance["warnings"] = [*old.provenance.get("warnings", []), *warnings]
        else:
            merged = ReferenceSet(incoming, dict(ref.provenance))
        path = store.save_dataset(merged, name, root=root, keep_predictions=mode != "replace")
    return WriteOutcome(name, path, len(incoming), skipped, len(merged), merged.elements, mode)
