"""Eigenvalues from real calculations and the two perturbation protocols.

Eigenvalues come from the user's own VASP runs (:mod:`analysis.electronic.eigenvalues`) or from
GPAW, driven here (:func:`run_element`), with versioned settings (:data:`SETTINGS`).

Protocols (for every occupation method of :mod:`analysis.electronic.smearing`):

(a) displacement: atom 0 of a small cell (2-4 atoms, :func:`protocol_cell`) is moved along the
    fixed Cartesian direction ``(1, 2, 3)/sqrt(14)`` by ``delta`` = 0 ... 0.12 Å (7 steps); a
    self-consistent GPAW calculation at each; the band energy (occupation-weighted eigenvalue
    sum, entropy term apart) versus delta. The SCF keeps time-reversal symmetry only
    (``symmetry={'point_group': False}``), which holds for every displacement and halves the
    k-points. The smearing methods use GPAW's irreducible k-points and weights; the tetrahedron
    method maps them back to the full Monkhorst-Pack mesh with GPAW's ``kd.bz2ibz_k``
    (k and -k have the same eigenvalues under time reversal), the same map GPAW's own
    tetrahedron code uses.
(b) Fermi-level shift: from the delta = 0 eigenvalues, the eigenvalue sum below E_F + dE for
    dE in [-0.5, 0.5] eV (41 points).

The SCF itself uses one smearing (Fermi-Dirac, 0.1 eV); every method's band energy is then
computed from those eigenvalues with :mod:`analysis.electronic.smearing` (sigma 0.1 eV, Methfessel-Paxton
order 1).

Spin: Fe, Co and Ni are spin-polarised (ferromagnetic start). Cr and Mn are computed
non-spin-polarised. Cr's ground state is an incommensurate spin-density wave, usually
approximated by a B2 antiferromagnet in the cubic two-atom cell with an antiparallel start;
Mn is represented by the bcc substitute of :mod:`analysis.reference.gpaw_calc`, which that module already
treats as non-magnetic. A ferromagnetic start would converge to neither ground state, so both
are left non-magnetic: a documented simplification, not a claim about their magnetism.

Bands: ``empty_bands`` (8) bands are computed above the occupied ones, so the Fermi-shift
window is covered for every element (GPAW's default is too small for the alkali metals).
An SCF already present in the embedded default data is copied, not recomputed. Timings are
recorded as wall and CPU seconds per SCF (CPU is the fair measure on a shared machine).

Cache layout (``<root>/electronic/``): one SCF is keyed by the SHA-256 of (element, structure,
settings) and stored as ``<hash>.npz`` plus ``<hash>.json`` (:mod:`analysis.electronic.scf_cache`);
a rerun computes only the missing ones. Per element, ``curves_<El>.json`` holds the curves computed from the cached eigenvalues
(so a recompute reproduces them exactly), and ``progress.log`` the run log.
"""
from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from analysis.core.errors import InputFileError
from analysis.electronic import smearing as sm

if TYPE_CHECKING:
    import pandas as pd


from analysis.electronic.eigenvalues import Eigenvalues
from analysis.electronic.scf_cache import (
    electronic_dir,
    gpaw_version,
    load_scf,
    save_npz,
    scf_settings,
    seed_from_default,
    structure_hash,
    write_json,
)

log = logging.getLogger(__name__)



SETTINGS: dict[str, Any] = {
    "version": 3,
    "mode": "pw",
    "ecut_ev": 350,
    "kpt_density": 4.0,
    "xc": "PBE",
    "smearing": "fermi-dirac",
    "width_ev": 0.1,
    "convergence": {"density": 1e-5, "eigenstates": 1e-8},
    "maxiter": 300,
    "empty_bands": 8,
    "spin_polarized": ["Fe", "Co", "Ni"],
    "initial_magmom": {"Fe": 3.0, "Co": 2.0, "Ni": 1.0},
    "setups": {"Ni": "10"},
    "symmetry": "time-reversal",
    "n_atoms": 2,
    "displaced_atom": 0,
    "direction": [1.0, 2.0, 3.0],
    "deltas_a": [0.0, 0.02, 0.04, 0.06, 0.08, 0.10, 0.12],
    "analysis_sigma_ev": 0.1,
    "mp_order": 1,
    "fermi_shifts_ev": [round(-0.5 + 0.025 * i, 3) for i in range(41)],
    "volume": "eos",
    "forces": True,
    "dos_kpt_densities": [6.0, 10.0],
}

