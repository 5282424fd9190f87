"""Loaders of the findings page (``/findings``): the paper's three claims tested on the selected data set.

(1) the periodic trend (:func:`analysis.metrics.findings.trend_tests`, absolute and relative errors),
(2) universality (:func:`analysis.metrics.findings.rank_agreement` over every pair of models), and
(3) the electronic link (the partial Spearman correlation of each descriptor with each model's
error, sampling temperature held fixed, Benjamini-Hochberg adjusted: :func:`analysis.views.distributions.correlation_table`).
Every sentence is computed from the current numbers; cached on the data set's signature.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pandas as pd

from analysis.metrics import findings as fd
from analysis.metrics.tables import POOLED
from analysis.views.common import METRICS, dataset_signature, metric_column, metric_label, metrics_table


@dataclass(frozen=True)
class Findings:
    """The three claims on one data set, metric and temperature selection.

    Attributes:
        limits: what the data can and cannot answer.
        trend_absolute, trend_relative: one :class:`~analysis.metrics.findings.TrendTest` per model.
        trend_statements: one sentence per model and kind (absolute first).
        values_absolute, values_relative: per-element values (rows: elements, columns: models).
        agreement: Spearman rho of every model pair.
        universality: one sentence.
        electronic: partial Spearman rho and BH-adjusted p of every descriptor x model (long table).
        electronic_statement: one sentence.
    """

    limits: fd.DataLimits
    trend_absolute: list[fd.TrendTest]
    trend_relative: list[fd.TrendTest]
    trend_statements: list[str]
    values_absolute: pd.DataFrame
    values_relative: pd.DataFrame
    agreement: pd.DataFrame
    universality: str
    electronic: pd.DataFrame
    electronic_statement: str


def paper_findings(name: str, metric: str = "force_rmse", temperature: str = POOLED) -> Findings:
    """The findings of data set ``name`` for ``metric`` ('force_rmse', ...) at ``temperature`` (cached)."""
    return _findings_cached(name, dataset_signature(name), metric_column(metric), temperature, metric_label(metric).split(" (")[0])


@lru_cache(maxsize=16)
def _findings_cached(name: str, _signature: tuple[Any, ...], column: str, temperature: str, label: str) -> Findings:
    table = metrics_table(name)
    limits = fd.data_limits(table)
    absolute = fd.trend_tests(table, column, temperature=temperature)
    relative = fd.trend_tests(table, column, temperature=temperature, relative=True)
    label = label[:1].lower() + label[1:]  # "force RMSE"
    statements = [fd.trend_statement(t, label) for t in absolute] + [fd.trend_statement(t, label) for t in relative]
    agreement = fd.rank_agreement(table, column, temperature=temperature)
    electronic = _electronic(name, column, temperature)
    return Findings(limits, absolute, relative, statements, fd.per_element(table, column, temperature=temperature),
                    fd.per_element(table, column, temperature=temperature, relative=True), agreement,
                    fd.universality_statement(agreement), electronic, _electronic_statement(electronic))


def _electronic(name: str, column: str, temperature: str) -> pd.DataFrame:
    from analysis.views.distributions import correlation_table

    short = next((k for k, v in METRICS.items() if v == column), "force_rmse")
    corr = correlation_table(name, metric=short, temperature=temperature, n_boot=200)
    if corr.empty:
        return pd.DataFrame(columns=["descriptor", "model", "n", "partial_spearman_r", "partial_spearman_p_bh"])
    return corr[["descriptor", "model", "n", "partial_spearman_r", "partial_spearman_p_bh"]].reset_index(drop=True)


def _electronic_statement(electronic: pd.DataFrame) -> str:
    if electronic.empty:
        return "No electronic descriptors (or no predictions) on this data set: the electronic link cannot be tested here."
    significant = electronic[electronic["partial_spearman_p_bh"] < 0.05]
    n_models = electronic["model"].nunique()
    if significant.empty:
        best = electronic.loc[electronic["partial_spearman_p_bh"].idxmin()]
        return (f"With the sampling temperature held fixed, no descriptor correlates with any of {n_models} model(s)' errors at "
                f"a Benjamini-Hochberg adjusted p < 0.05 (the strongest: {best['descriptor']} vs {best['model']}, partial rho "
                f"{best['partial_spearman_r']:.2f}, adjusted p {best['partial_spearman_p_bh']:.2g}). A correlation is not a cause: "
                "see the smearing experiment for an intervention.")
    by_desc = significant.groupby("descriptor")["model"].nunique().sort_values(ascending=False)
    top = by_desc.index[0]
    return (f"With the sampling temperature held fixed, {len(by_desc)} descriptor(s) correlate with the errors at a "
            f"Benjamini-Hochberg adjusted p < 0.05; {top} does so for {int(by_desc.iloc[0])} of {n_models} model(s). "
            "A correlation is not a cause: see the smearing experiment for an intervention.")


def top_descriptor(name: str, metric: str = "force_rmse") -> str | None:
    """The descriptor with the strongest median |partial rho| across models (the distributions page's default)."""
    electronic = paper_findings(name, metric).electronic
    if electronic.empty:
        return None
    strength = electronic.assign(a=electronic["partial_spearman_r"].abs()).groupby("descriptor")["a"].median()
    return str(strength.idxmax()) if len(strength.dropna()) else None


__all__ = ["Findings", "paper_findings", "smearing_experiment", "top_descriptor"]


def smearing_experiment() -> dict[str, Any] | None:
    """The stored smearing experiment (:mod:`analysis.jobs.smearing`; user data first, then the shipped
    one): its rows, per-element summary and statement; None before it has run."""
    from analysis.jobs.smearing import load_result

    return load_result()
