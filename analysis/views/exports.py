"""The Data page's export: a data set (or some of its elements) in a fitting code's format, as one zip.

The same writers as ``python -m analysis export`` (:mod:`analysis.datasets.export`,
:mod:`analysis.models.export`); the data set, format and elements come only from the offered lists,
never a path from the request.
"""
from __future__ import annotations

import io
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

from analysis.datasets import store
from analysis.datasets.export import FORMATS, export_frames, select
from analysis.datasets.frames import ReferenceSet

#: format -> (label, file or folder name inside the zip)
EXPORT_FORMATS: dict[str, tuple[str, str]] = {
    "mace": ("extended XYZ, MACE's keys (REF_energy, REF_forces)", "frames.xyz"),
    "extxyz": ("extended XYZ, ASE's keys (energy, forces)", "frames.xyz"),
    "nep": ("NEP: nep.in + train.xyz/test.xyz per element", "nep"),
    "deepmd": ("DeePMD npy systems, one per element and temperature", "deepmd"),
    "ase-db": ("ASE database", "frames.db"),
}


def export_zip(name: str, fmt: str, elements: Sequence[str] | None = None) -> tuple[str, bytes, int]:
    """(file name, zip bytes, frames) of data set ``name`` exported as ``fmt``.

    Raises:
        ValueError: an unknown format, data set or element (the message names the choices).
    """
    if fmt not in EXPORT_FORMATS or (fmt != "nep" and fmt not in FORMATS):
        raise ValueError(f"unknown export format {fmt!r}: choose one of {', '.join(EXPORT_FORMATS)}")
    names = [i.name for i in store.list_datasets()]
    if name not in names:
        raise ValueError(f"no data set named {name!r} (present: {', '.join(names)})")
    ref = store.load_dataset(name)
    chosen = [e for e in (elements or []) if e]
    unknown = [e for e in chosen if e not in ref.elements]
    if unknown:
        raise ValueError(f"{name!r} has no frames of {', '.join(unknown)}")
    frames = select(ref, elements=chosen or None)
    with tempfile.TemporaryDirectory(prefix="atlas-export-") as folder:
        out = Path(folder) / EXPORT_FORMATS[fmt][1]
        if fmt == "nep":
            from analysis.models.export import write_nep

            write_nep(ReferenceSet(frames, dict(ref.provenance)), out)
        else:
            export_frames(frames, fmt, out)  # type: ignore[arg-type]
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(Path(folder).rglob("*")):
                if path.is_file():
                    zf.write(path, path.relative_to(folder).as_posix())
    suffix = "-" + "-".join(chosen) if chosen else ""
    return f"{name}{suffix}_{fmt}.zip", buffer.getvalue(), len(frames)


__all__ = ["EXPORT_FORMATS", "export_zip"]
