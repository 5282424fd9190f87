"""The cache of SCF eigenvalues: keys, atomic writes and reads (``<root>/electronic/<hash>.npz`` + ``.json``).

One SCF is keyed by the SHA-256 of (element, structure, the settings that change an SCF) and stored
as ``<hash>.npz`` (eigenvalues float32, weights, k-mesh map, electron count) plus ``<hash>.json``
(settings, energy, timings). The protocols (:mod:`analysis.electronic.protocols`) and the dense DOS
meshes (:mod:`analysis.electronic.dos_meshes`) both write and read it; it sits below both, so
neither imports the other for it.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from analysis.electronic.eigenvalues import Eigenvalues

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1


def structure_hash(symbol: str, atoms: Any, settings: dict[str, Any]) -> str:
    """SHA-256 (first 16 hex digits) of element, structure (rounded to 1e-8 Å) and settings."""
    payload = {
        "schema": SCHEMA_VERSION,
        "element": symbol,
        "numbers": [int(z) for z in atoms.numbers],
        "cell": np.round(atoms.cell.array, 8).tolist(),
        "positions": np.round(atoms.positions, 8).tolist(),
        "settings": scf_settings(settings),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def scf_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings that change an SCF result (analysis-only keys excluded)."""
    skip = {"deltas_a", "analysis_sigma_ev", "mp_order", "fermi_shifts_ev", "n_atoms", "displaced_atom", "direction",
            "volume", "forces", "dos_kpt_densities"}
    return {k: v for k, v in settings.items() if k not in skip}


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Write ``path`` through ``write(temporary path)``, then rename: readers never see half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(tmp)
    os.replace(tmp, path)


def write_json(path: Path, obj: Any) -> None:
    """``obj`` as indented, key-sorted JSON at ``path``, atomically."""
    atomic_write(path, lambda p: p.write_text(json.dumps(obj, indent=1, sort_keys=True)))


def save_npz(path: Path, arrays: dict[str, Any]) -> None:
    """``arrays`` as a compressed ``.npz`` at ``path``, atomically."""
    def write(p: Path) -> None:
        with open(p, "wb") as handle:
            np.savez_compressed(handle, **arrays)

    atomic_write(path, write)


def load_scf(directory: Path, key: str) -> Eigenvalues | None:
    """The cached eigenvalues of one SCF (None when missing or unreadable)."""
    npz = directory / f"{key}.npz"
    if not npz.is_file() or not (directory / f"{key}.json").is_file():
        return None
    try:
        with np.load(npz) as z:
            return Eigenvalues(
                eigs=z["eigs"].astype(np.float64),
                weights=z["weights"].astype(np.float64),
                n_electrons=float(z["n_electrons"]),
                efermi=float(z["efermi"]),
                source=str(npz),
                mesh=tuple(int(m) for m in z["mesh"]),  # type: ignore[arg-type]
                bz_to_ibz=z["bz_to_ibz"].astype(np.intp),
                reciprocal_cell=z["reciprocal_cell"].astype(np.float64),
            )
    except (OSError, KeyError, ValueError) as exc:
        log.warning("ignoring unreadable cache entry %s: %s", npz, exc)
        return None


def seed_from_default(directory: Path, key: str) -> None:
    """Copy an SCF the embedded default data already holds into ``directory`` (no recompute)."""
    import shutil

    from analysis.core.config import default_data_dir

    shipped = default_data_dir() / "electronic"
    if directory.resolve() == shipped.resolve() or (directory / f"{key}.json").is_file():
        return
    if (shipped / f"{key}.npz").is_file() and (shipped / f"{key}.json").is_file():
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write(directory / f"{key}.npz", lambda p: shutil.copyfile(shipped / f"{key}.npz", p))
        atomic_write(directory / f"{key}.json", lambda p: shutil.copyfile(shipped / f"{key}.json", p))


def gpaw_version() -> str:
    """The installed GPAW's version (``unknown`` without GPAW), recorded with every cached SCF."""
    try:
        import gpaw

        return str(gpaw.__version__)
    except Exception:  # noqa: BLE001
        return "unknown"


def electronic_dir(root: Path | None) -> Path:
    """``<root>/electronic`` (default root: the user data folder), where SCFs and curves are cached."""
    from analysis.core.config import data_dir

    return Path(root if root is not None else data_dir()) / "electronic"
