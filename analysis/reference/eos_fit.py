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
from analysis.core.locks import locked
from analysis.datasets.store import atomic_write_json
from analysis.reference import gpaw_calc
from analysis.reference.tiers import TierSettings
from analysis.reference.timing import Timer, append_jsonl, utc_now

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
    with Timer() as t:
        result = compute_eos(symbol, settings)
    # Re-read before writing, under a lock: another worker (process or Dask task) may add an element meanwhile.
    with locked(path):
        table = load_eos_table(path)
        table["entries"][key] = result
        table["units"] = {"V0": "Å^3/atom", "B0": "GPa", "E0": "eV/atom"}
        atomic_write_json(path, table)
    if timings is not None:
        append_jsonl(timings, {"stage": "eos", "element": symbol, "wall_s": round(t.wall_s, 2), "cpu_s": round(t.cpu_s, 2), "finished": utc_now()})
    log.info("%s: V0 %.3f Å^3/atom, B0 %.1f GPa, B' %.2f (%.0f s)", symbol, result["V0_A3_per_atom"], result["B0_GPa"], result["Bprime"], t.wall_s)
    return result


# --------------------------------------------------------------------------- EOS quality
BPRIME_RANGE = (2.0, 8.0)
"""Plausible B' of an elemental metal; outside it the fit is flagged (the scan cannot pin the curvature's change)."""

MAX_RESIDUAL_MEV = 0.5
"""Largest RMS residual (meV/atom) of the Birch-Murnaghan fit before it is flagged."""

REFIT_SCAN = {"n_points": 11, "strain_range": 0.12, "kpt_density": 6.0}
"""The wider, denser scan of a flagged fit: more points over +-12 % with a denser k-mesh."""


def fit_residual_mev(entry: dict[str, Any]) -> float:
    """RMS residual (meV/atom) of an EOS entry's fit over its scanned points."""
    from analysis.reference.eos import birch_murnaghan

    v = np.asarray(entry["volumes_A3_per_atom"], dtype=np.float64)
    e = np.asarray(entry["energies_eV_per_atom"], dtype=np.float64)
    fit = birch_murnaghan(v, entry["E0_eV_per_atom"], entry["V0_A3_per_atom"], entry["B0_GPa"], entry["Bprime"])
    return float(1e3 * np.sqrt(np.mean((e - fit) ** 2)))


def eos_flags(entry: dict[str, Any]) -> list[str]:
    """Why an EOS fit is doubtful (empty when it is not): B' outside :data:`BPRIME_RANGE`, large residual."""
    flags = []
    bp = float(entry["Bprime"])
    if not BPRIME_RANGE[0] <= bp <= BPRIME_RANGE[1]:
        flags.append(f"B' = {bp:.2f} outside [{BPRIME_RANGE[0]:g}, {BPRIME_RANGE[1]:g}]")
    res = fit_residual_mev(entry)
    if res > MAX_RESIDUAL_MEV:
        flags.append(f"fit residual {res:.2f} meV/atom > {MAX_RESIDUAL_MEV:g}")
    return flags


def refit_eos(symbol: str, entry: dict[str, Any], settings: TierSettings) -> dict[str, Any]:
    """A wider, denser scan (:data:`REFIT_SCAN`) around a flagged fit's V0, fitted the same way.

    The frames keep the volume of the original fit (they were sampled there); the refit records
    how far V0, B0 and B' move, so a reader can judge the original.
    """
    from ase.eos import EquationOfState

    v_centre = float(entry["V0_A3_per_atom"])
    covera = entry.get("covera")
    dft = {**settings.eos_dft, "kpt_density": REFIT_SCAN["kpt_density"]}
    mesh = gpaw_calc.kpoint_mesh(gpaw_calc.primitive_cell(symbol, v_centre, covera=covera), REFIT_SCAN["kpt_density"])
    dft["kpts"] = list(mesh)
    strain = float(REFIT_SCAN["strain_range"])
    volumes = [float(v) for v in v_centre * np.linspace(1 - strain, 1 + strain, int(REFIT_SCAN["n_points"]))]
    energies, wall = [], 0.0
    for v in volumes:
        atoms = gpaw_calc.primitive_cell(symbol, v, covera=covera)
        res = gpaw_calc.single_point(atoms, dft, forces=False)
        wall += res.wall_s
        energies.append(res.energy_ev / len(atoms))
    eos = EquationOfState(volumes, energies, eos=settings.eos.get("eos", "birchmurnaghan"))
    v0, e0, b0 = eos.fit(warn=False)
    out = {"V0_A3_per_atom": float(v0), "E0_eV_per_atom": float(e0), "B0_GPa": float(b0 / units.GPa),
           "Bprime": float(np.asarray(eos.eos_parameters)[2]), "volumes_A3_per_atom": volumes,
           "energies_eV_per_atom": energies, "kpts_primitive": list(mesh), "scan": dict(REFIT_SCAN), "wall_s": round(wall, 2)}
    out["residual_mev"] = fit_residual_mev(out)
    out["flags"] = eos_flags(out)
    return out


def check_eos(path: Path, settings: TierSettings, *, refit: bool = False) -> dict[str, list[str]]:
    """Flags of every fit of ``settings``' elements in ``path``; with ``refit``, flagged fits get a
    :func:`refit_eos` stored beside them (``entry["refit"]``; the original numbers stay)."""
    out = {}
    for symbol in settings.elements:
        key = f"{settings.eos_hash_of(symbol)}/{symbol}"
        entry = load_eos_table(path)["entries"].get(key)
        if entry is None:
            continue
        flags = eos_flags(entry)
        out[symbol] = flags
        if flags and refit and "refit" not in entry:
            log.info("%s: %s; refitting with %s", symbol, "; ".join(flags), REFIT_SCAN)
            result = refit_eos(symbol, entry, settings)
            table = load_eos_table(path)
            table["entries"][key] = {**table["entries"][key], "flags": flags, "refit": result}
            atomic_write_json(path, table)
    return out
