"""Energy-volume figure of an element's PBE equation-of-state fit."""
from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go

from analysis.reference.eos import eos_curve
from components.theme import apply_theme, color, empty_figure


def eos_figure(entry: dict[str, Any] | None, *, symbol: str = "") -> go.Figure:
    """Computed E(V) points, the fitted Birch-Murnaghan curve and V0 (energies relative to E0, meV/atom)."""
    title = f"{symbol}: energy-volume fit (PBE, GPAW)".strip(": ")
    needed = ("V0_A3_per_atom", "E0_eV_per_atom", "B0_GPa", "Bprime")
    if not entry or any(not isinstance(entry.get(k), (int, float)) or not np.isfinite(entry[k]) for k in needed):
        return empty_figure("No equation-of-state fit for this element.", title=title)
    e0 = float(entry["E0_eV_per_atom"])
    fig = go.Figure()
    grid, energy = eos_curve(entry)
    fig.add_trace(go.Scatter(x=grid, y=1e3 * (energy - e0), mode="lines", name="Birch-Murnaghan fit",
                             line={"color": color(0), "width": 2},
                             hovertemplate="V %{x:.3f} Å³/atom<br>E − E0 %{y:.2f} meV/atom<extra>fit</extra>"))
    volumes, energies = entry.get("volumes_A3_per_atom") or [], entry.get("energies_eV_per_atom") or []
    if len(volumes) == len(energies) and volumes:
        fig.add_trace(go.Scatter(x=volumes, y=1e3 * (np.asarray(energies) - e0), mode="markers", name="GPAW single points",
                                 marker={"color": color(1), "size": 8},
                                 hovertemplate="V %{x:.3f} Å³/atom<br>E − E0 %{y:.2f} meV/atom<extra>DFT</extra>"))
    v0 = float(entry["V0_A3_per_atom"])
    fig.add_vline(x=v0, line={"color": "#888", "dash": "dot"},
                  annotation_text=f"V0 = {v0:.3f} Å³, B0 = {entry['B0_GPa']:.3g} GPa, B′ = {entry['Bprime']:.3g}",
                  annotation_position="top")
    apply_theme(fig)
    fig.update_xaxes(title_text="Volume (Å³/atom)")
    fig.update_yaxes(title_text="E − E0 (meV/atom)")
    fig.update_layout(title=title, height=360, legend={"orientation": "h", "y": -0.25},
                      meta={"kind": "eos", "V0": v0, "n_points": len(volumes)})
    return fig
