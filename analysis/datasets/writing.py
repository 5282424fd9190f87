"""Writing imported frames into a data set: explicit modes, duplicates skipped, one writer at a time.

``refuse`` (the default) leaves an existing data set alone and says which modes there are;
``append`` adds the frames that are not there yet (identical frames, by
:func:`~analysis.datasets.frames.frame_content_hash`, are skipped and counted) and keeps the stored
predictions (they are matched frame by frame, so the new frames wait for an evaluation);
``replace`` writes the new frames alone and drops the predictions made on the old ones. The whole
read-merge-write holds a file lock on the data set, so two imports at once both land.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from analysis.core.config import data_dir
from analysis.core.locks import locked
from analysis.datasets import store
from analysis.datasets.columns import content_hashes
from analysis.datasets.frames import ReferenceSet

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
        for atoms, key in zip(ref.frames, content_hashes(ref.frames)):
            if key in seen:
                skipped += 1
                continue
            seen.add(key)
            incoming.append(atoms)
        files = list(ref.provenance.get("source_files", []))
        warnings = list(ref.provenance.get("warnings", []))
        if old is not None and mode == "append":
            merged = ReferenceSet.merge([old, ReferenceSet(incoming, {})])
            merged.provenance = {**old.provenance, "source_files": [*old.provenance.get("source_files", []), *files]}
            if warnings or old.provenance.get("warnings"):
                merged.provenance["warnings"] = [*old.provenance.get("warnings", []), *warnings]
        else:
            merged = ReferenceSet(incoming, dict(ref.provenance))
        path = store.save_dataset(merged, name, root=root, keep_predictions=mode != "replace")
    return WriteOutcome(name, path, len(incoming), skipped, len(merged), merged.elements, mode)
