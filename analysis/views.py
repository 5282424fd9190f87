"""Cached, Dash-free data loaders for the dashboard pages.

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
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from analysis import elements, store
from analysis.config import PACKAGE_DATA_DIR, max_upload_bytes  # noqa: F401  (re-exported for pages)
from analysis.dataset import temperature_label
from analysis.metrics import (
    METRIC_COLUMNS,
    METRIC_LABELS,
    POOLED,
    compute_metrics_table,
    frame_errors,
    relative_metric,
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
MAX_PARITY_POINTS = 20_000
#: the columns of a metrics table (see :func:`analysis.metrics.compute_metrics_table`)
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
    """

    name: str
    n_frames: int
    elements: list[str]
    models: list[str]
    embedded: bool
    created: str
    provenance: dict[str, Any]
    path: str


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
    ref = store.load_dataset(name).arrays()
    preds = _predictions_cached(name, _signature)
    table = compute_metrics_table(ref, preds)
    # without predictions the table is empty: give it every column so that pages can still select them
    return table.reindex(columns=list(dict.fromkeys([*table.columns, *TABLE_COLUMNS]))) if table.empty else table


@lru_cache(maxsize=4)
def _predictions_cached(name: str, _signature: tuple[Any, ...]) -> dict[str, Any]:
    return _checked_predictions(name, _signature)[0]


@lru_cache(maxsize=4)
def _checked_predictions(name: str, _signature: tuple[Any, ...]) -> tuple[dict[str, Any], dict[str, str], dict[str, list[str]]]:
    """Stored predictions matched to the data set's frames.

    Returns:
        model -> predictions in the data set's frame order (NaN for frames without a matching
        prediction); model -> why its predictions were set aside; model -> ids of the frames it
        has not seen (added, or changed, since it ran: matched by frame id and structure hash).
    """
    from analysis.dataset import structure_hash

    ref_set = store.load_dataset(name)
    ref = ref_set.arrays()
    hashes: Any = None
    good: dict[str, Any] = {}
    bad: dict[str, str] = {}
    unseen: dict[str, list[str]] = {}
    for model, pred in store.load_predictions(name).items():
        source = f"predictions of {model}"
        try:
            if pred.structure_hash is None:  # older or hand-made predictions: the frame ids must all match
                good[model] = pred.aligned_to(ref, source=source)
                continue
            if hashes is None:
                hashes = np.array([structure_hash(a) for a in ref_set.frames], dtype=str)
            good[model], missing = pred.matched_to(ref, hashes, source=source)
            if missing:
                unseen[model] = missing
        except ValueError as exc:  # e.g. computed on another data set of the same name
            bad[model] = str(exc)
    return good, bad, unseen


def stale_predictions(name: str) -> dict[str, str]:
    """Models whose stored predictions do not match the data set's current frames -> why (left out of every page)."""
    return dict(_checked_predictions(name, dataset_signature(name))[1])


def unseen_frames(name: str, element: str | None = None) -> dict[str, int]:
    """Models -> how many frames of data set ``name`` (of ``element``) they have no prediction for.

    These frames were added (or changed) after the model's job ran; they are left out of its
    errors until it is evaluated again (which then computes only them: see analysis.frame_cache).
    """
    unseen = _checked_predictions(name, dataset_signature(name))[2]
    if element is None:
        return {m: len(ids) for m, ids in unseen.items()}
    ref = store.load_dataset(name).arrays()
    of_element = set(ref.frame_id[ref.element == element].tolist())
    counts = {m: sum(fid in of_element for fid in ids) for m, ids in unseen.items()}
    return {m: n for m, n in counts.items() if n}


def refused_frames(name: str, element: str | None = None) -> dict[str, dict[str, Any]]:
    """Models that refused some frames of data set ``name`` (of ``element`` when given).

    Returns model -> {"count": frames refused, "elements": sorted symbols, "error": the first
    recorded error}; only models with at least one refused frame. Those frames are NaN in the
    stored predictions and left out of the model's errors. Cached with the data set's signature
    (every map and element page asks); the result is a fresh copy.
    """
    cached = _refused_cached(name, dataset_signature(name), element)
    return {model: {**info, "elements": list(info["elements"])} for model, info in cached.items()}


