"""The paper's claims as tests on a metrics table: the periodic trend, universality across models.

Each function takes the error table of :func:`analysis.metrics.tables.compute_metrics_table` and
returns numbers, never prose written by hand; :func:`trend_statement` and
:func:`universality_statement` turn those numbers into a sentence that includes the test, the
statistic and what the data cannot answer (:func:`data_limits`).

Groups of the periodic table follow the paper's reading (early transition metals hard,
alkali and alkaline-earth metals easy); :data:`GROUPS` names every Metal-43 element once.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from typing import Sequence

import numpy as np
import pandas as pd

from analysis.core.groups import EASY, GROUPS, HARD, group_of
from analysis.metrics.tables import POOLED, REFERENCE_SPREAD

#: fewer elements than this in either compared group: the test is not made
MIN_GROUP_ELEMENTS = 3
#: fewer scored frames per element than this: its error is flagged as thin
MIN_FRAMES = 3


def per_element(table: pd.DataFrame, metric: str, *, relative: bool = False, temperature: str = POOLED) -> pd.DataFrame:
    """Wide per-element values (rows: elements, columns: models) of ``metric`` at ``temperature``,
    absolute or divided by the reference spread of its quantity."""
    rows = table[table["temperature"].astype(str) == str(temperature)]
    values = rows[metric] / rows[REFERENCE_SPREAD[metric]].replace(0.0, np.nan) if relative else rows[metric]
    wide = rows.assign(_v=values).pivot_table(index="element", columns="model", values="_v", aggfunc="first")
    return wide.sort_index()


@dataclass(frozen=True)
class DataLimits:
    """What a table can and cannot answer.

    Attributes:
        n_elements: elements with at least one scored frame.
        temperatures_per_element: median number of temperatures an element was sampled at.
        thin_elements: elements with fewer than :data:`MIN_FRAMES` scored frames (pooled).
        notes: sentences naming each limit that applies.
    """

    n_elements: int
    temperatures_per_element: float
    thin_elements: tuple[str, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)


def data_limits(table: pd.DataFrame) -> DataLimits:
    """The limits of ``table``'s evidence (see :class:`DataLimits`)."""
    if table.empty:
        return DataLimits(0, 0.0, (), ("no model has scored any frame of this data set",))
    per_t = table[table["temperature"].astype(str) != POOLED].drop_duplicates(["element", "temperature"])
    n_temps = per_t.groupby("element")["temperature"].nunique()
    pooled = table[table["temperature"].astype(str) == POOLED]
    frames = pooled.groupby("element")["n_frames"].max()
    thin = tuple(sorted(frames[frames < MIN_FRAMES].index))
    notes = []
    median_t = float(n_temps.median()) if len(n_temps) else 0.0
    if median_t <= 1:
        notes.append("most elements are sampled at one temperature only: errors relative to the reference force spread then "
                     "compare each element at a different temperature, and temperature cannot be separated from element")
    if thin:
        notes.append(f"{len(thin)} element(s) have fewer than {MIN_FRAMES} scored frames: {', '.join(thin[:8])}"
                     + (" ..." if len(thin) > 8 else ""))
    n_el = int(pooled["element"].nunique())
    if n_el < 2 * MIN_GROUP_ELEMENTS:
        notes.append(f"only {n_el} elements: too few to compare groups of the periodic table")
    return DataLimits(n_el, median_t, thin, tuple(notes))


@dataclass(frozen=True)
class TrendTest:
    """The hard groups' errors against the easy groups', for one model.

    Attributes:
        model: model name.
        relative: errors divided by the reference spread.
        n_hard, n_easy: elements in each side.
        median_hard, median_easy: the sides' medians.
        ratio: median_hard / median_easy.
        p_mannwhitney: one-sided Mann-Whitney U (hard > easy); NaN when a side has fewer than
            :data:`MIN_GROUP_ELEMENTS` elements.
        p_permutation: one-sided permutation test of the ratio of medians (10^4 relabellings, seeded).
        group_medians: every :data:`GROUPS` group's median (NaN where it has no element).
    """

    model: str
    relative: bool
    n_hard: int
    n_easy: int
    median_hard: float
    median_easy: float
    ratio: float
    p_mannwhitney: float
    p_permutation: float
    group_medians: dict[str, float]


def trend_tests(table: pd.DataFrame, metric: str, *, models: Sequence[str] | None = None, relative: bool = False,
                temperature: str = POOLED, n_permutations: int = 10_000, seed: int = 0) -> list[TrendTest]:
    """:class:`TrendTest` of every model (of ``models``) on ``metric``."""
    from scipy.stats import mannwhitneyu

    wide = per_element(table, metric, relative=relative, temperature=temperature)
    hard = {s for g in HARD for s in GROUPS[g]}
    easy = {s for g in EASY for s in GROUPS[g]}
    out = []
    for model in (models if models is not None else list(wide.columns)):
        if model not in wide.columns:
            continue
        values = wide[model].dropna()
        h = values[values.index.isin(hard)].to_numpy()
        e = values[values.index.isin(easy)].to_numpy()
        medians = {g: float(np.median(values[values.index.isin(m)])) if values.index.isin(m).any() else float("nan")
                   for g, m in GROUPS.items()}
        enough = len(h) >= MIN_GROUP_ELEMENTS and len(e) >= MIN_GROUP_ELEMENTS
        p_u = float(mannwhitneyu(h, e, alternative="greater").pvalue) if enough else float("nan")
        ratio = float(np.median(h) / np.median(e)) if len(h) and len(e) and np.median(e) > 0 else float("nan")
        p_perm = _permutation_p(h, e, n_permutations, seed) if enough else float("nan")
        out.append(TrendTest(model, relative, len(h), len(e), float(np.median(h)) if len(h) else float("nan"),
                             float(np.median(e)) if len(e) else float("nan"), ratio, p_u, p_perm, medians))
    return out