"""Default (versioned) settings of the electronic protocols; change ``version`` with any edit.

``empty_bands``: bands computed above the occupied ones (GPAW ``nbands=-8``). GPAW's default
band count is capped by the setups' bound partial waves, which for the alkali and alkaline-earth
metals leaves the highest band below E_F at some k-points; eight empty bands cover
E_F + 0.5 eV (the Fermi-shift window) for every Metal-43 element in the 2-4 atom cells
(``bands_cover_shifts`` in each curves file records the check).

Version 3 computes at the frames' reference state (:mod:`analysis.electronic.reference_state`):
``volume`` 'eos' takes the PBE V0 (and c/a) of the frames' equation-of-state fit; ``ecut_ev``,
``smearing``, ``width_ev``, ``setups`` (Ni.10) and the spin treatment equal the default tier's frame
settings (a test checks it). ``kpt_density``: first set to the frames' 3.0 Å; the convergence
study (``python -m analysis electronic --kconv 3,4,5``, Na, Ni and Pt, ``docs/descriptors.md``) found
Na's band-energy curvature 48 % and its method spread 175 % from their 5.0 Å values at 3.0 Å, and
11 % / 17 % at 4.0 Å, so 4.0 Å is used (``version`` is part of every SCF's cache key, so it stays
3: the study's SCFs at each density are the production ones). ``forces`` keeps the
forces of every SCF beside its energy. ``dos_kpt_densities``: the non-self-consistent meshes of the
density of states at E_F (tetrahedron method, one-atom primitive cell, full symmetry; the densest
is the value used, the others show its convergence).
"""


METHODS: tuple[str, ...] = sm.METHODS


# ============================================================================ GPAW protocols


def protocol_cell(symbol: str, settings: dict[str, Any] | None = None, *, volume_per_atom: float | None = None,
                  covera: float | None = None) -> Any:
    """The small cell (2-4 atoms) of ``symbol``'s Metal-43 phase used by protocol (a).

    One-atom primitive cells (fcc, bcc, alpha-Hg) are doubled along a1 (2 atoms); hcp (2),
    omega-Ti (3) and alpha-Ga (4) keep their primitive cells. The structure builder is
    :func:`analysis.reference.gpaw_calc.primitive_cell` (the frames' phase) at ``volume_per_atom``
    and ``covera`` (default: the builder's guesses; :func:`run_element` passes the reference state).
    """
    from analysis.reference.gpaw_calc import primitive_cell

    settings = settings or SETTINGS
    prim = primitive_cell(symbol, volume_per_atom, covera=covera)
    target = int(settings.get("n_atoms", 2))
    reps = (1, 1, 1)
    if len(prim) == 1:
        reps = (max(2, min(target, 4)), 1, 1)
    atoms = prim.repeat(reps)
    if not 2 <= len(atoms) <= 4:
        raise ValueError(f"{symbol}: protocol cell has {len(atoms)} atoms, expected 2-4")
    return atoms


def displaced(atoms: Any, delta_a: float, settings: dict[str, Any]) -> Any:
    """A copy of ``atoms`` with atom ``displaced_atom`` moved by ``delta_a`` Å along ``direction``."""
    out = atoms.copy()
    d = np.asarray(settings["direction"], dtype=float)
    d = d / np.linalg.norm(d)
    out.positions[int(settings["displaced_atom"])] += delta_a * d
    return out


