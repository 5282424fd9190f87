"""Figure builders: called directly, asserting on fig.data / fig.layout."""
from __future__ import annotations

import base64
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from scipy.stats import spearmanr

from components.curves import eigenvalue_sum_curve
from components.distributions import descriptor_scatter, error_histogram, model_scatter
from components.parity import WEBGL_THRESHOLD, parity_plot
from components.ptable import ptable_heatmap, ptable_heatmap_grid, symbol_at, symbol_from_click, tile_number
from components.theme import OKABE_ITO, empty_figure, graph_config, safe_filename

VALUES = pd.DataFrame(
    {"value": [12.0, 40.0, 95.0], "n_frames": [4, 8, 2], "temperatures": ["300, 933", "1630", "2138"]},
    index=["Al", "Cu", "Ni"],
)


def _trace(fig: go.Figure, name: str) -> go.BaseTraceType:
    return next(t for t in fig.data if t.name == name)


# --------------------------------------------------------------------------- periodic table
def test_ptable_heatmap_places_values_on_their_tiles() -> None:
    fig = ptable_heatmap(VALUES, label="Force RMSE (meV/Å)")
    data = _trace(fig, "values")
    z = np.asarray(data.z, dtype=float)
    assert z[2, 12] == 12.0  # Al: period 3, group 13
    assert z[3, 10] == 40.0  # Cu: period 4, group 11
    assert np.isfinite(z).sum() == 3
    assert data.colorbar.title.text == "Force RMSE (meV/Å)"
    assert (data.zmin, data.zmax) == (12.0, 95.0)


def test_ptable_heatmap_greys_elements_without_data_and_keeps_hover() -> None:
    fig = ptable_heatmap(VALUES, label="x (meV)")
    missing = _trace(fig, "no data")
    z_missing = np.asarray(missing.z, dtype=float)
    assert z_missing[3, 7] == 0.0  # Fe is drawn (grey) although it has no value
    assert "no data" in missing.customdata[3][7][0]
    hover = _trace(fig, "values").customdata[3][10][0]
    assert "40" in hover and "frames: 8" in hover and "1630" in hover
    labels = _trace(fig, "symbols")
    assert "<b>Cu</b><br>40" in list(labels.text)
    noted = ptable_heatmap(VALUES, label="x (meV)", missing_notes={"Fe": "not labelled yet"})
    assert _trace(noted, "no data").customdata[3][7][0].endswith("<br>not labelled yet")  # Fe says why it is grey
    assert _trace(noted, "no data").customdata[3][8][0].endswith("<br>no data")  # Co has no note
    grid = ptable_heatmap_grid({"a": VALUES, "b": VALUES}, label="x", missing_notes={"Fe": "pending"})
    assert sum("pending" in str(c[0]) for t in grid.data if t.name == "no data" for row in t.customdata for c in row) == 2


def test_ptable_heatmap_log_scale_uses_log10_with_real_tick_labels() -> None:
    fig = ptable_heatmap(VALUES, label="x", log=True)
    data = _trace(fig, "values")
    assert math.isclose(np.nanmax(np.asarray(data.z, dtype=float)), math.log10(95.0))
    assert [str(t) for t in data.colorbar.ticktext] == ["20", "50"]  # 1-2-5 ticks inside 12..95


def test_ptable_heatmap_fixed_colour_maximum() -> None:
    data = _trace(ptable_heatmap(VALUES, label="x", cmax=200.0), "values")
    assert data.zmax == 200.0


def test_ptable_heatmap_split_tiles_for_models() -> None:
    fig = ptable_heatmap({"a": VALUES, "b": VALUES * 2, "c": VALUES, "d": VALUES}, label="x")
    z = np.asarray(_trace(fig, "values").z, dtype=float)
    assert z.shape[1] == 36  # 2x2 sub-tiles per element
    assert z[4, 24] == 12.0 and z[4, 25] == 24.0  # Al (row 3, group 13): top-left a, top-right b
    assert z[5, 24] == 12.0 and z[5, 25] == 12.0  # bottom-left c, bottom-right d
    assert fig.layout.meta["models"] == ["a", "b", "c", "d"]
    assert len(fig.layout.shapes) == 86 - 15  # one outline per tile: H-Rn without La-Lu


