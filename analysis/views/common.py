"""Shared loaders of the dashboard views: the data sets present, their signatures, metrics and predictions.

Every loader is keyed by a *signature* of the files it reads (the data set's manifest and the
modification times of its prediction files), so new predictions written by the job worker show
up on the next call without a restart, and repeated calls on unchanged data cost a few ``stat``
calls. Nothing here imports Dash, Flask or Plotly; the pages call these functions and hand the
results to the figure builders in ``components/``.

Units follow :mod:`analysis.metrics`: energies in meV/atom, forces in meV/Å (per Cartesian
component) in the tables; parity data in eV/atom and eV/Å.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np
import pandas as pd

from analysis.datasets import store
from analysis.datasets.frames import temperature_label
from analysis.metrics.tables import (
    METRIC_COLUMNS,
    METRIC_LABELS,
    POOLED,
    compute_metrics_table,
)


DEFAULT_DATASET = "metal43-gpaw"

#: short metric names used in URLs -> metrics-table columns
METRICS: dict[str, str] = {
    "energy_rmse": "energy_rmse_mev_per_atom",
    "energy_mae": "energy_mae_mev_per_atom",
    "force_rmse": "force_rmse_mev_per_a",
    "force_mae": "force_mae_mev_per_a",
}

#: temperature classes of the Metal-43 table, as used in URLs
TEMPERATURE_CLASSES: dict[str, str] = {"300K": "300 K", "0.5Tc": "0.5 Tc", "Tc": "Tc", "1.2Tc": "1.2 Tc"}

#: the columns of a metrics table (see :func:`analysis.metrics.tables.compute_metrics_table`)
TABLE_COLUMNS: tuple[str, ...] = (
    "element", "model", "temperature", "n_frames", "n_frames_unscored", "n_atoms", *METRIC_COLUMNS,
    "energy_shift_ev_per_atom", "ref_energy_std_mev_per_atom", "ref_force_std_mev_per_a",
)

Quantity = Literal["energy", "force"]


@dataclass(frozen=True)
class DatasetSummary:
    """What the pages need to list a data set.

    Attributes:
        name: data set name.
        n_frames: number of reference frames.
        elements: elements present.
        models: models with stored predictions.
        embedded: whether it is the embedded default data (read-only).
        created: creation time stamp from the manifest (UTC).
        provenance: the manifest's provenance dictionary.
        path: the data set's folder.
        compounds: the labels of its non-elemental groups (compounds are importable, marked as such).
    """

    name: str
    n_frames: int
    elements: list[str]
    models: list[str]
    embedded: bool
    created: str
    provenance: dict[str, Any]
    path: str
    compounds: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- signatures
def _prediction_files(name: str) -> list[Path]:
    files: list[Path] = []
    for root, _embedded in store.roots():
        folder = root / "datasets" / name / "predictions"
        if folder.is_dir():
            files.extend(sorted(folder.glob("*.json")))
            files.extend(sorted(folder.glob("*.npz")))
    return files


def dataset_signature(name: str) -> tuple[Any, ...]:
    """A hashable key that changes when the data set or any of its predictions change."""
    manifest = _manifest_path(name)
    preds = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in _prediction_files(name))
    return (str(manifest.parent), manifest.stat().st_mtime_ns, preds)


def _manifest_path(name: str) -> Path:
    """The manifest of data set ``name`` in the first store root that has it (no JSON parsing: this runs on every call)."""
    for root, _embedded in store.roots():
        path = root / "datasets" / name / store.MANIFEST
        if path.is_file():
            return path
    raise KeyError(f"no data set named {name!r} (present: {', '.join(dataset_names()) or 'none'})")


def _store_signature() -> tuple[Any, ...]:
    out = []
    for root, _embedded in store.roots():
        base = root / "datasets"
        if base.is_dir():
            for folder in sorted(base.iterdir()):
                manifest = folder / store.MANIFEST
                if not folder.name.startswith(".") and manifest.is_file():
                    out.append((str(folder), manifest.stat().st_mtime_ns, tuple(p.stat().st_mtime_ns for p in _prediction_files(folder.name))))
    return tuple(out)


def clear_caches() -> None:
    """Forget everything the views and the store hold in memory, as a fresh worker process would.

    Every loader is keyed by the files it reads, so a running server never needs this; tests call
    it to start from nothing, and so may a notebook after changing files by hand. Derived tables
    on disk are kept: they are keyed by content.
    """
    import sys

    for name, module in list(sys.modules.items()):
        if name == "analysis.views" or name.startswith("analysis.views."):
            for value in list(vars(module).values()):
                if callable(getattr(value, "cache_clear", None)) and getattr(value, "__module__", "") == name:
                    value.cache_clear()
    store.clear_caches()


# --------------------------------------------------------------------------- data sets
def list_dataset_summaries() -> list[DatasetSummary]:
    """Every data set present, with its models (cached on the store's signature)."""
    return list(_summaries(_store_signature()))


@lru_cache(maxsize=4)
def _summaries(_signature: tuple[Any, ...]) -> tuple[DatasetSummary, ...]:
    out = []
    for info in store.list_datasets():
        models = sorted(_model_names(info.name))
        out.append(
            DatasetSummary(
                name=info.name,
                n_frames=info.n_frames,
                elements=info.elements,
                models=models,
                embedded=info.embedded,
                created=str(info.manifest.get("created", "")),
                provenance=dict(info.manifest.get("provenance", {})),
                path=str(info.path),
                compounds=info.compounds,
            )
        )
    return tuple(out)


def _model_names(name: str) -> list[str]:
    names = set()
    for meta in _prediction_files(name):
        if meta.suffix == ".json" and meta.with_suffix(".npz").is_file():
            try:
                names.add(str(json.loads(meta.read_text())["model"]))
            except (OSError, KeyError, json.JSONDecodeError):
                continue
    return sorted(names)


def dataset_names() -> list[str]:
    """Names of the data sets present (user data first)."""
    return [s.name for s in list_dataset_summaries()]


def default_dataset() -> str | None:
    """The data set a page shows when the URL names none.

    The embedded default (``metal43-gpaw``) when present, else the first data set with
    predictions, else the first data set; None when there is no data at all.
    """
    summaries = list_dataset_summaries()
    if not summaries:
        return None
    for s in summaries:
        if s.name == DEFAULT_DATASET:
            return s.name
    with_models = [s for s in summaries if s.models]
    return (with_models or summaries)[0].name


def resolve_dataset(name: str | None) -> str | None:
    """``name`` if such a data set exists, else the default data set (None when there is none)."""
    if name and name in dataset_names():
        return name
    return default_dataset()


def summary(name: str) -> DatasetSummary:
    """The summary of data set ``name``; KeyError when absent."""
    for s in list_dataset_summaries():
        if s.name == name:
            return s
    raise KeyError(f"no data set named {name!r}")


# --------------------------------------------------------------------------- metrics
def metrics_table(name: str) -> pd.DataFrame:
    """The error table of data set ``name`` over all its stored models (see compute_metrics_table).

    Cached on :func:`dataset_signature`; empty (with the usual columns) when no model has
    predictions yet. The returned frame is shared: do not modify it.
    """
    return _metrics_cached(name, dataset_signature(name))


@lru_cache(maxsize=8)
def _metrics_cached(name: str, _signature: tuple[Any, ...]) -> pd.DataFrame:
    return _summary_cached(name, _signature)[0]


@lru_cache(maxsize=8)
def _summary_cached(name: str, signature: tuple[Any, ...]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The metrics table and the per-model summary (stale, unseen, refused) of ``name``: read from the
    derived tables on disk (:mod:`analysis.views.derived`), computed and stored there when absent."""
    from analysis.views import derived

    return derived.load_or_compute(name, lambda: _compute_summary(name, signature))


def _compute_summary(name: str, signature: tuple[Any, ...]) -> tuple[pd.DataFrame, dict[str, Any]]:
    ref = store.load_arrays(name)
    good, bad, unseen = _checked_predictions(name, signature)
    table = compute_metrics_table(ref, good)
    # without predictions the table is empty: give it every column so that pages can still select them
    table = table.reindex(columns=list(dict.fromkeys([*table.columns, *TABLE_COLUMNS]))) if table.empty else table
    element_of = dict(zip(ref.frame_id.tolist(), ref.element.tolist()))
    unseen_counts: dict[str, dict[str, int]] = {}
    for model, ids in unseen.items():
        counts: dict[str, int] = {}
        for fid in ids:
            counts[element_of.get(fid, "?")] = counts.get(element_of.get(fid, "?"), 0) + 1
        unseen_counts[model] = counts
    refused: dict[str, dict[str, Any]] = {}
    for model, pred in good.items():
        failed = {fid: msg for fid, msg in pred.failed_frames.items() if fid in element_of}
        if not failed:
            # predictions imported from elsewhere carry no error record: count their NaN frames
            nan = ~pred.scored() & ~np.isin(ref.frame_id, unseen.get(model, []))
            failed = {str(fid): "no prediction (NaN)" for fid in ref.frame_id[nan]}
        if failed:
            by_element: dict[str, list[Any]] = {}
            for fid, msg in failed.items():
                entry = by_element.setdefault(element_of[fid], [0, msg])
                entry[0] += 1
            refused[model] = {"error": next(iter(failed.values())), "by_element": by_element}
    from analysis.reference.contacts import flagged_in_columns

    cols = store.load_columns(name)
    contacts = [[str(cols.element[i]), f"{temperature_label(cols.temperature[i])} K"] for i, _ in flagged_in_columns(cols)]
    return table, {"stale": bad, "unseen": unseen_counts, "refused": refused, "close_contacts": contacts}


@lru_cache(maxsize=4)
def _predictions_cached(name: str, _signature: tuple[Any, ...]) -> dict[str, Any]:
    return _checked_predictions(name, _signature)[0]


@lru_cache(maxsize=4)
def _checked_predictions(name: str, _signature: tuple[Any, ...]) -> tuple[dict[str, Any], dict[str, str], dict[str, list[str]]]:
    """Stored predictions matched to the data set's frames, mapped from the derived folder once they
    have been aligned there (:func:`analysis.views.derived.load_or_align`); see :func:`_match_predictions`."""
    from analysis.views import derived

    return derived.load_or_align(name, lambda: _match_predictions(name))


def _match_predictions(name: str) -> tuple[dict[str, Any], dict[str, str], dict[str, list[str]]]:
    """Stored predictions matched to the data set's frames.

    Returns:
        model -> predictions in the data set's frame order (NaN for frames without a matching
        prediction); model -> why its predictions were set aside; model -> ids of the frames it
        has not seen (added, or changed, since it ran: matched by frame id and structure hash).
    """
    cols = store.load_columns(name)
    ref = cols.arrays()
    hashes = cols.structure_hash
    good: dict[str, Any] = {}
    bad: dict[str, str] = {}
    unseen: dict[str, list[str]] = {}
    for model, pred in store.load_predictions(name).items():
        source = f"predictions of {model}"
        try:
            if pred.structure_hash is None:  # older or hand-made predictions: the frame ids must all match
                good[model] = pred.aligned_to(ref, source=source)
                continue
            good[model], missing = pred.matched_to(ref, hashes, source=source)
            if missing:
                unseen[model] = missing
        except ValueError as exc:  # e.g. computed on another data set of the same name
            bad[model] = str(exc)
    return good, bad, unseen


def stale_predictions(name: str) -> dict[str, str]:
    """Models whose stored predictions do not match the data set's current frames -> why (left out of every page)."""
    return dict(_summary_cached(name, dataset_signature(name))[1]["stale"])


def unseen_frames(name: str, element: str | None = None) -> dict[str, int]:
    """Models -> how many frames of data set ``name`` (of ``element``) they have no prediction for.

    These frames were added (or changed) after the model's job ran; they are left out of its
    errors until it is evaluated again (which then computes only them: see analysis.models.frame_cache).
    """
    unseen = _summary_cached(name, dataset_signature(name))[1]["unseen"]
    counts = {m: (sum(by.values()) if element is None else int(by.get(element, 0))) for m, by in unseen.items()}
    return {m: n for m, n in counts.items() if n or element is None}


def refused_frames(name: str, element: str | None = None) -> dict[str, dict[str, Any]]:
    """Models that refused some frames of data set ``name`` (of ``element`` when given).

    Returns model -> {"count": frames refused, "elements": sorted symbols, "error": the first
    recorded error}; only models with at least one refused frame. Those frames are NaN in the
    stored predictions and left out of the model's errors. Read from the derived summary (every map
    and element page asks); the result is a fresh copy.
    """
    refused = _summary_cached(name, dataset_signature(name))[1]["refused"]
    out: dict[str, dict[str, Any]] = {}
    for model, info in refused.items():
        by = {el: v for el, v in info["by_element"].items() if element is None or el == element}
        if by:
            error = info["error"] if element is None else next(iter(by.values()))[1]
            out[model] = {"count": int(sum(v[0] for v in by.values())), "elements": sorted(by), "error": error}
    return out


def models(name: str) -> list[str]:
    """Models with predictions on data set ``name``, sorted."""
    return sorted(metrics_table(name)["model"].unique().tolist())


def _scored_frames(name: str) -> pd.Series:
    """Model -> frames of ``name`` in its errors (the pooled rows' counts), for models with current predictions."""
    table = metrics_table(name)
    if table.empty:
        return pd.Series(dtype=np.int64)
    return table[table["temperature"] == POOLED].groupby("model")["n_frames"].sum()


def default_model(name: str) -> str | None:
    """The model a page shows first: the one that scored the most frames of ``name`` (ties: name order).

    A model that refused frames (stored as NaN) is not the first thing a visitor sees when another
    covers the whole set.
    """
    scored = _scored_frames(name)
    return str(min(scored.index, key=lambda m: (-int(scored[m]), str(m)))) if len(scored) else None


def metric_column(metric: str) -> str:
    """The metrics-table column of a short metric name ('force_rmse') or a column name."""
    if metric in METRICS:
        return METRICS[metric]
    if metric in METRIC_LABELS:
        return metric
    raise ValueError(f"unknown metric {metric!r}: choose one of {', '.join(METRICS)}")


def metric_label(metric: str, *, relative: bool = False) -> str:
    """Axis/colour-bar label with units ('Force RMSE (meV/Å)', or '... / reference std (1)')."""
    label = METRIC_LABELS[metric_column(metric)]
    if relative:
        return label.split(" (")[0] + " / reference std (dimensionless)"
    return label

"""Per-frame column -> the frame info key the reference pipeline writes (shown where frames have it)."""


@lru_cache(maxsize=4)
def _read_json_cached(path: str, _mtime: int) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def temperature_text(temperature_k: float) -> str:
    """'300 K', or 'unknown' for NaN."""
    label = temperature_label(temperature_k)
    return label if label == "unknown" else f"{label} K"


def _side_data_signature() -> tuple[Any, ...]:
    """What else a page shows besides the store: the electronic curves and EOS folders, the access mode."""
    import os

    from analysis.core.config import data_dir, default_data_dir, reference_state_dir

    out: list[Any] = [str(data_dir()), os.environ.get("MLFF_ATLAS_READ_ONLY", "")]
    for folder in (reference_state_dir(), default_data_dir() / "electronic", reference_state_dir() / "electronic"):
        try:
            out.append((str(folder), folder.stat().st_mtime_ns))  # files are written by rename: the folder's time moves
        except OSError:
            out.append((str(folder), None))
    return tuple(out)


def memo_on_store(maxsize: int = 64) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Memoise a pure page builder on its arguments and the store's state (manifests, predictions).

    A page's layout depends only on the URL's query and the data on disk: building it again for the
    same query on unchanged data (20 users opening the map) is spent work; most of it is Plotly's
    figure validation. Any write to the store (an import, new predictions) changes the signature.
    Returned objects are shared between requests and must not be changed by callers (Dash only
    serialises them).
    """
    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        from collections import OrderedDict
        from functools import wraps
        import threading

        memo: OrderedDict[Any, Any] = OrderedDict()
        lock = threading.Lock()

        @wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                key = (_store_signature(), _side_data_signature(), args, tuple(sorted(kwargs.items())))
                hash(key)
            except TypeError:
                return fn(*args, **kwargs)
            with lock:
                if key in memo:
                    memo.move_to_end(key)
                    return memo[key]
            value = fn(*args, **kwargs)
            with lock:
                memo[key] = value
                while len(memo) > maxsize:
                    memo.popitem(last=False)
            return value

        wrapper.cache_clear = memo.clear  # type: ignore[attr-defined]
        return wrapper

    return decorate