def run_scf(symbol: str, atoms: Any, settings: dict[str, Any], directory: Path, *,
            txt: str | Path | None = None) -> tuple[Eigenvalues, dict[str, Any]]:
    """One GPAW SCF, cached under ``directory`` by :func:`structure_hash`.

    An SCF present in the embedded default data is copied, not recomputed.

    Returns:
        (eigenvalues, metadata dict with energy_ev, magmom, wall_s, iterations, cached flag).
    """
    key = structure_hash(symbol, atoms, settings)
    seed_from_default(directory, key)
    cached = load_scf(directory, key)
    if cached is not None:
        meta = json.loads((directory / f"{key}.json").read_text())
        meta["cached"] = True
        return cached, meta

    from analysis.reference.gpaw_calc import limit_threads, make_calculator

    scf = scf_settings(settings)
    work = atoms.copy()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with limit_threads():
        calc = make_calculator(work, scf, txt=txt)
        if "empty_bands" in scf:
            _set_nbands(calc, -int(scf["empty_bands"]))
        work.calc = calc
        start, cpu0 = time.perf_counter(), time.process_time()
        energy = float(work.get_potential_energy())
        forces = np.asarray(work.get_forces(), dtype=np.float64) if settings.get("forces") else None
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
    nspin = int(calc.get_number_of_spins())
    nibz = len(calc.get_ibz_k_points())
    eigs = np.array([[calc.get_eigenvalues(kpt=k, spin=s) for k in range(nibz)] for s in range(nspin)])
    kd = calc.wfs.kd
    arrays = {
        "eigs": eigs.astype(np.float32),
        "weights": np.asarray(calc.get_k_point_weights(), dtype=np.float64),
        "n_electrons": np.float64(calc.get_number_of_electrons()),
        "efermi": np.float64(calc.get_fermi_level()),
        "mesh": np.asarray(kd.N_c, dtype=np.int64),
        "bz_to_ibz": np.asarray(kd.bz2ibz_k, dtype=np.int32),
        "reciprocal_cell": np.asarray(work.cell.reciprocal(), dtype=np.float64),
        "ibz_kpts": np.asarray(calc.get_ibz_k_points(), dtype=np.float64),
    }
    magmom = float(calc.get_magnetic_moment()) if nspin == 2 else 0.0
    meta = {
        "key": key,
        "element": symbol,
        "settings": scf,
        "n_atoms": len(work),
        "cell": work.cell.array.tolist(),
        "positions": work.positions.tolist(),
        "energy_ev": energy,
        "forces_ev_per_a": None if forces is None else forces.tolist(),
        "magmom": magmom,
        "wall_s": wall,
        "cpu_s": cpu,
        "iterations": int(calc.get_number_of_iterations()),
        "n_ibz_kpts": nibz,
        "n_bands": int(eigs.shape[2]),
        "gpaw_version": gpaw_version(),
    }
    directory.mkdir(parents=True, exist_ok=True)
    save_npz(directory / f"{key}.npz", arrays)
    write_json(directory / f"{key}.json", meta)  # written last: marks the entry complete
    ev = load_scf(directory, key)
    assert ev is not None
    meta["cached"] = False
    return ev, meta


def _set_nbands(calc: Any, nbands: int) -> None:
    """Set GPAW's ``nbands`` on a calculator made by :func:`analysis.reference.gpaw_calc.make_calculator`.

    (That factory has no ``nbands`` option; the new GPAW reads its parameters when the first
    calculation starts, the legacy one through ``set``.)
    """
    if hasattr(calc, "params") and hasattr(calc.params, "nbands"):
        calc.params.nbands = nbands
    else:
        calc.set(nbands=nbands)


