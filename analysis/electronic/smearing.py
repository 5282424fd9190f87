"""Occupation functions, Fermi level and band energy for Kohn-Sham eigenvalues.

Pure numpy/scipy (no GPAW import). Energies are in eV throughout. The module is long (about 1100
lines) but one coherent thing: every method, the tetrahedron one included, goes through one
Fermi-level solver (:func:`_solve`) and shares its bracketing and electron-count checks; split
along the methods it would need an import circle.

Methods (``method=`` argument):

* ``'gaussian'``: ``f(x) = erfc(x) / 2`` with ``x = (e - mu) / sigma``.
* ``'fermi-dirac'``: ``f(x) = 1 / (1 + exp(x))`` (``sigma`` is ``k_B T``).
* ``'methfessel-paxton'``: Methfessel & Paxton, Phys. Rev. B 40, 3616 (1989), order ``N``
  (default 1; order 0 is exactly the Gaussian):
  ``f = erfc(x)/2 + sum_{n=1..N} A_n H_{2n-1}(x) exp(-x^2)``,
  ``A_n = (-1)^n / (n! 4^n sqrt(pi))``, ``H`` the physicists' Hermite polynomials.
* ``'marzari-vanderbilt'``: cold smearing, Marzari, Vanderbilt, De Vita & Payne,
  Phys. Rev. Lett. 82, 3296 (1999): with ``u = x + 1/sqrt(2)``,
  ``f = erfc(u)/2 + exp(-u^2) / sqrt(2 pi)``.
* ``'tetrahedron'``: the linear tetrahedron method with Bloechl corrections,
  Bloechl, Jepsen & Andersen, Phys. Rev. B 49, 16223 (1994). Needs the eigenvalues on the
  full regular k-mesh (``mesh=``), or on the irreducible wedge plus the map from every
  full-mesh point to its irreducible point (``bz_to_ibz=``). ``sigma_ev`` is ignored.

Entropy-like term: for a smearing with "delta function" ``d(x) = -f'(x)`` the generalised
entropy per state is ``s(x) = -int_{-inf}^{x} t d(t) dt`` and the energy term reported is
``-sigma * sum_i w_i s(x_i)`` (this is ``-TS`` for Fermi-Dirac; it is the quantity GPAW calls
``e_entropy``). Closed forms: Gaussian ``exp(-x^2)/(2 sqrt(pi))``; Fermi-Dirac
``-(f ln f + (1-f) ln(1-f))``; Methfessel-Paxton ``A_N H_{2N}(x) exp(-x^2) / 2``;
Marzari-Vanderbilt ``exp(-u^2) (1 + sqrt(2) x) / (2 sqrt(pi))``. The tetrahedron method has no
entropy term (reported as 0).

Array conventions: eigenvalues ``eigs`` have shape ``(spin, kpt, band)``; ``weights`` are
k-point weights of shape ``(kpt,)`` or ``(spin, kpt)``, normalised here to sum to 1 over k.
With one spin channel every state holds two electrons (spin degeneracy 2), with two
channels one. Occupations returned by :func:`occupations` are per state, in ``[0, 1]`` for
Gaussian/Fermi-Dirac/tetrahedron (Methfessel-Paxton and Marzari-Vanderbilt overshoot
slightly, as they should), without k-weight or spin degeneracy.

Fermi level: the root of ``N(mu) = n_electrons``. The solver localises ``mu`` with a
weighted histogram (one O(n) pass), keeps only the states within the smearing's numerical
range of that estimate (the rest are exactly 0 or 1 in float64), runs a few Newton steps on
that window and falls back to Brent's method on a verified bracket when Newton is not safe
(non-monotonic Methfessel-Paxton / Marzari-Vanderbilt counts, tiny sigma, flat bands).
When the count is reached inside a gap (the count at mid-gap equals ``n_electrons`` to the
solver tolerance), the Fermi level is placed at mid-gap, between the highest state below and
the lowest state above; this is also what GPAW does.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import brentq
from scipy.special import erfc, expit

Method = Literal["gaussian", "fermi-dirac", "methfessel-paxton", "marzari-vanderbilt", "tetrahedron"]
METHODS: tuple[str, ...] = get_args(Method)
SMEARING_METHODS: tuple[str, ...] = METHODS[:-1]

_SQRT_PI = math.sqrt(math.pi)
_SQRT2 = math.sqrt(2.0)
_X_CLIP = 60.0
_EMPTY = np.empty(0)  # beyond |x| = 60 every smearing is exactly 0 or 1 in float64


@dataclass(frozen=True)
class BandEnergy:
    """Band energy of a set of eigenvalues under one occupation method.

    Attributes:
        e_band_ev: sum over states of weight x occupation x eigenvalue (eV, per cell).
        entropy_term_ev: the smearing's entropy-like energy ``-sigma * S`` (eV, per cell);
            0 for the tetrahedron method.
        fermi_level_ev: the Fermi level used (eV).
    """

    e_band_ev: float
    entropy_term_ev: float
    fermi_level_ev: float


@dataclass(frozen=True)
class FermiShiftCurve:
    """Occupation-weighted eigenvalue sum as the Fermi level is shifted by ``dE``.

    Attributes:
        shifts_ev: the shifts dE (eV), shape (n,).
        eigenvalue_sum_ev: sum of weight x f((e - E_F - dE)/sigma) x e (eV), shape (n,).
        n_electrons: electron count at E_F + dE, shape (n,).
        entropy_term_ev: entropy-like term at E_F + dE (eV), shape (n,).
        fermi_level_ev: the unshifted Fermi level (eV).
        method: occupation method.
        sigma_ev: smearing width (eV; ignored by the tetrahedron method).
    """

    shifts_ev: NDArray[np.float64]
    eigenvalue_sum_ev: NDArray[np.float64]
    n_electrons: NDArray[np.float64]
    entropy_term_ev: NDArray[np.float64]
    fermi_level_ev: float
    method: str
    sigma_ev: float


# ----------------------------------------------------------------------------------------
# Occupation functions of the reduced variable x = (e - mu) / sigma
# ----------------------------------------------------------------------------------------


def _mp_coefficient(n: int) -> float:
    """Methfessel-Paxton A_n = (-1)^n / (n! 4^n sqrt(pi))."""
    return (-1.0) ** n / (math.factorial(n) * 4.0**n * _SQRT_PI)


def distribution(
    x: ArrayLike,
    method: str,
    *,
    order: int = 1,
    entropy: bool = True,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Occupation, delta function and entropy of a smearing, in the reduced variable.

    Args:
        x: ``(e - mu) / sigma`` (dimensionless), any shape.
        method: one of ``'gaussian'``, ``'fermi-dirac'``, ``'methfessel-paxton'``,
            ``'marzari-vanderbilt'``.
        order: Methfessel-Paxton order N (>= 0).
        entropy: compute ``s``; when False an empty array is returned in its place.

    Returns:
        ``(f, d, s)``: occupation ``f(x)``, ``d(x) = -df/dx`` (so ``df/dmu = d / sigma``) and
        the generalised entropy ``s(x)`` (energy term per state is ``-sigma * s``).
    """
    x = np.clip(np.asarray(x, dtype=np.float64), -_X_CLIP, _X_CLIP)
    if method == "gaussian" or (method == "methfessel-paxton" and order == 0):
        g = np.exp(-x * x)
        return 0.5 * erfc(x), g / _SQRT_PI, (g / (2.0 * _SQRT_PI) if entropy else _EMPTY)
    if method == "fermi-dirac":
        f = expit(-x)
        d = f * (1.0 - f)
        if not entropy:
            return f, d, _EMPTY
        ax = np.abs(x)
        s = np.log1p(np.exp(-ax)) + ax * expit(-ax)
        return f, d, s
    if method == "methfessel-paxton":
        if order < 0:
            raise ValueError(f"{order=} must be >= 0")
        g = np.exp(-x * x)
        f = 0.5 * erfc(x)
        d = g / _SQRT_PI
        # H_{2n-1} and H_{2n} by one running recurrence
        h_prev, h = np.ones_like(x), 2.0 * x  # H_0, H_1
        h_even = h_prev
        for n in range(1, order + 1):
            a = _mp_coefficient(n)
            f = f + a * h * g  # H_{2n-1}
            h_prev, h = h, 2.0 * x * h - 2.0 * (2 * n - 1) * h_prev  # H_{2n}
            h_even = h
            d = d + a * h * g
            h_prev, h = h, 2.0 * x * h - 2.0 * (2 * n) * h_prev  # H_{2n+1}
        s = 0.5 * _mp_coefficient(order) * h_even * g
        return f, d, s
    if method == "marzari-vanderbilt":
        u = x + 1.0 / _SQRT2
        g = np.exp(-u * u)
        f = 0.5 * erfc(u) + g / math.sqrt(2.0 * math.pi)
        d = g * (2.0 + _SQRT2 * x) / _SQRT_PI
        s = g * (1.0 + _SQRT2 * x) / (2.0 * _SQRT_PI)
        return f, d, s
    raise ValueError(f"{method=} is not a smearing method; expected one of {SMEARING_METHODS}")


