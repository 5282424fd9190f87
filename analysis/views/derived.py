"""Tables derived from a data set and its predictions, computed once and shared by every process.

The map, the report and the Jobs page need the error table (element x model x temperature) and,
per model, which predictions are stale, which frames it has not seen and which it refused. At the
paper's scale (10^5 frames, several models) computing that means reading every model's forces and
matching them to the frames: seconds of work and hundreds of MB per process. It is done once per
(data set content, predictions content) and written under the user data directory::

    <data>/derived/<data set>/summary-<key>.npz    the metrics table's columns
    <data>/derived/<data set>/summary-<key>.json   stale / unseen / refused, per model and element

``key`` hashes the data set's content hash and frames checksum, each stored prediction's model and
checksum (from its JSON, so the key costs a few small reads), and :data:`DERIVED_VERSION`; any new
prediction or frame changes it. Files are written atomically (temporary file, rename), so a
process either finds a complete table or computes it itself; two processes computing the same
key at once write identical files. A damaged or unreadable file is ignored and computed again.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from analysis.core.config import data_dir
from analysis.datasets import store

#: bump when the metrics or the summary change meaning: every stored table is then made anew
DERIVED_VERSION = 2

log = logging.getLogger(__name__)


def summary_key(name: str) -> str:
    """The content key of ``name``'s derived tables (see the module docstring)."""
    info = store.find_dataset(name)
    parts: list[Any] = [DERIVED_VERSION, info.content_hash, info.manifest.get("frames_checksum", ""), str(info.path)]
    for root, _embedded in store.roots():
        folder = root / "datasets" / name / "predictions"
        for meta_path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            npz = meta_path.with_suffix(".npz")
            if not npz.is_file():
                continue
            try:
                meta = json.loads(meta_path.read_text())
            except (OSError, json.JSONDecodeError):
                meta = {}
            stat = npz.stat()
            # the checksum names the arrays' content; size and time catch a file changed without one
            parts.append([str(root), meta_path.name, meta.get("model"), meta.get("checksum"), stat.st_size, stat.st_mtime_ns])
    return hashlib.blake2b(json.dumps(parts, sort_keys=True, default=str).encode(), digest_size=12).hexdigest()


def derived_dir(name: str) -> Path:
    return data_dir() / "derived" / store.check_name(name)


def load_or_compute(name: str, compute: Callable[[], tuple[pd.DataFrame, dict[str, Any]]]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The stored (metrics table, summary) of ``name`` for its current content, or ``compute()``'s, stored for the next process."""
    key = summary_key(name)
    folder = derived_dir(name)
    table_path, meta_path = folder / f"summary-{key}.npz", folder / f"summary-{key}.json"
    if table_path.is_file() and meta_path.is_file():
        try:
            return _read_table(table_path), json.loads(meta_path.read_text())
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
            log.warning("derived table %s unreadable (%s): computing it again", table_path, exc)
    table, summary = compute()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("summary-*"):
            if key not in old.name:
                old.unlink(missing_ok=True)
        store.atomic_write_bytes(table_path, _table_bytes(table))
        store.atomic_write_json(meta_path, summary)
    except OSError as exc:  # a read-only or full data directory: serve the computed table anyway
        log.warning("derived table of %s not stored: %s", name, exc)
    return table, summary


def _table_bytes(table: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    arrays = {f"c{i}": (table[c].to_numpy(dtype=str) if table[c].dtype == object or str(table[c].dtype) == "str" else table[c].to_numpy())
              for i, c in enumerate(table.columns)}
    np.savez(buffer, __columns__=np.array(list(table.columns), dtype=str), **arrays)
    return buffer.getvalue()


def _read_table(path: Path) -> pd.DataFrame:
    with np.load(path, allow_pickle=False) as npz:
        names = npz["__columns__"].tolist()
        return pd.DataFrame({c: npz[f"c{i}"] for i, c in enumerate(names)}, columns=names)


# --------------------------------------------------------------------------- aligned predictions
Checked = tuple[dict[str, Any], dict[str, str], dict[str, list[str]]]


def load_or_align(name: str, compute: Callable[[], Checked]) -> Checked:
    """Every model's predictions on ``name`` aligned to its frame order, mapped from the derived folder.

    ``compute()`` matches the stored predictions to the frames (model -> aligned predictions, model ->
    why set aside, model -> ids of frames it has not seen); its result is written once per content
    key as plain ``.npy`` arrays (``aligned-<key>/``), so every later process maps them instead of
    decompressing and matching each model's file: reading one element's predictions then touches
    only that element's pages.
    """
    from analysis.datasets.frames import Predictions

    key = summary_key(name)
    folder = derived_dir(name) / f"aligned-{key}"
    index_path = folder / "index.json"
    if index_path.is_file():
        try:
            index = json.loads(index_path.read_text())
            cols = store.load_columns(name)
            good = {}
            for model, entry in index["models"].items():
                energy = np.load(folder / f"{entry['slug']}.energy.npy", mmap_mode="r", allow_pickle=False)
                forces = np.load(folder / f"{entry['slug']}.forces.npy", mmap_mode="r", allow_pickle=False)
                if energy.shape != (len(cols),) or forces.shape != (int(cols.offsets[-1]), 3):
                    raise ValueError(f"{model}: aligned arrays do not fit the frames")
                good[model] = Predictions(model, entry["dataset_hash"], cols.frame_id, energy, forces, cols.n_atoms, entry["meta"],
                                          cols.structure_hash)
            return good, dict(index["stale"]), {m: list(v) for m, v in index["unseen"].items()}
        except (OSError, ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
            log.warning("aligned predictions %s unreadable (%s): aligning again", folder, exc)
    good, bad, unseen = compute()
    try:
        _write_aligned(folder, good, bad, unseen)
    except OSError as exc:
        log.warning("aligned predictions of %s not stored: %s", name, exc)
    return good, bad, unseen


def _write_aligned(folder: Path, good: dict[str, Any], bad: dict[str, str], unseen: dict[str, list[str]]) -> None:
    import shutil
    import tempfile

    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".aligned.", suffix=".tmp"))
    try:
        models = {}
        for k, (model, pred) in enumerate(sorted(good.items())):
            slug = f"{k:03d}-{store.model_slug(model)}"
            np.save(tmp / f"{slug}.energy.npy", np.ascontiguousarray(pred.energy, dtype=np.float64))
            np.save(tmp / f"{slug}.forces.npy", np.ascontiguousarray(pred.forces, dtype=np.float64))
            models[model] = {"slug": slug, "dataset_hash": pred.dataset_hash, "meta": pred.meta}
        store.atomic_write_json(tmp / "index.json", {"models": models, "stale": bad, "unseen": unseen})
        for old in folder.parent.glob("aligned-*"):
            if old != folder:
                shutil.rmtree(old, ignore_errors=True)
        try:
            tmp.rename(folder)
        except OSError:  # another process stored the same key first: its files are the same
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


__all__ = ["DERIVED_VERSION", "derived_dir", "load_or_align", "load_or_compute", "summary_key"]