def test_ptable_heatmap_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="at most 4 models"):
        ptable_heatmap({m: VALUES for m in "abcde"}, label="x")
    with pytest.raises(ValueError, match="unknown element symbol 'Xx'"):
        ptable_heatmap({"Xx": 1.0}, label="x")
    with pytest.raises(ValueError, match="positive limits"):
        ptable_heatmap(VALUES, label="x", log=True, cmin=-1.0)


def test_ptable_heatmap_without_values_is_an_empty_figure_with_message() -> None:
    fig = ptable_heatmap({"Fe": float("nan")}, label="x")
    assert fig.layout.meta["empty"] is True
    assert "No per-element values" in fig.layout.annotations[0].text


def test_ptable_heatmap_grid_shares_one_colour_axis() -> None:
    fig = ptable_heatmap_grid({"a": VALUES, "b": VALUES * 3, "c": VALUES, "d": VALUES}, label="Energy RMSE (meV/atom)")
    values = [t for t in fig.data if t.name == "values"]
    assert len(values) == 4 and all(t.coloraxis == "coloraxis" for t in values)
    assert fig.layout.coloraxis.cmax == 285.0 and fig.layout.coloraxis.cmin == 12.0
    assert [a.text for a in fig.layout.annotations][:4] == ["a", "b", "c", "d"]
    with pytest.raises(ValueError, match="cols=0"):
        ptable_heatmap_grid({"a": VALUES}, label="x", cols=0)


@pytest.mark.parametrize("symbol", ["H", "Cu", "Hg", "La", "U", "Og"])
def test_symbol_at_inverts_ptable_position(symbol: str) -> None:
    from analysis.core.elements import ptable_position

    assert symbol_at(*ptable_position(symbol)) == symbol


def test_symbol_from_click_uses_tile_coordinates() -> None:
    # clickData of a split-tile heat map: sub-tile centres sit a quarter tile off the integers
    assert symbol_from_click({"points": [{"x": 10.75, "y": 4.25, "curveNumber": 1}]}) == "Cu"
    assert symbol_from_click({"points": [{"x": 5, "y": 1}]}) is None  # empty cell
    assert symbol_from_click(None) is None


# --------------------------------------------------------------------------- distributions
ERRORS = pd.DataFrame(
    {"m1": [1.0, 2.0, 3.0, 4.0, 10.0], "m2": [2.0, 3.0, 5.0, 4.5, 30.0], "m3": [5.0, 4.0, 3.0, 2.0, np.nan]},
    index=["Al", "Cu", "Ni", "Ag", "Au"],
)


@pytest.mark.parametrize("mode", ["overlay", "side"])
def test_error_histogram_marks_mean_and_std(mode: str) -> None:
    fig = error_histogram(ERRORS, label="Force RMSE (meV/Å)", mode=mode)
    hist = [t for t in fig.data if isinstance(t, go.Histogram)]
    assert len(hist) == 3
    stats = fig.layout.meta["stats"]
    assert math.isclose(stats["m1"]["mean"], 4.0)
    assert math.isclose(stats["m1"]["std"], float(np.std([1, 2, 3, 4, 10], ddof=1)))
    assert math.isclose(stats["m3"]["mean"], 3.5)  # NaN dropped
    assert sum(1 for s in fig.layout.shapes if s.type == "line") == 3  # one dashed mean line per model
    assert any("Force RMSE (meV/Å)" == ax.title.text for ax in fig.select_xaxes())


def test_error_histogram_log_x_bins_log10_and_labels_real_values() -> None:
    fig = error_histogram(ERRORS, label="Force RMSE (meV/Å)", log_x=True)
    hist = [t for t in fig.data if isinstance(t, go.Histogram)]
    np.testing.assert_allclose(hist[0].x, np.log10([1.0, 2.0, 3.0, 4.0, 10.0]))
    assert fig.layout.meta["log_x"] is True and math.isclose(fig.layout.meta["stats"]["m1"]["mean"], 4.0)
    assert "10" in list(fig.layout.xaxis.ticktext) and fig.layout.xaxis.title.text.endswith("(log scale)")
    mean_line = next(sh for sh in fig.layout.shapes if sh.type == "line")
    assert math.isclose(mean_line.x0, math.log10(4.0))


