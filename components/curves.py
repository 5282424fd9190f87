"""Eigenvalue-sum curves: band energy against displacement or Fermi-level shift, one trace per smearing method."""
from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from components.theme import apply_theme, color, empty_figure


def curves_from_electronic(raw: Any) -> dict[str, dict[str, tuple[list[float], list[float]]]]:
    """Bring :func:`analysis.electronic.load_curves` output to {panel: {method: (x, y)}}.

    Displacement panel: the change of the band energy from delta = 0, E_band(delta) - E_band(0)
    (eV per cell), against delta (Å), so that methods with different absolute band energies
    overlay. Fermi-shift panel: the eigenvalue sum below E_F + dE (eV per cell) against dE (eV).
    """
    out: dict[str, dict[str, tuple[list[float], list[float]]]] = {}
    if not isinstance(raw, dict):
        return out
    disp = raw.get("displacement") or {}
    if "deltas_a" in disp:
        x = [float(v) for v in disp["deltas_a"]]
        curves = {}
        for method, rec in (disp.get("methods") or {}).items():
            y = [float(v) for v in rec.get("e_band_ev", [])]
            if len(y) == len(x) and y:
                curves[str(method)] = (x, [v - y[0] for v in y])
        if curves:
            out["displacement"] = curves
    fermi = raw.get("fermi_shift") or {}
    if "shifts_ev" in fermi:
        x = [float(v) for v in fermi["shifts_ev"]]
        curves = {}
        for method, rec in (fermi.get("methods") or {}).items():
            y = [float(v) for v in rec.get("eigenvalue_sum_ev", [])]
            if len(y) == len(x) and y:
                curves[str(method)] = (x, y)
        if curves:
            out["fermi_shift"] = curves
    return out


def eigenvalue_sum_curve(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    x_label: str,
    y_label: str,
    visible: Collection[str] | None = None,
    title: str | None = None,
) -> go.Figure:
    """One line per smearing method; methods not in ``visible`` stay in the legend, hidden.

    Colours follow the method's position in ``curves`` (not in ``visible``), so switching a
    method off never changes the colours of the others.

    Args:
        curves: method name -> (x values, y values), e.g. displacement (Å) and the change of the
            eigenvalue sum (eV), or Fermi-level shift (eV) and eigenvalue sum (eV).
        x_label, y_label: axis titles with units.
        visible: methods to draw (default: all).
        title: figure title.
    """
    if not curves:
        return empty_figure("No eigenvalue-sum curves for this element.", title=title)
    fig = go.Figure()
    for i, (method, (x, y)) in enumerate(curves.items()):
        x_arr, y_arr = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        if x_arr.shape != y_arr.shape:
            raise ValueError(f"curve {method!r}: x has shape {x_arr.shape} but y has {y_arr.shape}")
        fig.add_trace(
            go.Scatter(
                x=x_arr, y=y_arr, mode="lines+markers", name=method,
                line={"color": color(i), "width": 2}, marker={"size": 6},
                visible=True if visible is None or method in visible else "legendonly",
                hovertemplate=f"{method}<br>%{{x:.4g}}, %{{y:.6g}}<extra></extra>",
            )
        )
    apply_theme(fig)
    fig.update_xaxes(title_text=x_label)
    fig.update_yaxes(title_text=y_label)
    fig.update_layout(title=title, height=400, legend={"orientation": "h", "y": -0.25},
                      meta={"kind": "eigenvalue_sum_curve", "methods": list(curves)})
    return fig
