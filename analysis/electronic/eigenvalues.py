"""Kohn-Sham eigenvalues of a calculation (:class:`Eigenvalues`) and the readers of the user's own VASP runs.

:func:`read_vasprun` (vasprun.xml), :func:`read_eigenval` (EIGENVAL, with the Fermi level from OUTCAR
when given) and :func:`read_vasp` (either, from a run folder), all through pymatgen.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from analysis.core.errors import InputFileError
from analysis.electronic import smearing as sm
from analysis.electronic.smearing import METHODS

# ============================================================================ eigenvalues


@dataclass(frozen=True)
class Eigenvalues:
    """Kohn-Sham eigenvalues of one calculation.

    Attributes:
        eigs: eigenvalues in eV, shape (spin, kpt, band).
        weights: k-point weights, shape (kpt,), summing to 1.
        n_electrons: valence electrons per cell.
        efermi: the code's own Fermi level in eV (None if the file has none).
        source: where they came from (path or 'gpaw').
        mesh: the full Monkhorst-Pack mesh (n1, n2, n3) when known, else None.
        bz_to_ibz: index into ``kpt`` of every full-mesh point (C order), when known.
        reciprocal_cell: 3x3 reciprocal cell (rows, 1/Å without 2 pi), when known.
    """

    eigs: NDArray[np.float64]
    weights: NDArray[np.float64]
    n_electrons: float
    efermi: float | None
    source: str
    mesh: tuple[int, int, int] | None = None
    bz_to_ibz: NDArray[np.intp] | None = None
    reciprocal_cell: NDArray[np.float64] | None = None

    def band_energy(self, method: sm.Method, sigma_ev: float = 0.1, *, order: int = 1) -> sm.BandEnergy:
        """Band energy of these eigenvalues by ``method`` (see :func:`analysis.smearing.band_energy`)."""
        return sm.band_energy(self.eigs, self.weights, self.n_electrons, method=method, sigma_ev=sigma_ev,
                              order=order, **self._tetra_kwargs(method))

    def fermi_shift(self, shifts_ev: Sequence[float], method: sm.Method, sigma_ev: float = 0.1, *,
                    order: int = 1) -> sm.FermiShiftCurve:
        """Protocol (b) for these eigenvalues (see :func:`analysis.smearing.eigenvalue_sum_vs_fermi_shift`)."""
        return sm.eigenvalue_sum_vs_fermi_shift(self.eigs, self.weights, self.n_electrons, np.asarray(shifts_ev),
                                                method, sigma_ev, order=order, **self._tetra_kwargs(method))

    def _tetra_kwargs(self, method: str) -> dict[str, Any]:
        if method != "tetrahedron":
            return {}
        if self.mesh is None:
            raise ValueError(f"{self.source}: the tetrahedron method needs the full k-mesh, which is unknown here")
        return {"mesh": self.mesh, "bz_to_ibz": self.bz_to_ibz, "reciprocal_cell": self.reciprocal_cell}


def _vasp_mesh(kpoints: Any) -> tuple[int, int, int] | None:
    try:
        mesh = tuple(int(k) for k in kpoints.kpts[0])
        return mesh if len(mesh) == 3 and kpoints.style.name in ("Gamma", "Monkhorst") else None
    except Exception:  # noqa: BLE001 - a missing or explicit k-point list has no mesh
        return None


def _bz_map(kpts_ibz: NDArray[np.float64], mesh: tuple[int, int, int]) -> NDArray[np.intp] | None:
    """Map every full-mesh point (C order) to the listed k-point equal to it or to its inverse.

    The grid offset is taken from the first listed point. Returns None when some mesh point has
    no partner (the list was reduced by point-group symmetry, or is not a regular mesh).
    """
    n = np.asarray(mesh)
    k = np.asarray(kpts_ibz, dtype=np.float64)
    shift = (k[0] * n) % 1.0
    shift = np.where(np.isclose(shift, 1.0), 0.0, shift)
    if not np.all(np.isclose(shift, 0.0) | np.isclose(shift, 0.5)):
        return None

    def key(frac: NDArray[np.float64]) -> NDArray[np.int64]:
        return np.round(frac * n - shift).astype(np.int64) % n

    listed = key(k)
    if not np.allclose(((k * n - shift) + 0.5) % 1.0 - 0.5, 0.0, atol=1e-6):
        return None
    flat = (listed[:, 0] * n[1] + listed[:, 1]) * n[2] + listed[:, 2]
    table = np.full(int(n.prod()), -1, dtype=np.intp)
    table[flat[::-1]] = np.arange(len(k))[::-1]
    grid = (np.indices(mesh).reshape(3, -1).T + shift) / n
    minus = key(-grid)
    minus_flat = (minus[:, 0] * n[1] + minus[:, 1]) * n[2] + minus[:, 2]
    out = np.where(table >= 0, table, table[minus_flat])
    return None if np.any(out < 0) else out


def read_vasprun(path: str | Path) -> Eigenvalues:
    """Eigenvalues, k-weights, electron count and Fermi level from a vasprun.xml.

    Args:
        path: the vasprun.xml file.

    Raises:
        InputFileError: missing, truncated or malformed file, or no eigenvalues in it.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "file not found")
    with open(path, "rb") as handle:
        handle.seek(max(0, path.stat().st_size - 512))
        if b"</modeling>" not in handle.read():
            raise InputFileError(path, "file is truncated (no closing </modeling>): the VASP run did not finish writing it")
    from pymatgen.electronic_structure.core import Spin
    from pymatgen.io.vasp.outputs import Vasprun

    try:
        vr = Vasprun(str(path), parse_dos=True, parse_eigen=True, parse_projected_eigen=False,
                     parse_potcar_file=False, exception_on_bad_xml=True)
    except Exception as exc:  # pymatgen raises assorted errors on malformed XML
        raise InputFileError(path, f"cannot parse vasprun.xml: {type(exc).__name__}: {exc}") from exc
    eigenvalues = getattr(vr, "eigenvalues", None)
    if not eigenvalues:
        raise InputFileError(path, "no <eigenvalues> block (was the run stopped before the first SCF finished?)")
    spins = [s for s in (Spin.up, Spin.down) if s in eigenvalues]
    eigs = np.stack([np.asarray(eigenvalues[s])[:, :, 0] for s in spins])
    weights = np.asarray(vr.actual_kpoints_weights, dtype=np.float64)
    if weights.shape != (eigs.shape[1],):
        raise InputFileError(path, f"{len(weights)} k-point weights for {eigs.shape[1]} k-points")
    nelect = vr.parameters.get("NELECT")
    if nelect is None:
        raise InputFileError(path, "NELECT missing from <parameters>")
    efermi = vr.efermi if vr.efermi is not None else None
    rcell = np.asarray(vr.final_structure.lattice.reciprocal_lattice_crystallographic.matrix) if vr.final_structure else None
    mesh = _vasp_mesh(vr.kpoints)
    bz = None
    if mesh is not None:
        bz = _bz_map(np.asarray(vr.actual_kpoints), mesh)
        if bz is None:
            mesh = None  # the IBZ used point-group symmetry: no time-reversal-only map
    return Eigenvalues(eigs.astype(np.float64), weights / weights.sum(), float(nelect),
                       None if efermi is None else float(efermi), str(path), mesh, bz, rcell)


