"""The PBE equation of state of each element: a GPAW energy-volume scan fitted with ASE's Birch-Murnaghan form, cached in eos.json."""
from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
from ase import units

from analysis.core.config import PACKAGE_DATA_DIR
from analysis.core.errors import InputFileError
from analysis.datasets.store import atomic_write_json
from analysis.reference import gpaw_calc
from analysis.reference.tiers import TierSettings
from analysis.reference.timing import _append_jsonl, _now, _Timer


log = logging.getLogger("analysis.reference")


DEFAULT_EOS_PATH = PACKAGE_DATA_DIR / "eos.json"


# --------------------------------------------------------------------------- EOS
def compute_eos(symbol: str, settings: TierSettings) -> dict[str, Any]:
    """PBE energy-volume fit of ``symbol``'s primitive cell (Birch-Murnaghan).

    Volumes: ``n_points`` from (1 - strain_range) to (1 + strain_range) times the initial guess
    (ASE's reference volume), all with one k-mesh (from ``kpt_density`` at the scan's centre);
    if the fitted V0 lies outside ``recentre_fraction`` of that window, the scan is repeated once
    around the fitted V0 (with its own mesh) and only that scan is fitted. For hexagonal cells listed in ``covera_scan``
    (none in the shipped settings), c/a is first optimised at the guessed volume by a parabola
    through the scanned energies.

    Returns:
        A JSON-ready dict: V0_A3_per_atom, B0_GPa, Bprime, E0_eV_per_atom, covera, volumes and
        energies per atom, kpts, wall_s, settings hash.
    """
    from ase.eos import EquationOfState

    ph = gpaw_calc.phase(symbol)
    base_dft = settings.eos_dft
    covera = ph.covera
    wall = 0.0
    scan: dict[str, list[float]] = {}

    def fixed_mesh(volume: float) -> dict[str, Any]:
        # One k-mesh per scan, from the density at the scan's centre: a mesh that changed with the
        # volume would put steps into E(V) (seen for Cs: 23 meV/atom between neighbouring points).
        mesh = gpaw_calc.kpoint_mesh(gpaw_calc.primitive_cell(symbol, volume, covera=covera), float(base_dft["kpt_density"]))
        return {**base_dft, "kpts": list(mesh)}

    ca_values = settings.eos.get("covera_scan", {}).get(symbol)
    if ca_values:
        ca_energies = []
        dft = fixed_mesh(ph.volume_guess)
        for ca in ca_values:
            atoms = gpaw_calc.primitive_cell(symbol, ph.volume_guess, covera=ca)
            res = gpaw_calc.single_point(atoms, dft, forces=False)
            wall += res.wall_s
            ca_energies.append(res.energy_ev / len(atoms))
        coef = np.polyfit(ca_values, ca_energies, 2)
        best = float(-coef[1] / (2 * coef[0])) if coef[0] > 0 else float(ca_values[int(np.argmin(ca_energies))])
        covera = float(np.clip(best, min(ca_values), max(ca_values)))
        scan = {"covera": list(ca_values), "energy_eV_per_atom": ca_energies}

    n_points = int(settings.eos["n_points"])
    strain = float(settings.eos["strain_range"])
    recentre = float(settings.eos.get("recentre_fraction", 0.6))
    center = ph.volume_guess
    kpts: tuple[int, int, int] = (0, 0, 0)
    for attempt in range(2):
        volumes: list[float] = []
        energies: list[float] = []
        dft = fixed_mesh(center)
        factors = np.linspace(1 - strain, 1 + strain, n_points)
        for v in center * factors:
            atoms = gpaw_calc.primitive_cell(symbol, float(v), covera=covera)
            res = gpaw_calc.single_point(atoms, dft, forces=False)
            wall += res.wall_s
            kpts = res.kpts
            volumes.append(float(v))
            energies.append(res.energy_ev / len(atoms))
        eos = EquationOfState(volumes, energies, eos=settings.eos.get("eos", "birchmurnaghan"))
        v0, e0, b0 = eos.fit(warn=False)
        if abs(v0 / center - 1) <= recentre * strain or attempt == 1:
            break
        log.info("%s: V0 %.2f outside the scanned window around %.2f; rescanning", symbol, v0, center)
        center = float(v0)
    params = np.asarray(eos.eos_parameters, dtype=float)
    bprime = float(params[2]) if len(params) == 4 else math.nan
    return {
        "element": symbol,
        "space_group": ph.space_group,
        "prototype": ph.prototype,
        "covera": covera,
        "covera_scan": scan,
        "V0_A3_per_atom": float(v0),
        "E0_eV_per_atom": float(e0),
        "B0_GPa": float(b0 / units.GPa),
        "Bprime": bprime,
        "volumes_A3_per_atom": volumes,
        "energies_eV_per_atom": energies,
        "kpts_primitive": list(kpts),
        "wall_s": round(wall, 2),
        "eos_hash": settings.eos_hash,
        "dft": dft,
        "scan_centre_A3_per_atom": center,
    }


def load_eos_table(path: Path) -> dict[str, Any]:
    """The EOS cache file (``{"entries": {"<hash>/<El>": {...}}}``); empty when absent."""
    if not path.is_file():
        return {"entries": {}}
    try:
        table = json.loads(path.read_text())
        table.setdefault("entries", {})
        return table
    except json.JSONDecodeError as exc:
        raise InputFileError(path, f"not valid JSON: {exc}") from exc


def eos_for(symbol: str, settings: TierSettings, path: Path, *, timings: Path | None = None) -> dict[str, Any]:
    """The cached EOS of ``symbol`` under ``settings``, computed (and stored atomically) if missing."""
    key = f"{settings.eos_hash_of(symbol)}/{symbol}"
    table = load_eos_table(path)
    if key in table["entries"]:
        return table["entries"][key]
    log.info("%s: energy-volume fit", symbol)
    with _Timer() as t:
        result = compute_eos(symbol, settings)
    # Re-read before writing: another worker may have added an element meanwhile.
    table = load_eos_table(path)
    table["entries"][key] = result
    table["units"] = {"V0": "Å^3/atom", "B0": "GPa", "E0": "eV/atom"}
    atomic_write_json(path, table)
    if timings is not None:
        _append_jsonl(timings, {"stage": "eos", "element": symbol, "wall_s": round(t.wall_s, 2), "cpu_s": round(t.cpu_s, 2), "finished": _now()})
    log.info("%s: V0 %.3f Å^3/atom, B0 %.1f GPa, B' %.2f (%.0f s)", symbol, result["V0_A3_per_atom"], result["B0_GPa"], result["Bprime"], t.wall_s)
    return result
