"""Per-element electronic descriptors and their correlation with model errors.

Descriptors are computed from the curves of :mod:`analysis.electronic.protocols` (protocol (a):
total and band energy versus displacement delta of one atom; protocol (b): eigenvalue sum versus
Fermi-level shift dE) and, where noted, from the cached delta = 0 eigenvalues.

Every descriptor is a physical observable, not an artefact of a choice of the calculation:

* **gauge**: invariant under a constant shift of every eigenvalue (E_F moves with them). GPAW's
  eigenvalues sit on an arbitrary energy zero (E_F runs from 0.06 eV for Na to 15.7 eV for Os), so
  no descriptor contains E_F or an eigenvalue itself, only differences ``e - E_F``;
* **size**: per atom (spectral descriptors) or per displaced atom (displacement descriptors, where
  one atom of the protocol cell moves), so a 4-atom Ga cell compares with a 2-atom bcc one;
* **permutation**: no descriptor depends on the order of the atoms.

Definitions (``method`` is the reference occupation method, Gaussian by default; ``N_at`` the atoms
of the protocol cell; ``dE(delta) = E(delta) - E(0)``):

* ``disp_slope_ev_per_a``: ``a`` of the least-squares fit ``dE_tot = a delta + b delta^2`` of the
  *total* energy (eV/Å per displaced atom); minus the force on the displaced atom along the path.
* ``disp_stiffness_ev_per_a2``: ``2 b`` of that fit (eV/Å^2): the physical stiffness of the
  displaced atom (positive at a stable site).
* ``band_curvature_ev_per_a2``: the same curvature of the band energy (eV/Å^2), kept for comparison
  with the paper's eigenvalue-sum curves; it has the opposite sign to the stiffness in metals (the
  band energy falls as the atom moves and the double-counting terms rise).
* ``disp_roughness_mev``: root-mean-square residual of the quadratic fit of ``dE_band`` (meV per
  displaced atom); large when bands cross E_F along the path (kinks).
* ``method_spread_mev``: the largest, over delta, of the spread (max - min over all occupation
  methods, tetrahedron included) of ``dE_band(delta)`` (meV per displaced atom).
* ``dos_ef_tetra_per_atom``: the density of states at the tetrahedron-method E_F by linear
  tetrahedra (states/eV/atom, both spins, no broadening): the reference DOS descriptor. Taken from
  the curves' ``dos_at_fermi`` block (non-self-consistent dense meshes of the primitive cell, the
  densest mesh) when present, else from the protocol cell's delta = 0 mesh; NaN when the full
  k-mesh is unknown.
* ``dos_ef_gauss_per_atom``: the Gaussian-broadened alternative,
  ``g(E_F) = deg sum_k w_k sum_n exp(-((e_kn - E_F)/sigma)^2) / (sqrt(pi) sigma) / N_at``
  (states/eV/atom); on a coarse mesh it depends on sigma and the mesh far more than the
  tetrahedron value.
* ``dband_dmu_per_atom``: ``d/dmu sum_kn w_k f((e_kn - mu)/sigma) (e_kn - E_F)`` at ``mu = E_F``
  per atom (dimensionless, electrons/atom): the first moment of the smeared DOS about E_F, i.e.
  how asymmetric the states at the Fermi level are (zero for a flat DOS). The eigenvalue-sum
  derivative without the reference ``E_F`` equals ``E_F g(E_F)`` plus this and is gauge-dependent.
* ``fermi_shift_roughness_mev``: root-mean-square residual (meV/atom) of a cubic fit of the
  gauge-invariant band sum ``S(dE) = E_sum(dE) - E_F N(dE)`` over the shift window (``N`` the
  electron count at ``E_F + dE``): structure in the DOS within +-0.5 eV of E_F.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from analysis.electronic import smearing as sm
from analysis.electronic.protocols import at_reference_state, available_elements, electronic_roots, load_curves
from analysis.electronic.scf_cache import load_scf
from analysis.electronic.smearing import dos_at_fermi  # the Gaussian DOS at E_F, a descriptor too

DESCRIPTORS: dict[str, tuple[str, str]] = {
    "disp_slope_ev_per_a": ("eV/Å", "linear coefficient of the total-energy change with displacement"),
    "disp_stiffness_ev_per_a2": ("eV/Å²", "second derivative of the total energy with displacement (stiffness)"),
    "band_curvature_ev_per_a2": ("eV/Å²", "second derivative of the band energy with displacement"),
    "disp_roughness_mev": ("meV", "RMS residual of the quadratic fit of the band-energy displacement curve"),
    "method_spread_mev": ("meV", "largest spread between occupation methods of the displacement response"),
    "dos_ef_tetra_per_atom": ("states/eV/atom", "tetrahedron density of states at E_F"),
    "dos_ef_gauss_per_atom": ("states/eV/atom", "Gaussian-broadened density of states at E_F (alternative)"),
    "dband_dmu_per_atom": ("electrons/atom", "first moment of the smeared DOS about E_F (band-sum response to E_F)"),
    "fermi_shift_roughness_mev": ("meV/atom", "RMS residual of a cubic fit of the band sum relative to E_F over E_F +- 0.5 eV"),
}
"""Descriptor name -> (unit, one-line definition); full definitions in the module docstring."""


def deband_dmu_exact(eigs: ArrayLike, weights: ArrayLike | None, fermi_level_ev: float, *,
                     method: str = "gaussian", sigma_ev: float = 0.1, order: int = 1) -> float:
    """``d/dmu sum_kn w_k f((e_kn - mu)/sigma) (e_kn - E_F)`` at ``mu = E_F = fermi_level_ev`` (per cell,
    electrons), smearing methods only: the first moment of the smeared DOS about E_F, invariant under a
    constant shift of the spectrum."""
    e = np.asarray(eigs, dtype=np.float64)
    w = np.full(e.shape[1], 1.0 / e.shape[1]) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    deg = 2.0 if e.shape[0] == 1 else 1.0
    _, d, _ = sm.distribution((e - fermi_level_ev) / sigma_ev, method, order=order, entropy=False)
    return float(deg * (w[None, :, None] * d * (e - fermi_level_ev)).sum() / sigma_ev)


def _polyfit_through_origin(x: NDArray[np.float64], y: NDArray[np.float64], degree: int) -> tuple[NDArray[np.float64], float]:
    """Least squares ``y = sum_{p=1..degree} c_p x^p``; returns (c_1..c_degree, RMS residual)."""
    a = np.stack([x**p for p in range(1, degree + 1)], axis=1)
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    resid = y - a @ coef
    return np.asarray(coef, dtype=np.float64), float(np.sqrt(np.mean(resid**2)))


def descriptors_from_curves(curves: dict[str, Any], *, method: str = "gaussian", eigenvalues: Any = None,
                            dos_sigma_ev: float = 0.1) -> dict[str, float]:
    """All descriptors of one element (see the module docstring for definitions).

    Args:
        curves: as returned by :func:`analysis.electronic.protocols.load_curves`.
        method: reference occupation method for the single-method descriptors.
        eigenvalues: the delta = 0 :class:`analysis.electronic.eigenvalues.Eigenvalues` (optional;
            enables the tetrahedron DOS and the exact dband/dmu; without it the Gaussian DOS and
            dband/dmu come from the curves by central differences).
        dos_sigma_ev: Gaussian width of the DOS (eV).
    """
    n_atoms = int(curves.get("n_atoms") or (curves.get("settings") or {}).get("n_atoms") or 1)
    disp = curves["displacement"]
    delta = np.asarray(disp["deltas_a"], dtype=np.float64)
    methods = disp["methods"]
    eb = np.asarray(methods[method]["e_band_ev"], dtype=np.float64)
    deb = eb - eb[0]
    if delta[int(np.argsort(delta)[0])] != 0.0:
        raise ValueError("the displacement curve must start at delta = 0")
    (_band_slope, band_quad), rms = _polyfit_through_origin(delta, deb, 2)
    total = disp.get("total_energy_ev")
    etot = np.asarray(total if total is not None else [np.nan] * len(delta), dtype=np.float64)
    (slope, quad), _ = _polyfit_through_origin(delta, etot - etot[0], 2)
    shifts_all = np.stack([np.asarray(m["e_band_ev"], dtype=np.float64) - m["e_band_ev"][0] for m in methods.values()])
    spread = float((shifts_all.max(axis=0) - shifts_all.min(axis=0)).max())

    fs = curves["fermi_shift"]
    s = np.asarray(fs["shifts_ev"], dtype=np.float64)
    c = fs["methods"][method]
    ef = float(c["fermi_level_ev"])
    # the band sum measured from the reference E_F: S = E_sum - E_F N is invariant under a constant shift
    band_sum = np.asarray(c["eigenvalue_sum_ev"], dtype=np.float64) - ef * np.asarray(c["n_electrons"], dtype=np.float64)
    i0 = int(np.argmin(np.abs(s)))
    dos_tetra = float("nan")
    if eigenvalues is not None and eigenvalues.mesh is not None and "tetrahedron" in fs["methods"]:
        dos_tetra = sm.dos_tetrahedron(eigenvalues.eigs, float(fs["methods"]["tetrahedron"]["fermi_level_ev"]),
                                       mesh=eigenvalues.mesh, reciprocal_cell=eigenvalues.reciprocal_cell,
                                       bz_to_ibz=eigenvalues.bz_to_ibz)
    if eigenvalues is not None:
        dos = dos_at_fermi(eigenvalues.eigs, eigenvalues.weights, ef, sigma_ev=dos_sigma_ev)
        if method == "tetrahedron":
            dmu = float(np.gradient(band_sum, s)[i0])
        else:
            dmu = deband_dmu_exact(eigenvalues.eigs, eigenvalues.weights, ef, method=method,
                                   sigma_ev=float(curves.get("sigma_ev", dos_sigma_ev)), order=int(curves.get("mp_order", 1)))
    else:
        n_g = np.asarray(fs["methods"]["gaussian"]["n_electrons"], dtype=np.float64)
        dos = float(np.gradient(n_g, s)[i0])
        dmu = float(np.gradient(band_sum, s)[i0])
    (_c1, _c2, _c3), rough_fs = _polyfit_through_origin(s, band_sum - band_sum[i0], 3)
    dense = curves.get("dos_at_fermi")
    if dense:  # the converged dense-mesh values of the primitive cell (already per atom)
        dos_tetra = float(dense["dos_ef_tetra_per_atom"][-1]) * n_atoms
        dos = float(dense["dos_ef_gauss_per_atom"][-1]) * n_atoms
    return {
        "disp_slope_ev_per_a": float(slope),
        "disp_stiffness_ev_per_a2": float(2.0 * quad),
        "band_curvature_ev_per_a2": float(2.0 * band_quad),
        "disp_roughness_mev": 1e3 * rms,
        "method_spread_mev": 1e3 * spread,
        "dos_ef_tetra_per_atom": dos_tetra / n_atoms,
        "dos_ef_gauss_per_atom": dos / n_atoms,
        "dband_dmu_per_atom": dmu / n_atoms,
        "fermi_shift_roughness_mev": 1e3 * rough_fs / n_atoms,
    }


def compute_descriptors(elements: Iterable[str] | None = None, *, root: Any = None, method: str = "gaussian",
                        reference_state_only: bool = False) -> pd.DataFrame:
    """Descriptor table (index ``element``, one column per :data:`DESCRIPTORS` entry).

    Elements without curves are left out, and with ``reference_state_only`` also those whose curves
    were computed off the frames' reference state (settings version 2;
    :func:`analysis.electronic.protocols.at_reference_state`), so one table never mixes the two.
    Eigenvalues are read from the cache next to the curves when present (see :func:`descriptors_from_curves`).
    """
    names = list(elements) if elements is not None else available_elements(root)
    rows = {}
    for symbol in names:
        curves = load_curves(symbol, root)
        if curves is None or (reference_state_only and not at_reference_state(curves)):
            continue
        ev = None
        keys = curves.get("scf_keys") or []
        for r in electronic_roots(root):
            if keys:
                ev = load_scf(r / "electronic", keys[int(np.argmin(curves["displacement"]["deltas_a"]))])
            if ev is not None:
                break
        rows[symbol] = descriptors_from_curves(curves, method=method, eigenvalues=ev)
    df = pd.DataFrame.from_dict(rows, orient="index", columns=list(DESCRIPTORS))
    df.index.name = "element"
    return df


# ============================================================================ correlation


def adjust_p_values(p: ArrayLike, *, method: str = "bh") -> NDArray[np.float64]:
    """Multiple-testing adjustment of ``p`` (NaN entries are left out and stay NaN).

    Args:
        p: raw p-values.
        method: ``"bh"`` (Benjamini-Hochberg, false discovery rate) or ``"holm"`` (Holm-Bonferroni,
            family-wise error rate).
    """
    if method not in ("bh", "holm"):
        raise ValueError(f"{method=} must be 'bh' or 'holm'")
    p = np.asarray(p, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    ranked = p[order]
    if method == "holm":
        adj = np.maximum.accumulate((m - np.arange(m)) * ranked)
    else:
        adj = np.minimum.accumulate((m / np.arange(1, m + 1) * ranked)[::-1])[::-1]
    out[order] = np.minimum(adj, 1.0)
    return out


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


def _residual_rows(a: NDArray[np.float64], z: NDArray[np.float64]) -> NDArray[np.float64]:
    """Residuals of each row of ``a`` after a least-squares line in the matching row of ``z``."""
    zc = z - z.mean(axis=1, keepdims=True)
    ac = a - a.mean(axis=1, keepdims=True)
    den = (zc * zc).sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        beta = np.where(den > 0, (zc * ac).sum(axis=1, keepdims=True) / den, 0.0)
    return ac - beta * zc


def partial_spearman(x: ArrayLike, y: ArrayLike, z: ArrayLike) -> tuple[float, float]:
    """Partial rank correlation of ``x`` and ``y`` controlling for ``z``, and its two-sided p-value.

    The ranks of ``x`` and ``y`` are each regressed linearly on the ranks of ``z``; the result is the
    Pearson correlation of the residuals, tested with a t statistic on ``n - 3`` degrees of freedom.
    NaN when fewer than 4 points or a residual is constant.
    """
    from scipy.stats import rankdata
    from scipy.stats import t as student_t

    xa, ya, za = (np.asarray(v, dtype=np.float64) for v in (x, y, z))
    n = len(xa)
    if n < 4 or not (len(ya) == len(za) == n):
        return float("nan"), float("nan")
    rx, ry, rz = (rankdata(v)[None, :] for v in (xa, ya, za))
    r = float(_pearson_rows(_residual_rows(rx, rz), _residual_rows(ry, rz))[0])
    if not np.isfinite(r):
        return float("nan"), float("nan")
    r = float(np.clip(r, -1.0, 1.0))
    dof = n - 3
    if abs(r) >= 1.0:
        return r, 0.0
    tstat = r * math.sqrt(dof / (1.0 - r * r))
    return r, float(2.0 * student_t.sf(abs(tstat), dof))


def correlation_caveats(errors_df: pd.DataFrame) -> list[str]:
    """Warnings a reader needs beside correlations computed from ``errors_df`` (one line each).

    * every element was sampled at a single temperature, and the temperatures differ between
      elements: any error-descriptor correlation may be carried by the sampling temperature;
    * fewer than 10 elements: intervals are wide and p-values unreliable.
    """
    out: list[str] = []
    if not {"element", "temperature"} <= set(errors_df.columns):
        return out
    temps = errors_df[errors_df["temperature"].astype(str) != "all"][["element", "temperature"]].drop_duplicates()
    per_element = temps.groupby("element")["temperature"].nunique()
    if len(per_element) and int(per_element.max()) == 1 and temps["temperature"].nunique() > 1:
        out.append(
            "Each element was sampled at one temperature, and the temperatures differ between elements "
            f"({temps['temperature'].nunique()} distinct values): errors grow with temperature, so a correlation "
            "with a descriptor may be carried by the sampling temperature. Read the partial correlation "
            "(temperature held fixed) and the relative errors."
        )
    n_el = int(errors_df["element"].nunique())
    if 0 < n_el < 10:
        out.append(f"Only {n_el} elements: bootstrap intervals are wide and p-values unreliable.")
    return out


def correlate(descriptors_df: pd.DataFrame, errors_df: pd.DataFrame, *, metrics: Sequence[str] | None = None,
              temperature: str | None = "all", n_boot: int = 2000, ci: float = 0.95, seed: int = 0,
              min_elements: int = 4, covariate: pd.Series | None = None) -> pd.DataFrame:
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
        covariate: per-element control variable (index ``element``), for example the sampling
            temperature; adds the partial rank correlation holding it fixed
            (:func:`partial_spearman`) with its bootstrap interval and adjusted p-values.

    Returns:
        One row per (descriptor, model, metric) with columns ``descriptor``, ``model``,
        ``metric``, ``n``, ``pearson_r``, ``pearson_p``, ``pearson_ci_low``,
        ``pearson_ci_high``, ``spearman_r``, ``spearman_p``, ``spearman_ci_low``,
        ``spearman_ci_high``, and the p-values adjusted across every row of the table (the
        family of tests run together): ``pearson_p_holm``, ``pearson_p_bh``, ``spearman_p_holm``,
        ``spearman_p_bh`` (:func:`adjust_p_values`). With ``covariate``: ``partial_spearman_r``,
        ``partial_spearman_p``, ``partial_spearman_ci_low``, ``partial_spearman_ci_high``,
        ``partial_spearman_p_holm``, ``partial_spearman_p_bh``.
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
                if covariate is not None:
                    z_all = pd.to_numeric(covariate.reindex(x_all[ok].index), errors="coerce").to_numpy(dtype=np.float64)
                    pstats = dict.fromkeys(["partial_spearman_r", "partial_spearman_p", "partial_spearman_ci_low",
                                            "partial_spearman_ci_high"], np.nan)
                    if len(x) >= max(min_elements, 4) and np.isfinite(z_all).all() and np.ptp(x) > 0 and np.ptp(y) > 0:
                        r_p, p_p = partial_spearman(x, y, z_all)
                        idx = rng.integers(0, len(x), size=(n_boot, len(x)))
                        rx, ry, rz = _rank_rows(x[idx]), _rank_rows(y[idx]), _rank_rows(z_all[idx])
                        boot = _pearson_rows(_residual_rows(rx, rz), _residual_rows(ry, rz))
                        pstats.update(partial_spearman_r=r_p, partial_spearman_p=p_p,
                                      partial_spearman_ci_low=float(np.nanquantile(boot, alpha)),
                                      partial_spearman_ci_high=float(np.nanquantile(boot, 1 - alpha)))
                    stats.update(pstats)
                row.update(stats)
                rows.append(row)
    columns = ["descriptor", "model", "metric", "n", "pearson_r", "pearson_p", "pearson_ci_low", "pearson_ci_high",
               "spearman_r", "spearman_p", "spearman_ci_low", "spearman_ci_high"]
    stats_names = ["pearson", "spearman"]
    if covariate is not None:
        columns += ["partial_spearman_r", "partial_spearman_p", "partial_spearman_ci_low", "partial_spearman_ci_high"]
        stats_names.append("partial_spearman")
    out = pd.DataFrame(rows, columns=columns)
    # every (descriptor, model, metric) row is one test of the same family: adjust across all of them
    for stat in stats_names:
        out[f"{stat}_p_holm"] = adjust_p_values(out[f"{stat}_p"].to_numpy(), method="holm")
        out[f"{stat}_p_bh"] = adjust_p_values(out[f"{stat}_p"].to_numpy(), method="bh")
    return out
