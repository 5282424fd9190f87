"""analysis.electronic.descriptors: descriptor definitions on synthetic curves, correlation statistics."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analysis.electronic import descriptors as ds
from analysis.electronic import smearing as sm


def _synthetic_curves(slope: float, curvature: float, *, wiggle: float = 0.0, spread: float = 0.0) -> dict:
    """Curves shaped like analysis.electronic's, with a known displacement response."""
    delta = np.linspace(0.0, 0.12, 7)
    base = slope * delta + 0.5 * curvature * delta**2 + wiggle * np.sin(80 * delta)
    methods = {}
    for i, m in enumerate(sm.METHODS):
        e = 10.0 + base + spread * i / (len(sm.METHODS) - 1) * delta / delta[-1]
        methods[m] = {"e_band_ev": e, "entropy_term_ev": np.zeros(7), "fermi_level_ev": np.full(7, 5.0)}
    shifts = np.linspace(-0.5, 0.5, 41)
    g = 2.0  # constant DOS: N = N0 + g dE, E_sum = E0 + g (E_F dE + dE^2 / 2)
    fs = {m: {"eigenvalue_sum_ev": 10.0 + g * (5.0 * shifts + 0.5 * shifts**2), "n_electrons": 3.0 + g * shifts,
              "entropy_term_ev": np.zeros(41), "fermi_level_ev": 5.0} for m in sm.METHODS}
    return {"displacement": {"deltas_a": delta, "methods": methods},
            "fermi_shift": {"shifts_ev": shifts, "methods": fs}, "sigma_ev": 0.1, "mp_order": 1}


def test_displacement_descriptors_recover_known_fit():
    d = ds.descriptors_from_curves(_synthetic_curves(0.3, -4.0))
    assert d["disp_slope_ev_per_a"] == pytest.approx(0.3, abs=1e-10)
    assert d["disp_curvature_ev_per_a2"] == pytest.approx(-4.0, abs=1e-8)
    assert d["disp_roughness_mev"] == pytest.approx(0.0, abs=1e-9)
    assert d["method_spread_mev"] == pytest.approx(0.0, abs=1e-9)
    rough = ds.descriptors_from_curves(_synthetic_curves(0.3, -4.0, wiggle=1e-3, spread=2e-3))
    assert rough["disp_roughness_mev"] > 0.1
    assert rough["method_spread_mev"] == pytest.approx(2.0, abs=1e-9)
    assert set(d) == set(ds.DESCRIPTORS)
    assert math.isnan(d["dos_ef_tetra_states_per_ev"])  # no eigenvalues given


def test_fermi_shift_descriptors_for_constant_dos():
    d = ds.descriptors_from_curves(_synthetic_curves(0.0, 1.0))
    assert d["dos_ef_states_per_ev"] == pytest.approx(2.0, rel=1e-9)
    assert d["deband_dmu"] == pytest.approx(2.0 * 5.0, rel=1e-6)  # E_F g(E_F)
    assert d["fermi_shift_roughness_mev"] == pytest.approx(0.0, abs=1e-9)


def test_dos_and_deband_dmu_from_eigenvalues():
    rng = np.random.default_rng(0)
    eigs = np.sort(rng.uniform(-5, 5, size=(1, 400, 30)), axis=-1)
    w = rng.uniform(0.5, 1.0, 400)
    ef = sm.fermi_level(eigs, w, 30.0, method="gaussian", sigma_ev=0.1)
    dos = ds.dos_at_fermi(eigs, w, ef, sigma_ev=0.1)
    # equals dN/dmu of the Gaussian count, by finite differences
    h = 1e-4
    wn = 2 * w / w.sum()
    count = lambda mu: float((wn[None, :, None] * sm.distribution((eigs - mu) / 0.1, "gaussian")[0]).sum())
    assert dos == pytest.approx((count(ef + h) - count(ef - h)) / (2 * h), rel=1e-6)
    curve = sm.eigenvalue_sum_vs_fermi_shift(eigs, w, 30.0, [-h, h], "gaussian", 0.1)
    fd = (curve.eigenvalue_sum_ev[1] - curve.eigenvalue_sum_ev[0]) / (2 * h)
    assert ds.deband_dmu_exact(eigs, w, ef, sigma_ev=0.1) == pytest.approx(fd, rel=1e-6)
    # analytic case: one level at E_F, k-weight 1, two spins -> 2 / (sqrt(pi) sigma)
    assert ds.dos_at_fermi(np.zeros((1, 1, 1)), None, 0.0, sigma_ev=0.2) == pytest.approx(2 / (math.sqrt(math.pi) * 0.2))
    with pytest.raises(ValueError, match="sigma_ev"):
        ds.dos_at_fermi(eigs, w, ef, sigma_ev=0.0)