def curves_from_eigenvalues(steps: Sequence[tuple[float, Eigenvalues, dict[str, Any]]], settings: dict[str, Any]
                            ) -> dict[str, Any]:
    """Protocol (a) and (b) curves from the eigenvalues of each displacement (delta = 0 first).

    Returns:
        JSON-ready dict: ``displacement`` {deltas_a, total_energy_ev, magmom, methods: {method:
        {e_band_ev, entropy_term_ev, fermi_level_ev}}} and ``fermi_shift`` {shifts_ev, methods:
        {method: {eigenvalue_sum_ev, n_electrons, entropy_term_ev, fermi_level_ev}}}, plus
        checks (the highest band above E_F + max shift).
    """
    sigma = float(settings["analysis_sigma_ev"])
    order = int(settings["mp_order"])
    steps = sorted(steps, key=lambda s: s[0])
    disp: dict[str, Any] = {
        "deltas_a": [float(d) for d, _, _ in steps],
        "total_energy_ev": [float(m["energy_ev"]) for _, _, m in steps],
        "magmom": [float(m.get("magmom", 0.0)) for _, _, m in steps],
        "methods": {},
    }
    if all(m.get("forces_ev_per_a") is not None for _, _, m in steps):
        atom = int(settings["displaced_atom"])
        d = np.asarray(settings["direction"], dtype=np.float64)
        d = d / np.linalg.norm(d)
        f = np.array([m["forces_ev_per_a"][atom] for _, _, m in steps], dtype=np.float64)
        disp["force_displaced_ev_per_a"] = f.tolist()
        disp["force_along_direction_ev_per_a"] = (f @ d).tolist()
    for method in METHODS:
        rows = [ev.band_energy(method, sigma, order=order) for _, ev, _ in steps]  # type: ignore[arg-type]
        disp["methods"][method] = {
            "e_band_ev": [r.e_band_ev for r in rows],
            "entropy_term_ev": [r.entropy_term_ev for r in rows],
            "fermi_level_ev": [r.fermi_level_ev for r in rows],
        }
    ev0 = steps[0][1]
    shifts = [float(s) for s in settings["fermi_shifts_ev"]]
    fs: dict[str, Any] = {"shifts_ev": shifts, "methods": {}}
    for method in METHODS:
        c = ev0.fermi_shift(shifts, method, sigma, order=order)  # type: ignore[arg-type]
        fs["methods"][method] = {
            "eigenvalue_sum_ev": c.eigenvalue_sum_ev.tolist(),
            "n_electrons": c.n_electrons.tolist(),
            "entropy_term_ev": c.entropy_term_ev.tolist(),
            "fermi_level_ev": c.fermi_level_ev,
        }
    ef = disp["methods"]["gaussian"]["fermi_level_ev"][0]
    top = float(ev0.eigs[..., -1].min())
    return {
        "displacement": disp,
        "fermi_shift": fs,
        "units": {"deltas_a": "Å", "energies": "eV per cell", "n_electrons": "electrons per cell"},
        "sigma_ev": sigma,
        "mp_order": order,
        "n_atoms": int(steps[0][2]["n_atoms"]),
        "n_electrons": ev0.n_electrons,
        "bands_cover_shifts": bool(top > ef + max(shifts) + 8 * sigma),
        "lowest_top_band_ev": top,
    }


@dataclass
class ElementResult:
    """Outcome of :func:`run_element`: curves (see :func:`curves_from_eigenvalues`) and timings."""

    element: str
    curves: dict[str, Any]
    computed: int
    cached: int
    wall_s: float
    scf_wall_s: list[float] = field(default_factory=list)


def base_cell(symbol: str, settings: dict[str, Any], volume_per_atom: float | None = None) -> tuple[Any, Any, float | None, float | None]:
    """(undisplaced protocol cell, reference state or None, volume per atom in Å^3, c/a) of ``symbol``:
    with ``settings["volume"] == "eos"`` and no volume given, the frames' PBE V0 and c/a."""
    state = covera = None
    if volume_per_atom is None and settings.get("volume") == "eos":
        from analysis.electronic.reference_state import reference_state

        state = reference_state(symbol)
        volume_per_atom, covera = state.volume_per_atom_a3, state.covera
    return protocol_cell(symbol, settings, volume_per_atom=volume_per_atom, covera=covera), state, volume_per_atom, covera


