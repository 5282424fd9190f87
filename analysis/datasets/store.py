"""The on-disk data store: data sets (manifest + columns in HDF5) and model predictions (npz).

Layout under a root (the user data directory or the embedded default data)::

    <root>/datasets/<name>/manifest.json          provenance, units, DFT settings, content hash, groups, the frames file's checksum
    <root>/datasets/<name>/frames.h5              every frame as columns (:mod:`analysis.datasets.columns`)
    <root>/datasets/<name>/derived/               tables computed once from the frames and predictions (metrics)
    <root>/datasets/<name>/predictions/<slug>.npz  energy (F,), forces (A,3), frame_id, n_atoms
    <root>/datasets/<name>/predictions/<slug>.json model spec, data set hash, device, timings

Data sets written before the columnar store (``frames/<El>_<T>K.extxyz``, one extended XYZ file
per element and temperature, no ``frames_file`` in the manifest) are still read, and
``python -m analysis migrate`` rewrites them as columns without loss (same frames, ids, labels
and content hash).

Every write goes to a temporary file (or folder) first and is then renamed into place, so a
reader never sees half a result and an interrupted write leaves the previous state intact.
"""
from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import tempfile
import time
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from ase.io import read

from analysis.core.config import data_dir, default_data_dir
from analysis.datasets import columns as col
from analysis.datasets.frames import UNITS, Predictions, ReferenceSet, temperature_key, temperature_label
from analysis.core.errors import InputFileError

MANIFEST = "manifest.json"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def check_name(name: str) -> str:
    """Validate a data set name (letters, digits, '.', '_', '-'; no paths)."""
    if not _NAME_RE.match(name):
        raise ValueError(f"invalid data set name {name!r}: use letters, digits, '.', '_' and '-' only")
    return name


