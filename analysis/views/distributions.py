"""Loaders of the distributions page (``/distributions``): electronic descriptors and their correlation with the errors."""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import pandas as pd

from analysis.metrics.tables import POOLED
from analysis.views.common import dataset_signature, metric_column, metrics_table
from analysis.views.map import _matches


# --------------------------------------------------------------------------- descriptors
def _electronic_signature() -> tuple[Any, ...]:
    from analysis.electronic.protocols import electronic_roots

    out = []
    for root in electronic_roots():
        folder = root / "electronic"
        if folder.is_dir():
            out.extend((str(p), p.stat().st_mtime_ns) for p in sorted(folder.glob("curves_*.json")))
    return tuple(out)


def descriptor_table() -> pd.DataFrame:
    """Electronic descriptors per element (:func:`analysis.electronic.descriptors.compute_descriptors`) from
    curves at the frames' reference state only (never mixed with the older off-reference curves), cached
    on the curve files.

    Empty when no element has such curves yet.
    """
    return _descriptors_cached(_electronic_signature())


def descriptor_coverage() -> tuple[list[str], list[str]]:
    """(elements whose curves are at the reference state, elements with curves computed off it only)."""
    from analysis.electronic import protocols as el

    done, off = [], []
    for symbol in el.available_elements():
        curves = el.load_curves(symbol)
        (done if curves is not None and el.at_reference_state(curves) else off).append(symbol)
    return done, off


@lru_cache(maxsize=2)
def _descriptors_cached(signature: tuple[Any, ...]) -> pd.DataFrame:
    from analysis.electronic.descriptors import compute_descriptors

    if not signature:
        return pd.DataFrame()
    return compute_descriptors(reference_state_only=True)


def correlation_table(name: str, *, metric: str = "force_rmse", temperature: str = POOLED, n_boot: int = 1000,
                      relative: bool = False) -> pd.DataFrame:
    """Pearson, Spearman and partial Spearman (sampling temperature held fixed) correlation of every
    descriptor with every model's per-element ``metric`` (see :func:`analysis.electronic.descriptors.correlate`),
    with bootstrap intervals and Holm / Benjamini-Hochberg adjusted p-values; cached.

    Args:
        relative: correlate the error divided by the reference spread of its quantity
            (:func:`analysis.metrics.tables.relative_metric`) instead of the error itself.

    Empty when there are no descriptors or no predictions.
    """
    return _correlation_cached(name, dataset_signature(name), _electronic_signature(), metric_column(metric), temperature,
                               n_boot, relative)


def sampling_temperature(table: pd.DataFrame, temperature: str = POOLED) -> pd.Series:
    """Per-element mean sampling temperature (K, weighted by frames) of the rows ``temperature`` selects.

    The pooled rows ('all') stand for every temperature of their element, so the mean is taken over
    the element's per-temperature rows; unknown temperatures are left out.
    """
    rows = table[table["temperature"].astype(str) != POOLED]
    if temperature != POOLED:
        rows = rows[[_matches(el, t, temperature) for el, t in zip(rows["element"], rows["temperature"])]]
    rows = rows.assign(T=pd.to_numeric(rows["temperature"], errors="coerce")).dropna(subset=["T"])
    rows = rows.drop_duplicates(["element", "temperature"])
    weights = rows["n_frames"].astype(float)
    return (rows["T"] * weights).groupby(rows["element"]).sum() / weights.groupby(rows["element"]).sum()


def correlation_caveats(name: str, *, temperature: str = POOLED) -> list[str]:
    """Caveats for the correlations of data set ``name`` (see :func:`analysis.electronic.descriptors.correlation_caveats`)."""
    from analysis.electronic.descriptors import correlation_caveats as caveats

    table = metrics_table(name)
    if table.empty:
        return []
    rows = table if temperature == POOLED else table[
        [_matches(el, t, temperature) for el, t in zip(table["element"], table["temperature"])]]
    return caveats(rows)


@lru_cache(maxsize=16)
def _correlation_cached(name: str, _sig: tuple[Any, ...], esig: tuple[Any, ...], column: str, temperature: str, n_boot: int,
                        relative: bool = False) -> pd.DataFrame:
    from analysis.electronic.descriptors import correlate
    from analysis.metrics.tables import relative_metric

    desc = _descriptors_cached(esig)
    table = metrics_table(name)
    if desc.empty or table.empty:
        return pd.DataFrame()
    covariate = sampling_temperature(table, temperature)
    rows = table[[_matches(el, t, temperature) for el, t in zip(table["element"], table["temperature"])]]
    if relative:
        rows = rows.assign(**{column: relative_metric(rows, column)})
    rows = rows.drop(columns="temperature")
    return correlate(desc, rows, metrics=[column], temperature=None, n_boot=n_boot, min_elements=3,
                     covariate=covariate if covariate.nunique() > 1 else None)
