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
    total = -3.0 - slope * delta - 0.5 * curvature * delta**2  # the stiffness opposes the band-energy curvature
    return {"displacement": {"deltas_a": delta, "methods": methods, "total_energy_ev": total},
            "fermi_shift": {"shifts_ev": shifts, "methods": fs}, "sigma_ev": 0.1, "mp_order": 1, "n_atoms": 2}


def test_displacement_descriptors_recover_known_fit():
    d = ds.descriptors_from_curves(_synthetic_curves(0.3, -4.0))
    assert d["disp_slope_ev_per_a"] == pytest.approx(-0.3, abs=1e-10)  # from the total energy
    assert d["disp_stiffness_ev_per_a2"] == pytest.approx(4.0, abs=1e-8)  # total energy: positive at a stable site
    assert d["band_curvature_ev_per_a2"] == pytest.approx(-4.0, abs=1e-8)
    assert d["disp_roughness_mev"] == pytest.approx(0.0, abs=1e-9)
    assert d["method_spread_mev"] == pytest.approx(0.0, abs=1e-9)
    rough = ds.descriptors_from_curves(_synthetic_curves(0.3, -4.0, wiggle=1e-3, spread=2e-3))
    assert rough["disp_roughness_mev"] > 0.1
    assert rough["method_spread_mev"] == pytest.approx(2.0, abs=1e-9)
    assert set(d) == set(ds.DESCRIPTORS)
    assert math.isnan(d["dos_ef_tetra_per_atom"])  # no eigenvalues given


def test_fermi_shift_descriptors_for_constant_dos():
    d = ds.descriptors_from_curves(_synthetic_curves(0.0, 1.0))
    assert d["dos_ef_gauss_per_atom"] == pytest.approx(2.0 / 2, rel=1e-9)  # 2 states/eV per 2-atom cell
    # a flat DOS is symmetric about E_F: the band sum measured from E_F has no linear term
    assert d["dband_dmu_per_atom"] == pytest.approx(0.0, abs=1e-9)
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

    def count(mu: float) -> float:
        return float((wn[None, :, None] * sm.distribution((eigs - mu) / 0.1, "gaussian")[0]).sum())

    assert dos == pytest.approx((count(ef + h) - count(ef - h)) / (2 * h), rel=1e-6)
    curve = sm.eigenvalue_sum_vs_fermi_shift(eigs, w, 30.0, [-h, h], "gaussian", 0.1)
    band_sum = curve.eigenvalue_sum_ev - ef * curve.n_electrons  # measured from E_F
    fd = (band_sum[1] - band_sum[0]) / (2 * h)
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
                                   "pearson_ci_high", "spearman_r", "spearman_p", "spearman_ci_low", "spearman_ci_high",
                                   "pearson_p_holm", "pearson_p_bh", "spearman_p_holm", "spearman_p_bh"]
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
    from analysis.core.config import default_data_dir
    from analysis.electronic import protocols as el

    if "Al" not in el.available_elements(default_data_dir()):
        pytest.skip("no shipped electronic curves")
    df = ds.compute_descriptors(["Al"], root=default_data_dir())
    assert list(df.columns) == list(ds.DESCRIPTORS)
    row = df.loc["Al"]
    assert np.all(np.isfinite(row.to_numpy()))
    # Al is a free-electron-like metal: about 0.4 states/eV/atom at E_F
    assert 0.2 < row.dos_ef_gauss_per_atom < 0.8
    assert 0.25 < row.dos_ef_tetra_per_atom < 0.6
    assert row.band_curvature_ev_per_a2 < 0  # the band energy drops as the atom moves
    assert row.disp_stiffness_ev_per_a2 > 0  # while the total energy rises: a stable site


# ---------------------------------------------------------------------------- invariances


