"""Density of states at the Fermi level on dense non-self-consistent k-meshes (protocols v3).

Kept apart from :mod:`analysis.electronic.protocols` (which calls it from ``run_element``; both use
:mod:`analysis.electronic.scf_cache`, so this module does not import the protocols): one
SCF of the primitive cell with the full point group, then GPAW ``fixed_density`` on each mesh of
``settings["dos_kpt_densities"]``, cached in the same ``<hash>.npz`` + ``.json`` layout as an SCF.
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from analysis.electronic import smearing as sm
from analysis.electronic.eigenvalues import Eigenvalues
from analysis.electronic.scf_cache import gpaw_version, load_scf, save_npz, scf_settings, structure_hash, write_json


def dos_at_fermi_converged(symbol: str, settings: dict[str, Any], directory: Path, *,
                           volume_per_atom: float | None, covera: float | None,
                           progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Density of states at E_F per atom on increasingly dense meshes (tetrahedron; Gaussian as alternative).

    One self-consistent SCF of the one-atom (or primitive) cell with the full point group at
    ``kpt_density``, then one non-self-consistent calculation per density of
    ``dos_kpt_densities``. Each mesh's eigenvalues are cached like an SCF (``<hash>.npz`` +
    ``.json``), so a rerun computes nothing twice.

    Returns:
        JSON-ready dict: ``densities``, ``meshes``, ``n_ibz_kpts``, ``fermi_level_tetra_ev``,
        ``dos_ef_tetra_per_atom`` and ``dos_ef_gauss_per_atom`` (states/eV/atom, both spins; Gaussian
        with ``analysis_sigma_ev``), one entry per density, and ``value_per_atom`` (the densest).
    """
    from analysis.reference.gpaw_calc import kpoint_mesh, primitive_cell

    prim = primitive_cell(symbol, volume_per_atom, covera=covera)
    n_atoms = len(prim)
    sigma = float(settings["analysis_sigma_ev"])
    out: dict[str, Any] = {"densities": [], "meshes": [], "n_ibz_kpts": [], "fermi_level_tetra_ev": [],
                           "dos_ef_tetra_per_atom": [], "dos_ef_gauss_per_atom": [], "wall_s": [],
                           "cell": prim.cell.array.tolist(), "n_atoms": n_atoms,
                           "units": "states/eV/atom, both spins"}
    scf_settings = {**settings, "symmetry": "full", "forces": False}
    calc = None
    for density in settings["dos_kpt_densities"]:
        mesh = kpoint_mesh(prim, float(density))
        key = structure_hash(symbol, prim, {**scf_settings, "dos_mesh": list(mesh)})
        ev = load_scf(directory, key)
        if ev is None:
            if calc is None:
                calc = _dos_ground_state(symbol, prim, scf_settings)
            ev = _non_scf_mesh(calc, prim, mesh, scf_settings, directory, key, symbol)
        meta = json.loads((directory / f"{key}.json").read_text())
        ef = sm.fermi_level(ev.eigs, ev.weights, ev.n_electrons, method="tetrahedron", mesh=ev.mesh,
                            reciprocal_cell=ev.reciprocal_cell, bz_to_ibz=ev.bz_to_ibz)
        dos_t = sm.dos_tetrahedron(ev.eigs, ef, mesh=ev.mesh, reciprocal_cell=ev.reciprocal_cell,  # type: ignore[arg-type]
                                   bz_to_ibz=ev.bz_to_ibz)
        ef_g = sm.fermi_level(ev.eigs, ev.weights, ev.n_electrons, method="gaussian", sigma_ev=sigma)
        dos_g = sm.dos_at_fermi(ev.eigs, ev.weights, ef_g, sigma_ev=sigma)
        out["densities"].append(float(density))
        out["meshes"].append(list(mesh))
        out["n_ibz_kpts"].append(int(ev.eigs.shape[1]))
        out["fermi_level_tetra_ev"].append(float(ef))
        out["dos_ef_tetra_per_atom"].append(float(dos_t) / n_atoms)
        out["dos_ef_gauss_per_atom"].append(float(dos_g) / n_atoms)
        out["wall_s"].append(float(meta.get("wall_s", float("nan"))))
        if progress:
            progress(f"{symbol} DOS mesh {mesh}: {dos_t / n_atoms:.3f} states/eV/atom (tetrahedron)")
    out["value_per_atom"] = out["dos_ef_tetra_per_atom"][-1]
    return out


def _dos_ground_state(symbol: str, prim: Any, settings: dict[str, Any]) -> Any:
    """The converged GPAW calculator of the primitive cell (full symmetry) for the DOS meshes."""
    from analysis.reference.gpaw_calc import limit_threads, make_calculator

    work = prim.copy()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with limit_threads():
        calc = make_calculator(work, scf_settings(settings))
        work.calc = calc
        work.get_potential_energy()
    return calc


def _non_scf_mesh(calc: Any, prim: Any, mesh: tuple[int, int, int], settings: dict[str, Any], directory: Path,
                  key: str, symbol: str) -> Eigenvalues:
    """Eigenvalues on ``mesh`` from the converged density of ``calc`` (GPAW ``fixed_density``), cached under ``key``."""
    from analysis.reference.gpaw_calc import limit_threads

    start, cpu0 = time.perf_counter(), time.process_time()
    with limit_threads():
        nc = calc.fixed_density(kpts={"size": list(mesh)}, symmetry={}, nbands=-int(settings.get("empty_bands", 8)),
                                convergence={"bands": "occupied"}, txt=None)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
    nspin = int(nc.get_number_of_spins())
    nibz = len(nc.get_ibz_k_points())
    eigs = np.array([[nc.get_eigenvalues(kpt=k, spin=s) for k in range(nibz)] for s in range(nspin)])
    kd = nc.wfs.kd
    arrays = {
        "eigs": eigs.astype(np.float32),
        "weights": np.asarray(nc.get_k_point_weights(), dtype=np.float64),
        "n_electrons": np.float64(nc.get_number_of_electrons()),
        "efermi": np.float64(nc.get_fermi_level()),
        "mesh": np.asarray(kd.N_c, dtype=np.int64),
        "bz_to_ibz": np.asarray(kd.bz2ibz_k, dtype=np.int32),
        "reciprocal_cell": np.asarray(prim.cell.reciprocal(), dtype=np.float64),
        "ibz_kpts": np.asarray(nc.get_ibz_k_points(), dtype=np.float64),
    }
    meta = {"key": key, "element": symbol, "kind": "dos-non-scf", "settings": scf_settings(settings),
            "mesh": list(mesh), "n_atoms": len(prim), "cell": prim.cell.array.tolist(), "wall_s": wall, "cpu_s": cpu,
            "n_ibz_kpts": nibz, "n_bands": int(eigs.shape[2]), "gpaw_version": gpaw_version()}
    directory.mkdir(parents=True, exist_ok=True)
    save_npz(directory / f"{key}.npz", arrays)
    write_json(directory / f"{key}.json", meta)
    ev = load_scf(directory, key)
    assert ev is not None
    return ev