def _errors_table(x: pd.Series, y_by_model: dict[str, np.ndarray]) -> pd.DataFrame:
    rows = []
    for model, y in y_by_model.items():
        for el, v in zip(x.index, y):
            rows.append({"element": el, "model": model, "temperature": "all", "force_rmse_mev_per_a": v})
            rows.append({"element": el, "model": model, "temperature": "300", "force_rmse_mev_per_a": -999.0})
    return pd.DataFrame(rows)


def test_correlate_known_correlation():
    rng = np.random.default_rng(1)
    n = 43
    elements = [f"E{i}" for i in range(n)]
    x = pd.Series(rng.normal(size=n), index=elements)
    rho = 0.8
    correlated = rho * x.to_numpy() + math.sqrt(1 - rho**2) * rng.normal(size=n)
    independent = rng.normal(size=n)
    monotone = np.exp(3 * x.to_numpy())  # rank-perfect, not linear
    desc = pd.DataFrame({"d": x})
    desc.index.name = "element"
    table = ds.correlate(desc, _errors_table(x, {"a": correlated, "b": independent, "c": monotone}), n_boot=1000)
    assert list(table.columns) == ["descriptor", "model", "metric", "n", "pearson_r", "pearson_p", "pearson_ci_low",
                                   "pearson_ci_high", "spearman_r", "spearman_p", "spearman_ci_low", "spearman_ci_high"]
    a, b, c = (table[table.model == m].iloc[0] for m in "abc")
    assert a.n == n  # the '300' rows were filtered out
    assert a.pearson_r == pytest.approx(np.corrcoef(x, correlated)[0, 1])
    assert a.pearson_ci_low < rho < a.pearson_ci_high
    assert a.pearson_ci_low < a.pearson_r < a.pearson_ci_high
    assert a.pearson_p < 1e-6 and a.spearman_p < 1e-6
    assert b.pearson_p > 0.05 and b.pearson_ci_low < 0 < b.pearson_ci_high
    assert c.spearman_r == pytest.approx(1.0) and c.spearman_ci_low == pytest.approx(1.0)
    assert c.pearson_r < 0.95
    # seeded: identical on a rerun
    again = ds.correlate(desc, _errors_table(x, {"a": correlated, "b": independent, "c": monotone}), n_boot=1000)
    pd.testing.assert_frame_equal(table, again)


def test_correlate_too_few_elements_and_bad_input():
    desc = pd.DataFrame({"element": ["Al", "Cu", "Ni"], "d": [1.0, 2.0, 3.0]})
    err = pd.DataFrame({"element": ["Al", "Cu", "Ni"], "model": "m", "energy_rmse_mev_per_atom": [1.0, 2.0, 2.5]})
    out = ds.correlate(desc, err)
    assert len(out) == 1 and out.n.iloc[0] == 3 and np.isnan(out.pearson_r.iloc[0])
    with pytest.raises(ValueError, match="'element' and 'model'"):
        ds.correlate(desc, err.drop(columns="model"))
    with pytest.raises(ValueError, match="not found"):
        ds.correlate(desc, err, metrics=["nope"])


def test_compute_descriptors_on_shipped_curves():
    from analysis import electronic as el
    from analysis.core.config import default_data_dir

    if "Al" not in el.available_elements(default_data_dir()):
        pytest.skip("no shipped electronic curves")
    df = ds.compute_descriptors(["Al"], root=default_data_dir())
    assert list(df.columns) == list(ds.DESCRIPTORS)
    row = df.loc["Al"]
    assert np.all(np.isfinite(row.to_numpy()))
    # Al is a free-electron-like metal: about 0.4 states/eV/atom at E_F (2 atoms per cell)
    assert 0.4 < row.dos_ef_states_per_ev < 1.6
    assert 0.5 < row.dos_ef_tetra_states_per_ev < 1.2
    assert row.disp_curvature_ev_per_a2 < 0  # the band energy drops as the atom moves