def _spectrum_curves(shift_ev: float = 0.0, copies: int = 1) -> dict:
    """Curves of the real protocol code on a synthetic metal: a random spectrum on a 4x4x4 mesh whose
    bands move with the displacement; ``shift_ev`` moves every eigenvalue (an arbitrary energy zero),
    ``copies`` repeats every band and electron (a cell doubled along one axis, folded at Gamma)."""
    from analysis.electronic.eigenvalues import Eigenvalues
    from analysis.electronic.protocols import curves_from_eigenvalues

    rng = np.random.default_rng(3)
    mesh = (4, 4, 4)
    base = np.sort(rng.uniform(-6.0, 6.0, size=(1, 64, 12)), axis=-1)
    resp = rng.normal(0.0, 2.0, size=base.shape)
    steps = []
    for delta in (0.0, 0.02, 0.04, 0.06, 0.08, 0.1, 0.12):
        eigs = np.concatenate([base + resp * delta**2] * copies, axis=-1) + shift_ev
        ev = Eigenvalues(eigs=eigs, weights=np.full(64, 1 / 64), n_electrons=11.0 * copies, efermi=None, source="synthetic",
                         mesh=mesh, bz_to_ibz=np.arange(64), reciprocal_cell=np.eye(3) / 3.0)
        steps.append((delta, ev, {"energy_ev": copies * (-4.0 + 3.0 * delta**2), "n_atoms": 2 * copies}))
    settings = {"analysis_sigma_ev": 0.1, "mp_order": 1, "fermi_shifts_ev": list(np.linspace(-0.5, 0.5, 21))}
    return curves_from_eigenvalues(steps, settings), steps[0][1]


@pytest.mark.parametrize("shift_ev", [5.0, -3.7, 15.0])
def test_every_descriptor_is_invariant_under_a_constant_shift_of_the_spectrum(shift_ev: float) -> None:
    """GPAW's energy zero is arbitrary (E_F from 0.06 eV for Na to 15.7 eV for Os): no descriptor may move with it."""
    ref = _desc(_spectrum_curves())
    moved = _desc(_spectrum_curves(shift_ev))
    for name in ds.DESCRIPTORS:
        assert moved[name] == pytest.approx(ref[name], rel=1e-6, abs=1e-7), name


def test_spectral_descriptors_are_per_atom_in_a_doubled_cell() -> None:
    """A doubled cell (every band and electron twice, twice the atoms) gives the same per-atom
    spectral descriptors; the displacement descriptors are per displaced atom and are not compared
    (the synthetic doubling displaces both copies)."""
    ref = _desc(_spectrum_curves())
    doubled = _desc(_spectrum_curves(copies=2))
    for name in ("dos_ef_tetra_per_atom", "dos_ef_gauss_per_atom", "dband_dmu_per_atom", "fermi_shift_roughness_mev"):
        assert doubled[name] == pytest.approx(ref[name], rel=1e-6, abs=1e-9), name


def test_the_old_eigenvalue_sum_derivative_was_gauge_dependent() -> None:
    """The defect this guards against: d(sum e f)/dmu = E_F g(E_F) + (the invariant part) moves with the zero."""
    (_c0, ev0), (_c5, ev5) = _spectrum_curves(), _spectrum_curves(5.0)
    ef0 = sm.fermi_level(ev0.eigs, ev0.weights, ev0.n_electrons, method="gaussian", sigma_ev=0.1)
    ef5 = sm.fermi_level(ev5.eigs, ev5.weights, ev5.n_electrons, method="gaussian", sigma_ev=0.1)
    assert ef5 - ef0 == pytest.approx(5.0, abs=1e-9)

    def raw(ev, ef):
        return ds.deband_dmu_exact(ev.eigs, ev.weights, ef) + ef * ds.dos_at_fermi(ev.eigs, ev.weights, ef)

    assert abs(raw(ev5, ef5) - raw(ev0, ef0)) > 1.0  # gauge-dependent
    assert ds.deband_dmu_exact(ev5.eigs, ev5.weights, ef5) == pytest.approx(ds.deband_dmu_exact(ev0.eigs, ev0.weights, ef0), abs=1e-9)


def _desc(pair: tuple[dict, object]) -> dict[str, float]:
    curves, ev = pair
    return ds.descriptors_from_curves(curves, eigenvalues=ev)