def run_displacement_scf(symbol: str, delta_a: float, *, root: str | Path | None = None,
                         settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """The one SCF of protocol (a) at displacement ``delta_a`` (Å), cached like :func:`run_element`'s;
    one task per SCF on a distributed backend. Returns the SCF's metadata (``cached`` True when reused)."""
    settings = dict(settings or SETTINGS)
    base = base_cell(symbol, settings)[0]
    return run_scf(symbol, displaced(base, float(delta_a), settings), settings, electronic_dir(Path(root) if root is not None else None))[1]


def run_element(symbol: str, *, root: str | Path | None = None, settings: dict[str, Any] | None = None,
                volume_per_atom: float | None = None,
                progress: Callable[[str], None] | None = None) -> ElementResult:
    """Run (or reuse) both protocols for one element and write ``curves_<El>.json``.

    Args:
        symbol: chemical symbol (a Metal-43 element).
        root: data root; results go to ``<root>/electronic`` (default: the user data dir).
        settings: protocol settings (default :data:`SETTINGS`).
        volume_per_atom: volume per atom in Å^3; default: with ``settings["volume"] == "eos"`` the
            PBE V0 and c/a of the frames' fit (:func:`analysis.electronic.reference_state.reference_state`),
            else the structure builder's guess. Recorded in the curves file.
        progress: called with a one-line message after each SCF.
    """
    settings = dict(settings or SETTINGS)
    directory = electronic_dir(Path(root) if root is not None else None)
    directory.mkdir(parents=True, exist_ok=True)
    base, state, volume_per_atom, covera = base_cell(symbol, settings, volume_per_atom)
    start = time.perf_counter()
    steps = []
    computed = cached = 0
    walls, cpus = [], []
    for delta in settings["deltas_a"]:
        atoms = displaced(base, float(delta), settings)
        ev, meta = run_scf(symbol, atoms, settings, directory)
        if meta.get("cached"):
            cached += 1
        else:
            computed += 1
        walls.append(float(meta["wall_s"]))
        cpus.append(float(meta.get("cpu_s", float("nan"))))
        steps.append((float(delta), ev, meta))
        if progress:
            progress(f"{symbol} delta={delta:.3f} Å {'cached' if meta.get('cached') else 'computed'} "
                     f"E={meta['energy_ev']:.5f} eV wall={meta['wall_s']:.1f} s")
    curves = curves_from_eigenvalues(steps, settings)
    dos = None
    dos_error = None
    if settings.get("dos_kpt_densities"):
        from analysis.electronic.dos_meshes import dos_at_fermi_converged

        try:
            dos = dos_at_fermi_converged(symbol, settings, directory, volume_per_atom=volume_per_atom, covera=covera,
                                         progress=progress)
        except (np.linalg.LinAlgError, RuntimeError, ValueError) as exc:  # the curves stand without it
            dos_error = f"{type(exc).__name__}: {exc}"
            log.warning("%s: DOS at E_F on the dense meshes failed (%s); curves written without it", symbol, dos_error)
            if progress:
                progress(f"{symbol} DOS meshes failed: {dos_error}")
    curves.update({
        "element": symbol,
        "settings": settings,
        "scf_keys": [m["key"] for _, _, m in steps],
        "scf_wall_s": walls,
        "total_scf_wall_s": float(sum(walls)),
        "scf_cpu_s": cpus,
        "total_scf_cpu_s": float(sum(cpus)),
        "kpts_mesh": list(steps[0][1].mesh or []),
        "n_ibz_kpts": int(steps[0][1].eigs.shape[1]),
        "spin_polarized": bool(steps[0][1].eigs.shape[0] == 2),
        "cell": steps[0][2]["cell"],
        "volume_per_atom_a3": float(base.get_volume() / len(base)),
        "volume_source": ("PBE V0 of the frames' equation of state (analysis/data/eos.json)" if state is not None
                          else "given" if volume_per_atom else
                          "ASE reference data (analysis.reference.gpaw_calc.phase().volume_guess)"),
        "reference_state": None if state is None else state.as_dict(),
        "dos_at_fermi": dos,
        "dos_at_fermi_error": dos_error,
        "gpaw_version": steps[0][2].get("gpaw_version", "unknown"),
    })
    write_json(directory / f"curves_{symbol}.json", curves)
    return ElementResult(symbol, curves, computed, cached, time.perf_counter() - start, walls)


# ============================================================================ loader


def electronic_roots(root: str | Path | None = None) -> list[Path]:
    """Data roots whose ``electronic/`` folders hold curves, first match wins: ``[root]`` when given,
    else the user data directory, the reference-state recomputation (:func:`analysis.core.config.reference_state_dir`)
    and the embedded default data (settings version 2, computed off the reference state)."""
    from analysis.core.config import data_dir, default_data_dir, reference_state_dir

    return [Path(root)] if root is not None else [data_dir(), reference_state_dir(), default_data_dir()]


def at_reference_state(curves: dict[str, Any]) -> bool:
    """Whether curves describe the crystal the frames sample: GPAW protocols v3 (``reference_state``
    recorded) or curves from a user's own VASP run (no GPAW settings: the user's own state)."""
    return curves.get("reference_state") is not None or not curves.get("settings")


def load_curves(element: str, root: str | Path | None = None) -> dict[str, Any] | None:
    """Displacement and Fermi-shift curves of ``element`` for the dashboard.

    Looks in ``<root>/electronic`` when ``root`` is given, else in :func:`electronic_roots` order:
    the user data directory, the reference-state curves (protocols v3), the embedded default data.

    Returns:
        None when there are no curves for ``element``; otherwise a dict with
        ``displacement``: {``deltas_a`` (n,) Å, ``total_energy_ev`` (n,), ``methods``: {method:
        {``e_band_ev``, ``entropy_term_ev``, ``fermi_level_ev``: (n,) arrays, eV per cell}}},
        ``fermi_shift``: {``shifts_ev`` (m,) eV, ``methods``: {method: {``eigenvalue_sum_ev``,
        ``n_electrons``, ``entropy_term_ev``: (m,) arrays, ``fermi_level_ev``: float}}},
        ``units``, ``settings``, timings and provenance as stored. Lists are numpy arrays.
    """
    for r in electronic_roots(root):
        path = r / "electronic" / f"curves_{element}.json"
        if path.is_file():
            try:
                raw = json.loads(path.read_text())
            except json.JSONDecodeError as exc:
                raise InputFileError(path, f"not valid JSON: {exc}") from exc
            return _arrays(raw)
    return None


def curves_frame(curves: dict[str, Any], kind: Literal["displacement", "fermi_shift"]) -> pd.DataFrame:
    """Long-form table of one element's curves, one row per (method, point), for plotting.

    Args:
        curves: as returned by :func:`load_curves`.
        kind: 'displacement' (protocol a) or 'fermi_shift' (protocol b).

    Returns:
        For 'displacement': columns method, delta_a (Å), e_band_ev, d_e_band_mev (change from
        delta = 0, meV per cell), entropy_term_ev, fermi_level_ev. For 'fermi_shift': columns
        method, shift_ev, eigenvalue_sum_ev, d_eigenvalue_sum_ev (change from dE = 0, eV per
        cell), n_electrons, entropy_term_ev.
    """
    import pandas as pd

    frames = []
    if kind == "displacement":
        block = curves["displacement"]
        x = np.asarray(block["deltas_a"], dtype=np.float64)
        i0 = int(np.argmin(np.abs(x)))
        for method, c in block["methods"].items():
            e = np.asarray(c["e_band_ev"], dtype=np.float64)
            frames.append(pd.DataFrame({
                "method": method, "delta_a": x, "e_band_ev": e, "d_e_band_mev": 1e3 * (e - e[i0]),
                "entropy_term_ev": np.asarray(c["entropy_term_ev"], dtype=np.float64),
                "fermi_level_ev": np.asarray(c["fermi_level_ev"], dtype=np.float64),
            }))
    elif kind == "fermi_shift":
        block = curves["fermi_shift"]
        x = np.asarray(block["shifts_ev"], dtype=np.float64)
        i0 = int(np.argmin(np.abs(x)))
        for method, c in block["methods"].items():
            e = np.asarray(c["eigenvalue_sum_ev"], dtype=np.float64)
            frames.append(pd.DataFrame({
                "method": method, "shift_ev": x, "eigenvalue_sum_ev": e, "d_eigenvalue_sum_ev": e - e[i0],
                "n_electrons": np.asarray(c["n_electrons"], dtype=np.float64),
                "entropy_term_ev": np.asarray(c["entropy_term_ev"], dtype=np.float64),
            }))
    else:
        raise ValueError(f"{kind=} must be 'displacement' or 'fermi_shift'")
    return pd.concat(frames, ignore_index=True)


def available_elements(root: str | Path | None = None) -> list[str]:
    """Elements that have curves (in any of :func:`electronic_roots`, or in ``root``)."""
    found: set[str] = set()
    for r in electronic_roots(root):
        found.update(p.stem.removeprefix("curves_") for p in (r / "electronic").glob("curves_*.json"))
    return sorted(found)


def _arrays(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: (v if k in ("settings", "cell") else _arrays(v)) for k, v in obj.items()}
    if isinstance(obj, list) and obj and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in obj):
        return np.asarray(obj, dtype=np.int64 if all(isinstance(v, int) for v in obj) else np.float64)
    return obj
