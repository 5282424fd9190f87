"""Benchmark: Fermi level + band energy for about 10^6 eigenvalues, per occupation method.

Prints, for every method, the time of :func:`analysis.electronic.smearing.band_energy` (which finds the
Fermi level and the band energy in one call) and the time of a straightforward baseline
measured in the same run: ``scipy.optimize.brentq`` on the electron count evaluated over all
states at every call (no sorting, windowing or reuse), followed by one more full pass for the
band energy. For the tetrahedron method the baseline evaluates every tetrahedron of the mesh
at each brentq call.

Usage:
    .venv/bin/python benchmarks/bench_smearing.py [--repeat 5]
    .venv/bin/python benchmarks/bench_smearing.py --smoke   # 10^4 eigenvalues, a 12^3 mesh, once (the test suite runs it)
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import brentq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from analysis.electronic import smearing as sm  # noqa: E402


def _spectrum(rng: np.random.Generator, n_k: int = 10_000) -> tuple[np.ndarray, np.ndarray, float]:
    """``n_k`` (10^4) k-points x 100 bands with k-weights, metallic; n_electrons gives E_F mid-spectrum."""
    eigs = np.sort(rng.uniform(-8.0, 12.0, size=(1, n_k, 100)), axis=-1)
    weights = rng.uniform(0.5, 1.5, size=n_k)
    return eigs, weights, 101.3


def _mesh_bands(kind: str, n: int = 40, nb: int = 16) -> tuple[np.ndarray, tuple[int, int, int], float]:
    """Bands on an n^3 mesh (n=40, 16 bands: 1.02e6 eigenvalues) and an electron count.

    kind 'metal': one wide free-electron-like band plus 15 narrow (0.9 eV) tight-binding bands
    1.5 eV apart, E_F inside one narrow band (two bands at E_F, like a transition metal).
    kind 'dense': 16 overlapping 6 eV-wide bands, about six at E_F (a harder case).
    """
    k = np.indices((n, n, n)).reshape(3, -1).T / n
    c = np.cos(2 * np.pi * k).sum(axis=1)
    if kind == "metal":
        kk = ((k + 0.5) % 1.0 - 0.5) * 2 * np.pi
        wide = -6.0 + 0.8 * (kk**2).sum(axis=1)
        narrow = [-7.0 + 1.5 * b + 0.15 * c for b in range(nb - 1)]
        bands = np.stack([wide, *narrow], axis=1)
        n_e = 2 * 7.5  # E_F inside the 8th narrow band
    else:
        c2 = np.cos(2 * np.pi * (k[:, 0] + k[:, 1])) + np.cos(2 * np.pi * (k[:, 1] + k[:, 2]))
        bands = np.stack([-6 + 0.9 * b + (1.0 + 0.1 * b) * c + 0.3 * (-1) ** b * c2 for b in range(nb)], axis=1)
        n_e = 13.0
    return np.sort(bands, axis=1)[None], (n, n, n), n_e


def _baseline_smearing(eigs, weights, n_e, method, sigma):
    w = weights / weights.sum()
    ws = 2.0 * np.broadcast_to(w[None, :, None], eigs.shape)

    def resid(mu):
        return float((ws * sm.distribution((eigs - mu) / sigma, method, order=1)[0]).sum()) - n_e

    mu = brentq(resid, eigs.min() - 10 * sigma, eigs.max() + 10 * sigma, xtol=1e-12)
    f = sm.distribution((eigs - mu) / sigma, method, order=1)[0]
    return mu, float((ws * f * eigs).sum())


def _baseline_tetra(eigs, mesh, n_e):
    n1, n2, n3 = mesh
    grid = eigs.reshape(1, n1, n2, n3, -1)
    tets = sm._tetrahedra_in_cube(np.eye(3), mesh)
    corners = [np.roll(grid, shift=(-di, -dj, -dk), axis=(1, 2, 3)).reshape(-1) for di, dj, dk in sm._CORNERS]
    ce = np.stack(corners, axis=1)
    te = np.sort(ce[:, tets].reshape(-1, 4), axis=1).T.copy()  # (4, T) sorted corners
    vt = 2.0 / (6.0 * n1 * n2 * n3)

    def resid(energy):
        return vt * float(sm._tetra_count_and_dos(te, energy)[0].sum()) - n_e

    ef = brentq(resid, eigs.min(), eigs.max(), xtol=1e-12)
    w = sm._tetra_corner_weights(te, ef) * vt
    return ef, float((w * te).sum())


def _best(fn, repeat):
    """Best wall time and best CPU time (s) over ``repeat`` calls, and the last result.

    CPU time (``time.process_time``) is reported too because this machine is shared: wall time
    includes waiting for a core, CPU time does not (the code here is single-threaded).
    """
    walls, cpus = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return min(walls), min(cpus), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="tiny size (100 k-points, a 12^3 mesh, once): checks that it runs")
    args = parser.parse_args()
    n_k, mesh_n = 10_000, 40
    if args.smoke:
        n_k, mesh_n, args.repeat = 100, 12, 1
    rng = np.random.default_rng(0)
    eigs, weights, n_e = _spectrum(rng, n_k)
    sigma = 0.1
    print(f"{eigs.size:.2e} eigenvalues, sigma = {sigma} eV; best of {args.repeat} runs")
    print(f"{'method':<20} {'ours (ms)':>10} {'ours CPU (ms)':>14} {'baseline (ms)':>14} {'speed-up':>9} "
          f"{'|dE_F| (eV)':>12} {'|dE_band| (eV)':>14}")
    for method in sm.SMEARING_METHODS:
        t_ours, c_ours, be = _best(lambda method=method: sm.band_energy(eigs, weights, n_e, method=method, sigma_ev=sigma), args.repeat)
        t_base, _, (mu, eb) = _best(lambda method=method: _baseline_smearing(eigs, weights, n_e, method, sigma), 1)
        print(f"{method:<20} {t_ours * 1e3:10.1f} {c_ours * 1e3:14.1f} {t_base * 1e3:14.1f} {t_base / t_ours:9.1f} "
              f"{abs(be.fermi_level_ev - mu):12.2e} {abs(be.e_band_ev - eb):14.2e}")
    for kind in ("metal", "dense"):
        teigs, mesh, n_e = _mesh_bands(kind, mesh_n)
        t_ours, c_ours, be = _best(lambda teigs=teigs, mesh=mesh, n_e=n_e: sm.band_energy(teigs, None, n_e, method="tetrahedron", mesh=mesh),
                                   args.repeat)
        t_base, _, (ef, eb) = _best(lambda teigs=teigs, mesh=mesh, n_e=n_e: _baseline_tetra(teigs, mesh, n_e), 1)
        label = f"tetrahedron ({kind})"
        print(f"{label:<20} {t_ours * 1e3:10.1f} {c_ours * 1e3:14.1f} {t_base * 1e3:14.1f} {t_base / t_ours:9.1f} "
              f"{abs(be.fermi_level_ev - ef):12.2e} {abs(be.e_band_ev - eb):14.2e}   ({teigs.size:.2e} eigenvalues, mesh {mesh})")


if __name__ == "__main__":
    main()