@lru_cache(maxsize=64)
def _refused_cached(name: str, signature: tuple[Any, ...], element: str | None) -> dict[str, dict[str, Any]]:
    ref = store.load_dataset(name).arrays()
    element_of = dict(zip(ref.frame_id.tolist(), ref.element.tolist()))
    unseen = _checked_predictions(name, signature)[2]
    out: dict[str, dict[str, Any]] = {}
    for model, pred in _predictions_cached(name, signature).items():
        refused = {fid: msg for fid, msg in pred.failed_frames.items()
                   if fid in element_of and (element is None or element_of[fid] == element)}
        if not refused:
            # predictions imported from elsewhere carry no error record: count their NaN frames
            bad = ~pred.scored() & ~np.isin(ref.frame_id, unseen.get(model, []))
            if element is not None:
                bad &= ref.element == element
            refused = {str(fid): "no prediction (NaN)" for fid in ref.frame_id[bad]}
        if refused:
            out[model] = {
                "count": len(refused),
                "elements": sorted({element_of.get(fid, "?") for fid in refused}),
                "error": next(iter(refused.values())),
            }
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


def prediction_coverage(name: str) -> pd.DataFrame:
    """What each model's stored predictions on ``name`` cover, one row per model (stale ones too).

    Columns: model, scored (frames in its errors), refused (frames it raised on, stored as NaN),
    not_seen (frames added or changed since it ran), status ('current', or why it is left out).
    """
    scored = _scored_frames(name)
    refused = {m: int(info["count"]) for m, info in refused_frames(name).items()}
    unseen = unseen_frames(name)
    rows = [{"model": str(m), "scored": int(scored[m]), "refused": refused.get(str(m), 0), "not_seen": unseen.get(str(m), 0),
             "status": "current"} for m in scored.index]
    rows += [{"model": m, "scored": 0, "refused": 0, "not_seen": 0, "status": f"left out: {why}"}
             for m, why in stale_predictions(name).items()]
    return pd.DataFrame(rows, columns=["model", "scored", "refused", "not_seen", "status"]).sort_values("model", ignore_index=True)


def temperature_options(name: str) -> list[tuple[str, str]]:
    """(value, label) pairs for the temperature selector of data set ``name``.

    'all' (pooled), the Metal-43 temperature classes present ('300K', '0.5Tc', 'Tc', '1.2Tc',
    resolved per element), and the absolute temperatures present (in K).
    """
    table = metrics_table(name)
    temps = sorted({t for t in table["temperature"].unique() if t != POOLED}, key=_temp_key)
    classes = []
    for value, label in TEMPERATURE_CLASSES.items():
        if any(_matches(el, t, value) for el, t in table[["element", "temperature"]].drop_duplicates().itertuples(index=False) if t != POOLED):
            classes.append((value, label))
    return [(POOLED, "all temperatures (pooled)"), *classes, *[(t, f"{t} K") for t in temps]]


def _temp_key(label: str) -> float:
    try:
        return float(label)
    except ValueError:
        return math.inf


def _matches(element: str, temp_label: str, selection: str) -> bool:
    """Whether an element's temperature row ``temp_label`` ('300', '1120') matches ``selection``."""
    if selection == POOLED:
        return temp_label == POOLED
    if temp_label == POOLED:
        return False
    if selection in TEMPERATURE_CLASSES:
        if not elements.is_metal43(element):
            return selection == "300K" and _temp_key(temp_label) == 300.0
        labels = elements.row(element).temperature_labels
        want = TEMPERATURE_CLASSES[selection]
        return any(lab == want and math.isclose(t, _temp_key(temp_label)) for t, lab in labels.items())
    return math.isclose(_temp_key(selection), _temp_key(temp_label)) if selection != "unknown" else temp_label == "unknown"


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