def _permutation_p(hard: np.ndarray, easy: np.ndarray, n: int, seed: int) -> float:
    """One-sided p of median(hard) / median(easy) under random relabelling (with the observed one counted)."""
    both = np.concatenate([hard, easy])
    observed = np.median(hard) - np.median(easy)
    rng = np.random.default_rng(seed)
    k = len(hard)
    stats = np.empty(n)
    for i in range(n):
        perm = rng.permutation(both)
        stats[i] = np.median(perm[:k]) - np.median(perm[k:])
    return float((1 + np.sum(stats >= observed - 1e-12)) / (n + 1))


def trend_statement(test: TrendTest, metric_label: str) -> str:
    """One sentence: the ratio of medians, both tests, and the counts behind them."""
    kind = "relative " if test.relative else ""
    if not np.isfinite(test.p_mannwhitney):
        return (f"{test.model}: too few elements to compare ({test.n_hard} early transition metals, {test.n_easy} alkali/alkaline-earth "
                f"metals; at least {MIN_GROUP_ELEMENTS} each are needed).")
    verdict = "higher" if test.p_mannwhitney < 0.05 else "not significantly higher"
    floor = smallest_p(test.n_hard, test.n_easy)
    limit = f" With {test.n_hard} vs {test.n_easy} elements no p below {floor:.2g} is possible." if floor > 0.01 else ""
    return (f"{test.model}: early transition metals' {kind}{metric_label} is {test.ratio:.2f}x that of alkali/alkaline-earth "
            f"metals (medians {test.median_hard:.3g} vs {test.median_easy:.3g}; {verdict}: one-sided Mann-Whitney "
            f"p = {test.p_mannwhitney:.2g}, permutation p = {test.p_permutation:.2g}; {test.n_hard} vs {test.n_easy} elements).{limit}")


def smallest_p(n_a: int, n_b: int) -> float:
    """The smallest one-sided p an exact rank test can give with ``n_a`` against ``n_b`` elements: 1 / C(n_a + n_b, n_a)."""
    from math import comb

    return 1.0 / comb(n_a + n_b, n_a) if n_a and n_b else 1.0


def rank_agreement(table: pd.DataFrame, metric: str, *, models: Sequence[str] | None = None, relative: bool = False,
                   temperature: str = POOLED) -> pd.DataFrame:
    """Spearman rank correlation over elements between every pair of models (the elements both scored).

    Columns: model_a, model_b, n_elements, spearman, p_value (two-sided; NaN below 4 elements).
    """
    from scipy.stats import spearmanr

    wide = per_element(table, metric, relative=relative, temperature=temperature)
    chosen = [m for m in (models if models is not None else wide.columns) if m in wide.columns]
    rows = []
    for a, b in combinations(chosen, 2):
        pair = wide[[a, b]].dropna()
        n = len(pair)
        rho, p = spearmanr(pair[a], pair[b]) if n >= 3 else (np.nan, np.nan)
        rows.append({"model_a": a, "model_b": b, "n_elements": n, "spearman": float(rho), "p_value": float(p) if n >= 4 else np.nan})
    return pd.DataFrame(rows, columns=["model_a", "model_b", "n_elements", "spearman", "p_value"])


def universality_statement(agreement: pd.DataFrame) -> str:
    """One sentence on the range of rank correlations and how many pairs agree significantly."""
    finite = agreement.dropna(subset=["spearman"])
    if finite.empty:
        return "Fewer than two models scored enough common elements to compare their rankings."
    low = finite.loc[finite["spearman"].idxmin()]
    high = finite.loc[finite["spearman"].idxmax()]
    significant = int((finite["p_value"] < 0.05).sum())
    return (f"Per-element rankings agree across {len(finite)} model pair(s): Spearman rho from {low['spearman']:.2f} "
            f"({low['model_a']} vs {low['model_b']}, {int(low['n_elements'])} elements) to {high['spearman']:.2f} "
            f"({high['model_a']} vs {high['model_b']}); {significant} of {len(finite)} pairs at p < 0.05 (two-sided).")


__all__ = ["EASY", "GROUPS", "HARD", "MIN_FRAMES", "MIN_GROUP_ELEMENTS", "DataLimits", "TrendTest", "data_limits", "group_of",
           "per_element", "rank_agreement", "smallest_p", "trend_statement", "trend_tests", "universality_statement"]