def _cutoff(method: str, order: int) -> float:
    """|x| beyond which f is 0 or 1 and d, s vanish to below 1e-17."""
    if method == "fermi-dirac":
        return 40.0
    if method == "methfessel-paxton":
        return 8.0 + order
    return 8.5


# ----------------------------------------------------------------------------------------
# Input handling
# ----------------------------------------------------------------------------------------


def _check_method(method: str, sigma_ev: float) -> None:
    if method not in METHODS:
        raise ValueError(f"{method=} must be one of {METHODS}")
    if method != "tetrahedron" and not (np.isfinite(sigma_ev) and sigma_ev > 0):
        raise ValueError(f"{sigma_ev=} must be positive and finite")


def _prepare(eigs: ArrayLike, weights: ArrayLike | None) -> tuple[NDArray[np.float64], NDArray[np.float64], float]:
    """Validate; return eigs (s,k,b), normalised weights (s,k) and the spin degeneracy."""
    e = np.asarray(eigs, dtype=np.float64)
    if e.ndim != 3:
        raise ValueError(f"eigs must have shape (spin, kpt, band), got {e.shape}")
    nspin, nk, nb = e.shape
    if nspin not in (1, 2) or nk == 0 or nb == 0:
        raise ValueError(f"eigs shape {e.shape}: need 1 or 2 spins and at least one k-point and band")
    if not np.all(np.isfinite(e)):
        raise ValueError("eigs contain non-finite values")
    w: NDArray[np.float64]
    if weights is None:
        w = np.full((nspin, nk), 1.0 / nk)
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape == (nk,):
            w = np.broadcast_to(w, (nspin, nk))
        if w.shape != (nspin, nk):
            raise ValueError(f"weights shape {np.shape(weights)} does not match eigs {e.shape}")
        if np.any(w < 0) or not np.all(np.isfinite(w)):
            raise ValueError("k-point weights must be finite and non-negative")
        total = w[0].sum()
        if total <= 0:
            raise ValueError("k-point weights sum to zero")
        w = w / total
    degeneracy = 2.0 if nspin == 1 else 1.0
    return e, w, degeneracy


