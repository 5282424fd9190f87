"""The one number format (components.numbers) and its use by tiles, hovers, legends, axes and the report."""
from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from components.distributions import error_histogram, model_scatter
from components.numbers import format_number
from components.ptable import ptable_heatmap
from components.report import _table_html

_PLAIN = re.compile(r"^-?\d+(\.\d+)?$")
_SCI = re.compile(r"^-?\d(\.\d+)?×10[⁻]?[⁰¹²³⁴⁵⁶⁷⁸⁹]+$")


def _values() -> np.ndarray:
    rng = np.random.default_rng(0)
    mags = 10.0 ** rng.uniform(-7, 8, 3000)
    signs = rng.choice([-1.0, 1.0], 3000)
    edge = [0.0, -0.0, 0.004, -0.004, -0.0049, 9.996, 99.95, 999.5, 1064.6, 1065.0, 0.06249, 1e-4, 9.9999e-5, 1364.0]
    return np.concatenate([mags * signs, edge, [-x for x in edge]])


@pytest.mark.parametrize("digits", [1, 2, 3, 4])
def test_format_is_plain_decimal_never_negative_zero_never_si(digits: int) -> None:
    for v in _values():
        text = format_number(v, digits=digits)
        assert _PLAIN.match(text) or _SCI.match(text), (v, text)
        assert not re.match(r"^-0(\.0*)?$", text), (v, text)
        assert "e" not in text and not re.search(r"[μmkMG]$", text), (v, text)
        if _PLAIN.match(text):
            back = float(text)
            # integer digits are kept, otherwise `digits` significant digits
            exponent = math.floor(math.log10(abs(v))) if v else 0
            tol = 0.5 * 10.0 ** max(exponent - digits + 1, 0 if abs(v) >= 1 else exponent - digits + 1) * (1 + 1e-9)
            assert abs(back - v) <= max(tol, 1e-12), (v, text)
            if abs(v) >= 10 ** (digits - 1):
                assert abs(back - v) <= 0.5 + 1e-9  # 1065 stays 1065, not 1060
        else:
            assert abs(v) < 1e-4 or abs(v) >= 1e15


@pytest.mark.parametrize(("value", "text"), [(1065.0, "1065"), (1064.6, "1065"), (20.64, "20.6"), (1364.2, "1364"), (-0.001, "-0.001"),
                                             (-0.00049, "-0.00049"), (0.0, "0"), (-0.0, "0"), (None, "n/a"), (float("nan"), "n/a"),
                                             (float("inf"), "n/a"), (3.1e-5, "3.1×10⁻⁵"), (2.5, "2.5"), (-2.5, "-2.5")])
def test_known_values(value: float, text: str) -> None:
    assert format_number(value) == text


def test_unit_and_bad_digits() -> None:
    assert format_number(20.64, unit="meV/Å") == "20.6 meV/Å"
    with pytest.raises(ValueError, match="digits=0"):
        format_number(1.0, digits=0)


def test_tile_and_hover_agree() -> None:
    fig = ptable_heatmap({"Os": 1064.6, "Cu": 20.64}, label="Force RMSE (meV/Å)")
    labels = next(t for t in fig.data if t.name == "symbols")
    values = next(t for t in fig.data if t.name == "values")
    hovers = [c[0] for row in values.customdata for c in row if c[0]]
    assert any("<b>Os</b><br>1065" == t for t in labels.text)
    assert any("<b>Cu</b><br>20.6" == t for t in labels.text)
    assert any("Force RMSE (meV/Å): 1065" in h for h in hovers)
    assert any("Force RMSE (meV/Å): 20.6" in h for h in hovers)
    assert values.colorbar.tickformat == "~r" and values.colorbar.exponentformat == "none"


def test_histogram_legend_and_axes_have_no_exponents_or_si_prefixes() -> None:
    errors = pd.DataFrame({"a": [1364.0, 1300.0, 1400.0], "b": [3e-5, 2e-5, 4e-5]}, index=["Os", "Ir", "Pt"])
    fig = error_histogram(errors, label="Force RMSE (meV/Å)")
    names = [t.name for t in fig.data]
    assert names[0] == "a (mean 1355 ± 50.6)"
    assert "e+" not in " ".join(names)
    assert fig.layout.xaxis.tickformat == "~r" and fig.layout.xaxis.exponentformat == "none"
    scatter = model_scatter(errors, "a", "b", label="Force RMSE (meV/Å)")
    assert scatter.layout.yaxis.exponentformat == "none"
    assert list(scatter.data[0].customdata[0]) == ["1364", "3×10⁻⁵"]


def test_report_tables_use_the_same_format() -> None:
    html = _table_html(pd.DataFrame({"model": ["m"], "shift": [-0.0001], "tiny": [-0.000001], "rmse": [1064.6], "nan": [float("nan")]}))
    assert "-0.00<" not in html and ">-0.0001<" in html and ">1065<" in html and ">n/a<" in html
    assert "-0<" not in html


def test_ptable_hover_gives_the_reason_of_an_na_value() -> None:
    values = pd.DataFrame({"value": [float("nan"), 5.0], "note": ["energy error n/a: fewer than 2 scored frames", ""]}, index=["Cs", "Cu"])
    fig = ptable_heatmap(values, label="Energy RMSE (meV/atom)")
    missing = next(t for t in fig.data if t.name == "no data")
    hovers = [c[0] for row in missing.customdata for c in row if c[0]]
    assert any(h.startswith("<b>Cs</b>") and "fewer than 2 scored frames" in h for h in hovers)


def test_single_value_colour_range_includes_the_value() -> None:
    fig = ptable_heatmap({"Hg": 309.0}, label="Force RMSE (meV/Å)")
    values = next(t for t in fig.data if t.name == "values")
    assert values.zmin < 309.0 < values.zmax
    assert (309.0 - values.zmin) == pytest.approx(values.zmax - 309.0)


def test_report_is_written_readable_by_others(tmp_path, monkeypatch) -> None:
    import os
    import stat

    import components.report as report

    monkeypatch.setattr(report, "build_report", lambda dataset=None: "<html></html>")
    old = os.umask(0o022)
    try:
        path = report.write_report(tmp_path / "report.html")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_correlation_table_names_are_readable() -> None:
    from components.distributions import CORRELATION_HEADERS, descriptor_name

    assert descriptor_name("disp_roughness_mev") == "Displacement roughness (meV)"
    assert descriptor_name("disp_stiffness_ev_per_a2") == "Displacement stiffness (eV/Å²)"
    assert descriptor_name("dos_ef_tetra_per_atom") == "DOS at E_F, tetrahedron (states/eV/atom)"
    assert all("_" not in h for h in CORRELATION_HEADERS.values())