def element_values(
    name: str,
    *,
    model: str,
    metric: str = "force_rmse",
    temperature: str = POOLED,
    relative: bool = False,
) -> pd.DataFrame:
    """Per-element values of one metric for one model, for the periodic-table map.

    Args:
        name: data set name.
        model: model name.
        metric: short metric name (see :data:`METRICS`).
        temperature: 'all' (pooled), a Metal-43 class ('1.2Tc'), or a temperature in K ('300').
        relative: divide by the reference spread of the quantity (Matbench-style normalisation).

    Returns:
        DataFrame indexed by element with columns value (meV/atom, meV/Å or dimensionless),
        n_frames, n_frames_unscored (refused by the model or not seen), temperatures (K,
        comma-separated text of the rows used).
    """
    column = metric_column(metric)
    table = metrics_table(name)
    sub = table[table["model"] == model]
    mask = [_matches(el, t, temperature) for el, t in zip(sub["element"], sub["temperature"])]
    sub = sub[np.asarray(mask, dtype=bool)] if len(sub) else sub
    values = relative_metric(sub, column) if relative else sub[column]
    temps = _temperatures_by_element(table)
    out = pd.DataFrame(
        {
            "value": values.to_numpy(dtype=np.float64),
            "n_frames": sub["n_frames"].to_numpy(dtype=np.int64),
            "n_frames_unscored": sub["n_frames_unscored"].to_numpy(dtype=np.int64),
            "temperatures": [
                temps.get(el, "") if temperature == POOLED else f"{t}" for el, t in zip(sub["element"], sub["temperature"])
            ],
        },
        index=pd.Index(sub["element"].to_numpy(), name="element"),
    )
    return out[~out.index.duplicated(keep="first")]


def _temperatures_by_element(table: pd.DataFrame) -> dict[str, str]:
    rows = table[table["temperature"] != POOLED][["element", "temperature"]].drop_duplicates()
    out: dict[str, list[str]] = {}
    for el, t in rows.itertuples(index=False):
        out.setdefault(el, []).append(t)
    return {el: ", ".join(sorted(ts, key=_temp_key)) for el, ts in out.items()}