def test_error_histogram_bad_mode_and_empty() -> None:
    with pytest.raises(ValueError, match="mode='stacked'"):
        error_histogram(ERRORS, label="x", mode="stacked")  # type: ignore[arg-type]
    assert error_histogram(pd.DataFrame(), label="x").layout.meta["empty"] is True


def test_model_scatter_reports_spearman_rho() -> None:
    fig = model_scatter(ERRORS, "m1", "m2", label="Force RMSE (meV/Å)")
    expected = spearmanr(ERRORS["m1"], ERRORS["m2"]).statistic
    assert math.isclose(fig.layout.meta["spearman_rho"], expected)
    assert f"{expected:.2f}" in fig.layout.title.text
    assert fig.layout.xaxis.type == "log" and fig.layout.xaxis.title.text == "m1: Force RMSE (meV/Å)"
    anti = model_scatter(ERRORS, "m1", "m3", label="x")
    assert math.isclose(anti.layout.meta["spearman_rho"], -1.0) and anti.layout.meta["n"] == 4


def test_model_scatter_unknown_model() -> None:
    with pytest.raises(ValueError, match="model 'zz' not in the table"):
        model_scatter(ERRORS, "m1", "zz", label="x")


def test_descriptor_scatter_one_trace_per_model_with_rho() -> None:
    descriptor = pd.Series([0.1, 0.2, 0.3, 0.4, 0.5], index=["Al", "Cu", "Ni", "Ag", "Au"])
    fig = descriptor_scatter(descriptor, ERRORS, descriptor_label="g(E_F) (states/eV)", error_label="Force RMSE (meV/Å)")
    assert [t.name.split(" ")[0] for t in fig.data] == ["m1", "m2", "m3"]
    assert fig.layout.meta["spearman"]["m1"] == pytest.approx(1.0)
    assert fig.layout.meta["spearman"]["m3"] == pytest.approx(-1.0)  # Au has no m3 error: 4 elements
    assert fig.layout.yaxis.type == "log" and fig.layout.xaxis.title.text == "g(E_F) (states/eV)"
    empty = descriptor_scatter(pd.Series(dtype=float), ERRORS, descriptor_label="x", error_label="y")
    assert empty.layout.meta["empty"] is True


# --------------------------------------------------------------------------- parity and curves
@dataclass
class _Series:
    model: str
    reference: np.ndarray
    predicted: np.ndarray
    n_total: int


def test_parity_plot_rmse_in_legend_and_units() -> None:
    rng = np.random.default_rng(0)
    ref = rng.normal(size=100)
    fig = parity_plot([_Series("m", ref, ref + 0.01, 400)], quantity="force")
    trace = fig.data[0]
    assert isinstance(trace, go.Scatter)
    assert "RMSE 10 meV/Å" in trace.name and "100 of 400 shown" in trace.name
    assert fig.layout.xaxis.title.text == "Reference force component (eV/Å)"
    assert fig.data[-1].name == "y = x"


def test_parity_plot_switches_to_webgl_for_many_points() -> None:
    ref = np.linspace(-1, 1, WEBGL_THRESHOLD + 1)
    fig = parity_plot([_Series("m", ref, ref, len(ref))], quantity="energy")
    assert isinstance(fig.data[0], go.Scattergl)
    assert fig.layout.yaxis.title.text == "Predicted energy (eV/atom)"
    with pytest.raises(ValueError, match="quantity='stress'"):
        parity_plot([], quantity="stress")  # type: ignore[arg-type]
    assert parity_plot([], quantity="energy").layout.meta["empty"] is True


