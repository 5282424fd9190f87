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


#: x-axis title (bottom row) and panel name of each kind; every y axis is in eV per cell
PANEL_AXES: dict[str, tuple[str, str]] = {
    "displacement": ("displacement δ (Å)", "eV/cell"),
    "fermi_shift": ("Fermi-level shift ΔE_F (eV)", "eV/cell"),
}
PANEL_NAMES = {"displacement": "ΔE_band(δ)", "fermi_shift": "Σε below E_F + ΔE_F"}
#: what the panels show, for captions
CAPTION = ("ΔE_band(δ) = E_band(δ) − E_band(0) as one atom moves by δ; Σε below E_F + ΔE_F as the Fermi level is shifted; "
           "eV per protocol cell; one line per smearing method.")
#: the paper's SI layout (Figs S3-S18): six elements a figure
SIX = 6


def curves_small_multiples(
    panels: Mapping[str, Mapping[str, Mapping[str, tuple[Sequence[float], Sequence[float]]]]],
    elements: Sequence[str],
    *,
    elements_per_row: int = 2,
    kinds: Sequence[str] = ("displacement", "fermi_shift"),
    visible: Collection[str] | None = None,
    title: str | None = None,
    panel_height: int = 190,
) -> go.Figure:
    """One figure of small multiples: for each element its eigenvalue-sum panels side by side.

    Every method has one colour and one legend entry for the whole figure (clicking it hides the
    method in every panel); each panel keeps its own y range, since the elements' curves differ by
    orders of magnitude. Elements without curves get an empty, labelled panel rather than a gap.

    Args:
        panels: element -> :func:`curves_from_electronic` output ({kind: {method: (x, y)}}).
        elements: the elements to draw, in order (the paper's layout: six a figure).
        elements_per_row: elements side by side (two panels each for both kinds).
        kinds: which panels: 'displacement', 'fermi_shift' or both.
        visible: methods drawn (the others stay in the legend, hidden).
        title: figure title.
        panel_height: px per row of panels.
    """
    from components.grid import element_panel_grid, finish_grid

    if not elements:
        return empty_figure("Choose at least one element.", title=title)
    kinds = [k for k in kinds if k in PANEL_AXES] or ["displacement"]
    fig, per_row, n_rows = element_panel_grid(elements, [PANEL_NAMES[k] for k in kinds], elements_per_row)
    n_cols = per_row * len(kinds)
    methods: list[str] = []
    for el in elements:
        for kind in kinds:
            for method in (panels.get(el) or {}).get(kind, {}):
                if method not in methods:
                    methods.append(method)
    for i, el in enumerate(elements):
        row, first_col = i // per_row + 1, (i % per_row) * len(kinds) + 1
        for j, kind in enumerate(kinds):
            curves = (panels.get(el) or {}).get(kind) or {}
            col = first_col + j
            for method, (x, y) in curves.items():
                m = methods.index(method)
                fig.add_trace(go.Scatter(
                    x=list(x), y=list(y), mode="lines", name=method, legendgroup=method, showlegend=method not in _shown(fig),
                    line={"color": color(m), "width": 1.6},
                    visible=True if visible is None or method in visible else "legendonly",
                    hovertemplate=f"{el} · {method}<br>%{{x:.4g}}, %{{y:.5g}}<extra></extra>"), row=row, col=col)
            if not curves:
                fig.add_annotation(text="no curves", showarrow=False, font={"color": "#7f7f7f"},
                                   xref=f"x{_axis(row, col, n_cols)} domain", yref=f"y{_axis(row, col, n_cols)} domain", x=0.5, y=0.5)
            x_label, y_label = PANEL_AXES[kind]
            fig.update_xaxes(title_text=x_label if row == n_rows else None, row=row, col=col, title_standoff=4)
            fig.update_yaxes(title_text=y_label, row=row, col=col, title_standoff=2)
    return finish_grid(fig, title=title, n_rows=n_rows, panel_height=panel_height, legend_title="smearing: ",
                       meta={"kind": "curves_small_multiples", "elements": list(elements), "kinds": list(kinds), "methods": methods})


def _shown(fig: go.Figure) -> set[str]:
    return {t.name for t in fig.data if t.showlegend is not False}


def _axis(row: int, col: int, n_cols: int) -> str:
    index = (row - 1) * n_cols + col
    return "" if index == 1 else str(index)


def six_element_groups(elements: Sequence[str]) -> list[list[str]]:
    """``elements`` in groups of six, in order (the SI's figures)."""
    return [list(elements[i:i + SIX]) for i in range(0, len(elements), SIX)]
