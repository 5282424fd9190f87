"""``python -m analysis build-reference``: the Metal-43 GPAW reference set, resumable frame by frame.

For each element of the tier (cheapest first) the pipeline

1. fits a PBE energy-volume curve of the primitive cell (:func:`compute_eos`; cached per element
   in ``eos.json``, keyed by the hash of the EOS settings),
2. builds a small supercell at the fitted volume and samples configurations at each temperature
   of the tier with Langevin MD driven by CHGNet (:func:`sample_configurations`; the samples are
   written once and reused, so a rerun labels the same structures),
3. labels each configuration with one GPAW single point (energy, forces) and writes it at once,
   atomically, as ``frames/<El>_<T>K_<i>.extxyz`` in the build folder; finished frames are skipped
   on a rerun,
4. after every finished frame, assembles all finished frames into the data set (store layout,
   :func:`analysis.store.save_dataset`).

Build folder: ``<out>/builds/<dataset>/<settings hash>/`` with ``frames/``, ``samples/``,
``timings.jsonl`` (one line per EOS, MD and DFT step, with wall and CPU seconds) and
``settings.json``. The data set goes to ``<out>/datasets/<dataset>/``.

Settings: ``analysis/data/reference_settings.json`` (tiers ``ci``, ``default``, ``full``).
"""
from __future__ import annotations

import argparse
import io
import json
import logging
import math
import os
import socket
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from ase import Atoms, units
from ase.io import read, write

from analysis import elements as el
from analysis import gpaw_calc
from analysis.config import PACKAGE_DATA_DIR, data_dir, default_data_dir
from analysis.dataset import ReferenceSet, make_frame, temperature_label
from analysis.errors import InputFileError, one_line
from analysis.procs import process_start, running_here
from analysis.store import atomic_write_bytes, atomic_write_json, save_dataset

SETTINGS_PATH = PACKAGE_DATA_DIR / "reference_settings.json"
DEFAULT_EOS_PATH = PACKAGE_DATA_DIR / "eos.json"
TIERS = ("ci", "default", "train", "full")
log = logging.getLogger("analysis.reference")


# --------------------------------------------------------------------------- settings
PER_ELEMENT_KEYS = ("setups", "mixers")
"""``dft`` keys that hold per-element choices, left out of the shared settings hash.

``setups`` changes the physics, so a frame made with another setup is not reused; ``mixers``
changes only the SCF path to the same converged state (energies within 3e-5 eV on Fe frames), so it
is recorded in each frame (``info['scf_mixer']``) but does not invalidate frames. The shipped
settings name no mixer: no variant tried beat GPAW 26.7's default on both of two Fe frames (see
docs/reference_data.md)."""


def _shared(dft: dict[str, Any]) -> dict[str, Any]:
    """``dft`` without the per-element parts that :class:`TierSettings` hashes per element."""
    return {k: v for k, v in dft.items() if k not in PER_ELEMENT_KEYS}