def _dot(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
    """Pairwise-summed dot product (no BLAS threads; accurate for 10^6 terms)."""
    return float(np.multiply(a, b).sum())


def _check_count(n_electrons: float, capacity: float) -> None:
    if not (0.0 < n_electrons < capacity) and not (n_electrons == capacity and capacity > 0):
        raise ValueError(f"{n_electrons=} must lie in (0, {capacity}] (states available)")


# ----------------------------------------------------------------------------------------
# Smearing solver
# ----------------------------------------------------------------------------------------


@dataclass
class _Window:
    """States in [lo, hi] evaluated exactly; below lo occupied, above hi empty."""

    lo: float
    hi: float
    e: NDArray[np.float64]
    w: NDArray[np.float64]
    n_below: float
    esum_below: float


class _SmearingProblem:
    """Flattened eigenvalues with state weights (k-weight x degeneracy)."""

    def __init__(self, eigs: NDArray[np.float64], w_sk: NDArray[np.float64], degeneracy: float,
                 method: str, sigma: float, order: int) -> None:
        self.shape = eigs.shape
        self.e2 = eigs.reshape(-1, eigs.shape[2])  # rows are (spin, k)
        self.wrow = (w_sk * degeneracy).reshape(-1)
        self.e = self.e2.reshape(-1)
        self.method, self.sigma, self.order = method, float(sigma), int(order)
        self.xcut = _cutoff(method, order)
        self.emin = float(self.e.min())
        self.emax = float(self.e.max())
        self.capacity = float(self.wrow.sum()) * eigs.shape[2]

    @property
    def w(self) -> NDArray[np.float64]:
        return np.broadcast_to(self.wrow[:, None], self.e2.shape).reshape(-1)

    def window(self, lo: float, hi: float) -> _Window:
        e2, wrow = self.e2, self.wrow
        below = e2 < lo
        inside = (e2 <= hi) & ~below
        n_below = _dot(below.sum(axis=1), wrow)
        esum_below = _dot(np.where(below, e2, 0.0).sum(axis=1), wrow)
        w_in = np.repeat(wrow, inside.sum(axis=1))
        return _Window(lo, hi, e2[inside], w_in, n_below, esum_below)

    def full_window(self) -> _Window:
        return _Window(-np.inf, np.inf, self.e, self.w, 0.0, 0.0)

    def count(self, win: _Window, mu: float, *, derivative: bool = False) -> tuple[float, float]:
        f, d, _ = distribution((win.e - mu) / self.sigma, self.method, order=self.order, entropy=False)
        n = win.n_below + _dot(win.w, f)
        return n, (_dot(win.w, d) / self.sigma if derivative else 0.0)

    def histogram_guess(self, n_electrons: float) -> tuple[float, float]:
        """Fermi-level estimate from a weighted histogram; returns (mu0, bin width)."""
        span = self.emax - self.emin
        if span <= 0:
            return self.emin, 0.0
        nbins = 8192
        bw = span / nbins
        idx = np.minimum(((self.e - self.emin) * (1.0 / bw)).astype(np.intp), nbins - 1)
        hist = np.asarray(np.bincount(idx, weights=self.w, minlength=nbins), dtype=np.float64)  # float already: no copy
        centers = self.emin + (np.arange(nbins) + 0.5) * bw
        if self.sigma >= 4.0 * bw:
            keep = hist > 0
            c, h = centers[keep], hist[keep]

            def binned(mu: float) -> float:
                f, _, _ = distribution((c - mu) / self.sigma, self.method, order=self.order, entropy=False)
                return _dot(h, f) - n_electrons

            a = self.emin - self.xcut * self.sigma
            b = self.emax + self.xcut * self.sigma
            try:
                return brentq(binned, a, b, xtol=1e-3 * bw), bw
            except ValueError:
                pass
        cum = np.cumsum(hist)
        i = int(np.searchsorted(cum, n_electrons - 1e-12 * max(1.0, n_electrons)))
        return float(centers[min(i, nbins - 1)]), bw


def _solve_smearing(prob: _SmearingProblem, n_electrons: float) -> tuple[float, _Window]:
    """Fermi level for a smearing method; returns (mu, window valid around mu)."""
    tol = 1e-12 * max(1.0, n_electrons)
    sigma, xcut = prob.sigma, prob.xcut
    mu0, bw = prob.histogram_guess(n_electrons)
    margin = max(sigma, 4.0 * bw)
    win = prob.window(mu0 - xcut * sigma - margin, mu0 + xcut * sigma + margin)
    lo_ok, hi_ok = mu0 - margin, mu0 + margin  # mu range for which the window is exact

    # Newton from the histogram estimate
    mu = mu0
    for _ in range(12):
        n, dn = prob.count(win, mu, derivative=True)
        res = n - n_electrons
        if abs(res) <= tol:
            return _mid_gap(prob, win, mu, n_electrons, tol), win
        if not dn > 1e-12 * max(1.0, n_electrons) / sigma:
            break
        step = -res / dn
        if abs(step) > margin:
            break
        mu += step
        if not lo_ok <= mu <= hi_ok:
            break

    # Robust path: verified bracket on the window, else on all states
    for w_try in (win, None):
        if w_try is None:
            w_try = prob.full_window()
            a = prob.emin - xcut * sigma
            b = prob.emax + xcut * sigma
        else:
            a, b = lo_ok, hi_ok
        fa = prob.count(w_try, a)[0] - n_electrons
        fb = prob.count(w_try, b)[0] - n_electrons
        if fa <= 0 <= fb:
            if abs(fa) <= tol:
                root = a
            elif abs(fb) <= tol:
                root = b
            else:
                root = brentq(lambda m, w=w_try: prob.count(w, m)[0] - n_electrons, a, b,
                              xtol=1e-13, rtol=4 * np.finfo(float).eps, maxiter=400)
            if w_try is not win:
                w_try = prob.window(root - xcut * sigma - margin, root + xcut * sigma + margin)
            return _mid_gap(prob, w_try, root, n_electrons, tol), w_try
    raise RuntimeError("Fermi level not bracketed; check n_electrons against the number of states")


def _mid_gap(prob: _SmearingProblem, win: _Window, mu: float, n_electrons: float, tol: float) -> float:
    """Move mu to mid-gap when the count there is also n_electrons (gap at E_F)."""
    below = prob.e[prob.e <= mu] if win.e.size == 0 or win.e.min() > mu else win.e[win.e <= mu]
    above = prob.e[prob.e > mu] if win.e.size == 0 or win.e.max() <= mu else win.e[win.e > mu]
    if below.size == 0 or above.size == 0:
        return mu
    mid = 0.5 * (float(below.max()) + float(above.min()))
    if mid == mu:
        return mu
    reach = prob.xcut * prob.sigma
    if not win.lo + reach <= mid <= win.hi - reach:  # the window is not exact at mid
        win = prob.full_window()
    if abs(prob.count(win, mid)[0] - n_electrons) <= tol:
        return mid
    return mu


# ----------------------------------------------------------------------------------------
# Tetrahedron method (Bloechl, Jepsen & Andersen 1994)
# ----------------------------------------------------------------------------------------

_CORNERS = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)])  # bit order ijk


def _tetrahedra_in_cube(reciprocal_cell: NDArray[np.float64], mesh: tuple[int, int, int]) -> NDArray[np.intp]:
    """Six tetrahedra (corner indices 0..7 of the sub-cell) sharing its shortest main diagonal."""
    b = np.asarray(reciprocal_cell, dtype=np.float64) / np.asarray(mesh)[:, None]
    best, start = np.inf, 0
    for c0 in range(4):  # diagonals 0-7, 1-6, 2-5, 3-4
        v = (1 - 2 * _CORNERS[c0]) @ b
        length = float(v @ v)
        if length < best * (1.0 - 1e-9):
            best, start = length, c0
    c0 = _CORNERS[start]
    tetras = []
    for perm in ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)):
        p = c0.copy()
        path = [p.copy()]
        for axis in perm:
            p[axis] = 1 - p[axis]
            path.append(p.copy())
        tetras.append([int(q[0] * 4 + q[1] * 2 + q[2]) for q in path])
    return np.array(tetras, dtype=np.intp)


def _sort4(te: NDArray[np.float64]) -> NDArray[np.float64]:
    """Sort the corners of (4, T) corner energies with a 5-comparator network (rows stay contiguous)."""
    a, b, c, d = te[0], te[1], te[2], te[3]
    for x, y in ((0, 1), (2, 3), (0, 2), (1, 3), (1, 2)):
        cols = [a, b, c, d]
        lo = np.minimum(cols[x], cols[y])
        hi = np.maximum(cols[x], cols[y])
        cols[x], cols[y] = lo, hi
        a, b, c, d = cols
    return np.stack([a, b, c, d])


