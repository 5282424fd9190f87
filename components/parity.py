"""Parity plots: predicted against reference energies or forces."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

import numpy as np
import plotly.graph_objects as go
from numpy.typing import NDArray

from components.theme import apply_theme, color, empty_figure

#: above this many points in total the WebGL trace type is used
WEBGL_THRESHOLD = 5000
_UNITS = {"energy": ("Energy", "eV/atom"), "force": ("Force component", "eV/Å")}


class ParityLike(Protocol):
    """What a parity plot needs of a series (e.g. :class:`analysis.views.ParitySeries`)."""

    model: str
    reference: NDArray[np.float64]
    predicted: NDArray[np.float64]
    n_total: int


def parity_plot(
    series: Sequence[ParityLike],
    *,
    quantity: Literal["energy", "force"],
    title: str | None = None,
) -> go.Figure:
    """Predicted against reference values, one trace per model, with the y = x line.

    Args:
        series: one entry per model (already subsampled by the caller).
        quantity: 'energy' (per-atom energies, eV/atom) or 'force' (Cartesian components, eV/Å).
        title: figure title.

    Returns:
        The figure; each legend entry gives the model's RMSE over the shown points (meV/atom or
        meV/Å) and, when subsampled, how many of how many points are shown.
    """
    if quantity not in _UNITS:
        raise ValueError(f"{quantity=} must be 'energy' or 'force'")
    name, unit = _UNITS[quantity]
    series = [s for s in series if len(s.reference)]
    if not series:
        return empty_figure(f"No {quantity} predictions for this element yet.", title=title)
    total = sum(len(s.reference) for s in series)
    trace_type = go.Scattergl if total > WEBGL_THRESHOLD else go.Scatter
    fig = go.Figure()
    lo = min(float(min(s.reference.min(), s.predicted.min())) for s in series)
    hi = max(float(max(s.reference.max(), s.predicted.max())) for s in series)
    for i, s in enumerate(series):
        rmse = 1e3 * float(np.sqrt(np.mean((s.predicted - s.reference) ** 2)))
        shown = f", {len(s.reference)} of {s.n_total} shown" if s.n_total > len(s.reference) else ""
        fig.add_trace(
            trace_type(
                x=s.reference, y=s.predicted, mode="markers", name=f"{s.model} (RMSE {rmse:.3g} m{unit}{shown})",
                marker={"color": color(i), "size": 5 if quantity == "force" else 8, "opacity": 0.6},
                hovertemplate=f"ref %{{x:.4f}} {unit}<br>pred %{{y:.4f}} {unit}<extra>{s.model}</extra>",
            )
        )
    pad = 0.03 * (hi - lo or 1.0)
    fig.add_trace(go.Scatter(x=[lo - pad, hi + pad], y=[lo - pad, hi + pad], mode="lines",
                             line={"color": "#888888", "dash": "dot"}, name="y = x", hoverinfo="skip"))
    apply_theme(fig)
    fig.update_xaxes(title_text=f"Reference {name.lower()} ({unit})", range=[lo - pad, hi + pad])
    fig.update_yaxes(title_text=f"Predicted {name.lower()} ({unit})", range=[lo - pad, hi + pad], scaleanchor="x", scaleratio=1)
    fig.update_layout(title=title, height=460, legend={"orientation": "h", "y": -0.25},
                      meta={"kind": "parity_plot", "quantity": quantity, "n_points": total})
    return fig


def parity_small_multiples(
    series: dict[str, dict[str, Sequence[ParityLike]]],
    elements: Sequence[str],
    *,
    elements_per_row: int = 2,
    title: str | None = None,
    panel_height: int = 210,
) -> go.Figure:
    """Energy and force parity of several elements in one figure (one legend entry per model).

    Args:
        series: element -> {'energy': series per model, 'force': series per model}.
        elements: the elements, in order.
        elements_per_row: elements side by side (two panels each).
        title: figure title.
        panel_height: px per row.
    """
    from components.grid import element_panel_grid, finish_grid

    if not elements:
        return empty_figure("No elements to show.", title=title)
    kinds = ("energy", "force")
    fig, per_row, n_rows = element_panel_grid(elements, [f"{_UNITS[k][0].lower()} ({_UNITS[k][1]})" for k in kinds],
                                              elements_per_row, spacing=0.3)
    models: list[str] = []
    for i, el in enumerate(elements):
        row = i // per_row + 1
        for j, kind in enumerate(kinds):
            col = (i % per_row) * 2 + j + 1
            shown = [s for s in (series.get(el) or {}).get(kind, []) if len(s.reference)]
            if not shown:
                continue
            lo = min(float(min(s.reference.min(), s.predicted.min())) for s in shown)
            hi = max(float(max(s.reference.max(), s.predicted.max())) for s in shown)
            pad = 0.03 * (hi - lo or 1.0)
            for s in shown:
                if s.model not in models:
                    models.append(s.model)
                k = models.index(s.model)
                fig.add_trace(go.Scatter(x=s.reference, y=s.predicted, mode="markers", name=s.model, legendgroup=s.model,
                                         showlegend=not any(t.name == s.model for t in fig.data),
                                         marker={"color": color(k), "size": 4 if kind == "force" else 6, "opacity": 0.6},
                                         hovertemplate=f"{el} · {s.model}<br>ref %{{x:.4f}}<br>pred %{{y:.4f}}<extra></extra>"),
                              row=row, col=col)
            fig.add_trace(go.Scatter(x=[lo - pad, hi + pad], y=[lo - pad, hi + pad], mode="lines", showlegend=False, hoverinfo="skip",
                                     line={"color": "#888888", "dash": "dot", "width": 1}), row=row, col=col)
            fig.update_xaxes(range=[lo - pad, hi + pad], row=row, col=col, title_text="reference" if row == n_rows else None)
            fig.update_yaxes(range=[lo - pad, hi + pad], row=row, col=col, title_text="predicted", title_standoff=2)
    return finish_grid(fig, title=title, n_rows=n_rows, panel_height=panel_height, legend_title="model: ", bottom=90,
                       legend_gap_px=60, meta={"kind": "parity_small_multiples", "elements": list(elements), "models": models})