@dataclass(frozen=True)
class TierSettings:
    """Resolved settings of one tier.

    Attributes:
        tier: 'ci', 'default', 'train' or 'full'.
        dataset: data set name.
        build: build folder name (default: the data set's); tiers that share one share their frames.
        elements: elements in the order they are computed (cheapest first).
        temperatures: 'highest' (the highest listed temperature), 'lowest_and_highest' or 'all'.
        n_frames: frames per element and temperature.
        n_atoms: target supercell size.
        dft: GPAW settings of the labels.
        eos_dft: GPAW settings of the energy-volume fit.
        eos: EOS protocol (points, strain range, c/a scans).
        sampler: MD sampler parameters.
        version: settings file version.
    """

    tier: str
    dataset: str
    elements: tuple[str, ...]
    temperatures: str
    n_frames: int
    n_atoms: int
    dft: dict[str, Any]
    eos_dft: dict[str, Any]
    eos: dict[str, Any]
    sampler: dict[str, Any]
    version: int
    build: str = ""

    @property
    def eos_hash(self) -> str:
        """Hash of everything that determines an EOS result, except per-element PAW setups (see :meth:`eos_hash_of`)."""
        return gpaw_calc.settings_hash({"dft": _shared(self.eos_dft), "eos": self.eos})

    @property
    def frames_hash(self) -> str:
        """Hash of everything that determines a labelled frame (except the element, its PAW setup and the index).

        Per-element setups (``dft["setups"]``) are left out, so choosing one for an element that has
        no frames yet keeps every other element's frames; each frame records its setup instead
        (``info['paw_setup']``) and a frame made with another setup is not current (:func:`is_current`).
        """
        return gpaw_calc.settings_hash(
            {"dft": _shared(self.dft), "sampler": self.sampler, "n_atoms": self.n_atoms, "eos": self.eos_hash}
        )

    def setup_of(self, symbol: str) -> str:
        """The PAW setup of ``symbol``: 'default' (gpaw-data's ``<El>.PBE``) or a named one such as '10' (``Ni.10.PBE``)."""
        return str((self.dft.get("setups") or {}).get(symbol, gpaw_calc.DEFAULT_SETUP))

    def eos_hash_of(self, symbol: str) -> str:
        """The EOS cache key's hash for ``symbol``: :attr:`eos_hash`, or a hash of it and the element's own setup."""
        setup = self.setup_of(symbol)
        return self.eos_hash if setup == gpaw_calc.DEFAULT_SETUP else gpaw_calc.settings_hash({"eos": self.eos_hash, "setup": setup})

    def temperatures_of(self, symbol: str) -> list[float]:
        """Temperatures (K) sampled for ``symbol``: the highest listed one, or all of them."""
        temps = el.temperatures(symbol)
        if not temps:
            raise ValueError(f"{symbol} has no listed temperature")
        if self.temperatures == "highest":
            return [max(temps)]
        if self.temperatures == "lowest_and_highest":
            return sorted({min(temps), max(temps)})
        return list(temps)

    def planned_frames(self) -> list[tuple[str, float, int]]:
        """Every (element, temperature, index) this tier labels."""
        return [(s, t, i) for s in self.elements for t in self.temperatures_of(s) for i in range(self.n_frames)]

    def as_dict(self) -> dict[str, Any]:
        return {
            "tier": self.tier,
            "version": self.version,
            "dataset": self.dataset,
            "build": self.build or self.dataset,
            "elements": list(self.elements),
            "temperatures": self.temperatures,
            "n_frames": self.n_frames,
            "n_atoms": self.n_atoms,
            "dft": self.dft,
            "eos_dft": self.eos_dft,
            "eos": self.eos,
            "sampler": self.sampler,
            "frames_hash": self.frames_hash,
            "eos_hash": self.eos_hash,
        }


def load_settings(tier: str, *, path: Path = SETTINGS_PATH, elements: list[str] | None = None) -> TierSettings:
    """Resolve the settings of ``tier`` from the versioned settings file.

    Args:
        tier: 'ci', 'default' or 'full'.
        path: settings file.
        elements: restrict to these elements (default: the tier's list).

    Raises:
        InputFileError: the settings file is missing or malformed.
        ValueError: unknown tier or element.
    """
    if tier not in TIERS:
        raise ValueError(f"{tier=} must be one of {TIERS}")
    try:
        raw = json.loads(Path(path).read_text())
        spec = raw["tiers"][tier]
        dft = {**raw["dft"], **spec.get("dft", {})}
        eos = {**raw["eos"], **spec.get("eos", {})}
        sampler = {**raw["sampler"], **spec.get("sampler", {})}
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise InputFileError(path, f"cannot read reference settings for tier {tier!r}: {exc}") from exc
    _check_setups(dft.get("setups"), Path(path), xc=str(dft.get("xc", "PBE")))
    eos_dft = {**dft, "kpt_density": eos["kpt_density"], "symmetry": eos.get("symmetry", dft.get("symmetry"))}
    names = list(el.METAL43) if spec["elements"] == "all" else list(spec["elements"])
    if elements:
        unknown = [s for s in elements if not el.is_metal43(s)]
        if unknown:
            raise ValueError(f"not Metal-43 elements: {unknown}")
        names = [s for s in elements]
    ordered = tuple(sorted(names, key=lambda s: (estimated_cost(s, dft), s)))
    return TierSettings(
        tier=tier,
        dataset=spec["dataset"],
        elements=ordered,
        temperatures=spec["temperatures"],
        n_frames=int(spec["n_frames"]),
        n_atoms=int(spec["n_atoms"]),
        dft=dft,
        eos_dft=eos_dft,
        eos={k: v for k, v in eos.items() if k not in ("kpt_density", "symmetry")},
        sampler=sampler,
        version=int(raw.get("version", 0)),
        build=str(spec.get("build", "")),
    )


def _check_setups(setups: Any, path: Path, *, xc: str) -> None:
    """``dft.setups`` must map Metal-43 symbols to setup names that exist (e.g. {"Ni": "10"} for Ni.10.PBE)."""
    if setups is None:
        return
    if not isinstance(setups, dict):
        raise InputFileError(path, f"dft.setups must map element symbols to setup names, got {setups!r}")
    for symbol, name in setups.items():
        if not el.is_metal43(str(symbol)):
            raise InputFileError(path, f"dft.setups names {symbol!r}, which is not a Metal-43 element")
        if name == gpaw_calc.DEFAULT_SETUP:
            continue
        try:
            gpaw_calc.valence_electrons(str(symbol), xc, setup=str(name))
        except (FileNotFoundError, RuntimeError, ValueError) as exc:
            raise InputFileError(path, f"dft.setups: no usable PAW setup {symbol}.{name}.{xc} ({one_line(exc)[:120]})") from exc


