"""Figures of the findings page: per-element errors by periodic-table group, rank agreement between
models, and the descriptors' partial correlations with the errors (descriptor x model)."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analysis.metrics.findings import GROUPS, group_of
from components.theme import apply_theme, color, empty_figure


def group_figure(values: pd.DataFrame, *, title: str, y_label: str, log_y: bool = True) -> go.Figure:
    """Per-element values (rows: elements, columns: models) as points per periodic-table group, one
    colour per model, each group's median as a bar; hover names the element."""
    if values.empty:
        return empty_figure("No model has scored this data set yet.", title=title)
    fig = go.Figure()
    groups = list(GROUPS)
    width = 0.8 / max(1, len(values.columns))
    for k, model in enumerate(values.columns):
        col = values[model].dropna()
        if log_y:
            col = col[col > 0]
        g = [group_of(str(s)) for s in col.index]
        x = np.array([groups.index(name) if name in groups else len(groups) for name in g], dtype=float)
        offset = (k - (len(values.columns) - 1) / 2) * width
        fig.add_trace(go.Scatter(x=x + offset, y=col.to_numpy(), mode="markers", name=str(model), text=list(col.index),
                                 marker={"color": color(k), "size": 7, "opacity": 0.8},
                                 hovertemplate="%{text} · " + str(model) + ": %{y:.3g}<extra></extra>", legendgroup=str(model)))
        medians = [float(np.median(col[[group_of(str(s)) == name for s in col.index]])) if any(group_of(str(s)) == name for s in col.index)
                   else np.nan for name in groups]
        fig.add_trace(go.Scatter(x=np.arange(len(groups)) + offset, y=medians, mode="markers", showlegend=False, legendgroup=str(model),
                                 marker={"symbol": "line-ew-open", "size": 22, "line": {"width": 3, "color": color(k)}},
                                 hovertemplate=str(model) + " median: %{y:.3g}<extra></extra>"))
    fig.update_layout(title={"text": title}, yaxis={"title": y_label, "type": "log" if log_y else "linear"},
                      xaxis={"tickmode": "array", "tickvals": list(range(len(groups))), "ticktext": groups, "title": None},
                      legend={"orientation": "h", "y": -0.2})
    return apply_theme(fig)


def agreement_heatmap(agreement: pd.DataFrame, *, title: str = "Rank agreement between models (Spearman rho over elements)") -> go.Figure:
    """A symmetric model x model matrix of Spearman rho, annotated; the diagonal is 1."""
    if agreement.empty:
        return empty_figure("Fewer than two models: no ranking to compare.", title=title)
    models = sorted(set(agreement["model_a"]) | set(agreement["model_b"]))
    index = {m: i for i, m in enumerate(models)}
    z = np.eye(len(models))
    text = [["1" if i == j else "" for j in range(len(models))] for i in range(len(models))]
    for row in agreement.itertuples():
        i, j = index[row.model_a], index[row.model_b]
        z[i, j] = z[j, i] = row.spearman
        label = f"{row.spearman:.2f}" + ("" if np.isfinite(row.p_value) and row.p_value < 0.05 else " (ns)")
        text[i][j] = text[j][i] = label
    fig = go.Figure(go.Heatmap(z=z, x=models, y=models, zmin=-1, zmax=1, colorscale="RdBu", reversescale=True, text=text,
                               texttemplate="%{text}", hovertemplate="%{y} vs %{x}: rho %{z:.2f}<extra></extra>",
                               colorbar={"title": {"text": "rho"}}))
    fig.update_layout(title={"text": title}, yaxis={"autorange": "reversed"})
    return apply_theme(fig)


def descriptor_heatmap(electronic: pd.DataFrame, *, title: str = "Descriptors vs errors, temperature held fixed (partial Spearman rho)") -> go.Figure:
    """Descriptor x model heat map of the partial Spearman rho; cells marked * where the BH-adjusted p < 0.05."""
    if electronic.empty:
        return empty_figure("No descriptors or no predictions on this data set.", title=title)
    rho = electronic.pivot_table(index="descriptor", columns="model", values="partial_spearman_r", aggfunc="first")
    p = electronic.pivot_table(index="descriptor", columns="model", values="partial_spearman_p_bh", aggfunc="first").reindex_like(rho)
    text = [[(f"{r:.2f}" + ("*" if np.isfinite(q) and q < 0.05 else "")) if np.isfinite(r) else "" for r, q in zip(rr, qq)]
            for rr, qq in zip(rho.to_numpy(), p.to_numpy())]
    fig = go.Figure(go.Heatmap(z=rho.to_numpy(), x=list(rho.columns), y=list(rho.index), zmin=-1, zmax=1, colorscale="RdBu",
                               reversescale=True, text=text, texttemplate="%{text}", customdata=p.to_numpy(),
                               hovertemplate="%{y} vs %{x}: partial rho %{z:.2f}, BH-adjusted p %{customdata:.2g}<extra></extra>",
                               colorbar={"title": {"text": "partial rho"}}))
    fig.update_layout(title={"text": title + " · * adjusted p < 0.05"})
    return apply_theme(fig)


__all__ = ["agreement_heatmap", "descriptor_heatmap", "group_figure", "smearing_figure"]


def smearing_figure(rows: list[dict[str, Any]], *, title: str = "Relative test force error against the smearing width") -> go.Figure:
    """One line per element and model: the relative error (force RMSE / reference spread on the same test
    frames) at each smearing width, seeds averaged, with the range of the seeds' bootstrap intervals."""
    frame = pd.DataFrame(rows)
    if frame.empty:
        return empty_figure("The smearing experiment has not run yet (python -m analysis experiment smearing).", title=title)
    fig = go.Figure()
    for k, ((element, model), part) in enumerate(frame.groupby(["element", "model"], sort=True)):
        by = part.groupby("sigma_ev").agg(rel=("relative", "mean"), lo=("relative_low", "min"), hi=("relative_high", "max"),
                                         seeds=("seed", "nunique")).reset_index()
        fitted = not str(model).startswith(("chgnet", "sevennet", "mace-mp", "orb"))
        fig.add_trace(go.Scatter(x=by["sigma_ev"], y=by["rel"], mode="lines+markers", name=f"{element} · {model}",
                                 line={"color": color(k), "dash": "solid" if fitted else "dot"}, marker={"color": color(k)},
                                 error_y={"type": "data", "symmetric": False, "array": by["hi"] - by["rel"], "arrayminus": by["rel"] - by["lo"]},
                                 customdata=by["seeds"],
                                 hovertemplate=f"{element} · {model}<br>σ %{{x:g}} eV: %{{y:.3g}} (%{{customdata}} seed(s))<extra></extra>"))
    fig.update_layout(title={"text": title}, xaxis={"title": "Fermi-Dirac width of the labels (eV)"},
                      yaxis={"title": "force RMSE / reference spread", "type": "log"}, legend={"orientation": "h", "y": -0.25})
    return apply_theme(fig)