def model_slug(model: str) -> str:
    """A file-system-safe name for a model spec ('mace:medium' -> 'mace_medium')."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model).strip("_.")
    return slug or "model"


# --------------------------------------------------------------------------- atomic writes
def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    """Atomically write ``obj`` as indented JSON."""
    atomic_write_bytes(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default).encode())


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


# --------------------------------------------------------------------------- data sets
@dataclass(frozen=True)
class DatasetInfo:
    """A data set present on disk."""

    name: str
    path: Path
    manifest: dict[str, Any]
    embedded: bool

    @property
    def content_hash(self) -> str:
        return str(self.manifest.get("content_hash", ""))

    @property
    def n_frames(self) -> int:
        return int(sum(g["n_frames"] for g in self.manifest.get("groups", [])))

    @property
    def elements(self) -> list[str]:
        return sorted({g["element"] for g in self.manifest.get("groups", [])})

    @property
    def compounds(self) -> list[str]:
        """Labels of the groups that are not elemental (marked ``"elemental": false`` in the manifest)."""
        return sorted({g["element"] for g in self.manifest.get("groups", []) if g.get("elemental") is False})


def roots() -> list[tuple[Path, bool]]:
    """The store roots searched in order: the user data directory, then the embedded default data."""
    return [(data_dir(), False), (default_data_dir(), True)]


def group_filename(element: str, temperature_k: float | None) -> str:
    """File name of one element/temperature group ('Al_1120K.extxyz', 'Al_unknownK.extxyz')."""
    return f"{element}_{temperature_label(temperature_k)}K.extxyz"


def save_dataset(
    ref: ReferenceSet,
    name: str,
    *,
    root: Path | None = None,
    dft_settings: dict[str, Any] | None = None,
    keep_predictions: bool = True,
) -> Path:
    """Write ``ref`` as data set ``name`` under ``root`` (default: the user data directory).

    The frames become columns (:func:`analysis.datasets.columns.from_frames`: the per-frame hashes
    and shortest distances are computed here, once) in one HDF5 file. Predictions stored beside a
    previous version are kept unless ``keep_predictions`` is False; derived tables are not (they
    are keyed by what they were computed from and made again on first use).

    The whole data set is written into a temporary folder and swapped in by renames, so an
    interrupted save leaves any previous version of the data set intact.

    Returns:
        The data set's folder.
    """
    cols = col.from_frames(ref.frames)
    return save_columns(cols, name, content_hash=cols.set_content_hash(), provenance=ref.provenance,
                        root=root, dft_settings=dft_settings, keep_predictions=keep_predictions)


def save_columns(
    cols: col.FrameColumns,
    name: str,
    *,
    content_hash: str,
    provenance: dict[str, Any],
    root: Path | None = None,
    dft_settings: dict[str, Any] | None = None,
    keep_predictions: bool = True,
) -> Path:
    """Write columns as data set ``name`` (see :func:`save_dataset`); ``content_hash`` is the frames' :meth:`ReferenceSet.content_hash`."""
    check_name(name)
    root = root or data_dir()
    base = root / "datasets"
    base.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=base, prefix=f".{name}.", suffix=".tmp"))
    try:
        digest = col.write_h5(tmp / col.FILENAME, cols)
        settings = dft_settings or provenance.get("dft_settings", {})
        manifest = {
            "name": name,
            "created": _created_stamp(base / name / MANIFEST, content_hash, provenance, settings),
            "units": UNITS,
            "content_hash": content_hash,
            "frames_file": col.FILENAME,
            "frames_checksum": digest,
            "provenance": provenance,
            "dft_settings": settings,
            "groups": column_groups(cols),
        }
        atomic_write_json(tmp / MANIFEST, manifest)
        final = base / name
        old_predictions = final / "predictions"
        if old_predictions.is_dir() and keep_predictions:
            shutil.copytree(old_predictions, tmp / "predictions")
        _swap_in(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    clear_caches()
    return base / name


def column_groups(cols: col.FrameColumns) -> list[dict[str, Any]]:
    """The manifest's groups: frames and atoms per (element, temperature), compounds marked, in the frames' order."""
    groups: dict[tuple[str, float | None], dict[str, Any]] = {}
    n_atoms = cols.n_atoms
    elemental = cols.elemental() if len(cols) else np.zeros(0, dtype=bool)
    for i, (element, temp) in enumerate(zip(cols.element.tolist(), cols.temperature.tolist())):
        key = (element, temperature_key(temp))
        group = groups.setdefault(key, {"element": element, "temperature": key[1], "n_frames": 0, "n_atoms": 0, "_elemental": True})
        group["n_frames"] += 1
        group["n_atoms"] += int(n_atoms[i])
        group["_elemental"] = group["_elemental"] and bool(elemental[i])
    out = []
    for group in groups.values():
        elemental = group.pop("_elemental")
        # compounds are importable but marked (elemental groups carry no key: older manifests stay as they were)
        out.append({**group, **({} if elemental else {"elemental": False})})
    return out


def _created_stamp(previous: Path, content_hash: str, provenance: dict[str, Any], dft_settings: dict[str, Any]) -> str:
    """Now, or the previous manifest's stamp when it describes the same frames, provenance and settings.

    Saving an unchanged data set again (a resumed build re-assembling) then writes a byte-identical
    manifest, so a committed data set shows no spurious change.
    """
    try:
        old = json.loads(previous.read_text())
    except (OSError, json.JSONDecodeError):
        old = None
    same = (isinstance(old, dict) and isinstance(old.get("created"), str) and old.get("content_hash") == content_hash
            and old.get("provenance") == json.loads(json.dumps(provenance, default=_json_default))
            and old.get("dft_settings") == json.loads(json.dumps(dft_settings, default=_json_default)))
    return str(old["created"]) if same and isinstance(old, dict) else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _swap_in(tmp: Path, final: Path) -> None:
    if not final.exists():
        os.replace(tmp, final)
        return
    trash = final.with_name(f".{final.name}.old-{os.getpid()}-{time.time_ns()}")
    os.replace(final, trash)
    os.replace(tmp, final)
    shutil.rmtree(trash, ignore_errors=True)


def iter_datasets() -> Iterator[DatasetInfo]:
    """Every data set with a readable manifest, user data first; a name found in both is listed once."""
    seen: set[str] = set()
    for root, embedded in roots():
        base = root / "datasets"
        if not base.is_dir():
            continue
        for folder in sorted(base.iterdir()):
            if folder.name.startswith(".") or folder.name in seen:
                continue
            manifest_path = folder / MANIFEST
            if not manifest_path.is_file():
                continue
            try:
                manifest = json.loads(manifest_path.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            seen.add(folder.name)
            yield DatasetInfo(folder.name, folder, manifest, embedded)


def list_datasets() -> list[DatasetInfo]:
    """All data sets present (see :func:`iter_datasets`)."""
    return list(iter_datasets())


def find_dataset(name: str) -> DatasetInfo:
    """The data set called ``name``; KeyError listing what exists when it is absent."""
    for info in iter_datasets():
        if info.name == name:
            return info
    names = ", ".join(i.name for i in iter_datasets()) or "none"
    raise KeyError(f"no data set named {name!r} (present: {names})")


def load_dataset(name: str) -> ReferenceSet:
    """Load data set ``name`` as ``Atoms`` (cached per manifest modification time).

    For jobs and exports, which hand frames to models and writers; pages read :func:`load_columns`.
    """
    info = find_dataset(name)
    manifest_path = info.path / MANIFEST
    return _load_cached(str(info.path), manifest_path.stat().st_mtime_ns)


@lru_cache(maxsize=8)
def _load_cached(path: str, _mtime_ns: int) -> ReferenceSet:
    return read_dataset(Path(path))


def load_columns(name: str) -> col.FrameColumns:
    """Data set ``name`` as columns, the large arrays mapped (cached per manifest modification time)."""
    info = find_dataset(name)
    return _columns_cached(str(info.path), (info.path / MANIFEST).stat().st_mtime_ns)


def load_arrays(name: str) -> Any:
    """The flat arrays of data set ``name`` (:class:`FrameArrays`) without building a single ``Atoms``."""
    return load_columns(name).arrays()


@lru_cache(maxsize=8)
def _columns_cached(path: str, _mtime_ns: int) -> col.FrameColumns:
    return read_columns(Path(path))


def clear_caches() -> None:
    """Forget the data sets read into memory (:func:`load_dataset`, :func:`load_columns`); the next call reads the files."""
    _load_cached.cache_clear()
    _columns_cached.cache_clear()


def read_columns(folder: Path) -> col.FrameColumns:
    """The columns of the data set in ``folder`` (read now, not cached); a data set in the older
    extended-XYZ layout is read and converted in memory (``python -m analysis migrate`` rewrites it)."""
    manifest = json.loads((folder / MANIFEST).read_text())
    if manifest.get("frames_file"):
        return col.read_h5(folder / str(manifest["frames_file"]))
    return col.from_frames(_read_extxyz_dataset(folder, manifest).frames)


def read_dataset(folder: Path) -> ReferenceSet:
    """The data set stored in ``folder`` (read now, not cached)."""
    manifest = json.loads((folder / MANIFEST).read_text())
    if not manifest.get("frames_file"):
        return _read_extxyz_dataset(folder, manifest)
    ref = col.read_h5(folder / str(manifest["frames_file"])).reference_set(manifest.get("provenance", {}))
    ref.known_content_hash = str(manifest.get("content_hash", ""))
    return ref


def _read_extxyz_dataset(folder: Path, manifest: dict[str, Any]) -> ReferenceSet:
    """A data set written before the columnar store: one extended XYZ file per group."""
    frames = []
    seen: set[str] = set()
    for group in manifest["groups"]:
        if group["file"] in seen:  # data sets saved before unknown temperatures were one group
            continue
        seen.add(group["file"])
        file = folder / group["file"]
        try:
            frames.extend(read(file, index=":", format="extxyz"))
        except Exception as exc:  # ASE raises many types for bad files
            raise InputFileError(file, f"cannot read stored frames: {exc}") from exc
    for atoms in frames:
        key = temperature_key(atoms.info.get("temperature"))
        atoms.info["temperature"] = math.nan if key is None else key
        atoms.info["frame_id"] = str(atoms.info["frame_id"])
    return ReferenceSet(frames, manifest.get("provenance", {}))


def migrate_dataset(folder: Path) -> bool:
    """Rewrite the data set in ``folder`` (older extended-XYZ layout) as columns, in place; False when it already is.

    The frames, their ids, labels, metadata and the content hash are kept (checked before the old
    files are replaced), as are its predictions and the manifest's provenance, settings and time stamp.
    """
    manifest = json.loads((folder / MANIFEST).read_text())
    if manifest.get("frames_file"):
        return False
    ref = _read_extxyz_dataset(folder, manifest)
    if manifest.get("content_hash") and ref.content_hash() != manifest["content_hash"]:
        raise InputFileError(folder / MANIFEST, f"its frames hash to {ref.content_hash()}, the manifest says {manifest['content_hash']}: not migrated")
    cols = col.from_frames(ref.frames)
    back = cols.reference_set(ref.provenance)
    if back.content_hash() != ref.content_hash():
        raise RuntimeError(f"{folder}: the columns do not give back the same frames; not migrated")
    save_columns(cols, folder.name, content_hash=ref.content_hash(), provenance=manifest.get("provenance", {}),
                 root=folder.parent.parent, dft_settings=manifest.get("dft_settings") or None)
    return True


def migrate_main(argv: list[str]) -> int:
    """``python -m analysis migrate [--root DIR] [NAME ...]``: rewrite data sets of the older extended-XYZ layout as columns."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m analysis migrate", description=migrate_main.__doc__)
    parser.add_argument("names", nargs="*", help="data sets (default: every one under the root)")
    parser.add_argument("--root", type=Path, help="store root (default: the user data directory)")
    args = parser.parse_args(argv)
    base = (args.root or data_dir()) / "datasets"
    folders = [base / n for n in args.names] if args.names else sorted(
        f for f in base.glob("*") if f.is_dir() and not f.name.startswith(".")) if base.is_dir() else []
    failed = 0
    for folder in folders:
        if not (folder / MANIFEST).is_file():
            print(f"error: {folder}: no data set here", file=sys.stderr)
            failed += 1
            continue
        try:
            done = migrate_dataset(folder)
        except (InputFileError, RuntimeError, OSError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
            continue
        print(f"{folder.name}: {'migrated to columns (' + col.FILENAME + ')' if done else 'already columns'}")
    return 1 if failed else 0


# --------------------------------------------------------------------------- predictions
def predictions_dir(dataset: str, *, root: Path | None = None) -> Path:
    """Folder for predictions on ``dataset`` under ``root`` (default: the user data directory)."""
    return (root or data_dir()) / "datasets" / check_name(dataset) / "predictions"


def save_predictions(pred: Predictions, dataset: str, *, root: Path | None = None) -> Path:
    """Atomically store ``pred`` beside data set ``dataset``; returns the npz path."""
    folder = predictions_dir(dataset, root=root)
    slug = model_slug(pred.model)
    import io

    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        frame_id=pred.frame_id.astype(str),
        energy=pred.energy.astype(np.float64),
        forces=pred.forces.astype(np.float64),
        n_atoms=pred.n_atoms.astype(np.int64),
        **({"structure_hash": pred.structure_hash.astype(str)} if pred.structure_hash is not None else {}),
    )
    atomic_write_bytes(folder / f"{slug}.npz", buffer.getvalue())
    from analysis.core.storage import array_digest

    meta = {"model": pred.model, "dataset_hash": pred.dataset_hash, "units": UNITS, **pred.meta,
            "checksum": array_digest(_prediction_arrays(pred.frame_id.astype(str), pred.energy, pred.forces, pred.n_atoms))}
    atomic_write_json(folder / f"{slug}.json", meta)
    return folder / f"{slug}.npz"


def _prediction_arrays(frame_id: Any, energy: Any, forces: Any, n_atoms: Any) -> list[Any]:
    return [np.asarray(frame_id, dtype=str), np.asarray(energy, dtype=np.float64), np.asarray(forces, dtype=np.float64),
            np.asarray(n_atoms, dtype=np.int64)]


def load_predictions(dataset: str) -> dict[str, Predictions]:
    """All stored predictions for ``dataset``, keyed by model name (user data overrides embedded).

    Damaged files (unreadable, or failing their checksum) are left out, never served: they are
    logged, and ``python -m analysis jobs --repair`` moves them aside.
    """
    out: dict[str, Predictions] = {}
    for root, _embedded in reversed(roots()):
        folder = root / "datasets" / dataset / "predictions"
        if not folder.is_dir():
            continue
        for meta_path in sorted(folder.glob("*.json")):
            npz_path = meta_path.with_suffix(".npz")
            if not npz_path.is_file():
                continue
            try:
                pred = _read_predictions(npz_path, meta_path)
            except InputFileError as exc:
                logging.getLogger(__name__).warning("left out: %s", exc)
                continue
            out[pred.model] = pred
    return out


def prediction_metas(dataset: str) -> dict[str, dict[str, Any]]:
    """model -> the metadata stored beside its predictions on ``dataset`` (the JSON only: no arrays are read).

    User data overrides embedded, as in :func:`load_predictions`; unreadable metadata is left out.
    """
    out: dict[str, dict[str, Any]] = {}
    for root, _embedded in reversed(roots()):
        folder = root / "datasets" / dataset / "predictions"
        for meta_path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            if not meta_path.with_suffix(".npz").is_file():
                continue
            try:
                meta = json.loads(meta_path.read_text())
                out[str(meta["model"])] = {k: v for k, v in meta.items() if k not in ("model", "dataset_hash", "checksum")}
            except (OSError, KeyError, TypeError, json.JSONDecodeError):
                continue
    return out


def damaged_predictions(root: Path) -> list[tuple[Path, str]]:
    """(npz path, problem) of every stored prediction under ``root`` that cannot be read or fails its checksum."""
    bad = []
    for meta_path in sorted((root / "datasets").glob("*/predictions/*.json")):
        npz_path = meta_path.with_suffix(".npz")
        try:
            _read_predictions(npz_path, meta_path)
        except InputFileError as exc:
            bad.append((npz_path, exc.reason))
    return bad


def _read_predictions(npz_path: Path, meta_path: Path) -> Predictions:
    from analysis.core.storage import array_digest

    try:
        meta = json.loads(meta_path.read_text())
        with np.load(npz_path, allow_pickle=False) as npz:
            if "checksum" in meta and meta["checksum"] != array_digest(
                    _prediction_arrays(npz["frame_id"].astype(str), npz["energy"], npz["forces"], npz["n_atoms"])):
                raise ValueError("its arrays fail the checksum recorded beside them (damaged or changed by hand)")
            return Predictions(
                model=str(meta["model"]),
                dataset_hash=str(meta.get("dataset_hash", "")),
                frame_id=npz["frame_id"].astype(str),
                energy=npz["energy"],
                forces=npz["forces"],
                n_atoms=npz["n_atoms"],
                meta={k: v for k, v in meta.items() if k not in ("model", "dataset_hash", "checksum")},
                structure_hash=npz["structure_hash"].astype(str) if "structure_hash" in npz.files else None,
            )
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise InputFileError(npz_path, f"cannot read stored predictions: {exc}") from exc