def test_curves_from_electronic_reads_the_real_curve_format(tmp_path) -> None:
    from analysis.electronic.protocols import load_curves
    from components.curves import curves_from_electronic
    from tests.conftest import write_tight_binding_curves

    write_tight_binding_curves(tmp_path, "Cu")
    raw = load_curves("Cu", root=tmp_path)
    panels = curves_from_electronic(raw)
    assert set(panels) == {"displacement", "fermi_shift"}
    x, y = panels["displacement"]["gaussian"]
    assert x == list(raw["displacement"]["deltas_a"]) and y[0] == 0.0  # change from delta = 0
    assert y[-1] == pytest.approx(raw["displacement"]["methods"]["gaussian"]["e_band_ev"][-1] - raw["displacement"]["methods"]["gaussian"]["e_band_ev"][0])
    x_f, y_f = panels["fermi_shift"]["tetrahedron"]
    assert len(x_f) == len(y_f) == 41
    assert curves_from_electronic(None) == {} and curves_from_electronic({"displacement": {}}) == {}


def test_eigenvalue_sum_curve_hides_unticked_methods_with_stable_colours() -> None:
    curves = {"gaussian": ([0, 1], [0.0, 1.0]), "fermi-dirac": ([0, 1], [0.0, 2.0]), "tetrahedron": ([0, 1], [1.0, 1.0])}
    fig = eigenvalue_sum_curve(curves, x_label="δ (Å)", y_label="E (eV)", visible=["fermi-dirac"])
    assert [t.visible for t in fig.data] == ["legendonly", True, "legendonly"]
    assert fig.data[1].line.color == OKABE_ITO[1]
    assert fig.layout.xaxis.title.text == "δ (Å)"
    with pytest.raises(ValueError, match="curve 'bad'"):
        eigenvalue_sum_curve({"bad": ([0, 1, 2], [0, 1])}, x_label="x", y_label="y")
    assert eigenvalue_sum_curve({}, x_label="x", y_label="y").layout.meta["empty"] is True


# --------------------------------------------------------------------------- theme
def test_graph_config_export_options() -> None:
    config = graph_config("error map/Cu 300K", fmt="svg", size="single")
    opts = config["toImageButtonOptions"]
    assert opts["filename"] == "error_map_Cu_300K" and opts["format"] == "svg" and opts["width"] == 321
    with pytest.raises(ValueError, match="size='poster'"):
        graph_config("x", size="poster")
    assert safe_filename("../..") == "figure"


def test_empty_figure_shows_message() -> None:
    fig = empty_figure("nothing here")
    assert fig.layout.annotations[0].text == "nothing here"


# --------------------------------------------------------------------------- export
def test_styled_for_export_sets_size_and_font_without_touching_original() -> None:
    from components.export import styled_for_export

    fig = ptable_heatmap(VALUES, label="x")
    out = styled_for_export(fig, size="single", font_size=9)
    assert out.layout.width == 321 and out.layout.font.size == pytest.approx(9 * 96 / 72)  # 9 pt at the printed size
    assert fig.layout.width is None
    with pytest.raises(ValueError, match="size='A4'"):
        styled_for_export(fig, size="A4", font_size=9)
    with pytest.raises(ValueError, match="font_size=0"):
        styled_for_export(fig, size="single", font_size=0)


def test_export_download_renders_pdf_with_selection_in_name() -> None:
    """Real kaleido rendering through the Debian Chromium (a few seconds)."""
    from components.export import export_download

    fig = parity_plot([_Series("m", np.arange(3.0), np.arange(3.0), 3)], quantity="energy")
    config = graph_config("Cu_test-emt_energy-parity")
    out = export_download("g", {"g": (fig.to_dict(), config)}, fmt="pdf", size="double", font_size=10, fallback="x")
    assert out["filename"] == "Cu_test-emt_energy-parity_double.pdf"
    assert base64.b64decode(out["content"])[:5] == b"%PDF-"
    with pytest.raises(ValueError, match="unknown figure 'h'"):
        export_download("h", {"g": (fig, config)}, fmt="pdf", size="double", font_size=10, fallback="x")