def read_eigenval(path: str | Path, outcar: str | Path | None = None) -> Eigenvalues:
    """Eigenvalues from an EIGENVAL file (electron count from its header), E_F from OUTCAR.

    Raises:
        InputFileError: missing or malformed file (the message names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "file not found")
    from pymatgen.electronic_structure.core import Spin
    from pymatgen.io.vasp.outputs import Eigenval

    try:
        ev = Eigenval(str(path))
    except Exception as exc:  # noqa: BLE001
        raise InputFileError(path, f"cannot parse EIGENVAL: {type(exc).__name__}: {exc}") from exc
    spins = [s for s in (Spin.up, Spin.down) if s in ev.eigenvalues]
    if not spins:
        raise InputFileError(path, "no eigenvalues")
    # pymatgen leaves zeros for k-points or bands missing from a cut file: count them here
    body = [line for line in path.read_text(errors="replace").splitlines()[7:] if line.strip()]
    expected = ev.nkpt * (1 + ev.nbands)
    if len(ev.kpoints) != ev.nkpt or len(body) < expected:
        raise InputFileError(path, f"truncated: header announces {ev.nkpt} k-points x {ev.nbands} bands, "
                                   f"found {len(ev.kpoints)} k-points and {len(body)} of {expected} lines")
    eigs = np.stack([np.asarray(ev.eigenvalues[s])[:, :, 0] for s in spins])
    weights = np.asarray(ev.kpoints_weights, dtype=np.float64)
    if weights.shape != (eigs.shape[1],) or weights.sum() <= 0:
        raise InputFileError(path, "k-point weights do not match the eigenvalue blocks")
    efermi = None
    if outcar is not None:
        outcar = Path(outcar)
        if not outcar.is_file():
            raise InputFileError(outcar, "file not found")
        efermi = _outcar_efermi(outcar)
        if efermi is None:
            raise InputFileError(outcar, "no 'E-fermi' line (was the run stopped early?)")
    return Eigenvalues(eigs, weights / weights.sum(), float(ev.nelect), None if efermi is None else float(efermi),
                       str(path))


def _outcar_efermi(path: Path) -> float | None:
    """The last ``E-fermi :`` value of an OUTCAR (eV), None if there is none.

    Read with a regular expression rather than pymatgen's ``Outcar``, which needs the whole
    file (headers, timings) to be present just to report this one line.
    """
    import re

    matches = re.findall(r"E-fermi\s*:\s*(-?\d+\.\d*)", path.read_text(errors="replace"))
    return float(matches[-1]) if matches else None


def read_vasp(path: str | Path) -> Eigenvalues:
    """Eigenvalues from a VASP run: a vasprun.xml, an EIGENVAL, or a folder holding either.

    A folder is read through its vasprun.xml when present, else EIGENVAL (+ OUTCAR for E_F).
    """
    path = Path(path)
    if path.is_dir():
        if (path / "vasprun.xml").is_file():
            return read_vasprun(path / "vasprun.xml")
        if (path / "EIGENVAL").is_file():
            outcar = path / "OUTCAR"
            return read_eigenval(path / "EIGENVAL", outcar if outcar.is_file() else None)
        raise InputFileError(path, "folder holds neither vasprun.xml nor EIGENVAL")
    if path.name.startswith("EIGENVAL"):
        return read_eigenval(path)
    return read_vasprun(path)


def smearing_table(ev: Eigenvalues, *, sigma_ev: float = 0.1, order: int = 1) -> list[dict[str, Any]]:
    """Band energy, entropy term and Fermi level of ``ev`` for every available method (eV).

    The tetrahedron method is included only when the full mesh is known.
    """
    rows = []
    for method in METHODS:
        if method == "tetrahedron" and ev.mesh is None:
            continue
        be = ev.band_energy(method, sigma_ev, order=order)  # type: ignore[arg-type]
        rows.append({"method": method, "e_band_ev": be.e_band_ev, "entropy_term_ev": be.entropy_term_ev,
                     "fermi_level_ev": be.fermi_level_ev})
    return rows
