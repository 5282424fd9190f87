"""Loaders for the models fitted per element: their fit records (split, training-frame counts,
learning curves) and the paper's test of "the trend is universal": the per-element rank correlation
between a fitted model's errors and a universal model's errors, on the same held-out frames."""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from analysis.datasets import store
from analysis.metrics.tables import compute_metrics_table
from analysis.views.common import _predictions_cached, dataset_signature, metric_column


def fitted_models(name: str) -> dict[str, dict[str, Any]]:
    """model -> predictions' metadata, for every model fitted per element on data set ``name`` (no arrays read)."""
    metas = _metas_cached(name, dataset_signature(name))
    return {m: meta for m, meta in sorted(metas.items()) if meta.get("kind") == "fitted per element"}


@lru_cache(maxsize=8)
def _metas_cached(name: str, _signature: tuple[Any, ...]) -> dict[str, dict[str, Any]]:
    return store.prediction_metas(name)


def model_label(name: str, model: str) -> str:
    """'DeePMD (fitted per element)' for a fitted model's predictions, else the model's name."""
    meta = fitted_models(name).get(model)
    return str(meta.get("label") or model) if meta else model


def fit_record(name: str, model: str, element: str) -> dict[str, Any] | None:
    """The fit of ``element`` by fitted model ``model``: split, n_train/n_valid/n_test, learning curve, seconds."""
    fit = (fitted_models(name).get(model) or {}).get("fits", {}).get(element)
    return dict(fit) if isinstance(fit, dict) else None


def fits_for_element(name: str, element: str) -> dict[str, dict[str, Any]]:
    """fitted model -> its fit record of ``element`` (models without one left out)."""
    out = {}
    for model in fitted_models(name):
        fit = fit_record(name, model, element)
        if fit is not None:
            out[model] = fit
    return out


def training_frames(name: str, model: str) -> dict[str, int]:
    """element -> number of training frames of fitted model ``model`` (empty for a universal model)."""
    fits = (fitted_models(name).get(model) or {}).get("fits", {})
    return {el: int(f.get("n_train", 0)) for el, f in fits.items()}


def _masked(pred: Any, keep: np.ndarray, offsets: np.ndarray) -> Any:
    """``pred`` with every frame outside ``keep`` (a per-frame mask) set to NaN."""
    from dataclasses import replace

    energy = np.where(keep, pred.energy, np.nan)
    atom_keep = np.repeat(keep, np.diff(offsets))
    forces = np.where(atom_keep[:, None], pred.forces, np.nan)
    return replace(pred, energy=energy, forces=forces)


def paired_errors(name: str, fitted: str, universal: str, metric: str = "force_rmse") -> pd.DataFrame:
    """Per element the fitted and the universal model's error on the frames both scored (the fitted
    model's held-out test frames), pooled over temperatures.

    Columns: element, fitted, universal (the metric's values), n_frames, n_train.
    """
    preds = _predictions_cached(name, dataset_signature(name))
    if fitted not in preds or universal not in preds:
        return pd.DataFrame(columns=["element", "fitted", "universal", "n_frames", "n_train"])
    arrays = store.load_arrays(name)
    both = np.isfinite(preds[fitted].energy) & np.isfinite(preds[universal].energy)
    table = compute_metrics_table(arrays, {"fitted": _masked(preds[fitted], both, arrays.offsets),
                                           "universal": _masked(preds[universal], both, arrays.offsets)})
    table = table[(table["temperature"] == "all") & (table["n_frames"] > 0)]
    column = metric_column(metric)
    wide = table.pivot_table(index="element", columns="model", values=column, aggfunc="first")
    counts = table[table["model"] == "fitted"].set_index("element")["n_frames"]
    n_train = training_frames(name, fitted)
    rows = [{"element": el, "fitted": float(wide.loc[el, "fitted"]), "universal": float(wide.loc[el, "universal"]),
             "n_frames": int(counts.get(el, 0)), "n_train": n_train.get(str(el), 0)}
            for el in wide.index if np.isfinite(wide.loc[el]).all()]
    return pd.DataFrame(rows, columns=["element", "fitted", "universal", "n_frames", "n_train"])


def fitted_vs_universal(name: str, metric: str = "force_rmse") -> pd.DataFrame:
    """Spearman rank correlation over elements between each fitted and each universal model's errors
    (same held-out frames; :func:`paired_errors`).

    Columns: fitted, universal, n_elements, spearman, p_value (two-sided; NaN below 4 elements; spearman NaN below 3), elements.
    """
    from scipy.stats import spearmanr

    preds = _predictions_cached(name, dataset_signature(name))
    fitted = list(fitted_models(name))
    universal = [m for m, p in sorted(preds.items()) if p.meta.get("universal") and m not in fitted]
    rows = []
    for f in fitted:
        for u in universal:
            pairs = paired_errors(name, f, u, metric)
            n = len(pairs)
            rho, p = spearmanr(pairs["fitted"], pairs["universal"]) if n >= 3 else (np.nan, np.nan)
            p = p if n >= 4 else np.nan  # three ranks agree by chance one time in six
            rows.append({"fitted": f, "universal": u, "n_elements": n, "spearman": float(rho), "p_value": float(p),
                         "elements": ", ".join(pairs["element"].astype(str))})
    return pd.DataFrame(rows, columns=["fitted", "universal", "n_elements", "spearman", "p_value", "elements"])
