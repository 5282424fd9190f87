"""Loaders of the error map (``/``): per-element values of a metric, temperature choices, differences between views."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis.core import elements
from analysis.metrics.tables import POOLED, relative_metric
from analysis.views.common import (
    TEMPERATURE_CLASSES,
    metric_column,
    metrics_table,
    models,
)


def temperature_options(name: str) -> list[tuple[str, str]]:
    """(value, label) pairs for the temperature selector of data set ``name``.

    'all' (pooled), the Metal-43 temperature classes present ('300K', '0.5Tc', 'Tc', '1.2Tc',
    resolved per element), and the absolute temperatures present (in K).
    """
    table = metrics_table(name)
    rows = [(el, t) for el, t in table[["element", "temperature"]].drop_duplicates().itertuples(index=False) if t != POOLED]
    classes = [(value, label) for value, label in TEMPERATURE_CLASSES.items() if any(_matches(el, t, value) for el, t in rows)]
    # an exact temperature is offered only where some element's frames at it belong to no class (a user's
    # 500 K run, unknown temperatures): the Metal-43 set's 43 distinct Tc values stay under their classes
    loose = sorted({t for el, t in rows if not any(_matches(el, t, value) for value in TEMPERATURE_CLASSES)}, key=_temp_key)
    exact = [(t, "T unknown" if t == "unknown" else f"{t} K (exact)") for t in loose]
    return [(POOLED, "all temperatures (pooled)"), *classes, *exact]


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
        comma-separated text of the rows used); for a model fitted per element also n_train
        (its training frames of each element; its errors are on held-out test frames only).
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
            "note": sub["note"].to_numpy(dtype=object) if "note" in sub.columns else [""] * len(sub),
            "temperatures": [
                temps.get(el, "") if temperature == POOLED else f"{t}" for el, t in zip(sub["element"], sub["temperature"])
            ],
        },
        index=pd.Index(sub["element"].to_numpy(), name="element"),
    )
    from analysis.views.fitted import training_frames

    n_train = training_frames(name, model)
    if n_train:  # a model fitted per element: how many frames each element's model was fitted on
        out["n_train"] = [n_train.get(str(el), 0) for el in out.index]
    return out[~out.index.duplicated(keep="first")]


def model_average(
    name: str, models: list[str], *, metric: str = "force_rmse", temperature: str = POOLED, relative: bool = False,
) -> pd.DataFrame:
    """Per element, the mean of ``models``' values (SI Fig. S2 a/b) and their spread.

    Returns:
        DataFrame indexed by element: value (the mean over the models that have a value there),
        n_models, spread (max - min), n_frames (the most any model scored), temperatures, and
        per_model (model -> value, for the hover). Elements no model scored are left out.
    """
    per_model = {m: element_values(name, model=m, metric=metric, temperature=temperature, relative=relative) for m in models}
    values = pd.DataFrame({m: f["value"] for m, f in per_model.items()})
    if values.empty:
        return pd.DataFrame(columns=["value", "n_models", "spread", "n_frames", "temperatures", "per_model"])
    finite = values.notna()
    frames = pd.DataFrame({m: f["n_frames"] for m, f in per_model.items()}).max(axis=1)
    temps = pd.concat([f["temperatures"] for f in per_model.values()], axis=1).bfill(axis=1).iloc[:, 0]
    out = pd.DataFrame({
        "value": values.mean(axis=1, skipna=True),
        "n_models": finite.sum(axis=1).astype(np.int64),
        "spread": values.max(axis=1) - values.min(axis=1),
        "n_frames": frames.fillna(0).astype(np.int64),
        "temperatures": temps.fillna(""),
        "per_model": [{m: float(v) for m, v in row.items() if np.isfinite(v)} for _, row in values.iterrows()],
    })
    return out[out["n_models"] > 0]


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
