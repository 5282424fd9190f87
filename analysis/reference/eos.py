"""The Birch-Murnaghan equation of state, as fitted by :mod:`analysis.reference` (through ASE).

Units: volumes in Å^3/atom, energies in eV/atom, B0 in GPa (B' dimensionless).
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: 1 eV/Å^3 in GPa
GPA_PER_EV_PER_A3 = 160.21766208


def birch_murnaghan(volume: ArrayLike, e0: float, v0: float, b0_gpa: float, bprime: float) -> NDArray[np.float64]:
    """E(V) = E0 + 9 V0 B0 / 16 (eta^2 - 1)^2 (6 + B' (eta^2 - 1) - 4 eta^2), eta = (V0/V)^(1/3).

    The third-order Birch-Murnaghan form of ASE's ``EquationOfState(eos='birchmurnaghan')``.
    """
    v = np.asarray(volume, dtype=np.float64)
    if np.any(v <= 0):
        raise ValueError("volumes must be positive")
    b0 = b0_gpa / GPA_PER_EV_PER_A3
    x = (v0 / v) ** (2.0 / 3.0) - 1.0
    return e0 + 9.0 * v0 * b0 / 16.0 * x**2 * (6.0 + bprime * x - 4.0 * (x + 1.0))


def eos_curve(entry: dict[str, Any], n: int = 120, *, margin: float = 0.02) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The fitted E(V) of an EOS entry (``analysis/data/eos.json``) over its scanned volumes (± margin)."""
    volumes = np.asarray(entry.get("volumes_A3_per_atom") or [entry["V0_A3_per_atom"]], dtype=np.float64)
    lo, hi = volumes.min() * (1 - margin), volumes.max() * (1 + margin)
    grid = np.linspace(lo, hi, n)
    return grid, birch_murnaghan(grid, entry["E0_eV_per_atom"], entry["V0_A3_per_atom"], entry["B0_GPa"], entry["Bprime"])
