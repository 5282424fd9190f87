"""Figures and tables of the models fitted per element: learning curves, the split, and the
fitted-versus-universal comparison across elements."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from components.theme import apply_theme, color, empty_figure

#: learning-curve keys shown in the loss panel -> legend text (the programs' own losses, unitless)
CURVE_SERIES: tuple[tuple[str, str], ...] = (
    ("train_loss", "training loss"),
    ("valid_loss", "validation loss"),
)


def learning_curve_figure(fits: Mapping[str, Mapping[str, Any]], *, symbol: str = "",
                          labels: Mapping[str, str] | None = None) -> go.Figure:
    """Per fitted model: its training and validation loss against step (left, log scale) and its
    validation force RMSE in meV/Å (right panel), from the training program's own log."""
    from plotly.subplots import make_subplots

    title = f"{symbol}: learning curves of the models fitted per element".strip(": ")
    usable = {m: f for m, f in fits.items() if f.get("learning_curve")}
    if not usable:
        return empty_figure("No model has been fitted on this element's frames.", title=title)
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Loss (the program's own)", "Validation force RMSE"),
                        horizontal_spacing=0.12)
    n_points = 0
    for k, (model, fit) in enumerate(sorted(usable.items())):
        curve = fit["learning_curve"]
        unit = fit.get("unit", "step")
        label = (labels or {}).get(model, model)
        steps = [row["step"] for row in curve]
        for key, what in CURVE_SERIES:
            values = [row.get(key) for row in curve]
            if not any(v is not None for v in values):
                continue
            fig.add_trace(go.Scatter(x=steps, y=values, mode="lines", name=f"{label}: {what}", legendgroup=model,
                                     line={"color": color(k), "dash": "solid" if key == "train_loss" else "dot"},
                                     hovertemplate=f"{unit} %{{x}}<br>{what} %{{y:.4g}}<extra>{label}</extra>"), row=1, col=1)
        rmse = [1e3 * row["valid_rmse_f"] if row.get("valid_rmse_f") is not None else None for row in curve]
        if any(v is not None for v in rmse):
            n_points += sum(v is not None for v in rmse)
            fig.add_trace(go.Scatter(x=steps, y=rmse, mode="lines+markers", marker={"size": 4}, legendgroup=model,
                                     name=f"{label}: validation force RMSE ({fit.get('n_valid', '?')} frames)",
                                     line={"color": color(k)},
                                     hovertemplate=f"{unit} %{{x}}<br>%{{y:.1f}} meV/Å<extra>{label}</extra>"), row=1, col=2)
    apply_theme(fig)
    units = sorted({str(f.get("unit", "step")) for f in usable.values()})
    fig.update_xaxes(title_text=" / ".join(units))
    fig.update_yaxes(type="log", row=1, col=1)
    fig.update_yaxes(title_text="meV/Å", row=1, col=2)
    fig.update_layout(title=title, height=380, legend={"orientation": "h", "y": -0.3},
                      meta={"kind": "learning-curve", "models": sorted(usable), "n_rmse_points": n_points})
    return fig


def split_table(fits: Mapping[str, Mapping[str, Any]], *, labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per fitted model: frames in training / validation / test per temperature, time, steps."""
    rows = []
    for model, fit in sorted(fits.items()):
        split = fit.get("split") or {}
        by_temp: dict[str, dict[str, int]] = {}
        for part in ("train", "valid", "test"):
            for fid in split.get(part, []):
                temp = str(fid).split("/")[1] if "/" in str(fid) else "?"
                by_temp.setdefault(temp, {"train": 0, "valid": 0, "test": 0})[part] += 1
        curve = fit.get("learning_curve") or []
        last = curve[-1] if curve else {}
        rows.append({
            "model": (labels or {}).get(model, model),
            "training frames": int(fit.get("n_train", 0)),
            "validation frames": int(fit.get("n_valid", 0)),
            "test frames (scored)": int(fit.get("n_test", 0)),
            "per temperature (train/valid/test)": "; ".join(f"{t}: {c['train']}/{c['valid']}/{c['test']}" for t, c in sorted(by_temp.items())),
            "schedule": f"{last.get('step', '?')} {fit.get('unit', 'steps')}",
            "last validation force RMSE (meV/Å)": round(1e3 * last["valid_rmse_f"], 1) if last.get("valid_rmse_f") is not None else None,
            "training time (s)": round(float(fit.get("seconds", 0.0)), 1),
            "resumed": "yes" if fit.get("resumed_from_checkpoint") else "no",
        })
    return pd.DataFrame(rows)


def fitted_vs_universal_figure(pairs: pd.DataFrame, *, fitted: str, universal: str, metric_label: str,
                               rho: float | None = None) -> go.Figure:
    """Per element the universal model's error against the fitted model's, on the same held-out frames
    (log-log; hover names the element and its training-frame count)."""
    title = f"{fitted} vs {universal}: {metric_label}"
    if pairs.empty:
        return empty_figure("No element has errors of both models on the same frames.", title=title)
    text = pairs["element"].astype(str)
    custom = np.stack([pairs["n_train"].to_numpy(), pairs["n_frames"].to_numpy()], axis=1)
    fig = go.Figure(go.Scatter(
        x=pairs["fitted"], y=pairs["universal"], mode="markers+text", text=text, textposition="top center",
        marker={"size": 10, "color": color(0)}, customdata=custom, name="elements",
        hovertemplate=("%{text}<br>fitted %{x:.1f}<br>universal %{y:.1f}<br>fitted on %{customdata[0]} training frames"
                       "<br>scored on %{customdata[1]} held-out frames<extra></extra>"),
    ))
    apply_theme(fig)
    fig.update_xaxes(type="log", title_text=f"{fitted} ({metric_label})")
    fig.update_yaxes(type="log", title_text=f"{universal} ({metric_label})")
    note = f"Spearman ρ = {rho:.2f} over {len(pairs)} elements" if rho is not None and np.isfinite(rho) else f"{len(pairs)} elements"
    fig.update_layout(title=f"{title}<br><sup>{note}; both scored on the fitted model's held-out test frames</sup>", height=420,
                      showlegend=False, meta={"kind": "fitted-vs-universal", "n_elements": int(len(pairs))})
    return fig