def test_adjusted_p_values_match_statsmodels_definitions() -> None:
    """Holm and Benjamini-Hochberg on a textbook example (values by hand), NaN left alone."""
    p = np.array([0.01, 0.04, 0.03, 0.005, np.nan])
    holm = ds.adjust_p_values(p, method="holm")
    bh = ds.adjust_p_values(p, method="bh")
    # sorted: 0.005, 0.01, 0.03, 0.04 (m = 4)
    np.testing.assert_allclose(holm[:4], [0.03, 0.06, 0.06, 0.02])  # 4*0.005, 3*0.01, max(2*0.03, .), max(1*0.04, 0.06)
    np.testing.assert_allclose(bh[:4], [0.02, 0.04, 0.04, 0.02])  # 4/2*0.01, 4/4*0.04, min(4/3*0.03, 0.04), 4*0.005
    assert np.isnan(holm[4]) and np.isnan(bh[4])
    assert np.all(holm[:4] >= bh[:4])
    with pytest.raises(ValueError, match="method"):
        ds.adjust_p_values(p, method="bonf")


# --------------------------------------------------------------------------- partial correlation
def _rank(v: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(v)


def test_partial_spearman_matches_the_first_order_partial_correlation_formula() -> None:
    rng = np.random.default_rng(3)
    z = rng.normal(size=40)
    x = z + 0.5 * rng.normal(size=40)
    y = 0.8 * z + 0.3 * x + 0.5 * rng.normal(size=40)
    r, p = ds.partial_spearman(x, y, z)
    rx, ry, rz = _rank(x), _rank(y), _rank(z)
    c = np.corrcoef([rx, ry, rz])
    expected = (c[0, 1] - c[0, 2] * c[1, 2]) / math.sqrt((1 - c[0, 2] ** 2) * (1 - c[1, 2] ** 2))
    assert r == pytest.approx(expected, abs=1e-12)
    assert 0.0 < p < 1.0


def test_a_correlation_carried_by_the_covariate_vanishes_when_it_is_held_fixed() -> None:
    # x and y both follow the temperature z and share nothing else: rank correlation high,
    # partial correlation near zero and not significant
    rng = np.random.default_rng(7)
    z = np.linspace(300, 3000, 400)
    x = z / 1000 + 0.2 * rng.normal(size=400)
    y = z / 10 + 20 * rng.normal(size=400)
    from scipy.stats import spearmanr

    assert spearmanr(x, y).statistic > 0.7
    r, p = ds.partial_spearman(x, y, z)
    assert abs(r) < 0.15  # sampling error of r at n = 400 is about 0.05


def test_correlate_adds_partial_columns_and_adjusts_them() -> None:
    rng = np.random.default_rng(11)
    elements = [f"E{i}" for i in range(30)]
    temps = pd.Series(np.linspace(300, 2500, 30), index=elements)
    desc = pd.DataFrame({"element": elements, "d": temps.to_numpy() / 100 + rng.normal(size=30)})
    err = pd.DataFrame({"element": elements, "model": "m", "force_rmse_mev_per_a": temps.to_numpy() / 10 + 30 * rng.normal(size=30)})
    out = ds.correlate(desc, err, metrics=["force_rmse_mev_per_a"], temperature=None, n_boot=200, covariate=temps)
    row = out.iloc[0]
    r, p = ds.partial_spearman(desc["d"], err["force_rmse_mev_per_a"], temps)
    assert row["partial_spearman_r"] == pytest.approx(r)
    assert row["partial_spearman_p"] == pytest.approx(p)
    assert row["partial_spearman_ci_low"] <= r <= row["partial_spearman_ci_high"]
    assert row["partial_spearman_p_holm"] == pytest.approx(min(1.0, p))  # one test: no adjustment
    assert abs(row["partial_spearman_r"]) < abs(row["spearman_r"])
    assert "partial_spearman_r" not in ds.correlate(desc, err, metrics=["force_rmse_mev_per_a"], temperature=None, n_boot=50).columns


def test_caveat_when_every_element_has_one_distinct_sampling_temperature() -> None:
    one_t = pd.DataFrame({"element": ["Cu", "Cu", "Al", "Al"], "temperature": ["1630", "all", "1120", "all"]})
    caveats = ds.correlation_caveats(one_t)
    assert any("one temperature" in c for c in caveats)
    assert any("Only 2 elements" in c for c in caveats)
    two_t = pd.DataFrame({"element": ["Cu", "Cu", "Al", "Al"] * 3,
                          "temperature": ["300", "1630", "300", "1120"] * 3})
    assert not any("one temperature" in c for c in ds.correlation_caveats(two_t))
