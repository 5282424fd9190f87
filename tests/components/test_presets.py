"""Export presets (issue 18): every figure type at every preset, laid out by kaleido, checked for
font sizes at the printed size, the legend below the plot and a title that fits.

The PNGs of one run are written to ``$MLFF_ATLAS_PRESET_PNGS`` when that is set (to look at them).
"""
from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from components.curves import curves_small_multiples, eigenvalue_sum_curve
from components.distributions import descriptor_scatter, error_histogram, model_scatter
from components.eos import eos_figure
from components.parity import parity_plot, parity_small_multiples
from components.presets import PRESETS, apply_preset, check_layout
from components.ptable import ptable_comparison, ptable_heatmap, ptable_heatmap_grid

ELEMENTS = ["Li", "Na", "Al", "Cu", "Ag", "Au", "Fe", "W", "Pt", "Os", "Hg", "Cs"]
RNG = np.random.default_rng(7)
VALUES = pd.DataFrame({"value": RNG.uniform(20, 1200, len(ELEMENTS)), "n_frames": 4}, index=ELEMENTS)
ERRORS = pd.DataFrame({m: RNG.uniform(20, 400, len(ELEMENTS)) for m in ("chgnet-0.3.0", "sevennet-0", "mace-mp-0-medium")}, index=ELEMENTS)


def _series(model: str, n: int) -> SimpleNamespace:
    ref = RNG.normal(size=n)
    return SimpleNamespace(model=model, reference=ref, predicted=ref + RNG.normal(0, 0.1, n), n_total=n, temperature=np.full(n, 300.0))


def _curves() -> dict:
    x = [0.0, 0.04, 0.08, 0.12]
    return {m: (x, [0, -0.01 * (i + 1), -0.04 * (i + 1), -0.09 * (i + 1)]) for i, m in
            enumerate(("gaussian", "fermi-dirac", "methfessel-paxton", "marzari-vanderbilt", "tetrahedron"))}


FIGURES = {
    "ptable_heatmap": lambda: ptable_heatmap(VALUES, label="Force RMSE (meV/Å)", title="Force RMSE · all temperatures · metal43-gpaw"),
    "ptable_split": lambda: ptable_heatmap({"a": VALUES, "b": VALUES * 1.1}, label="Force RMSE (meV/Å)", title="Force RMSE, two models"),
    "ptable_heatmap_grid": lambda: ptable_heatmap_grid({m: VALUES * (i + 1) for i, m in enumerate(("m1", "m2", "m3"))},
                                                       label="Force RMSE (meV/Å)", title="Force RMSE of every model"),
    "ptable_comparison": lambda: ptable_comparison(VALUES, VALUES * 1.2, VALUES * 0.2, names=("300 K", "1.2 Tc"),
                                                   label="Force RMSE (meV/Å)", title="chgnet-0.3.0: Force RMSE"),
    "error_histogram": lambda: error_histogram(ERRORS, label="Force RMSE (meV/Å)", title="Per-element force RMSE · metal43-gpaw"),
    "model_scatter": lambda: model_scatter(ERRORS, "chgnet-0.3.0", "sevennet-0", label="Force RMSE (meV/Å)"),
    "descriptor_scatter": lambda: descriptor_scatter(pd.Series(RNG.uniform(1, 9, len(ELEMENTS)), index=ELEMENTS), ERRORS,
                                                     descriptor_label="stiffness (eV/Å²)", error_label="Force RMSE (meV/Å)"),
    "parity_plot": lambda: parity_plot([_series("chgnet-0.3.0", 200), _series("sevennet-0", 200)], quantity="force",
                                       title="Cu: force parity"),
    "eigenvalue_sum_curve": lambda: eigenvalue_sum_curve(_curves(), x_label="Displacement δ (Å)", y_label="ΔE_band (eV/cell)",
                                                         title="Cu: eigenvalue sum against displacement"),
    "eos": lambda: eos_figure({"V0_A3_per_atom": 11.9, "B0_GPa": 140.0, "Bprime": 4.8, "E0_eV_per_atom": -3.7,
                               "volumes_A3_per_atom": list(np.linspace(10.9, 12.9, 7)),
                               "energies_eV_per_atom": list(-3.7 + 0.02 * (np.linspace(10.9, 12.9, 7) - 11.9) ** 2)}, symbol="Cu"),
    "curves_small_multiples": lambda: curves_small_multiples({e: {"displacement": _curves(), "fermi_shift": _curves()} for e in ELEMENTS[:6]},
                                                             ELEMENTS[:6], title="Eigenvalue-sum curves: Li, Na, Al, Cu, Ag, Au"),
    "parity_small_multiples": lambda: parity_small_multiples(
        {e: {"energy": [_series("a", 4), _series("b", 4)], "force": [_series("a", 40), _series("b", 40)]} for e in ELEMENTS[:4]},
        ELEMENTS[:4], title="Parity 1: Li, Na, Al, Cu"),
}


@pytest.mark.parametrize("preset", list(PRESETS))
@pytest.mark.parametrize("kind", list(FIGURES))
def test_every_figure_type_at_every_preset_lays_out_cleanly(kind: str, preset: str) -> None:
    fig = apply_preset(FIGURES[kind](), preset)
    full = fig.full_figure_for_development(warn=False)  # kaleido lays it out (the Debian Chromium)
    assert check_layout(full, preset) == [], kind
    layout = full.layout
    p = PRESETS[preset]
    assert layout.width == p.width_px and layout.font.size >= p.min_font_px
    assert all(a.font.size >= p.min_font_px for a in layout.annotations if a.font and a.font.size)
    if layout.showlegend and len([t for t in full.data if t.showlegend is not False and t.name]) > 1:
        assert layout.legend.orientation == "h" and layout.legend.yref == "container"
        assert layout.legend.y * layout.height <= layout.margin.b  # the legend sits inside the bottom margin, under the axes
    if kind.startswith("ptable"):
        used = {t.coloraxis for t in full.data if getattr(t, "coloraxis", None)}
        bars = [layout[k].colorbar for k in sorted(used)] + [t.colorbar for t in full.data
                                                                                  if t.type == "heatmap" and t.showscale and not t.coloraxis]
        assert bars and all(bar.orientation == "h" and bar.y <= 0 for bar in bars)  # below the table, which keeps the width
    out = os.environ.get("MLFF_ATLAS_PRESET_PNGS")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        fig.write_image(Path(out) / f"{kind}_{preset}.png", scale=2)


def test_presets_refuse_unknown_names_and_keep_the_original() -> None:
    original = FIGURES["error_histogram"]()
    before = original.to_json()
    apply_preset(original, "single")
    assert original.to_json() == before
    with pytest.raises(ValueError, match="preset='A4'"):
        apply_preset(original, "A4")
    assert apply_preset(original, "single", font_pt=5).layout.font.size == pytest.approx(7 * 96 / 72)  # never below the minimum
