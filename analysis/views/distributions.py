"""Loaders of the distributions page (``/distributions``): electronic descriptors and their correlation with the errors."""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import pandas as pd

from analysis.datasets import store
from analysis.metrics.tables import POOLED
from analysis.views.common import dataset_signature, metric_column, metrics_table
from analysis.views.map import _matches


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
    from analysis.electronic.descriptors import compute_descriptors

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
    from analysis.electronic.descriptors import correlate

    desc = _descriptors_cached(esig)
    table = metrics_table(name)
    if desc.empty or table.empty:
        return pd.DataFrame()
    rows = table[[_matches(el, t, temperature) for el, t in zip(table["element"], table["temperature"])]].drop(columns="temperature")
    return correlate(desc, rows, metrics=[column], temperature=None, n_boot=n_boot, min_elements=3)