def _tetra_count_and_dos(es: NDArray[np.float64], energy: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Integrated count n(E) in [0, 1] and dn/dE of unit-weight tetrahedra (sorted corners, shape (4, T)).

    Bloechl et al. (1994), Appendix: n(E) is cubic in E between consecutive corner energies.
    """
    e1, e2, e3, e4 = es[0], es[1], es[2], es[3]
    n = (energy >= e4).astype(np.float64)
    dos = np.zeros(es.shape[1])
    c1 = np.flatnonzero((energy >= e1) & (energy < e2))
    if c1.size:
        x = energy - e1[c1]
        den = (e2[c1] - e1[c1]) * (e3[c1] - e1[c1]) * (e4[c1] - e1[c1])
        n[c1] = x**3 / den
        dos[c1] = 3.0 * x**2 / den
    c2 = np.flatnonzero((energy >= e2) & (energy < e3))
    if c2.size:
        x = energy - e2[c2]
        a = e2[c2] - e1[c2]
        b, c = e3[c2] - e1[c2], e4[c2] - e1[c2]
        k = (b + e4[c2] - e2[c2]) / ((e3[c2] - e2[c2]) * (e4[c2] - e2[c2]))
        bc = b * c
        n[c2] = (a * a + 3.0 * a * x + 3.0 * x * x - k * x**3) / bc
        dos[c2] = (3.0 * a + 6.0 * x - 3.0 * k * x * x) / bc
    c3 = np.flatnonzero((energy >= e3) & (energy < e4))
    if c3.size:
        x = e4[c3] - energy
        den = (e4[c3] - e1[c3]) * (e4[c3] - e2[c3]) * (e4[c3] - e3[c3])
        n[c3] = 1.0 - x**3 / den
        dos[c3] = 3.0 * x**2 / den
    return n, dos


def _tetra_band_energy(es: NDArray[np.float64], energy: float) -> NDArray[np.float64]:
    """Band energy sum_i w_i e_i of unit-weight tetrahedra (sorted corners (4, T)), Bloechl-corrected.

    The same number as ``(_tetra_corner_weights(es, energy) * es).sum(axis=0)`` without forming
    the four weights: the uncorrected part is E n(E) - I(E), where I is the integral of the cubic
    count n from -inf to E (a quartic per region, below), and the correction
    ``D(E)/40 sum_i e_i sum_j (e_j - e_i)`` equals ``D(E)/40 (S^2 - 4 Q)`` with S the sum and Q
    the sum of squares of the corner energies.
    """
    e1, e2, e3, e4 = es[0], es[1], es[2], es[3]
    total = e1 + e2 + e3 + e4
    bloechl = (total * total - 4.0 * (e1 * e1 + e2 * e2 + e3 * e3 + e4 * e4)) / 40.0  # times D(E)
    out = np.where(energy >= e4, 0.25 * total, 0.0)
    c1 = np.flatnonzero((energy >= e1) & (energy < e2))
    if c1.size:
        f1, f2, f3, f4 = e1[c1], e2[c1], e3[c1], e4[c1]
        x = energy - f1
        den = (f2 - f1) * (f3 - f1) * (f4 - f1)
        n, dos, integral = x**3 / den, 3.0 * x**2 / den, 0.25 * x**4 / den
        out[c1] = energy * n - integral + dos * bloechl[c1]
    c2 = np.flatnonzero((energy >= e2) & (energy < e3))
    if c2.size:
        f1, f2, f3, f4 = e1[c2], e2[c2], e3[c2], e4[c2]
        x = energy - f2
        a, b, c = f2 - f1, f3 - f1, f4 - f1
        k = (b + f4 - f2) / ((f3 - f2) * (f4 - f2))
        bc = b * c
        n = (a * a + 3.0 * a * x + 3.0 * x * x - k * x**3) / bc
        dos = (3.0 * a + 6.0 * x - 3.0 * k * x * x) / bc
        integral = (0.25 * a**3 + a * a * x + 1.5 * a * x * x + x**3 - 0.25 * k * x**4) / bc
        out[c2] = energy * n - integral + dos * bloechl[c2]
    c3 = np.flatnonzero((energy >= e3) & (energy < e4))
    if c3.size:
        f1, f2, f3, f4 = e1[c3], e2[c3], e3[c3], e4[c3]
        y = f4 - energy
        den = (f4 - f1) * (f4 - f2) * (f4 - f3)
        n, dos = 1.0 - y**3 / den, 3.0 * y**2 / den
        # I(E) = I(e4) - int_E^e4 n, and I(e4) = e4 - mean corner energy (the band energy of a full tetrahedron)
        integral = f4 - 0.25 * total[c3] - y + 0.25 * y**4 / den
        out[c3] = energy * n - integral + dos * bloechl[c3]
    return out


def _tetra_corner_weights(es: NDArray[np.float64], energy: float, *, bloechl: bool = True) -> NDArray[np.float64]:
    """Integration weights (4, T) at the sorted corners (4, T) of unit-weight tetrahedra.

    Bloechl et al. (1994), Appendix B, with the correction
    ``dw_i = D_T(E) / 40 * sum_j (e_j - e_i)`` when ``bloechl``.
    """
    e1, e2, e3, e4 = es[0], es[1], es[2], es[3]
    w = np.zeros(es.shape)
    dos = np.zeros(es.shape[1])
    w[:, energy >= e4] = 0.25
    c1 = np.flatnonzero((energy >= e1) & (energy < e2))
    if c1.size:
        x = energy - e1[c1]
        a, b, c = e2[c1] - e1[c1], e3[c1] - e1[c1], e4[c1] - e1[c1]
        cc = 0.25 * x**3 / (a * b * c)
        dos[c1] = 12.0 * cc / x
        w[0, c1] = cc * (4 - x * (1 / a + 1 / b + 1 / c))
        w[1, c1] = cc * x / a
        w[2, c1] = cc * x / b
        w[3, c1] = cc * x / c
    c2 = np.flatnonzero((energy >= e2) & (energy < e3))
    if c2.size:
        x1 = energy - e1[c2]
        x2 = energy - e2[c2]
        x3 = e3[c2] - energy
        x4 = e4[c2] - energy
        a31, a41 = e3[c2] - e1[c2], e4[c2] - e1[c2]
        a32, a42 = e3[c2] - e2[c2], e4[c2] - e2[c2]
        k1 = 0.25 * x1**2 / (a41 * a31)
        k2 = 0.25 * x1 * x2 * x3 / (a41 * a32 * a31)
        k3 = 0.25 * x2**2 * x4 / (a42 * a32 * a41)
        a21 = e2[c2] - e1[c2]
        kk = (a31 + a42) / (a32 * a42)
        dos[c2] = (3.0 * a21 + 6.0 * x2 - 3.0 * kk * x2 * x2) / (a31 * a41)
        w[0, c2] = k1 + (k1 + k2) * x3 / a31 + (k1 + k2 + k3) * x4 / a41
        w[1, c2] = k1 + k2 + k3 + (k2 + k3) * x3 / a32 + k3 * x4 / a42
        w[2, c2] = (k1 + k2) * x1 / a31 + (k2 + k3) * x2 / a32
        w[3, c2] = (k1 + k2 + k3) * x1 / a41 + k3 * x2 / a42
    c3 = np.flatnonzero((energy >= e3) & (energy < e4))
    if c3.size:
        x = e4[c3] - energy
        a, b, c = e4[c3] - e1[c3], e4[c3] - e2[c3], e4[c3] - e3[c3]
        cc = 0.25 * x**3 / (a * b * c)
        dos[c3] = 12.0 * cc / x
        w[0, c3] = 0.25 - cc * x / a
        w[1, c3] = 0.25 - cc * x / b
        w[2, c3] = 0.25 - cc * x / c
        w[3, c3] = 0.25 - cc * (4 - x * (1 / a + 1 / b + 1 / c))
    if bloechl:
        active = np.flatnonzero(dos > 0)
        if active.size:
            ea = es[:, active]
            w[:, active] += (dos[active] / 40.0)[None, :] * (ea.sum(axis=0, keepdims=True) - 4.0 * ea)
    return w


@dataclass
class _TetraSet:
    """Tetrahedra that may straddle E, plus totals of those known to lie below.

    Attributes:
        cube_lo: cubes with all corners <= cube_lo are counted as full (not in ``te``).
        n_below: electrons in full cubes and full tetrahedra.
        esum_below_tetra: band energy of the full tetrahedra kept out of ``te`` (not of full cubes).
        te: sorted corner energies of the remaining tetrahedra, shape (4, T).
    """

    cube_lo: float
    n_below: float
    esum_below_tetra: float
    te: NDArray[np.float64]

    def shrink(self, lo: float, hi: float, vt: float) -> _TetraSet:
        """Move tetrahedra entirely below ``lo`` into the totals and drop those above ``hi``."""
        te = self.te
        below = te[3] <= lo
        keep = ~below & (te[0] < hi)
        tb = te[:, below]
        return _TetraSet(self.cube_lo, self.n_below + vt * tb.shape[1],
                         self.esum_below_tetra + 0.25 * vt * float(tb.sum()), te[:, keep])


class _TetraProblem:
    """Eigenvalues on a full periodic mesh, reduced to the sub-cells that straddle E_F."""

    def __init__(self, eigs: NDArray[np.float64], mesh: tuple[int, int, int], rc: NDArray[np.float64],
                 degeneracy: float) -> None:
        nk = mesh[0] * mesh[1] * mesh[2]
        self.nspin, _, self.nb = eigs.shape
        self.mesh, self.nk = mesh, nk
        self.degeneracy = degeneracy
        self.vt = self.degeneracy / (6.0 * nk)  # electrons in one full tetrahedron (one band)
        self.eigs = eigs
        grid = eigs.reshape(self.nspin, *mesh, self.nb)
        # periodic padding by one point so that every sub-cell's corners are plain slices
        self.pad = np.pad(grid, ((0, 0), (0, 1), (0, 1), (0, 1), (0, 0)), mode="wrap")
        self.tetras = _tetrahedra_in_cube(rc, mesh)
        p = self.pad
        lo = np.minimum(p[:, :-1], p[:, 1:])
        lo = np.minimum(lo[:, :, :-1], lo[:, :, 1:])
        self.cmin = np.minimum(lo[:, :, :, :-1], lo[:, :, :, 1:])
        hi = np.maximum(p[:, :-1], p[:, 1:])
        hi = np.maximum(hi[:, :, :-1], hi[:, :, 1:])
        self.cmax = np.maximum(hi[:, :, :, :-1], hi[:, :, :, 1:])
        self.capacity = self.degeneracy * self.nspin * self.nb
        n1, n2, n3 = mesh
        strides = np.array([(n2 + 1) * (n3 + 1) * self.nb, (n3 + 1) * self.nb, self.nb])
        self.corner_offsets = _CORNERS @ strides
        self._base: NDArray[np.intp] | None = None
        self._cube_esum: NDArray[np.float64] | None = None
        share = np.zeros(8)
        for t in self.tetras:
            share[t] += 1.0 / 24.0  # a corner's share of a full sub-cell (sums to 1)
        self.corner_share = share

    def base(self) -> NDArray[np.intp]:
        """Flat index into ``pad`` of every sub-cell's origin corner, shaped like ``cmin``."""
        if self._base is None:
            n1, n2, n3 = self.mesh
            self._base = np.arange(self.pad.size).reshape(self.pad.shape)[:, :n1, :n2, :n3, :]
        return self._base

    def bracket(self, n_electrons: float) -> tuple[float, float]:
        """E_lo <= E_F <= E_hi from order statistics of sub-cell minima and maxima."""
        m = n_electrons / self.degeneracy * self.nk  # number of occupied cell-bands
        total = self.cmin.size
        k_lo = min(max(int(math.ceil(m - 1e-9)) - 1, 0), total - 1)
        k_hi = min(int(math.floor(m + 1e-9)), total - 1)
        e_lo = float(np.partition(self.cmin.reshape(-1), k_lo)[k_lo])
        e_hi = float(np.partition(self.cmax.reshape(-1), k_hi)[k_hi])
        return min(e_lo, e_hi), max(e_lo, e_hi)

    def corners(self, act: NDArray[np.bool_]) -> tuple[NDArray[np.float64], NDArray[np.intp]]:
        """Corner energies (C, 8) and flat ``pad`` indices (C, 8) of the selected sub-cells."""
        idx = self.base()[act][:, None] + self.corner_offsets[None, :]
        return self.pad.reshape(-1)[idx], idx

    def active(self, lo: float, hi: float) -> _TetraSet:
        """Tetrahedra that may be partly occupied for E in [lo, hi]."""
        full = self.cmax <= lo
        act = (self.cmin <= hi) & ~full
        n_full = float(np.count_nonzero(full)) * self.degeneracy / self.nk
        ce, _ = self.corners(act)
        # (4, C*6) corner energies, one contiguous row per tetrahedron corner
        te = np.stack([np.take(ce, self.tetras[:, j], axis=1).reshape(-1) for j in range(4)])
        c0, c1, c2, c3 = te[0], te[1], te[2], te[3]
        tmin = np.minimum(np.minimum(c0, c1), np.minimum(c2, c3))
        tmax = np.maximum(np.maximum(c0, c1), np.maximum(c2, c3))
        below = tmax <= lo
        keep = ~below & (tmin < hi)
        n_below = n_full + self.vt * float(np.count_nonzero(below))
        esum_below = 0.25 * self.vt * float(te[:, below].sum())
        return _TetraSet(lo, n_below, esum_below, _sort4(te[:, keep]))

    def full_cube_esum(self, lo: float) -> float:
        """Band energy (eV) of the full sub-cells (all corners <= lo)."""
        full = self.cmax <= lo
        if not full.any():
            return 0.0
        if self._cube_esum is None:
            # corner shares: 1/4 at both ends of the shared diagonal, 1/12 elsewhere
            p = self.pad
            s = p[:, :-1] + p[:, 1:]
            s = s[:, :, :-1] + s[:, :, 1:]
            s = s[:, :, :, :-1] + s[:, :, :, 1:]
            n1, n2, n3 = self.mesh
            d0, d1 = (_CORNERS[c] for c in (self.tetras[0, 0], self.tetras[0, 3]))
            diag = (p[:, d0[0]:d0[0] + n1, d0[1]:d0[1] + n2, d0[2]:d0[2] + n3]
                    + p[:, d1[0]:d1[0] + n1, d1[1]:d1[1] + n2, d1[2]:d1[2] + n3])
            self._cube_esum = s * (1.0 / 12.0) + diag * (1.0 / 6.0)
        return float(self._cube_esum[full].sum()) * self.degeneracy / self.nk

    def count(self, ts: _TetraSet, energy: float) -> tuple[float, float]:
        n, dos = _tetra_count_and_dos(ts.te, energy)
        return ts.n_below + self.vt * float(n.sum()), self.vt * float(dos.sum())

    def esum(self, ts: _TetraSet, energy: float) -> float:
        return self.full_cube_esum(ts.cube_lo) + ts.esum_below_tetra + self.vt * float(_tetra_band_energy(ts.te, energy).sum())

    def occupations(self, energy: float) -> NDArray[np.float64]:
        """Per-state integration weight / (1/N_k) at ``energy`` (shape (spin, N_k, band))."""
        full = (self.cmax <= energy).astype(np.float64)
        out = np.zeros(self.cmax.shape)
        for c, shift in enumerate(_CORNERS):
            if self.corner_share[c]:
                out += self.corner_share[c] * np.roll(full, shift=tuple(int(v) for v in shift), axis=(1, 2, 3))
        act = (self.cmin <= energy) & (self.cmax > energy)
        ce, ci = self.corners(act)
        te = ce[:, self.tetras].reshape(-1, 4)
        ti = ci[:, self.tetras].reshape(-1, 4)
        order = np.argsort(te, axis=1, kind="stable")
        te = np.take_along_axis(te, order, axis=1)
        ti = np.take_along_axis(ti, order, axis=1)
        w = _tetra_corner_weights(te.T, energy).T * (self.vt * self.nk / self.degeneracy)
        # padded flat index -> unpadded state index
        n1, n2, n3 = self.mesh
        s, i, j, k, b = np.unravel_index(ti.reshape(-1), self.pad.shape)
        state = ((((s * n1 + i % n1) * n2 + j % n2) * n3 + k % n3) * self.nb + b)
        flat = out.reshape(-1)
        np.add.at(flat, state, w.reshape(-1))
        return flat.reshape(self.eigs.shape)




def _newton_in_bracket(tp: _TetraProblem, n_electrons: float, a: float, b: float,
                       tol: float) -> tuple[float | None, _TetraSet, float]:
    """Safeguarded Newton/bisection in a guaranteed bracket, shrinking the active set."""
    ts = tp.active(a, b)
    width0 = b - a
    x = 0.5 * (a + b)
    for _ in range(200):
        n, dn = tp.count(ts, x)
        r = n - n_electrons
        if abs(r) <= tol:
            return x, ts, b
        if r < 0:
            a = x
        else:
            b = x
        if b - a <= 1e-13 * max(1.0, abs(x)):
            break
        if b - a < 0.25 * width0 and ts.te.shape[1] > 1000:
            ts = ts.shrink(a, b, tp.vt)
            width0 = b - a
        step = -r / dn if dn > 0 else np.inf
        x_new = x + step
        x = x_new if a < x_new < b else 0.5 * (a + b)
    return None, ts, b


def _newton_near_estimate(tp: _TetraProblem, n_electrons: float, a: float, b: float,
                          tol: float) -> tuple[float | None, _TetraSet | None]:
    """Fast path: Newton on the tetrahedra near a sub-cell-level estimate of E_F.

    Each straddling sub-cell's count is approximated as linear between its lowest and highest
    corner; the root ``e0`` of that estimate is close to E_F, so only sub-cells within a tenth
    of the bracket of ``e0`` are set up. Returns (None, None) when an iterate would leave that
    window (the caller then works on the whole bracket).
    """
    if b <= a:
        return None, None
    act = (tp.cmin <= b) & (tp.cmax > a)
    lo_c, hi_c = tp.cmin[act], tp.cmax[act]
    n_full = float(np.count_nonzero(tp.cmax <= a)) * tp.degeneracy / tp.nk
    span = np.where(hi_c > lo_c, hi_c - lo_c, 1.0)
    scale = tp.degeneracy / tp.nk

    def approx(energy: float) -> float:
        return n_full + scale * float(np.clip((energy - lo_c) / span, 0.0, 1.0).sum()) - n_electrons

    try:
        e0 = brentq(approx, a, b, xtol=1e-4 * (b - a))
    except ValueError:
        return None, None
    half = 0.1 * (b - a)
    lo, hi = max(a, e0 - half), min(b, e0 + half)
    ts = tp.active(lo, hi)
    left, right = lo, hi  # the root is known to lie in [left, right] once both ends are seen
    seen_left = lo == a
    seen_right = hi == b
    x = e0
    for _ in range(60):
        n, dn = tp.count(ts, x)
        r = n - n_electrons
        if abs(r) <= tol:
            return x, ts
        if r < 0:
            left, seen_left = x, True
        else:
            right, seen_right = x, True
        if right - left <= 1e-13 * max(1.0, abs(x)):
            return None, None
        x_new = x - r / dn if dn > 0 else np.nan
        if left < x_new < right:
            x = x_new
        elif seen_left and seen_right:
            x = 0.5 * (left + right)
        else:
            return None, None
    return None, None


def _solve_tetra(tp: _TetraProblem, n_electrons: float, homo_floor: float = -np.inf,
                 lumo_ceil: float = np.inf) -> tuple[float, _TetraSet]:
    """Fermi level of the tetrahedron method: safeguarded Newton on a shrinking active set."""
    _check_count(n_electrons, tp.capacity)
    tol = 1e-12 * max(1.0, n_electrons)
    a, b = tp.bracket(n_electrons)  # N(a) <= n_e <= N(b) by construction
    ef, ts = _newton_near_estimate(tp, n_electrons, a, b, tol)
    if ef is None:
        ef, ts, b = _newton_in_bracket(tp, n_electrons, a, b, tol)
    if ef is None:  # exactly flat bands: the count jumps at b; take the jump
        ef = b
    assert ts is not None  # the near-estimate path returns a set with its level; the bracket path always does
    # gap at E_F: no tetrahedron straddles it -> mid-gap
    _, dos = _tetra_count_and_dos(ts.te, ef)
    if not np.any(dos > 0):
        e = tp.eigs
        below, above = e[e <= ef], e[e > ef]
        homo = max(float(below.max()) if below.size else -np.inf, homo_floor)
        lumo = min(float(above.min()) if above.size else np.inf, lumo_ceil)
        if np.isfinite(homo) and np.isfinite(lumo):
            mid = 0.5 * (homo + lumo)
            ts_mid = tp.active(mid, mid)
            if abs(tp.count(ts_mid, mid)[0] - n_electrons) <= tol:
                return mid, ts_mid
    if not ts.cube_lo <= ef:
        ts = tp.active(ef, ef)
    return ef, ts.shrink(ef, ef, tp.vt)


# ----------------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------------


@dataclass
class _Solution:
    fermi: float
    e_band: float
    entropy: float
    occupations: Callable[[], NDArray[np.float64]]


@dataclass
class _Tetra:
    """Tetrahedron problem reduced to the (spin, band) channels that straddle an energy window.

    Channels entirely below the window are full (their count and band energy are plain sums),
    channels above it empty; only the rest go through the sub-cell machinery.
    """

    tp: _TetraProblem
    n_fixed: float
    esum_fixed: float
    full: NDArray[np.bool_]
    sel: NDArray[np.bool_]
    shape: tuple[int, int, int]
    homo_floor: float
    lumo_ceil: float

    def occupations(self, energy: float) -> NDArray[np.float64]:
        out = np.zeros(self.shape)
        view = out.transpose(1, 0, 2)  # (k, spin, band)
        view[:, self.full] = 1.0
        view[:, self.sel] = self.tp.occupations(energy)[0]
        return out


def _tetra_problem(eigs: ArrayLike, mesh: tuple[int, int, int] | None, reciprocal_cell: ArrayLike | None,
                   bz_to_ibz: ArrayLike | None, *, n_electrons: float | None = None,
                   window: tuple[float, float] | None = None) -> _Tetra:
    if mesh is None:
        raise ValueError("the tetrahedron method needs mesh=(n1, n2, n3) of the full regular k-mesh")
    e, _, degeneracy = _prepare(eigs, None)
    mesh = tuple(int(m) for m in mesh)  # type: ignore[assignment]
    if len(mesh) != 3 or min(mesh) < 1:
        raise ValueError(f"{mesh=} must be three positive integers")
    nk = mesh[0] * mesh[1] * mesh[2]
    if bz_to_ibz is not None:
        m = np.asarray(bz_to_ibz, dtype=np.intp)
        if m.shape != (nk,) or m.min() < 0 or m.max() >= e.shape[1]:
            raise ValueError(f"bz_to_ibz must map {nk} mesh points to the {e.shape[1]} k-points given")
        e = e[:, m, :]
    if e.shape[1] != nk:
        raise ValueError(f"tetrahedron method needs {nk} k-points for {mesh=}, got {e.shape[1]}")
    rc = np.eye(3) if reciprocal_cell is None else np.asarray(reciprocal_cell, dtype=np.float64)
    if rc.shape != (3, 3):
        raise ValueError(f"reciprocal_cell must be 3x3, got {rc.shape}")
    nspin, _, nb = e.shape
    bmin, bmax = e.min(axis=1), e.max(axis=1)  # (spin, band)
    if n_electrons is not None:
        _check_count(n_electrons, degeneracy * nspin * nb)
        m_occ = n_electrons / degeneracy  # occupied channels
        smin, smax = np.sort(bmin.ravel()), np.sort(bmax.ravel())
        k_lo = min(max(int(math.ceil(m_occ - 1e-9)) - 1, 0), smin.size - 1)
        k_hi = min(int(math.floor(m_occ + 1e-9)), smax.size - 1)
        lo, hi = min(smin[k_lo], smax[k_hi]), max(smin[k_lo], smax[k_hi])
    else:
        lo, hi = window if window is not None else (-np.inf, np.inf)
    full = bmax <= lo
    sel = ~full & (bmin < hi)
    n_fixed = degeneracy * float(full.sum())
    tol = 1e-9
    usable = sel.any() and (n_electrons is None
                            or n_fixed + tol < n_electrons <= n_fixed + degeneracy * float(sel.sum()) + tol)
    if not usable:  # gaps or flat bands at the band level: keep every channel
        full = np.zeros_like(full)
        sel = np.ones_like(sel)
        n_fixed = 0.0
    esum_fixed = degeneracy / nk * float((e.sum(axis=1) * full).sum())
    reduced = np.ascontiguousarray(e.transpose(1, 0, 2)[:, sel])[None]  # (1, k, channel)
    homo_floor = float(bmax[full].max()) if full.any() else -np.inf
    empty = ~full & ~sel
    lumo_ceil = float(bmin[empty].min()) if empty.any() else np.inf
    tp = _TetraProblem(reduced, mesh, rc, degeneracy)
    return _Tetra(tp, n_fixed, esum_fixed, full, sel, e.shape, homo_floor, lumo_ceil)


def _solve(eigs: ArrayLike, weights: ArrayLike | None, n_electrons: float, method: str, sigma_ev: float,
           order: int, mesh: tuple[int, int, int] | None, reciprocal_cell: ArrayLike | None,
           bz_to_ibz: ArrayLike | None) -> _Solution:
    _check_method(method, sigma_ev)
    if method == "tetrahedron":
        tt = _tetra_problem(eigs, mesh, reciprocal_cell, bz_to_ibz, n_electrons=float(n_electrons))
        ef, ts = _solve_tetra(tt.tp, float(n_electrons) - tt.n_fixed, tt.homo_floor, tt.lumo_ceil)
        e_band = tt.esum_fixed + float(tt.tp.esum(ts, ef))
        return _Solution(float(ef), e_band, 0.0, lambda: tt.occupations(ef))

    e, w_sk, degeneracy = _prepare(eigs, weights)
    prob = _SmearingProblem(e, w_sk, degeneracy, method, sigma_ev, order)
    _check_count(float(n_electrons), prob.capacity)
    mu, win = _solve_smearing(prob, float(n_electrons))
    if not win.lo <= mu - prob.xcut * prob.sigma or not mu + prob.xcut * prob.sigma <= win.hi:
        win = prob.window(mu - prob.xcut * prob.sigma, mu + prob.xcut * prob.sigma)
    f, _, s = distribution((win.e - mu) / prob.sigma, method, order=order)
    e_band = win.esum_below + _dot(win.w, f * win.e)
    entropy = -prob.sigma * _dot(win.w, s)

    def occ() -> NDArray[np.float64]:
        return distribution((e - mu) / prob.sigma, method, order=order)[0]

    return _Solution(mu, e_band, entropy, occ)


def fermi_level(
    eigs: ArrayLike,
    weights: ArrayLike | None,
    n_electrons: float,
    *,
    method: Method,
    sigma_ev: float = 0.1,
    order: int = 1,
    mesh: tuple[int, int, int] | None = None,
    reciprocal_cell: ArrayLike | None = None,
    bz_to_ibz: ArrayLike | None = None,
) -> float:
    """Fermi level (eV) that puts ``n_electrons`` electrons in the states.

    Args:
        eigs: eigenvalues (eV), shape (spin, kpt, band); spin is 1 or 2.
        weights: k-point weights, shape (kpt,) or (spin, kpt), normalised internally;
            ``None`` means uniform. Ignored by the tetrahedron method.
        n_electrons: number of electrons per cell (both spins).
        method: occupation method, see the module docstring.
        sigma_ev: smearing width (eV), > 0; ignored by the tetrahedron method.
        order: Methfessel-Paxton order (0 is Gaussian).
        mesh: the regular k-mesh (n1, n2, n3) for the tetrahedron method; k-points are in
            C order (first index slowest), as ``ase.dft.kpoints.monkhorst_pack`` makes them.
        reciprocal_cell: 3x3 reciprocal lattice vectors (rows, any units) used to choose the
            shortest main diagonal of the sub-cells; identity (cubic) if omitted.
        bz_to_ibz: for each full-mesh point, the index of its k-point in ``eigs`` (for
            eigenvalues given on the irreducible wedge).

    Returns:
        The Fermi level in eV. In a gap it is placed mid-gap (see the module docstring); when
        ``n_electrons`` fills every state it is the top of the spectrum (plus the smearing's
        numerical range for the smearing methods).

    Raises:
        ValueError: bad shapes, non-positive sigma, or an electron count outside (0, capacity].
    """
    return _solve(eigs, weights, n_electrons, method, sigma_ev, order, mesh, reciprocal_cell, bz_to_ibz).fermi


def occupations(
    eigs: ArrayLike,
    weights: ArrayLike | None,
    n_electrons: float,
    *,
    method: Method,
    sigma_ev: float = 0.1,
    order: int = 1,
    mesh: tuple[int, int, int] | None = None,
    reciprocal_cell: ArrayLike | None = None,
    bz_to_ibz: ArrayLike | None = None,
) -> tuple[NDArray[np.float64], float]:
    """Per-state occupations at the Fermi level.

    Arguments as :func:`fermi_level`.

    Returns:
        ``(f, fermi_level_ev)``: ``f`` has the shape of ``eigs`` and is the occupation of one
        state (no k-weight, no spin degeneracy), so that
        ``degeneracy * sum_sk w_k sum_n f_skn == n_electrons``. For the tetrahedron method
        ``f`` is the integration weight of each full-mesh state divided by ``1/N_k``
        (shape (spin, N_k, band); with Bloechl corrections it may leave [0, 1] slightly).
    """
    sol = _solve(eigs, weights, n_electrons, method, sigma_ev, order, mesh, reciprocal_cell, bz_to_ibz)
    return sol.occupations(), sol.fermi


def band_energy(
    eigs: ArrayLike,
    weights: ArrayLike | None,
    n_electrons: float,
    *,
    method: Method,
    sigma_ev: float = 0.1,
    order: int = 1,
    mesh: tuple[int, int, int] | None = None,
    reciprocal_cell: ArrayLike | None = None,
    bz_to_ibz: ArrayLike | None = None,
) -> BandEnergy:
    """Band energy: occupation-weighted sum of eigenvalues, with the entropy term apart.

    Arguments as :func:`fermi_level`.

    Returns:
        :class:`BandEnergy` with ``e_band_ev = deg * sum_skn w_k f_skn e_skn`` (eV per cell),
        ``entropy_term_ev = -sigma * deg * sum_skn w_k s(x_skn)`` (eV per cell; 0 for the
        tetrahedron method) and the Fermi level (eV).
    """
    sol = _solve(eigs, weights, n_electrons, method, sigma_ev, order, mesh, reciprocal_cell, bz_to_ibz)
    return BandEnergy(sol.e_band, sol.entropy, sol.fermi)


def eigenvalue_sum_vs_fermi_shift(
    eigs: ArrayLike,
    weights: ArrayLike | None,
    n_electrons: float,
    shifts_ev: ArrayLike,
    method: Method,
    sigma_ev: float = 0.1,
    *,
    order: int = 1,
    mesh: tuple[int, int, int] | None = None,
    reciprocal_cell: ArrayLike | None = None,
    bz_to_ibz: ArrayLike | None = None,
) -> FermiShiftCurve:
    """Protocol (b): eigenvalue sum below ``E_F + dE``, occupation-weighted by the method.

    ``E_F`` is found for ``n_electrons``; then for each shift ``dE`` the occupations are
    evaluated at ``E_F + dE`` with the same method and width (the tetrahedron method uses its
    Bloechl-corrected integration weights at ``E_F + dE``).

    Args:
        eigs, weights, n_electrons, method, sigma_ev, order, mesh, reciprocal_cell, bz_to_ibz:
            as :func:`fermi_level`.
        shifts_ev: the shifts dE (eV), shape (n,).

    Returns:
        A :class:`FermiShiftCurve`.
    """
    shifts = np.atleast_1d(np.asarray(shifts_ev, dtype=np.float64))
    sol = _solve(eigs, weights, n_electrons, method, sigma_ev, order, mesh, reciprocal_cell, bz_to_ibz)
    esum = np.empty_like(shifts)
    count = np.empty_like(shifts)
    ent = np.zeros_like(shifts)
    if method == "tetrahedron":
        window = (sol.fermi + float(shifts.min()), sol.fermi + float(shifts.max()))
        tt = _tetra_problem(eigs, mesh, reciprocal_cell, bz_to_ibz, window=window)
        for i, de in enumerate(shifts):
            energy = sol.fermi + de
            ts = tt.tp.active(energy, energy)
            esum[i] = tt.esum_fixed + tt.tp.esum(ts, energy)
            count[i] = tt.n_fixed + tt.tp.count(ts, energy)[0]
    else:
        e, w_sk, degeneracy = _prepare(eigs, weights)
        prob = _SmearingProblem(e, w_sk, degeneracy, method, sigma_ev, order)
        for i, de in enumerate(shifts):
            mu = sol.fermi + de
            win = prob.window(mu - prob.xcut * prob.sigma, mu + prob.xcut * prob.sigma)
            f, _, s = distribution((win.e - mu) / prob.sigma, method, order=order)
            esum[i] = win.esum_below + _dot(win.w, f * win.e)
            count[i] = win.n_below + _dot(win.w, f)
            ent[i] = -prob.sigma * _dot(win.w, s)
    return FermiShiftCurve(shifts, esum, count, ent, sol.fermi, method, float(sigma_ev))


def dos_at_fermi(eigs: ArrayLike, weights: ArrayLike | None, fermi_level_ev: float, *, sigma_ev: float = 0.1) -> float:
    """Gaussian-broadened DOS at ``fermi_level_ev`` (states/eV per cell, both spins).

    Args:
        eigs: eigenvalues (eV), shape (spin, kpt, band).
        weights: k-point weights (kpt,), normalised here; None for uniform.
        fermi_level_ev: energy at which to evaluate (eV).
        sigma_ev: Gaussian width (eV).
    """
    e = np.asarray(eigs, dtype=np.float64)
    if e.ndim != 3:
        raise ValueError(f"eigs must have shape (spin, kpt, band), got {e.shape}")
    if not sigma_ev > 0:
        raise ValueError(f"{sigma_ev=} must be positive")
    w = np.full(e.shape[1], 1.0 / e.shape[1]) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    deg = 2.0 if e.shape[0] == 1 else 1.0
    x = (e - fermi_level_ev) / sigma_ev
    g = np.exp(-np.minimum(x * x, 700.0)) / (math.sqrt(math.pi) * sigma_ev)
    return float(deg * (w[None, :, None] * g).sum())


def dos_tetrahedron(
    eigs: ArrayLike,
    energy_ev: float,
    *,
    mesh: tuple[int, int, int],
    reciprocal_cell: ArrayLike | None = None,
    bz_to_ibz: ArrayLike | None = None,
) -> float:
    """Density of states at ``energy_ev`` by linear tetrahedra (states/eV per cell, both spins).

    Arguments as :func:`fermi_level` for the tetrahedron method; this is ``dN/dE`` of the
    tetrahedron count, free of any broadening.
    """
    tt = _tetra_problem(eigs, mesh, reciprocal_cell, bz_to_ibz, window=(energy_ev, energy_ev))
    ts = tt.tp.active(energy_ev, energy_ev)
    return float(tt.tp.count(ts, energy_ev)[1])