def test_eos_figure_fit_passes_through_the_shipped_gpaw_points():
    """On the real Cu fit shipped in analysis/data/eos.json: the curve is ASE's Birch-Murnaghan."""
    import json
    from pathlib import Path

    from ase.eos import birchmurnaghan

    from analysis.reference.eos import GPA_PER_EV_PER_A3, birch_murnaghan
    from components.eos import eos_figure

    entries = json.loads((Path(__file__).resolve().parents[2] / "analysis" / "data" / "eos.json").read_text())["entries"]
    entry = next(e for k, e in entries.items() if k.endswith("/Cu"))
    v = np.asarray(entry["volumes_A3_per_atom"])
    e = np.asarray(entry["energies_eV_per_atom"])
    fit = birch_murnaghan(v, entry["E0_eV_per_atom"], entry["V0_A3_per_atom"], entry["B0_GPa"], entry["Bprime"])
    ase = birchmurnaghan(v, entry["E0_eV_per_atom"], entry["B0_GPa"] / GPA_PER_EV_PER_A3, entry["Bprime"], entry["V0_A3_per_atom"])
    np.testing.assert_allclose(fit, ase, rtol=0, atol=1e-12)
    assert np.max(np.abs(fit - e)) < 2e-3  # the fit runs through the 7 GPAW energies within 2 meV/atom
    fig = eos_figure(entry, symbol="Cu")
    assert isinstance(fig, go.Figure) and fig.layout.meta["kind"] == "eos" and fig.layout.meta["n_points"] == 7
    curve = fig.data[0]
    assert min(curve.y) == pytest.approx(0.0, abs=0.05)  # the minimum of E - E0 is 0 at V0
    assert curve.x[int(np.argmin(curve.y))] == pytest.approx(entry["V0_A3_per_atom"], rel=0.01)
    assert eos_figure(None, symbol="Cu").layout.meta["empty"] is True
    assert eos_figure({"V0_A3_per_atom": 1.0}, symbol="Cu").layout.meta["empty"] is True


def test_ptable_hover_counts_frames_the_model_did_not_score() -> None:
    values = VALUES.assign(n_frames_unscored=[0, 3, 0])
    fig = ptable_heatmap(values, label="x (meV)")
    assert "frames: 8 (3 not scored by this model)" in _trace(fig, "values").customdata[3][10][0]
    assert "not scored" not in _trace(fig, "values").customdata[2][12][0]


@pytest.mark.parametrize(("value", "text"), [(1364.0, "1364"), (999.6, "1000"), (71.54, "71.5"), (0.06249, "0.0625"), (40.0, "40"), (9.996, "10"),
                                             (12345.0, "12345"), (123456.0, "123456"), (0.0, "0"), (float("nan"), "n/a")])
def test_tile_numbers_are_written_out_not_in_exponent_form(value: float, text: str) -> None:
    assert tile_number(value) == text


def test_ptable_tile_text_shows_a_large_error_in_full() -> None:
    fig = ptable_heatmap({"Os": 1364.2, "Cu": 40.0}, label="Force RMSE (meV/Å)")
    texts = [t for trace in fig.data for t in (trace.text or []) if isinstance(t, str)]
    texts += [a.text for a in fig.layout.annotations or []]
    assert any("<b>Os</b><br>1364" in t for t in texts), texts


def test_error_histogram_bins_list_their_elements_and_overlaid_bars_keep_their_outline() -> None:
    fig = error_histogram(ERRORS, label="Force RMSE (meV/Å)")
    hover = [t for t in fig.data if isinstance(t, go.Bar) and t.legendgroup == "m1"][0]
    listed = {e for _, members in hover.customdata for e in members.split(", ")}
    assert listed == {"Al", "Cu", "Ni", "Ag", "Au"} and sum(hover.y) == 5
    assert hover.marker.opacity == 0.0 and hover.showlegend is False  # hover only: the histogram draws the bars
    hist = [t for t in fig.data if isinstance(t, go.Histogram)]
    assert all(h.marker.line.width == 2 and h.marker.color.endswith(",0.15)") for h in hist)


def test_the_two_column_grid_prints_values_in_its_tiles() -> None:
    grid = ptable_heatmap_grid({"a": VALUES, "b": VALUES}, label="x")
    texts = [str(t) for trace in grid.data if getattr(trace, "mode", None) == "text" for t in (trace.text or [])]
    assert any("<br>" in t for t in texts)  # symbol and value
    wide = ptable_heatmap_grid({"a": VALUES, "b": VALUES, "c": VALUES}, label="x", cols=3)
    assert not any("<br>" in str(t) for trace in wide.data if getattr(trace, "mode", None) == "text" for t in (trace.text or []))
