"""Per-element electronic descriptors and their correlation with model errors.

Descriptors are computed from the curves of :mod:`analysis.electronic` (protocol (a):
band energy versus displacement delta; protocol (b): eigenvalue sum versus Fermi-level shift
dE) and, where noted, from the cached delta = 0 eigenvalues. Energies are per protocol cell,
in which exactly one atom is displaced, so the displacement descriptors are per displaced atom.

Definitions (``method`` is the reference occupation method, Gaussian by default; ``dEb(delta)``
is ``E_band(delta) - E_band(0)``):

* ``disp_slope_ev_per_a``: ``a`` of the least-squares fit ``dEb = a delta + b delta^2``
  (eV/Å); non-zero where the displacement is not a symmetric perturbation.
* ``disp_curvature_ev_per_a2``: ``2 b`` of that fit (eV/Å^2), the band-energy stiffness.
* ``disp_roughness_mev``: root-mean-square residual of that fit (meV); large when bands cross
  E_F along the path (kinks), zero for a smooth quadratic response.
* ``method_spread_mev``: the largest, over delta, of the spread (max - min over all occupation
  methods, tetrahedron included) of ``dEb(delta)`` (meV): how much the displacement response
  depends on the smearing scheme.
* ``dos_ef_states_per_ev``: density of states at E_F of the delta = 0 eigenvalues with Gaussian
  broadening ``sigma`` (states/eV per cell, both spins):
  ``g(E_F) = deg sum_k w_k sum_n exp(-((e_kn - E_F)/sigma)^2) / (sqrt(pi) sigma)``.
  This is ``dN/dmu`` of the Gaussian-smeared count.
* ``dos_ef_tetra_states_per_ev``: density of states at the tetrahedron-method E_F by linear
  tetrahedra (states/eV per cell, no broadening; much less sensitive to a coarse k-mesh than
  the Gaussian one). NaN when the full mesh is unknown.
* ``deband_dmu``: ``d E_sum / d mu`` at E_F from protocol (b) (eV/eV, i.e. electrons x eV per
  eV): the rate at which the occupation-weighted eigenvalue sum grows when the Fermi level is
  shifted; equals ``E_F g(E_F)`` for Gaussian smearing. Computed exactly from the eigenvalues
  when they are available, else by central differences of the curve.
* ``fermi_shift_roughness_mev``: root-mean-square residual (meV) of a cubic fit of
  ``E_sum(dE)`` over the whole shift window: structure in the DOS within +-0.5 eV of E_F.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from analysis.electronic import smearing as sm

DESCRIPTORS: dict[str, tuple[str, str]] = {
    "disp_slope_ev_per_a": ("eV/Å", "linear coefficient of the band-energy change with displacement"),
    "disp_curvature_ev_per_a2": ("eV/Å²", "second derivative of the band-energy change with displacement"),
    "disp_roughness_mev": ("meV", "RMS residual of the quadratic fit of the displacement curve"),
    "method_spread_mev": ("meV", "largest spread between occupation methods of the displacement response"),
    "dos_ef_states_per_ev": ("states/eV/cell", "Gaussian-broadened density of states at E_F"),
    "dos_ef_tetra_states_per_ev": ("states/eV/cell", "linear-tetrahedron density of states at E_F"),
    "deband_dmu": ("eV/eV", "derivative of the occupation-weighted eigenvalue sum with respect to E_F"),
    "fermi_shift_roughness_mev": ("meV", "RMS residual of a cubic fit of the eigenvalue sum over E_F +- 0.5 eV"),
}
"""Descriptor name -> (unit, one-line definition); full definitions in the module docstring."""


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


def deband_dmu_exact(eigs: ArrayLike, weights: ArrayLike | None, fermi_level_ev: float, *,
                     method: str = "gaussian", sigma_ev: float = 0.1, order: int = 1) -> float:
    """``d/dmu sum_kn w_k f((e_kn - mu)/sigma) e_kn`` at ``fermi_level_ev`` (eV/eV), smearing methods only."""
    e = np.asarray(eigs, dtype=np.float64)
    w = np.full(e.shape[1], 1.0 / e.shape[1]) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    deg = 2.0 if e.shape[0] == 1 else 1.0
    _, d, _ = sm.distribution((e - fermi_level_ev) / sigma_ev, method, order=order, entropy=False)
    return float(deg * (w[None, :, None] * d * e).sum() / sigma_ev)


def _polyfit_through_origin(x: NDArray[np.float64], y: NDArray[np.float64], degree: int) -> tuple[NDArray[np.float64], float]:
    """Least squares ``y = sum_{p=1..degree} c_p x^p``; returns (c_1..c_degree, RMS residual)."""
    a = np.stack([x**p for p in range(1, degree + 1)], axis=1)
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    resid = y - a @ coef
    return coef, float(np.sqrt(np.mean(resid**2)))


def descriptors_from_curves(curves: dict[str, Any], *, method: str = "gaussian", eigenvalues: Any = None,
                            dos_sigma_ev: float = 0.1) -> dict[str, float]:
    """All descriptors of one element (see the module docstring for definitions).

    Args:
        curves: as returned by :func:`analysis.electronic.load_curves`.
        method: reference occupation method for the single-method descriptors.
        eigenvalues: the delta = 0 :class:`analysis.electronic.Eigenvalues` (optional; enables the
            exact DOS and dE/dmu; without it the DOS comes from the Gaussian count curve).
        dos_sigma_ev: Gaussian width of the DOS (eV).
    """
    disp = curves["displacement"]
    delta = np.asarray(disp["deltas_a"], dtype=np.float64)
    methods = disp["methods"]
    eb = np.asarray(methods[method]["e_band_ev"], dtype=np.float64)
    deb = eb - eb[0]
    order0 = np.argsort(delta)
    if delta[order0[0]] != 0.0:
        raise ValueError("the displacement curve must start at delta = 0")
    (slope, quad), rms = _polyfit_through_origin(delta, deb, 2)
    shifts_all = np.stack([np.asarray(m["e_band_ev"], dtype=np.float64) - m["e_band_ev"][0] for m in methods.values()])
    spread = float((shifts_all.max(axis=0) - shifts_all.min(axis=0)).max())

    fs = curves["fermi_shift"]
    s = np.asarray(fs["shifts_ev"], dtype=np.float64)
    c = fs["methods"][method]
    esum = np.asarray(c["eigenvalue_sum_ev"], dtype=np.float64)
    i0 = int(np.argmin(np.abs(s)))
    ef = float(c["fermi_level_ev"])
    dos_tetra = float("nan")
    if eigenvalues is not None and eigenvalues.mesh is not None and "tetrahedron" in fs["methods"]:
        dos_tetra = sm.dos_tetrahedron(eigenvalues.eigs, float(fs["methods"]["tetrahedron"]["fermi_level_ev"]),
                                       mesh=eigenvalues.mesh, reciprocal_cell=eigenvalues.reciprocal_cell,
                                       bz_to_ibz=eigenvalues.bz_to_ibz)
    if eigenvalues is not None:
        dos = dos_at_fermi(eigenvalues.eigs, eigenvalues.weights, ef, sigma_ev=dos_sigma_ev)
        if method == "tetrahedron":
            dmu = float(np.gradient(esum, s)[i0])
        else:
            dmu = deband_dmu_exact(eigenvalues.eigs, eigenvalues.weights, ef, method=method,
                                   sigma_ev=float(curves.get("sigma_ev", dos_sigma_ev)), order=int(curves.get("mp_order", 1)))
    else:
        n_g = np.asarray(fs["methods"]["gaussian"]["n_electrons"], dtype=np.float64)
        dos = float(np.gradient(n_g, s)[i0])
        dmu = float(np.gradient(esum, s)[i0])
    (_c1, _c2, _c3), rough_fs = _polyfit_through_origin(s, esum - esum[i0], 3)
    return {
        "disp_slope_ev_per_a": float(slope),
        "disp_curvature_ev_per_a2": float(2.0 * quad),
        "disp_roughness_mev": 1e3 * rms,
        "method_spread_mev": 1e3 * spread,
        "dos_ef_states_per_ev": dos,
        "dos_ef_tetra_states_per_ev": dos_tetra,
        "deband_dmu": dmu,
        "fermi_shift_roughness_mev": 1e3 * rough_fs,
    }


def compute_descriptors(elements: Iterable[str] | None = None, *, root: Any = None, method: str = "gaussian"
                        ) -> pd.DataFrame:
    """Descriptor table (index ``element``, one column per :data:`DESCRIPTORS` entry).

    Elements without curves are left out. Eigenvalues are read from the cache next to the
    curves when present (see :func:`descriptors_from_curves`).
    """
    from pathlib import Path

    from analysis.electronic import protocols as el
    from analysis.core.config import data_dir, default_data_dir

    names = list(elements) if elements is not None else el.available_elements(root)
    rows = {}
    for symbol in names:
        curves = el.load_curves(symbol, root)
        if curves is None:
            continue
        ev = None
        keys = curves.get("scf_keys") or []
        roots = [Path(root)] if root is not None else [data_dir(), default_data_dir()]
        for r in roots:
            if keys:
                ev = el.load_scf(r / "electronic", keys[int(np.argmin(curves["displacement"]["deltas_a"]))])
            if ev is not None:
                break
        rows[symbol] = descriptors_from_curves(curves, method=method, eigenvalues=ev)
    df = pd.DataFrame.from_dict(rows, orient="index", columns=list(DESCRIPTORS))
    df.index.name = "element"
    return df


# ============================================================================ correlation


def _pearson_rows(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    """Pearson r of each row pair (bootstrap resamples); NaN for constant rows."""
    xc = x - x.mean(axis=1, keepdims=True)
    yc = y - y.mean(axis=1, keepdims=True)
    den = np.sqrt((xc * xc).sum(axis=1) * (yc * yc).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (xc * yc).sum(axis=1) / den, np.nan)


def _rank_rows(a: NDArray[np.float64]) -> NDArray[np.float64]:
    from scipy.stats import rankdata

    return rankdata(a, axis=1)


def correlate(descriptors_df: pd.DataFrame, errors_df: pd.DataFrame, *, metrics: Sequence[str] | None = None,
              temperature: str | None = "all", n_boot: int = 2000, ci: float = 0.95, seed: int = 0,
              min_elements: int = 4) -> pd.DataFrame:
    """Correlation of every descriptor with every model's per-element error.

    Args:
        descriptors_df: index (or column) ``element``, one numeric column per descriptor.
        errors_df: long table with columns ``element``, ``model`` and error metric columns (the
            output of :func:`analysis.metrics.tables.compute_metrics_table`); with a ``temperature``
            column, only rows equal to ``temperature`` are used (None: no filtering).
        metrics: error columns to correlate (default: every numeric column whose name contains
            'rmse' or 'mae').
        n_boot: bootstrap resamples of the elements (resampling element pairs with replacement).
        ci: confidence level of the percentile bootstrap interval.
        seed: seed of the bootstrap generator (results are reproducible).
        min_elements: fewer paired elements than this give NaN statistics.

    Returns:
        One row per (descriptor, model, metric) with columns ``descriptor``, ``model``,
        ``metric``, ``n``, ``pearson_r``, ``pearson_p``, ``pearson_ci_low``,
        ``pearson_ci_high``, ``spearman_r``, ``spearman_p``, ``spearman_ci_low``,
        ``spearman_ci_high``.
    """
    from scipy.stats import pearsonr, spearmanr

    if not 0 < ci < 1:
        raise ValueError(f"{ci=} must be in (0, 1)")
    desc = descriptors_df.set_index("element") if "element" in descriptors_df.columns else descriptors_df
    err = errors_df
    if not {"element", "model"} <= set(err.columns):
        raise ValueError(f"errors_df needs 'element' and 'model' columns, has {list(err.columns)}")
    if temperature is not None and "temperature" in err.columns:
        err = err[err["temperature"].astype(str) == str(temperature)]
    if metrics is None:
        metrics = [c for c in err.columns if ("rmse" in c or "mae" in c) and pd.api.types.is_numeric_dtype(err[c])]
    missing = [m for m in metrics if m not in err.columns]
    if missing:
        raise ValueError(f"error columns not found: {missing}")
    rng = np.random.default_rng(seed)
    alpha = (1.0 - ci) / 2.0
    rows = []
    for model, group in err.groupby("model", sort=True):
        g = group.groupby("element")[list(metrics)].mean()
        common = desc.index.intersection(g.index)
        for descriptor in desc.columns:
            x_all = pd.to_numeric(desc.loc[common, descriptor], errors="coerce")
            for metric in metrics:
                y_all = g.loc[common, metric]
                ok = x_all.notna() & y_all.notna()
                x = x_all[ok].to_numpy(dtype=np.float64)
                y = y_all[ok].to_numpy(dtype=np.float64)
                row: dict[str, Any] = {"descriptor": descriptor, "model": model, "metric": metric, "n": int(len(x))}
                stats = dict.fromkeys(["pearson_r", "pearson_p", "pearson_ci_low", "pearson_ci_high", "spearman_r",
                                       "spearman_p", "spearman_ci_low", "spearman_ci_high"], np.nan)
                if len(x) >= min_elements and np.ptp(x) > 0 and np.ptp(y) > 0:
                    pr = pearsonr(x, y)
                    sr = spearmanr(x, y)
                    idx = rng.integers(0, len(x), size=(n_boot, len(x)))
                    xb, yb = x[idx], y[idx]
                    boot_p = _pearson_rows(xb, yb)
                    boot_s = _pearson_rows(_rank_rows(xb), _rank_rows(yb))
                    stats.update(
                        pearson_r=float(pr.statistic), pearson_p=float(pr.pvalue),
                        pearson_ci_low=float(np.nanquantile(boot_p, alpha)),
                        pearson_ci_high=float(np.nanquantile(boot_p, 1 - alpha)),
                        spearman_r=float(sr.statistic), spearman_p=float(sr.pvalue),
                        spearman_ci_low=float(np.nanquantile(boot_s, alpha)),
                        spearman_ci_high=float(np.nanquantile(boot_s, 1 - alpha)),
                    )
                row.update(stats)
                rows.append(row)
    columns = ["descriptor", "model", "metric", "n", "pearson_r", "pearson_p", "pearson_ci_low", "pearson_ci_high",
               "spearman_r", "spearman_p", "spearman_ci_low", "spearman_ci_high"]
    return pd.DataFrame(rows, columns=columns)
