"""k-mesh convergence of the protocol curves: the displacement descriptors at several k-point densities.

For one element, the SCFs of protocol (a) are run (or reused from the cache: they are keyed by
structure and settings like every protocol SCF) at each density of ``densities`` for the
displacements ``deltas_a``; the production density's SCFs are the production curves' own. For
each density the record holds the total-energy stiffness, the band-energy curvature, the force
on the displaced atom at the largest displacement and the spread between occupation methods,
so ``docs/descriptors.md`` can show how far each moves when the mesh is refined.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from analysis.electronic import protocols as pr
from analysis.electronic.scf_cache import electronic_dir, write_json


def _quadratic_through_origin(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    a = np.stack([x, x**2], axis=1)
    (c1, c2), *_ = np.linalg.lstsq(a, y, rcond=None)
    return float(c1), float(c2)


def kmesh_convergence(symbol: str, densities: Sequence[float], deltas_a: Sequence[float], *,
                      root: str | Path | None = None, settings: dict[str, Any] | None = None,
                      progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Displacement descriptors of ``symbol`` at each k-point density (Å, as ``kpt_density``).

    Returns:
        JSON-ready dict with ``densities``, ``deltas_a`` and, per density, ``mesh``,
        ``stiffness_ev_per_a2`` (2x the quadratic coefficient of the total energy),
        ``band_curvature_ev_per_a2`` (the same for the Gaussian band energy), ``force_max_delta_ev_per_a``
        (force on the displaced atom along the displacement at the largest delta), ``method_spread_mev``
        and ``cpu_s``; also written to ``<root>/electronic/kconv_<El>.json``.
    """
    from analysis.electronic.reference_state import reference_state
    from analysis.reference.gpaw_calc import kpoint_mesh

    base_settings = dict(settings or pr.SETTINGS)
    state = reference_state(symbol)
    directory = electronic_dir(Path(root) if root is not None else None)
    directory.mkdir(parents=True, exist_ok=True)
    cell = pr.protocol_cell(symbol, base_settings, volume_per_atom=state.volume_per_atom_a3, covera=state.covera)
    rows = []
    for density in densities:
        s = {**base_settings, "kpt_density": float(density)}
        steps = []
        cpu = 0.0
        for delta in deltas_a:
            ev, meta = pr.run_scf(symbol, pr.displaced(cell, float(delta), s), s, directory)
            cpu += float(meta.get("cpu_s", 0.0))
            steps.append((float(delta), ev, meta))
            if progress:
                progress(f"{symbol} kconv density={density} delta={delta:.3f} "
                         f"{'cached' if meta.get('cached') else 'computed'} wall={meta['wall_s']:.1f} s")
        curves = pr.curves_from_eigenvalues(steps, {**s, "deltas_a": list(deltas_a)})
        disp = curves["displacement"]
        x = np.asarray(disp["deltas_a"], dtype=np.float64)
        etot = np.asarray(disp["total_energy_ev"], dtype=np.float64)
        eb = np.asarray(disp["methods"]["gaussian"]["e_band_ev"], dtype=np.float64)
        _, q_tot = _quadratic_through_origin(x, etot - etot[0])
        _, q_band = _quadratic_through_origin(x, eb - eb[0])
        shifts = np.stack([np.asarray(m["e_band_ev"]) - m["e_band_ev"][0] for m in disp["methods"].values()])
        force = disp.get("force_along_direction_ev_per_a")
        rows.append({
            "density": float(density),
            "mesh": list(kpoint_mesh(cell, float(density))),
            "n_ibz_kpts": int(steps[0][1].eigs.shape[1]),
            "stiffness_ev_per_a2": 2.0 * q_tot,
            "band_curvature_ev_per_a2": 2.0 * q_band,
            "force_max_delta_ev_per_a": None if force is None else float(force[-1]),
            "method_spread_mev": 1e3 * float((shifts.max(axis=0) - shifts.min(axis=0)).max()),
            "cpu_s": cpu,
        })
    out = {"element": symbol, "densities": [float(d) for d in densities], "deltas_a": [float(d) for d in deltas_a],
           "reference_state": state.as_dict(), "rows": rows, "settings_version": base_settings["version"]}
    write_json(directory / f"kconv_{symbol}.json", out)
    return out