def dft_for_temperature(dft: dict[str, Any], temperature_k: float) -> dict[str, Any]:
    """The label settings at ``temperature_k``: with ``"electronic_temperature": "ionic"`` the
    Fermi-Dirac width is the ionic temperature's k_B T (Mermin finite-temperature DFT), never below
    ``width_ev``; otherwise ``dft`` unchanged."""
    if dft.get("electronic_temperature") != "ionic":
        return dict(dft)
    width = max(float(dft["width_ev"]), units.kB * float(temperature_k))
    return {**dft, "width_ev": round(width, 4)}


def estimated_cost(symbol: str, dft: dict[str, Any]) -> float:
    """Relative cost of one labelled frame: valence electrons squared, x3 if spin-polarised.

    At a fixed k-point density and cutoff the plane waves times k-points of a cell hardly depend on
    its volume, so the band count (valence electrons) dominates; spin doubles the work and the
    magnetic SCF takes about 1.5x the iterations (measured in the convergence study).
    """
    n_val = gpaw_calc.valence_electrons(symbol, setup=(dft.get("setups") or {}).get(symbol))
    return n_val**2 * (3.0 if gpaw_calc.is_spin_polarized(symbol, dft) else 1.0)


# --------------------------------------------------------------------------- time log
def _append_jsonl(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        handle.write(json.dumps(record, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


@dataclass
class _Timer:
    wall_s: float = 0.0
    cpu_s: float = 0.0
    _w: float = field(default=0.0, repr=False)
    _c: float = field(default=0.0, repr=False)

    def __enter__(self) -> "_Timer":
        self._w, self._c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall_s = time.perf_counter() - self._w
        self.cpu_s = time.process_time() - self._c


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


# --------------------------------------------------------------------------- sampling
def sampler_name(sampler: dict[str, Any]) -> str:
    """Label recorded in each frame's info['sampler'] (model and version)."""
    if sampler["kind"] != "chgnet-langevin":
        raise ValueError(f"unknown sampler {sampler['kind']!r}")
    from importlib.metadata import version

    return f"chgnet-{version('chgnet')} (default weights) langevin"


def sample_configurations(
    symbol: str, temperature_k: float, n_frames: int, start: Atoms, sampler: dict[str, Any]
) -> list[Atoms]:
    """Configurations of ``start`` at ``temperature_k`` from Langevin MD with CHGNet (NVT).

    Velocities start from a Maxwell-Boltzmann distribution at ``temperature_k``; after
    ``steps_equilibrate`` steps a configuration is taken every ``steps_between`` steps. The time
    step is ``timestep_fs`` (``timestep_fs_light`` for atoms lighter than ``light_mass_amu``).
    CHGNet runs offline on the CPU with one thread. CHGNet is then one of the evaluated models
    and is biased on its own samples: each frame records the sampler in info['sampler'].

    Returns:
        ``n_frames`` Atoms (positions only) with info 'md_step' and 'sampler'.
    """
    import torch
    from ase.constraints import FixCom
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
    from chgnet.model import CHGNet
    from chgnet.model.dynamics import CHGNetCalculator

    torch.set_num_threads(1)
    seed = int(sampler["seed"]) + 1000 * int(el.atomic_number(symbol)) + int(temperature_k)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    atoms = start.copy()
    model = CHGNet.load(verbose=False)
    atoms.calc = CHGNetCalculator(model=model, use_device="cpu")
    mass = float(atoms.get_masses()[0])
    dt = float(sampler["timestep_fs_light"] if mass < float(sampler["light_mass_amu"]) else sampler["timestep_fs"])
    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_k, rng=rng)
    Stationary(atoms)
    # Langevin's own fixcm=True samples NVT incorrectly for small cells (ASE >= 3.28 warns);
    # the centre of mass is fixed by a constraint instead.
    atoms.set_constraint(FixCom())
    dyn = Langevin(
        atoms,
        timestep=dt * units.fs,
        temperature_K=temperature_k,
        friction=float(sampler["friction_per_fs"]) / units.fs,
        fixcm=False,
        rng=rng,
    )
    name = sampler_name(sampler).replace("default weights", f"weights {getattr(model, 'version', '?')}")
    frames: list[Atoms] = []
    dyn.run(int(sampler["steps_equilibrate"]))
    for _ in range(n_frames):
        dyn.run(int(sampler["steps_between"]))
        snap = Atoms(atoms.get_chemical_symbols(), positions=atoms.get_positions(wrap=True), cell=atoms.cell, pbc=True)
        snap.info.update(
            {"md_step": int(dyn.nsteps), "timestep_fs": dt, "sampler": name, "md_temperature_K": float(atoms.get_temperature())}
        )
        frames.append(snap)
    return frames


# --------------------------------------------------------------------------- frames
def _extxyz_bytes(frames: list[Atoms]) -> bytes:
    buffer = io.StringIO()
    write(buffer, frames, format="extxyz")
    return buffer.getvalue().encode()


def write_frames_atomic(path: Path, frames: list[Atoms]) -> None:
    """Write ``frames`` as extended XYZ through a temporary file and a rename."""
    atomic_write_bytes(path, _extxyz_bytes(frames))


def frame_path(build: Path, symbol: str, temperature_k: float, index: int) -> Path:
    """File of one labelled frame in the build folder."""
    return build / "frames" / f"{symbol}_{temperature_label(temperature_k)}K_{index:04d}.extxyz"


def failed_path(build: Path, symbol: str, temperature_k: float, index: int) -> Path:
    """Marker of a frame whose DFT failed (JSON with the error); skipped on resume unless retried."""
    return frame_path(build, symbol, temperature_k, index).with_suffix(".failed.json")


def samples_path(build: Path, symbol: str, temperature_k: float) -> Path:
    """File of the sampled (unlabelled) configurations of one element and temperature."""
    return build / "samples" / f"{symbol}_{temperature_label(temperature_k)}K.extxyz"


def build_dir(out: Path, settings: TierSettings) -> Path:
    """Build folder of ``settings`` under the output root."""
    return out / "builds" / (settings.build or settings.dataset) / settings.frames_hash


def _read_frame(path: Path) -> Atoms:
    try:
        return read(path, format="extxyz")
    except Exception as exc:  # ASE raises many types for bad files
        raise InputFileError(path, f"cannot read labelled frame: {exc}") from exc


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def claim_path(frame: Path) -> Path:
    """Marker of a frame a process is computing now (JSON: its pid, host and start time)."""
    return frame.with_suffix(".claim")


def _claim(frame: Path) -> bool:
    """Atomically claim ``frame`` for this process; False while another live process holds it.

    A claim left by a process that is gone (killed mid-frame, or a zombie; see
    :func:`analysis.procs.running_here`) is taken over. A claim from another host is respected.
    """
    path = claim_path(frame)
    path.parent.mkdir(parents=True, exist_ok=True)
    me = {"pid": os.getpid(), "host": socket.gethostname(), "start": process_start(os.getpid())}
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                holder = json.loads(path.read_text())
                pid, host, start = int(holder["pid"]), str(holder["host"]), holder.get("start")
            except (OSError, ValueError, KeyError, TypeError):
                pid, host, start = 0, me["host"], None  # unreadable: treat as stale
            if (pid, host) == (me["pid"], me["host"]):
                return True
            if host != me["host"] or (pid > 0 and running_here(pid, start)):
                return False
            path.unlink(missing_ok=True)  # stale: its process is gone
            continue
        with os.fdopen(fd, "w") as handle:
            json.dump(me, handle)
        return True
    return False


def run_element(
    symbol: str,
    settings: TierSettings,
    out: Path,
    eos_path: Path,
    *,
    on_frame: Callable[[Path], None] | None = None,
    retry_failed: bool = False,
    helper: bool = False,
) -> int:
    """Compute every missing frame of ``symbol``; returns the number of frames computed now.

    A frame whose single point fails (e.g. GPAW's SCF not converging within ``maxiter``) does not
    stop the element: the error is logged, written to timings.jsonl and to a marker file beside
    the frames (:func:`failed_path`), and the next frame goes on. Marked frames are skipped on
    later runs unless ``retry_failed``.

    Each frame is claimed (:func:`claim_path`) while it is computed, so several processes can work
    on one element: a ``helper`` only takes frames nobody has claimed, and only once the element's
    EOS and MD samples exist (it never repeats that work); it returns 0 otherwise.
    """
    build = build_dir(out, settings)
    timings = build / "timings.jsonl"
    todo = [
        (t, i)
        for t in settings.temperatures_of(symbol)
        for i in range(settings.n_frames)
        if not _frame_done(frame_path(build, symbol, t, i), settings) and (retry_failed or not failed_path(build, symbol, t, i).is_file())
    ]
    if not todo:
        return 0
    if helper and f"{settings.eos_hash_of(symbol)}/{symbol}" not in load_eos_table(eos_path)["entries"]:
        return 0  # a helper never computes the EOS (nor the MD samples: see below)
    eos = eos_for(symbol, settings, eos_path, timings=timings)
    v0 = float(eos["V0_A3_per_atom"])
    ph = gpaw_calc.phase(symbol)
    computed = 0
    for temp in sorted({t for t, _ in todo}):
        spath = samples_path(build, symbol, temp)
        samples = read(spath, index=":", format="extxyz") if spath.is_file() else []
        # a tier with more frames than an earlier one resamples: the seeded trajectory is the same, longer
        if not samples or not _samples_match(samples, v0) or len(samples) < settings.n_frames:
            if helper:
                continue
            start = gpaw_calc.supercell(symbol, v0, settings.n_atoms, covera=eos.get("covera"))
            log.info("%s %g K: sampling %d configurations (%d atoms)", symbol, temp, settings.n_frames, len(start))
            with _Timer() as t:
                samples = sample_configurations(symbol, temp, settings.n_frames, start, settings.sampler)
            write_frames_atomic(spath, samples)
            _append_jsonl(timings, {"stage": "md", "element": symbol, "temperature": temp, "wall_s": round(t.wall_s, 2), "cpu_s": round(t.cpu_s, 2), "finished": _now()})
        if len(samples) < settings.n_frames:
            raise InputFileError(spath, f"{len(samples)} samples, {settings.n_frames} needed")
        for index in [i for t, i in todo if t == temp]:
            target = frame_path(build, symbol, temp, index)
            if _frame_done(target, settings):  # another worker or an earlier run finished it
                continue
            if not _claim(target):  # another process is computing it now
                continue
            try:
                computed += _label_frame(symbol, temp, index, samples[index], settings, build, v0, ph, timings, on_frame)
            finally:
                claim_path(target).unlink(missing_ok=True)
    return computed


def _label_frame(symbol: str, temp: float, index: int, config: Atoms, settings: TierSettings, build: Path, v0: float,
                 ph: Any, timings: Path, on_frame: Callable[[Path], None] | None) -> int:
    """One GPAW single point of a sampled configuration, written as a labelled frame; 1 if it succeeded, 0 if it failed."""
    target = frame_path(build, symbol, temp, index)
    log.info("%s %g K frame %d: GPAW single point", symbol, temp, index)
    dft = dft_for_temperature(settings.dft, temp)
    try:
        with _Timer() as t:
            result = gpaw_calc.single_point(config, dft)
    except Exception as exc:  # noqa: BLE001 - one bad frame must not stop hours of work
        error = one_line(exc)
        log.error("%s %g K frame %d failed after %.0f s: %s", symbol, temp, index, t.wall_s, error)
        atomic_write_json(failed_path(build, symbol, temp, index), {"error": error, "finished": _now(), "wall_s": round(t.wall_s, 2)})
        _append_jsonl(timings, {"stage": "dft", "element": symbol, "temperature": temp, "index": index, "failed": error,
                                "wall_s": round(t.wall_s, 2), "cpu_s": round(t.cpu_s, 2), "finished": _now()})
        return 0
    failed_path(build, symbol, temp, index).unlink(missing_ok=True)
    frame = make_frame(
        config,
        result.energy_ev,
        result.forces_ev_per_a,
        temperature_k=temp,
        source=f"gpaw-{_gpaw_version()} PBE",
        element=symbol,
        extra_info={
            "frame_id": f"{symbol}/{temperature_label(temp)}K/{index:04d}",
            "sampler": config.info.get("sampler", ""),
            "md_step": int(config.info.get("md_step", -1)),
            "settings_hash": settings.frames_hash,
            "paw_setup": settings.setup_of(symbol),
            "scf_mixer": ",".join(f"{k}={v}" for k, v in sorted((gpaw_calc.mixer_for({symbol}, dft) or {}).items())) or "default",
            "space_group": ph.space_group,
            "volume_per_atom": v0,
            "kpts": "x".join(str(k) for k in result.kpts),
            "smearing_width_ev": float(dft["width_ev"]),
            "scf_iterations": result.iterations,
            "magmom": result.magmom,
            "dft_wall_s": round(result.wall_s, 2),
        },
    )
    write_frames_atomic(target, [frame])
    _append_jsonl(
        timings,
        {
            "stage": "dft",
            "element": symbol,
            "temperature": temp,
            "index": index,
            "n_atoms": len(frame),
            "kpts": list(result.kpts),
            "width_ev": float(dft["width_ev"]),
            "iterations": result.iterations,
            "wall_s": round(t.wall_s, 2),
            "cpu_s": round(t.cpu_s, 2),
            "finished": _now(),
        },
    )
    log.info("%s %g K frame %d done in %.0f s (%d SCF iterations)", symbol, temp, index, t.wall_s, result.iterations)
    if on_frame is not None:
        on_frame(target)
    return 1


def _gpaw_version() -> str:
    from importlib.metadata import version

    return version("gpaw")


def finished_frames(build: Path, settings: TierSettings | None = None) -> list[Atoms]:
    """Every labelled frame in the build folder, in file-name order; with ``settings``, only the
    current ones the tier plans (tiers that share a build folder see only their own frames)."""
    folder = build / "frames"
    if settings is None:
        return [_read_frame(p) for p in sorted(folder.glob("*.extxyz"))] if folder.is_dir() else []
    paths = sorted(p for p in (frame_path(build, s, t, i) for s, t, i in settings.planned_frames()) if p.is_file())
    return [a for a in (_read_frame(p) for p in paths) if is_current(a, settings)]


def is_current(frame: Atoms, settings: TierSettings) -> bool:
    """Whether a labelled frame was made with its element's current PAW setup (frames made before
    setups were recorded used the default one)."""
    symbol = str(frame.info.get("element") or frame.get_chemical_symbols()[0])
    return str(frame.info.get("paw_setup", gpaw_calc.DEFAULT_SETUP)) == settings.setup_of(symbol)


def _frame_done(path: Path, settings: TierSettings) -> bool:
    return path.is_file() and is_current(_read_frame(path), settings)


def _samples_match(samples: list[Atoms], v0: float) -> bool:
    """Sampled cells are built at the EOS volume: samples at another volume came from another fit (e.g. another setup)."""
    return all(abs(a.get_volume() / len(a) - v0) <= 1e-6 * v0 for a in samples)


def assemble_dataset(settings: TierSettings, out: Path, eos_path: Path, *, frames: list[Atoms] | None = None) -> Path | None:
    """Write the finished frames as data set ``settings.dataset`` under ``out`` (store layout).

    ``frames``: the current finished frames when the caller has just read them (default: read them).

    Returns:
        The data set folder, or None when no frame is finished yet.
    """
    build = build_dir(out, settings)
    frames = finished_frames(build, settings) if frames is None else frames
    if not frames:
        return None
    table = load_eos_table(eos_path)["entries"]
    eos = {
        s: {k: table[f"{settings.eos_hash_of(s)}/{s}"][k] for k in ("V0_A3_per_atom", "B0_GPa", "Bprime", "E0_eV_per_atom", "covera")}
        for s in settings.elements
        if f"{settings.eos_hash_of(s)}/{s}" in table
    }
    timing = _timing_totals(build / "timings.jsonl")
    planned = sum(len(settings.temperatures_of(s)) for s in settings.elements) * settings.n_frames
    provenance = {
        "generator": "python -m analysis build-reference",
        "tier": settings.tier,
        "settings": settings.as_dict(),
        "code": f"gpaw {_gpaw_version()} (serial, libxc, OpenBLAS), PBE, PAW setups gpaw-data + generated Tc"
                + "".join(f", {s}.{v}.PBE for {s}" for s, v in sorted((settings.dft.get("setups") or {}).items()) if v != gpaw_calc.DEFAULT_SETUP),
        "sampler": sorted({str(a.info.get("sampler", "")) for a in frames}),
        "sampler_note": (
            "Configurations come from Langevin MD with CHGNet, one of the evaluated models: its errors on "
            "its own samples are biased low."
        ),
        "phases": {
            s: {"listed_space_group": p.listed_space_group, "space_group": p.space_group, "prototype": p.prototype, "note": p.note}
            for s in settings.elements
            for p in [gpaw_calc.phase(s)]
        },
        "substitutes": dict(gpaw_calc.SUBSTITUTES),
        "spin": {
            "spin_polarized": settings.dft.get("spin_polarized", []),
            "note": (
                "Fe, Co, Ni: collinear ferromagnetic start. Cr and Mn: non-spin-polarised (their ordered "
                "states, the incommensurate spin-density wave of Cr and the non-collinear order of alpha-Mn, "
                "need cells and settings beyond this budget, and both are paramagnetic at the sampled temperatures)."
            ),
        },
        "eos": eos,
        "frames_planned": planned,
        "frames_done": len(frames),
        "compute_s": timing,
    }
    ref = ReferenceSet(frames, provenance)
    return save_dataset(ref, settings.dataset, root=out, dft_settings=settings.dft)


def _timing_records(path: Path) -> list[dict[str, Any]]:
    """The lines of a timings.jsonl file (a line cut by a kill is skipped: the frame files are the record)."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def _timing_totals(path: Path) -> dict[str, float]:
    totals: dict[str, float] = {}
    for rec in _timing_records(path):
        key = f"{rec.get('stage', '?')}_wall_s"
        totals[key] = round(totals.get(key, 0.0) + float(rec.get("wall_s", 0.0)), 1)
    return totals


def dft_seconds_per_frame(path: Path) -> dict[str, float]:
    """Element -> mean wall time (s) of its successful DFT single points, from timings.jsonl."""
    sums: dict[str, list[float]] = {}
    for rec in _timing_records(path):
        if rec.get("stage") == "dft" and "failed" not in rec and rec.get("element"):
            sums.setdefault(str(rec["element"]), []).append(float(rec.get("wall_s", 0.0)))
    return {el: float(np.mean(v)) for el, v in sums.items()}


def projected_seconds(remaining: dict[str, int], measured: dict[str, float], cost: dict[str, float],
                      group: dict[str, str] | None = None) -> float:
    """Wall seconds (one process) to label the ``remaining`` frames per element.

    Elements already timed use their own mean; the others their estimated cost times the median
    measured seconds per cost unit of their ``group`` (e.g. 'spin' or 'paired': magnetic SCF takes
    many more iterations than the cost's x3 allows for; measured: Fe 67-132 iterations, most
    spin-paired metals 12-25), or of all timed elements when their group has none timed yet.
    """
    group = group or {}
    ratios: dict[str | None, list[float]] = {}
    for e in measured:
        if cost.get(e, 0) > 0:
            ratios.setdefault(group.get(e), []).append(measured[e] / cost[e])
            ratios.setdefault("*all*", []).append(measured[e] / cost[e])

    def per_unit(e: str) -> float:
        pool = ratios.get(group.get(e)) or ratios.get("*all*")
        return float(np.median(pool)) if pool else float("nan")

    return float(sum(n * (measured[e] if e in measured else per_unit(e) * cost[e]) for e, n in remaining.items() if n > 0))


# --------------------------------------------------------------------------- driver
def _worker(symbol: str, settings: TierSettings, out: str, eos_path: str, retry_failed: bool = False,
            helper: bool = False) -> tuple[str, int]:
    os.environ["OMP_NUM_THREADS"] = "1"
    return symbol, run_element(symbol, settings, Path(out), Path(eos_path), retry_failed=retry_failed, helper=helper)


def failed_frames(build: Path) -> dict[str, str]:
    """Frame file stem -> the error, for every frame marked failed in ``build``."""
    out: dict[str, str] = {}
    for path in sorted((build / "frames").glob("*.failed.json")) if (build / "frames").is_dir() else []:
        try:
            out[path.name.removesuffix(".failed.json")] = str(json.loads(path.read_text()).get("error", ""))
        except (OSError, json.JSONDecodeError):
            out[path.name.removesuffix(".failed.json")] = "unreadable failure marker"
    return out


class BuildIncomplete(RuntimeError):
    """Some elements or frames of a reference build failed (everything else was computed)."""


def build_reference(
    settings: TierSettings,
    *,
    out: Path,
    eos_path: Path,
    jobs: int = 1,
    poll_s: float = 20.0,
    retry_failed: bool = False,
) -> Path | None:
    """Run (or resume) the whole tier; returns the data set folder.

    With ``jobs == 1`` everything runs in this process and the data set is rewritten after every
    frame. With more jobs, each worker process takes one element at a time and this process
    rewrites the data set whenever new frame files appear; once every element has been handed out,
    idle workers go through the elements again as helpers and take the frames nobody has claimed
    (so the last, most expensive elements do not run on one core while the others idle).

    An element that fails (its EOS fit or MD, say) is logged and the others go on; a frame whose
    DFT fails is marked and skipped (see :func:`run_element`). When anything failed,
    :class:`BuildIncomplete` is raised at the very end, after the data set was written.
    """
    build = build_dir(out, settings)
    build.mkdir(parents=True, exist_ok=True)
    atomic_write_json(build / "settings.json", settings.as_dict())
    log.info(
        "tier %s: %d elements, %s temperature(s), %d frames each, %d atoms; build %s",
        settings.tier, len(settings.elements), settings.temperatures, settings.n_frames, settings.n_atoms, build,
    )

    def refresh(_path: Path | None = None) -> None:
        frames = finished_frames(build, settings)
        planned = sum(len(settings.temperatures_of(s)) for s in settings.elements) * settings.n_frames
        assemble_dataset(settings, out, eos_path, frames=frames)
        log.info("progress: %d/%d frames", len(frames), planned)

    failed_elements: dict[str, str] = {}
    if jobs <= 1:
        for symbol in settings.elements:
            try:
                run_element(symbol, settings, out, eos_path, on_frame=refresh, retry_failed=retry_failed)
            except Exception as exc:  # noqa: BLE001 - the other elements go on
                failed_elements[symbol] = f"{type(exc).__name__}: {exc}"
                log.exception("%s failed; going on with the other elements", symbol)
    else:
        seen = -1
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            of: dict[Future[tuple[str, int]], str] = {
                pool.submit(_worker, s, settings, str(out), str(eos_path), retry_failed): s for s in settings.elements
            }
            # second pass: helpers, most expensive element first (it is the one still running at the end)
            of.update({pool.submit(_worker, s, settings, str(out), str(eos_path), retry_failed, True): s
                       for s in reversed(settings.elements)})
            pending = set(of)
            while pending:
                finished, pending = wait(pending, timeout=poll_s, return_when=FIRST_COMPLETED)
                for fut in finished:
                    try:
                        fut.result()
                    except Exception as exc:  # noqa: BLE001 - the other elements go on
                        failed_elements[of[fut]] = f"{type(exc).__name__}: {exc}"
                        log.error("%s failed; going on with the other elements: %s", of[fut], failed_elements[of[fut]])
                count = len(list((build / "frames").glob("*.extxyz"))) if (build / "frames").is_dir() else 0
                if count != seen:
                    refresh()
                    seen = count
    refresh()
    bad_frames = failed_frames(build)
    if failed_elements or bad_frames:
        parts = [f"element {s}: {e}" for s, e in failed_elements.items()] + [f"frame {f}: {e}" for f, e in bad_frames.items()]
        raise BuildIncomplete(f"{len(failed_elements)} element(s) and {len(bad_frames)} frame(s) failed "
                              "(rerun to resume; --retry-failed to try marked frames again): " + "; ".join(parts))
    return out / "datasets" / settings.dataset


def main(argv: list[str] | None = None) -> int:
    """``python -m analysis build-reference [--tier ci|default|full] [--jobs N] [--elements ...]``."""
    parser = argparse.ArgumentParser(prog="python -m analysis build-reference", description=__doc__.splitlines()[0])
    parser.add_argument("--tier", choices=TIERS, default="default")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (default: number of cores)")
    parser.add_argument("--elements", nargs="+", help="only these elements (default: the tier's)")
    parser.add_argument("--out", type=Path, help="store root (default: analysis/data/default for default/full, the data directory for ci)")
    parser.add_argument("--eos", type=Path, help="EOS cache file (default: analysis/data/eos.json; <out>/eos.json for ci)")
    parser.add_argument("--settings", type=Path, default=SETTINGS_PATH)
    parser.add_argument("--plan", action="store_true", help="print the element order and frame counts, compute nothing")
    parser.add_argument("--log", type=Path, help="also append the progress log to this file")
    parser.add_argument("--retry-failed", action="store_true", help="try again the frames whose DFT failed before")
    args = parser.parse_args(argv)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if args.log:
        args.log.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(args.log))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", handlers=handlers, force=True)
    try:
        settings = load_settings(args.tier, path=args.settings, elements=args.elements)
    except (InputFileError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    out = args.out or (data_dir() if args.tier == "ci" else default_data_dir())
    eos_path = args.eos or (out / "eos.json" if args.tier == "ci" else DEFAULT_EOS_PATH)
    if args.plan:
        build = build_dir(out, settings)
        measured = dft_seconds_per_frame(build / "timings.jsonl")
        cost = {s: estimated_cost(s, settings.dft) for s in settings.elements}
        remaining: dict[str, int] = {}
        for s in settings.elements:
            temps = settings.temperatures_of(s)
            done = sum(_frame_done(frame_path(build, s, t, i), settings) for t in temps for i in range(settings.n_frames))
            bad = sum(failed_path(build, s, t, i).is_file() for t in temps for i in range(settings.n_frames))
            remaining[s] = len(temps) * settings.n_frames - done - bad
            timed = f"  {measured[s]:5.0f} s/frame" if s in measured else ""
            print(f"{s:<3} cost {cost[s]:7.0f}  T {', '.join(f'{t:g}' for t in temps)} K  "
                  f"frames {done}/{len(temps) * settings.n_frames}" + (f"  failed {bad}" if bad else "") + timed)
        totals = _timing_totals(build / "timings.jsonl")
        print("compute so far (wall s): " + (", ".join(f"{k} {v:.0f}" for k, v in sorted(totals.items())) or "none"))
        spin = {s: "spin" if gpaw_calc.is_spin_polarized(s, settings.dft) else "paired" for s in settings.elements}
        left = projected_seconds(remaining, measured, cost, spin)
        if sum(remaining.values()):
            print(f"projected DFT for the {sum(remaining.values())} frames left: " + (
                f"{left / 3600:.1f} CPU-hours (elements not timed yet scaled by their cost, spin-polarised ones by the timed spin-polarised "
                "elements; EOS and MD add a few minutes per element)"
                if math.isfinite(left) else "unknown until a frame has been timed"))
        return 0
    try:
        path = build_reference(settings, out=out, eos_path=eos_path, jobs=max(1, args.jobs), retry_failed=args.retry_failed)
    except BuildIncomplete as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"data set {settings.dataset!r} -> {path}")
    return 0