def difference(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Per-element B - A of two :func:`element_values` frames (elements in both; same units).

    Returns:
        DataFrame indexed by element: value (B - A), n_frames (A + B), temperatures ('A: ..; B: ..').
    """
    common = a.index.intersection(b.index)
    return pd.DataFrame(
        {
            "value": b.loc[common, "value"].to_numpy() - a.loc[common, "value"].to_numpy(),
            "n_frames": a.loc[common, "n_frames"].to_numpy() + b.loc[common, "n_frames"].to_numpy(),
            "temperatures": [f"A: {ta}; B: {tb}" for ta, tb in zip(a.loc[common, "temperatures"], b.loc[common, "temperatures"])],
        },
        index=common,
    )


def per_element_errors(name: str, *, metric: str = "force_rmse", temperature: str = POOLED, relative: bool = False) -> pd.DataFrame:
    """Element x model matrix of one metric (rows: elements, columns: models), for distributions."""
    frames = {m: element_values(name, model=m, metric=metric, temperature=temperature, relative=relative)["value"] for m in models(name)}
    if not frames:
        return pd.DataFrame()
    return pd.DataFrame(frames).sort_index()


def element_table(name: str, element: str) -> pd.DataFrame:
    """Errors of every model x temperature for one element (temperatures ascending, pooled last)."""
    table = metrics_table(name)
    sub = table[table["element"] == element].copy()
    sub["_order"] = [_temp_key(t) if t != POOLED else math.inf + 0 for t in sub["temperature"]]
    sub["_pooled"] = sub["temperature"] == POOLED
    sub = sub.sort_values(["model", "_pooled", "_order"]).drop(columns=["_order", "_pooled"])
    cols = ["model", "temperature", "n_frames", "n_frames_unscored", "n_atoms", *METRICS.values(), "energy_shift_ev_per_atom"]
    return sub[cols].reset_index(drop=True)


def frame_table(name: str, element: str) -> pd.DataFrame:
    """Per-frame view of one element: the reference frame and each model's errors on it.

    Columns: frame_id, temperature (K), n_atoms, energy_ev_per_atom, force_rms_mev_per_a (the
    reference forces' RMS), then per model ``<model>: dE (meV/atom)`` (signed, shifted as in the
    table) and ``<model>: F RMSE (meV/Å)``; NaN where a model has no prediction for the frame.
    Sorted by frame id. Cached with the data set's signature; do not modify the result.
    """
    return _frame_table_cached(name, dataset_signature(name), element)


DFT_DETAIL_COLUMNS: dict[str, str] = {
    "k-mesh": "kpts",
    "smearing (eV)": "smearing_width_ev",
    "SCF iterations": "scf_iterations",
    "magnetic moment (μB/cell)": "magmom",
    "DFT wall (s)": "dft_wall_s",
}
"""Per-frame column -> the frame info key the reference pipeline writes (shown where frames have it)."""


def _dft_details(frames: list[Any], element: str) -> dict[str, dict[str, Any]]:
    """frame_id -> the DFT details recorded in the frame's info (reference pipeline frames only)."""
    keys = set(DFT_DETAIL_COLUMNS.values())

    def recorded(atoms: Any) -> dict[str, Any]:
        # ASE's extxyz reader moves calculator keys (magmom) from info into the calculator's results
        results = getattr(atoms.calc, "results", {}) if atoms.calc is not None else {}
        return {k: atoms.info[k] if k in atoms.info else results[k] for k in keys if k in atoms.info or k in results}

    return {str(a.info.get("frame_id")): recorded(a) for a in frames if a.info.get("element") == element and "frame_id" in a.info}


@lru_cache(maxsize=32)
def _frame_table_cached(name: str, signature: tuple[Any, ...], element: str) -> pd.DataFrame:
    from analysis.metrics import _subset, per_frame_errors

    ref_set = store.load_dataset(name)
    ref = ref_set.arrays()
    keep = ref.element == element
    sub = _subset(ref, keep)
    offsets = sub.offsets
    f_sq = np.add.reduceat(np.einsum("ij,ij->i", sub.forces, sub.forces), offsets[:-1]) if len(sub.forces) else np.zeros(0)
    table = pd.DataFrame({
        "frame_id": sub.frame_id,
        "temperature": sub.temperature,
        "n_atoms": sub.n_atoms,
        "energy_ev_per_atom": sub.energy / sub.n_atoms,
        "force_rms_mev_per_a": 1e3 * np.sqrt(f_sq / (3.0 * sub.n_atoms)) if len(sub) else np.zeros(0),
    })
    details = _dft_details(ref_set.frames, element)
    for column, key in DFT_DETAIL_COLUMNS.items():
        values = [details.get(str(fid), {}).get(key) for fid in sub.frame_id]
        if any(v is not None for v in values) and not (key == "magmom" and not any(v for v in values)):
            table[column] = values
    for model, pred in sorted(_predictions_cached(name, signature).items()):
        # the shift is per element over all of its frames: compute on the whole set, then select
        errs = per_frame_errors(ref, pred).iloc[np.flatnonzero(keep)].reset_index(drop=True)
        table[f"{model}: dE (meV/atom)"] = errs["energy_error_mev_per_atom"].to_numpy()
        table[f"{model}: F RMSE (meV/Å)"] = errs["force_rmse_mev_per_a"].to_numpy()
    return table.sort_values("frame_id", kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------- parity data
@dataclass(frozen=True)
class ParitySeries:
    """Reference and predicted values of one model for a parity plot.

    Attributes:
        model: model name.
        reference: (n,) reference values (eV/atom or eV/Å).
        predicted: (n,) predicted values, same units (energies with the per-element shift applied).
        temperature: (n,) temperature (K) of the frame each point comes from.
        n_total: number of points before subsampling.
    """

    model: str
    reference: NDArray[np.float64]
    predicted: NDArray[np.float64]
    temperature: NDArray[np.float64]
    n_total: int


def parity_data(
    name: str,
    element: str,
    *,
    quantity: Quantity,
    models_: list[str] | None = None,
    max_points: int = MAX_PARITY_POINTS,
    seed: int = 0,
) -> list[ParitySeries]:
    """Parity data of ``element`` for each model, subsampled to at most ``max_points`` in total.

    Subsampling is uniform without replacement with a fixed seed, so a view is reproducible;
    the budget is split evenly across models.
    """
    if max_points <= 0:
        raise ValueError(f"{max_points=} must be positive")
    chosen = models_ if models_ is not None else models(name)
    per_model = max(1, max_points // max(1, len(chosen)))
    return [
        _parity_cached(name, dataset_signature(name), element, quantity, model, per_model, seed) for model in chosen
    ]


@lru_cache(maxsize=64)
def _parity_cached(
    name: str, signature: tuple[Any, ...], element: str, quantity: str, model: str, max_points: int, seed: int
) -> ParitySeries:
    ref = store.load_dataset(name).arrays()
    pred = _predictions_cached(name, signature)[model]
    errs = frame_errors(ref, pred)
    frames = np.flatnonzero(errs.element == element)
    if quantity == "energy":
        ref_v, pred_v, temp = errs.energy_ref_ev_per_atom[frames], errs.energy_pred_ev_per_atom[frames], errs.temperature[frames]
    elif quantity == "force":
        comp = np.flatnonzero(np.isin(errs.force_frame, frames))
        ref_v, pred_v = errs.force_ref_ev_per_a[comp], errs.force_pred_ev_per_a[comp]
        temp = errs.temperature[errs.force_frame[comp]]
    else:
        raise ValueError(f"{quantity=} must be 'energy' or 'force'")
    n_total = len(ref_v)
    if n_total > max_points:
        keep = np.sort(np.random.default_rng(seed).choice(n_total, size=max_points, replace=False))
        ref_v, pred_v, temp = ref_v[keep], pred_v[keep], temp[keep]
    return ParitySeries(model, ref_v, pred_v, temp, n_total)


# --------------------------------------------------------------------------- element extras
def elements_with_data(name: str) -> list[str]:
    """Elements of data set ``name``, ordered by atomic number (for previous/next links)."""
    els = summary(name).elements
    known = [e for e in els if _is_symbol(e)]
    return sorted(known, key=elements.atomic_number) + sorted(e for e in els if not _is_symbol(e))


def _is_symbol(text: str) -> bool:
    try:
        elements.atomic_number(text)
    except ValueError:
        return False
    return True


def neighbours(name: str | None, element: str) -> tuple[str | None, str | None]:
    """Previous and next element (by atomic number) among the data set's elements (Metal-43 when it has fewer than two)."""
    order = elements_with_data(name) if name else []
    if element not in order or len(order) < 2:
        order = sorted(elements.METAL43, key=elements.atomic_number)
    if element not in order:
        return None, None
    i = order.index(element)
    return (order[i - 1] if i > 0 else None, order[i + 1] if i + 1 < len(order) else None)


def eos_path() -> Path:
    """Where the equation-of-state fits of the default data live (analysis/data/eos.json)."""
    return PACKAGE_DATA_DIR / "eos.json"


def load_eos(element: str, dataset: str | None = None) -> dict[str, Any] | None:
    """The PBE equation-of-state fit of ``element``, or None.

    Looks in the data set's manifest provenance (``eos``: {element: {...}}) first, then in
    ``analysis/data/eos.json`` (``entries``: {'<settings hash>/<element>': {...}}; the first
    entry for the element). Keys as written by :mod:`analysis.reference`: ``V0_A3_per_atom``
    (Å^3/atom), ``B0_GPa``, ``Bprime`` (dimensionless), ``E0_eV_per_atom``, ``covera``.
    """
    entry: Any = None
    if dataset:
        try:
            entry = (summary(dataset).provenance.get("eos") or {}).get(element)
        except KeyError:
            entry = None
    path = eos_path()
    data = _read_json_cached(str(path), path.stat().st_mtime_ns) if path.is_file() else None
    entries = data.get("entries", {}) if isinstance(data, dict) else {}
    stored = [entries[k] for k in sorted(entries) if k.rsplit("/", 1)[-1] == element and isinstance(entries[k], dict)]
    if isinstance(entry, dict):
        # the manifest keeps the fitted numbers; the same fit in eos.json adds the computed E(V) points
        same = [e for e in stored if e.get("V0_A3_per_atom") == entry.get("V0_A3_per_atom")]
        return {**same[0], **entry} if same else entry
    return stored[0] if stored else None


def provenance_summary(name: str) -> list[tuple[str, str]]:
    """(label, text) pairs saying how data set ``name`` was made, from the provenance keys it has.

    Reference sets built by ``build-reference`` record code, settings, sampler, substitutes,
    spin treatment and compute time; imported sets record their source files. Unknown keys are
    left to the full provenance.
    """
    try:
        prov = summary(name).provenance
    except KeyError:
        return []
    out: list[tuple[str, str]] = []

    def add(label: str, value: Any) -> None:
        if value not in (None, "", [], {}):
            out.append((label, value if isinstance(value, str) else json.dumps(value, default=str)))

    add("made by", prov.get("generator"))
    add("code", prov.get("code"))
    settings = prov.get("settings") if isinstance(prov.get("settings"), dict) else {}
    dft = settings.get("dft") if isinstance(settings.get("dft"), dict) else {}
    if dft:
        add("DFT", f"{dft.get('xc', '?')}, {dft.get('mode', '?').upper()} {dft.get('ecut_ev', '?')} eV, k-point density "
                   f"≥ {dft.get('kpt_density', '?')} /Å, {dft.get('smearing', '?')} smearing "
                   f"{'at the ionic temperature, at least ' if dft.get('electronic_temperature') == 'ionic' else ''}"
                   f"{dft.get('width_ev', '?')} eV, symmetry {dft.get('symmetry', '?')}")
    if settings:
        add("tier", f"{prov.get('tier', settings.get('tier', '?'))}: {settings.get('n_frames', '?')} frames of "
                    f"{settings.get('n_atoms', '?')} atoms per element and temperature ({settings.get('temperatures', '?')})")
    done, planned = prov.get("frames_done"), prov.get("frames_planned")
    if isinstance(done, int) and isinstance(planned, int):
        add("frames labelled", f"{done} of {planned}")
    sampler = prov.get("sampler")
    add("configurations sampled by", ", ".join(map(str, sampler)) if isinstance(sampler, list) else sampler)
    spin = prov.get("spin")
    add("spin", spin.get("note") if isinstance(spin, dict) else spin)
    subs = prov.get("substitutes")
    if isinstance(subs, dict):
        for element, why in sorted(subs.items()):
            add(f"structure of {element}", why)
    compute = prov.get("compute_s")
    if isinstance(compute, dict) and compute:
        add("compute (wall, summed)", ", ".join(f"{k.removesuffix('_wall_s').upper()} {float(v) / 3600:.2f} h" for k, v in sorted(compute.items())))
    files = prov.get("imported_files") or prov.get("source_files")
    add("source files", ", ".join(map(str, files)) if isinstance(files, list) else files)
    return out


def build_status(name: str) -> str | None:
    """How complete a reference set that is still being built is (from its provenance), or None.

    The embedded default is labelled by DFT over many hours and shipped as it grows; its manifest
    records ``frames_done`` and ``frames_planned``.
    """
    try:
        info = summary(name)
    except KeyError:
        return None
    done, planned = info.provenance.get("frames_done"), info.provenance.get("frames_planned")
    if not isinstance(done, int) or not isinstance(planned, int) or done >= planned:
        return None
    settings = info.provenance.get("settings") or {}
    planned_elements = settings.get("elements") if isinstance(settings, dict) else None
    n_el = len(planned_elements) if isinstance(planned_elements, list) else None
    elements = f" ({len(info.elements)} of {n_el} elements)" if n_el else f" ({len(info.elements)} elements)"
    return (f"Data set {name!r} is still being built: {done} of {planned} planned frames{elements} are labelled so far; "
            "elements not computed yet are grey. See docs/reference_data.md.")


def pending_elements(name: str) -> list[str]:
    """Elements a reference set still being built plans but has no frames of yet (empty once it is complete)."""
    if build_status(name) is None:
        return []
    info = summary(name)
    settings = info.provenance.get("settings") or {}
    planned = settings.get("elements") if isinstance(settings, dict) else None
    have = set(info.elements)
    return [str(e) for e in planned if str(e) not in have] if isinstance(planned, list) else []


def sampler_note(name: str) -> str | None:
    """What sampled the data set's configurations and why that matters, from its provenance (or None).

    A model that generated the configurations (e.g. CHGNet MD for the embedded default) has
    errors biased low on its own samples; the pages show this note beside its numbers.
    """
    try:
        prov = summary(name).provenance
    except KeyError:
        return None
    samplers = [s for s in (prov.get("sampler") or []) if s] if isinstance(prov.get("sampler"), list) else [prov.get("sampler")]
    samplers = [str(s) for s in samplers if s]
    note = prov.get("sampler_note")
    if not samplers and not note:
        return None
    if note and samplers:
        return f"{note} (sampler: {', '.join(samplers)})"
    return str(note) if note else f"Configurations sampled with {', '.join(samplers)}."


@dataclass(frozen=True)
class Caveat:
    """One caveat about a data set's numbers: what it says, how loud, and what a dashboard user can do.

    ``text`` stands on its own (the HTML report prints only it); ``action`` is the dashboard's hint
    (e.g. where to evaluate again), empty where there is nothing to do.
    """

    level: Literal["info", "warning"]
    text: str
    action: str = ""


def _join_names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def caveats(name: str) -> list[Caveat]:
    """Every caveat the map page and the exported report show beside ``name``'s numbers, in one wording.

    In order: the build status of a set still being labelled, the sampler's bias, models whose
    predictions are stale (left out), models missing frames added since they ran (grouped by count),
    and models that refused frames (stored as NaN, named with the model's own message).
    """
    out: list[Caveat] = []
    status = build_status(name)
    if status:
        out.append(Caveat("info", status))
    note = sampler_note(name)
    if note:
        out.append(Caveat("warning", note))
    for model, reason in stale_predictions(name).items():
        out.append(Caveat("warning", f"Predictions of {model} are left out: {reason}.", "Evaluate the model again on the Jobs page."))
    by_count: dict[int, list[str]] = {}
    for model, count in unseen_frames(name).items():
        by_count.setdefault(count, []).append(model)
    for count, group in sorted(by_count.items()):
        verb = "has" if len(group) == 1 else "have"
        out.append(Caveat("info", f"{_join_names(group)} {verb} no predictions for {count} frame(s) added or changed since the last "
                                  "evaluation: they are left out of the errors.",
                          "Evaluate again on the Jobs page (only those frames are computed)."))
    for model, info in refused_frames(name).items():
        out.append(Caveat("info", f"{model} refused {info['count']} frame(s) of {', '.join(info['elements'])}; they are left out of its "
                                  f"errors (elements with none left are grey). The model said: {info['error']}"))
    return out


@lru_cache(maxsize=4)
def _read_json_cached(path: str, _mtime: int) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def load_curves(element: str) -> dict[str, Any] | None:
    """Eigenvalue-sum curves of ``element`` from :mod:`analysis.electronic`, or None.

    None when the electronic analysis is not installed or has no curves for the element.
    """
    try:
        from analysis import electronic
    except ImportError:
        return None
    loader = getattr(electronic, "load_curves", None)
    if loader is None:
        return None
    return loader(element)


# --------------------------------------------------------------------------- descriptors
def _electronic_signature() -> tuple[Any, ...]:
    out = []
    for root, _embedded in store.roots():
        folder = root / "electronic"
        if folder.is_dir():
            out.extend((str(p), p.stat().st_mtime_ns) for p in sorted(folder.glob("curves_*.json")))
    return tuple(out)


def descriptor_table() -> pd.DataFrame:
    """Electronic descriptors per element (:func:`analysis.descriptors.compute_descriptors`), cached on the curve files.

    Empty when no element has eigenvalue-sum curves yet.
    """
    return _descriptors_cached(_electronic_signature())


@lru_cache(maxsize=2)
def _descriptors_cached(signature: tuple[Any, ...]) -> pd.DataFrame:
    from analysis.descriptors import compute_descriptors

    if not signature:
        return pd.DataFrame()
    return compute_descriptors()


def correlation_table(name: str, *, metric: str = "force_rmse", temperature: str = POOLED, n_boot: int = 1000) -> pd.DataFrame:
    """Pearson and Spearman correlation (p-values, bootstrap intervals) of every descriptor with every
    model's per-element ``metric`` (see :func:`analysis.descriptors.correlate`); cached.

    Empty when there are no descriptors or no predictions.
    """
    return _correlation_cached(name, dataset_signature(name), _electronic_signature(), metric_column(metric), temperature, n_boot)


@lru_cache(maxsize=16)
def _correlation_cached(name: str, _sig: tuple[Any, ...], esig: tuple[Any, ...], column: str, temperature: str, n_boot: int) -> pd.DataFrame:
    from analysis.descriptors import correlate

    desc = _descriptors_cached(esig)
    table = metrics_table(name)
    if desc.empty or table.empty:
        return pd.DataFrame()
    rows = table[[_matches(el, t, temperature) for el, t in zip(table["element"], table["temperature"])]].drop(columns="temperature")
    return correlate(desc, rows, metrics=[column], temperature=None, n_boot=n_boot, min_elements=3)


def temperature_text(temperature_k: float) -> str:
    """'300 K', or 'unknown' for NaN."""
    label = temperature_label(temperature_k)
    return label if label == "unknown" else f"{label} K"

