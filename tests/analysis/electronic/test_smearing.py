"""Validation of analysis.electronic.smearing: occupation functions, Fermi level, band energy, tetrahedra."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import quad

from analysis.electronic import smearing as sm

SMEARING = list(sm.SMEARING_METHODS)


def _random_spectrum(rng: np.random.Generator, nspin: int = 1, nk: int = 40, nb: int = 12):
    eigs = np.sort(rng.normal(0.0, 4.0, size=(nspin, nk, nb)), axis=-1)
    weights = rng.uniform(0.2, 1.0, size=nk)
    return eigs, weights / weights.sum()


def _count(eigs, weights, f):
    deg = 2.0 if eigs.shape[0] == 1 else 1.0
    w = np.broadcast_to(np.asarray(weights)[None, :, None] if np.ndim(weights) == 1 else weights[:, :, None], eigs.shape)
    return deg * float((w * f).sum())


def _step_fermi_level(eigs, weights, n_e):
    """Zero-width reference: fill states in order of energy (weighted)."""
    deg = 2.0 if eigs.shape[0] == 1 else 1.0
    w = np.broadcast_to(weights[None, :, None], eigs.shape).ravel() * deg
    e = eigs.ravel()
    order = np.argsort(e)
    cum = np.cumsum(w[order])
    i = int(np.searchsorted(cum, n_e - 1e-12))
    filled = cum[i - 1] if i > 0 else 0.0
    esum = float((w[order][:i] * e[order][:i]).sum()) + (n_e - filled) * e[order][i]
    return e[order][i], esum


# ---------------------------------------------------------------- occupation functions


@pytest.mark.parametrize("method", SMEARING)
def test_distribution_limits_and_derivative(method):
    x = np.linspace(-45, 45, 9001)
    f, d, s = sm.distribution(x, method)
    assert f[0] == pytest.approx(1.0, abs=1e-14) and f[-1] == pytest.approx(0.0, abs=1e-14)
    # d = -df/dx, checked by finite differences
    fd = -np.gradient(f, x)
    np.testing.assert_allclose(d[1:-1], fd[1:-1], atol=2e-4)
    # delta integrates to one, s = -int_{-inf}^x t d(t) dt
    assert np.trapezoid(d, x) == pytest.approx(1.0, abs=1e-6)
    for x0 in (-1.3, 0.0, 0.7, 2.1):
        ref, _ = quad(lambda t: -t * sm.distribution(np.array([t]), method)[1][0], -45, x0, limit=200)
        assert sm.distribution(np.array([x0]), method)[2][0] == pytest.approx(ref, abs=1e-10)


@pytest.mark.parametrize("method", SMEARING)
def test_distribution_no_overflow_for_huge_arguments(method):
    x = np.array([-1e308, -1e6, -800.0, 800.0, 1e6, 1e308, np.finfo(float).max])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        f, d, s = sm.distribution(x, method)
    np.testing.assert_allclose(f, [1, 1, 1, 0, 0, 0, 0], rtol=0, atol=1e-25)
    np.testing.assert_allclose(d, 0, atol=1e-25)
    np.testing.assert_allclose(s, 0, atol=1e-24)


def test_methfessel_paxton_order0_is_gaussian():
    x = np.linspace(-6, 6, 241)
    for a, b in zip(sm.distribution(x, "methfessel-paxton", order=0), sm.distribution(x, "gaussian")):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-15)
    rng = np.random.default_rng(0)
    eigs, w = _random_spectrum(rng)
    mp0 = sm.band_energy(eigs, w, 20.3, method="methfessel-paxton", sigma_ev=0.3, order=0)
    g = sm.band_energy(eigs, w, 20.3, method="gaussian", sigma_ev=0.3)
    assert mp0.fermi_level_ev == pytest.approx(g.fermi_level_ev, abs=1e-12)
    assert mp0.e_band_ev == pytest.approx(g.e_band_ev, abs=1e-10)


def test_methfessel_paxton_orders_match_hermite_closed_form():
    x = np.linspace(-4, 4, 81)
    # order 2 written out: A1 H1 + A2 H3 with H1 = 2x, H3 = 8x^3 - 12x
    a1, a2 = -1 / (4 * math.sqrt(math.pi)), 1 / (2 * 16 * math.sqrt(math.pi))
    ref = 0.5 * sm.erfc(x) + (a1 * 2 * x + a2 * (8 * x**3 - 12 * x)) * np.exp(-x * x)
    np.testing.assert_allclose(sm.distribution(x, "methfessel-paxton", order=2)[0], ref, atol=1e-14)


# ---------------------------------------------------------------- Fermi level and counts


@pytest.mark.parametrize("method", SMEARING)
@pytest.mark.parametrize("nspin", [1, 2])
@pytest.mark.parametrize("sigma", [0.01, 0.1, 0.5])
def test_occupations_sum_to_electron_count(method, nspin, sigma):
    rng = np.random.default_rng(0)
    eigs, w = _random_spectrum(rng, nspin=nspin)
    for n_e in (1.0, 7.31, 12.0, 17.9):
        f, mu = sm.occupations(eigs, w, n_e, method=method, sigma_ev=sigma)
        assert f.shape == eigs.shape
        assert _count(eigs, w, f) == pytest.approx(n_e, abs=1e-9)


@pytest.mark.parametrize("method", SMEARING)
def test_sigma_to_zero_approaches_step_function(method):
    rng = np.random.default_rng(1)
    eigs, w = _random_spectrum(rng, nk=200, nb=10)
    n_e = 9.37
    ef0, esum0 = _step_fermi_level(eigs, w, n_e)
    errs = []
    for sigma in (0.3, 0.1, 0.03, 0.01, 0.001):
        be = sm.band_energy(eigs, w, n_e, method=method, sigma_ev=sigma)
        errs.append(abs(be.e_band_ev - esum0))
        assert abs(be.entropy_term_ev) < 5 * sigma * n_e
    assert errs[-1] < 1e-3
    assert errs[-1] < errs[0]
    be = sm.band_energy(eigs, w, n_e, method=method, sigma_ev=1e-5)
    assert be.fermi_level_ev == pytest.approx(ef0, abs=1e-3)


@pytest.mark.parametrize("method", SMEARING)
def test_degenerate_levels(method):
    # two flat, 4-fold degenerate levels: the count is fixed by the smearing alone
    eigs = np.zeros((1, 4, 8))
    eigs[:, :, 4:] = 2.0
    for n_e in (3.0, 8.0, 11.0):
        f, mu = sm.occupations(eigs, None, n_e, method=method, sigma_ev=0.1)
        assert _count(eigs, np.full(4, 0.25), f) == pytest.approx(n_e, abs=1e-9)
    # exactly filling the lower level puts E_F mid-gap
    assert sm.fermi_level(eigs, None, 8.0, method=method, sigma_ev=0.1) == pytest.approx(1.0, abs=1e-9)
    # one degenerate level half filled: E_F at the level for symmetric smearings
    if method in ("gaussian", "fermi-dirac"):
        assert sm.fermi_level(eigs, None, 4.0, method=method, sigma_ev=0.1) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("method", SMEARING)
@pytest.mark.parametrize("nspin", [1, 2])
def test_gap_at_fermi_level_gives_mid_gap(method, nspin):
    rng = np.random.default_rng(2)
    nk = 30
    valence = rng.uniform(-6.0, -1.0, size=(nspin, nk, 4))
    conduction = rng.uniform(2.0, 5.0, size=(nspin, nk, 4))
    eigs = np.sort(np.concatenate([valence, conduction], axis=-1), axis=-1)
    w = rng.uniform(0.5, 1.0, size=nk)
    n_e = 8.0
    homo, lumo = valence.max(), conduction.min()
    mu = sm.fermi_level(eigs, w, n_e, method=method, sigma_ev=0.05)
    assert mu == pytest.approx(0.5 * (homo + lumo), abs=1e-9)
    f, _ = sm.occupations(eigs, w, n_e, method=method, sigma_ev=0.05)
    assert _count(eigs, w / w.sum(), f) == pytest.approx(n_e, abs=1e-9)


@pytest.mark.parametrize("method", SMEARING)
def test_huge_sigma(method):
    rng = np.random.default_rng(3)
    eigs, w = _random_spectrum(rng)
    for sigma in (50.0, 1e4):
        f, mu = sm.occupations(eigs, w, 11.0, method=method, sigma_ev=sigma)
        assert np.isfinite(mu)
        assert _count(eigs, w, f) == pytest.approx(11.0, abs=1e-9)
        be = sm.band_energy(eigs, w, 11.0, method=method, sigma_ev=sigma)
        assert np.isfinite(be.e_band_ev) and np.isfinite(be.entropy_term_ev)


@pytest.mark.parametrize("method", SMEARING)
def test_spin_polarised_common_fermi_level(method):
    rng = np.random.default_rng(4)
    up = np.sort(rng.normal(-1.0, 3.0, size=(1, 25, 10)), axis=-1)
    down = up + 1.5  # exchange-split copy
    eigs = np.concatenate([up, down])
    w = rng.uniform(0.5, 1.0, 25)
    f, mu = sm.occupations(eigs, w, 9.4, method=method, sigma_ev=0.1)
    wn = w / w.sum()
    n_up = float((wn[:, None] * f[0]).sum())
    n_dn = float((wn[:, None] * f[1]).sum())
    assert n_up + n_dn == pytest.approx(9.4, abs=1e-9)
    assert n_up > n_dn  # the lower channel holds more electrons
    # non-polarised with doubled degeneracy equals polarised with identical channels
    same = np.concatenate([up, up])
    a = sm.band_energy(same, w, 9.4, method=method, sigma_ev=0.1)
    b = sm.band_energy(up, w, 9.4, method=method, sigma_ev=0.1)
    assert a.fermi_level_ev == pytest.approx(b.fermi_level_ev, abs=1e-10)
    assert a.e_band_ev == pytest.approx(b.e_band_ev, abs=1e-9)


@pytest.mark.parametrize("method", SMEARING)
def test_band_energy_matches_direct_sum(method):
    rng = np.random.default_rng(5)
    eigs, w = _random_spectrum(rng, nspin=2)
    be = sm.band_energy(eigs, w, 13.2, method=method, sigma_ev=0.2)
    f, mu = sm.occupations(eigs, w, 13.2, method=method, sigma_ev=0.2)
    x = (eigs - mu) / 0.2
    _, _, s = sm.distribution(x, method)
    ww = np.broadcast_to(w[None, :, None], eigs.shape)
    assert be.e_band_ev == pytest.approx(float((ww * f * eigs).sum()), abs=1e-10)
    assert be.entropy_term_ev == pytest.approx(-0.2 * float((ww * s).sum()), abs=1e-12)
    assert be.fermi_level_ev == mu


def test_bad_input_raises():
    eigs = np.zeros((1, 2, 3))
    with pytest.raises(ValueError, match="sigma_ev"):
        sm.fermi_level(eigs, None, 1.0, method="gaussian", sigma_ev=0.0)
    with pytest.raises(ValueError, match="n_electrons"):
        sm.fermi_level(eigs, None, 7.0, method="gaussian", sigma_ev=0.1)
    with pytest.raises(ValueError, match="method"):
        sm.fermi_level(eigs, None, 1.0, method="cold", sigma_ev=0.1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="shape"):
        sm.fermi_level(np.zeros((2, 3)), None, 1.0, method="gaussian", sigma_ev=0.1)
    with pytest.raises(ValueError, match="mesh"):
        sm.fermi_level(eigs, None, 1.0, method="tetrahedron")


def test_large_spectrum_matches_plain_brentq():
    """The windowed solver agrees with brentq on the full, unwindowed count."""
    from scipy.optimize import brentq

    rng = np.random.default_rng(6)
    eigs = np.sort(rng.uniform(-8, 12, size=(1, 2000, 50)), axis=-1)
    w = rng.uniform(0.5, 1.5, 2000)
    wn = 2 * w / w.sum()
    for method in SMEARING:
        def resid(mu, method=method):
            return float((wn[:, None] * sm.distribution((eigs[0] - mu) / 0.1, method)[0]).sum()) - 51.3
        ref = brentq(resid, -10, 14, xtol=1e-14)
        assert sm.fermi_level(eigs, w, 51.3, method=method, sigma_ev=0.1) == pytest.approx(ref, abs=1e-9)


# ---------------------------------------------------------------- Fermi-level shift (protocol b)


@pytest.mark.parametrize("method", [*SMEARING, "tetrahedron"])
def test_fermi_shift_curve(method):
    n = 20
    eigs = _free_electron(n)
    kw = dict(mesh=(n, n, n)) if method == "tetrahedron" else {}
    n_e = 0.2
    shifts = np.linspace(-0.5, 0.5, 11)
    curve = sm.eigenvalue_sum_vs_fermi_shift(eigs, None, n_e, shifts, method, 0.1, **kw)
    assert curve.eigenvalue_sum_ev.shape == shifts.shape
    i0 = 5
    be = sm.band_energy(eigs, None, n_e, method=method, sigma_ev=0.1, **kw)
    assert curve.eigenvalue_sum_ev[i0] == pytest.approx(be.e_band_ev, abs=1e-10)
    assert curve.entropy_term_ev[i0] == pytest.approx(be.entropy_term_ev, abs=1e-12)
    assert curve.n_electrons[i0] == pytest.approx(n_e, abs=1e-9)
    if method in ("gaussian", "fermi-dirac", "tetrahedron"):  # monotonic occupations
        assert np.all(np.diff(curve.n_electrons) > 0)
    # d(sum)/dmu = mu dN/dmu: the ratio of increments is the energy at which states are added
    de = np.diff(curve.eigenvalue_sum_ev)
    dn = np.diff(curve.n_electrons)
    mid = curve.fermi_level_ev + 0.5 * (shifts[1:] + shifts[:-1])
    np.testing.assert_allclose(de / dn, mid, atol=0.1)


# ---------------------------------------------------------------- tetrahedron method


def _free_electron(n: int) -> np.ndarray:
    """E = |k|^2 / 2 (k folded into the first zone of a cubic cell with |b| = 2 pi)."""
    g = np.indices((n, n, n)).reshape(3, -1).T / n
    g = (g + 0.5) % 1.0 - 0.5
    return 0.5 * ((2 * np.pi * g) ** 2).sum(axis=1)[None, :, None]


def _free_electron_exact(k_f: float) -> tuple[float, float]:
    """Electron count and band energy of a filled sphere, two spins, BZ volume (2 pi)^3."""
    n_e = 2 * (4 / 3 * np.pi * k_f**3) / (2 * np.pi) ** 3
    e_band = 2 * 4 * np.pi * k_f**5 / 10 / (2 * np.pi) ** 3
    return n_e, e_band


def test_tetrahedron_and_gaussian_converge_for_free_electrons():
    k_f = 1.6
    n_e, e_exact = _free_electron_exact(k_f)
    ef_err, gap = {}, {}
    for n in (16, 32, 48):
        eigs = _free_electron(n)
        tet = sm.band_energy(eigs, None, n_e, method="tetrahedron", mesh=(n, n, n))
        gau = sm.band_energy(eigs, None, n_e, method="gaussian", sigma_ev=0.02)
        ef_err[n] = abs(tet.fermi_level_ev - k_f**2 / 2)
        gap[n] = abs(tet.e_band_ev - gau.e_band_ev) / e_exact
    assert ef_err[48] < ef_err[32] < ef_err[16]
    assert ef_err[48] < ef_err[16] / 5  # second order in the mesh spacing
    assert tet.e_band_ev == pytest.approx(e_exact, rel=1e-4)  # Bloechl-corrected sum
    assert gau.e_band_ev == pytest.approx(e_exact, rel=1e-3)
    # on the fine mesh the two methods agree, and closer than on the coarse one
    assert gap[48] < gap[16] / 5
    assert tet.fermi_level_ev == pytest.approx(gau.fermi_level_ev, abs=6e-3)
    assert tet.fermi_level_ev == pytest.approx(k_f**2 / 2, abs=5e-3)


def test_tetrahedron_count_and_weights_against_monte_carlo():
    """n(E) and the uncorrected corner weights are volume integrals over one tetrahedron."""
    rng = np.random.default_rng(7)
    es = np.sort(rng.uniform(-1, 1, size=(1, 4)), axis=1)
    lam = rng.dirichlet(np.ones(4), size=400_000)  # uniform points in the tetrahedron
    e_lin = lam @ es[0]
    for energy in np.linspace(es[0, 0] - 0.1, es[0, 3] + 0.1, 9):
        inside = e_lin < energy
        n, _ = sm._tetra_count_and_dos(es.T, energy)
        assert n[0] == pytest.approx(inside.mean(), abs=3e-3)
        w = sm._tetra_corner_weights(es.T, energy, bloechl=False)[:, 0]
        np.testing.assert_allclose(w, (lam * inside[:, None]).mean(axis=0), atol=2e-3)
        assert w.sum() == pytest.approx(n[0], abs=1e-12)
        # Bloechl corrections redistribute weight between corners, never the total
        assert sm._tetra_corner_weights(es.T, energy).sum() == pytest.approx(n[0], abs=1e-12)


def test_tetrahedron_dos_is_derivative_of_count():
    rng = np.random.default_rng(8)
    es = np.sort(rng.uniform(-1, 1, size=(50, 4)), axis=1).T  # (4, T)
    h = 1e-6
    for energy in np.linspace(-0.9, 0.9, 7):
        n_p, _ = sm._tetra_count_and_dos(es, energy + h)
        n_m, _ = sm._tetra_count_and_dos(es, energy - h)
        _, dos = sm._tetra_count_and_dos(es, energy)
        np.testing.assert_allclose((n_p - n_m) / (2 * h), dos, atol=1e-4)


@pytest.mark.parametrize("nspin", [1, 2])
def test_tetrahedron_occupations_sum_and_ibz_map(nspin):
    n = 8
    eigs = _free_electron(n)
    eigs = np.concatenate([eigs, eigs + 3.0], axis=2)
    if nspin == 2:
        eigs = np.concatenate([eigs, eigs + 0.4])
    n_e = 1.3
    f, ef = sm.occupations(eigs, None, n_e, method="tetrahedron", mesh=(n, n, n))
    deg = 2.0 if nspin == 1 else 1.0
    assert deg * f.sum() / n**3 == pytest.approx(n_e, abs=1e-9)
    be = sm.band_energy(eigs, None, n_e, method="tetrahedron", mesh=(n, n, n))
    assert be.e_band_ev == pytest.approx(deg * float((f * eigs).sum()) / n**3, abs=1e-10)
    # the same eigenvalues through an IBZ map (here: inversion k -> -k)
    idx = np.indices((n, n, n)).reshape(3, -1).T
    minus = ((-idx) % n) @ np.array([n * n, n, 1])
    keep = np.minimum(np.arange(n**3), minus)
    ibz, bz_to_ibz = np.unique(keep, return_inverse=True)
    ef2 = sm.fermi_level(eigs[:, ibz], None, n_e, method="tetrahedron", mesh=(n, n, n), bz_to_ibz=bz_to_ibz)
    assert ef2 == pytest.approx(ef, abs=1e-12)


def test_tetrahedron_fast_path_equals_bracket_path():
    """The Newton-near-estimate fast path and the whole-bracket solver find the same root."""
    rng = np.random.default_rng(13)
    n = 12
    k = np.indices((n, n, n)).reshape(3, -1).T / n
    c = np.cos(2 * np.pi * k)
    coef = rng.normal(size=(6, 3))
    bands = np.stack([b + c @ coef[b] for b in range(6)], axis=1)[None]
    for n_e in (2.3, 5.0, 7.7):
        tt = sm._tetra_problem(bands, (n, n, n), None, None, n_electrons=n_e)
        target = n_e - tt.n_fixed
        tol = 1e-12 * max(1.0, target)
        a, b = tt.tp.bracket(target)
        fast, _ = sm._newton_near_estimate(tt.tp, target, a, b, tol)
        slow, _, _ = sm._newton_in_bracket(tt.tp, target, a, b, tol)
        assert fast is not None and slow is not None
        assert fast == pytest.approx(slow, abs=1e-10)
        assert sm.fermi_level(bands, None, n_e, method="tetrahedron", mesh=(n, n, n)) == pytest.approx(slow, abs=1e-10)


def test_dos_tetrahedron_free_electrons():
    """g(E) = 2 * 4 pi k^2 / (dE/dk) / (2 pi)^3 = k / pi^2 for E = k^2 / 2 (two spins)."""
    n = 40
    eigs = _free_electron(n)
    for k in (1.0, 1.5):
        assert sm.dos_tetrahedron(eigs, k**2 / 2, mesh=(n, n, n)) == pytest.approx(k / np.pi**2, rel=2e-2)
    assert sm.dos_tetrahedron(eigs, -1.0, mesh=(n, n, n)) == 0.0


def test_tetrahedron_gap_is_mid_gap():
    n = 6
    band = _free_electron(n)
    eigs = np.concatenate([band, band + 30.0], axis=2)  # band 1 max is 3*pi^2/2 < 15; gap to 30
    ef = sm.fermi_level(eigs, None, 2.0, method="tetrahedron", mesh=(n, n, n))
    assert ef == pytest.approx(0.5 * (band.max() + 30.0), abs=1e-9)


# ---------------------------------------------------------------- GPAW as independent reference


def _gpaw_fermi(method, eigs, w, n_e, sigma, order=1, **tetra):
    pytest.importorskip("gpaw")
    from gpaw.occupations import create_occ_calc

    nspin, nk, _ = eigs.shape
    if method == "tetrahedron":
        dct = {"name": "improved-tetrahedron-method"}
        occ = create_occ_calc(dct, rcell=tetra["rcell"], monkhorst_pack_size=tetra["size"])
    else:
        dct = {"name": method, "width": sigma}
        if method == "methfessel-paxton":
            dct["order"] = order
        if method == "gaussian":
            dct = {"name": "methfessel-paxton", "width": sigma, "order": 0}
        occ = create_occ_calc(dct)
    # GPAW's layout: u = (k, s) interleaved, weights sum to nspin, n_e per the spin count
    eig_u = np.transpose(eigs, (1, 0, 2)).reshape(nk * nspin, -1)
    w_u = np.repeat(np.asarray(w) / np.sum(w), nspin)
    f_u, (ef,), e_entropy = occ.calculate(n_e * nspin / 2, eig_u, w_u)
    return ef, e_entropy, f_u


@pytest.mark.parametrize("method", SMEARING)
@pytest.mark.parametrize("nspin", [1, 2])
@pytest.mark.parametrize("sigma", [0.05, 0.2])
def test_fermi_level_agrees_with_gpaw(method, nspin, sigma):
    rng = np.random.default_rng(10)
    eigs, w = _random_spectrum(rng, nspin=nspin, nk=60, nb=14)
    for n_e in (5.3, 14.0):
        ef_gpaw, ent_gpaw, _ = _gpaw_fermi(method, eigs, w, n_e, sigma)
        be = sm.band_energy(eigs, w, n_e, method=method, sigma_ev=sigma)
        assert be.fermi_level_ev == pytest.approx(ef_gpaw, abs=1e-5)
        deg = 2.0 if nspin == 1 else 1.0
        assert be.entropy_term_ev == pytest.approx(deg * ent_gpaw, abs=1e-6)


@pytest.mark.parametrize("order", [0, 1, 2])
def test_methfessel_paxton_orders_agree_with_gpaw(order):
    rng = np.random.default_rng(11)
    eigs, w = _random_spectrum(rng, nk=50)
    ef_gpaw, _, _ = _gpaw_fermi("methfessel-paxton", eigs, w, 9.0, 0.15, order=order)
    assert sm.fermi_level(eigs, w, 9.0, method="methfessel-paxton", sigma_ev=0.15, order=order) == pytest.approx(
        ef_gpaw, abs=1e-5)


@pytest.mark.parametrize("nspin", [1, 2])
def test_tetrahedron_agrees_with_gpaw(nspin):
    from ase.build import bulk

    atoms = bulk("Cu", "fcc", a=3.6)
    rcell = atoms.cell.reciprocal()
    n = 10
    kf = np.indices((n, n, n)).reshape(3, -1).T / n  # fractional k, C order as GPAW's BZ mesh
    # two smooth periodic bands on the fcc reciprocal mesh
    band1 = 2.0 * np.cos(2 * np.pi * kf).sum(axis=1)
    band2 = 1.0 + 1.5 * np.cos(2 * np.pi * (kf[:, 0] - kf[:, 1]))
    eigs = np.stack([band1, band2], axis=1)[None]
    if nspin == 2:
        eigs = np.concatenate([eigs, eigs + 0.7])
    n_e = 1.7
    ef_gpaw, _, f_gpaw = _gpaw_fermi("tetrahedron", eigs, np.full(n**3, 1.0 / n**3), n_e, 0.0,
                                     rcell=rcell, size=(n, n, n))
    ef = sm.fermi_level(eigs, None, n_e, method="tetrahedron", mesh=(n, n, n), reciprocal_cell=rcell)
    assert ef == pytest.approx(ef_gpaw, abs=1e-5)


def test_tetrahedron_band_energy_closed_form_equals_weighted_corner_sum():
    """E n - I(E) + the Bloechl term per tetrahedron equals sum_i w_i e_i in every region."""
    rng = np.random.default_rng(12)
    es = np.sort(rng.uniform(-1.0, 1.0, size=(4, 5000)), axis=0)
    es[:, :10] = np.sort(rng.uniform(-1e-3, 1e-3, size=(4, 10)), axis=0)  # nearly degenerate corners
    for energy in (-1.5, -0.7, -0.2, 0.0, 0.3, 0.8, 1.5):
        want = (sm._tetra_corner_weights(es, energy) * es).sum(axis=0)
        got = sm._tetra_band_energy(es, energy)
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12, err_msg=f"E={energy}")
