"""Errors against temperature: one panel per element (small multiples) or one element's panel,
one line per model, the frames behind each point on hover."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analysis.metrics.tables import POOLED
from components.grid import element_panel_grid, finish_grid
from components.theme import apply_theme, color, empty_figure


def _rows(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    rows = table[table["temperature"].astype(str) != POOLED].copy()
    rows["T"] = pd.to_numeric(rows["temperature"], errors="coerce")
    return rows.dropna(subset=["T", metric]).sort_values("T")


def temperature_grid(table: pd.DataFrame, metric: str, label: str, *, models: Sequence[str] | None = None,
                     elements: Sequence[str] | None = None, per_row: int = 7, log_y: bool = True) -> go.Figure:
    """Small multiples of ``metric`` against sampling temperature, one panel per element."""
    rows = _rows(table, metric)
    chosen = [m for m in (models or sorted(rows["model"].unique())) if m in set(rows["model"])]
    names = [e for e in (elements or sorted(rows["element"].unique())) if e in set(rows["element"])]
    if rows.empty or not chosen or not names:
        return empty_figure("No errors per temperature to show.", title=f"{label} against temperature")
    fig, per_row_used, n_rows = element_panel_grid(names, [label.split(" (")[0]], per_row, spacing=0.25)
    for i, element in enumerate(names):
        r, c = i // per_row_used + 1, i % per_row_used + 1
        mine = rows[rows["element"] == element]
        for k, model in enumerate(chosen):
            part = mine[mine["model"] == model]
            if part.empty:
                continue
            fig.add_trace(go.Scatter(x=part["T"], y=part[metric], mode="lines+markers", name=str(model), legendgroup=str(model),
                                     showlegend=i == 0, marker={"color": color(k), "size": 5}, line={"color": color(k), "width": 1.5},
                                     customdata=part["n_frames"],
                                     hovertemplate=f"{element} · {model}<br>%{{x:g}} K: %{{y:.3g}} (%{{customdata}} frames)<extra></extra>"),
                          row=r, col=c)
    fig.update_yaxes(type="log" if log_y else "linear")
    fig.update_xaxes(title_text=None, nticks=3)
    n_two = int((rows.groupby("element")["T"].nunique() > 1).sum())
    return finish_grid(fig, title=f"{label} against sampling temperature ({n_two} of {len(names)} elements at more than one temperature)",
                       n_rows=n_rows, panel_height=150, legend_title="model", meta={"elements": names, "models": chosen})


def element_temperature_figure(table: pd.DataFrame, element: str, metric: str, label: str) -> go.Figure:
    """One element's ``metric`` against temperature, a line per model."""
    rows = _rows(table, metric)
    rows = rows[rows["element"] == element]
    if rows.empty:
        return empty_figure(f"No errors per temperature for {element}.", title=f"{element}: {label} against temperature")
    fig = go.Figure()
    for k, model in enumerate(sorted(rows["model"].unique())):
        part = rows[rows["model"] == model]
        fig.add_trace(go.Scatter(x=part["T"], y=part[metric], mode="lines+markers", name=str(model), marker={"color": color(k)},
                                 line={"color": color(k)}, customdata=part["n_frames"],
                                 hovertemplate=f"{model}<br>%{{x:g}} K: %{{y:.3g}} (%{{customdata}} frames)<extra></extra>"))
    one = rows["T"].nunique() < 2
    fig.update_layout(title={"text": f"{element}: {label} against sampling temperature" + (" (one temperature only)" if one else "")},
                      xaxis={"title": "temperature (K)"}, yaxis={"title": label, "type": "log" if (rows[metric] > 0).all() else "linear"},
                      meta={"temperatures": sorted(np.unique(rows["T"]).tolist())})
    return apply_theme(fig)


__all__ = ["element_temperature_figure", "temperature_grid"]
