"""Predictions made elsewhere (NEP's ``energy_*.out``/``force_*.out``, DeePMD's ``dp test`` outputs),
matched to reference frames by the reference values the files carry beside the predictions.

Formats:
    ``nep-out``    GPUMD's ``energy_*.out`` (eV/atom: predicted, reference) and ``force_*.out``
                   (eV/Å: 3 predicted, 3 reference components per atom),
    ``deepmd-out`` ``dp test -d PREFIX`` outputs ``PREFIX.e.out`` (eV per frame) or
                   ``PREFIX.e_peratom.out`` (eV/atom) and ``PREFIX.f.out`` (reference columns first,
                   then predicted); several systems follow one another in one file.

Neither format says which structure a row belongs to, and neither keeps the reference set's order
(GPUMD writes train and test files separately, ``dp test`` visits systems in the file system's
order). Each predicted frame is therefore identified by its reference energy and its reference
force rows: walking the file, the next frame is the first reference frame, not yet taken, whose
energy per atom and every force component agree within the tolerance (ties go in file order).
A folder is read file by file: pairs of energy and force files are found by their names, and
every other file is listed as skipped.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
from numpy.typing import NDArray

from analysis.core.errors import InputFileError
from analysis.datasets.frames import FrameArrays, Predictions, ReferenceSet, structure_hash

PredictionFormat = Literal["nep-out", "deepmd-out"]
_NEP = re.compile(r"(energy|force)_(\w+)\.out$", re.IGNORECASE)
_DP = re.compile(r"(.+)\.(e|e_peratom|f)\.out$", re.IGNORECASE)


@dataclass(frozen=True)
class OutputPair:
    """One energy file and its force file (a NEP train/test pair or a ``dp test`` prefix)."""

    fmt: PredictionFormat
    energy: Path
    forces: Path
    per_atom: bool  # energies per atom (NEP, *.e_peratom.out) rather than per frame (*.e.out)


@dataclass
class PredictionFiles:
    """What a list of paths holds: the output pairs found and the files skipped (with why)."""

    pairs: list[OutputPair] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def find_outputs(paths: str | Path | Sequence[str | Path], fmt: PredictionFormat | None = None) -> PredictionFiles:
    """Group prediction files (or the files of folders) into energy/force pairs.

    A NEP ``energy_X.out`` pairs with ``force_X.out``; a DeePMD ``P.e.out`` (or ``P.e_peratom.out``)
    with ``P.f.out``; a named file's partner beside it is taken too. Files of neither kind (logs,
    ``virial_*.out``, qNEP's ``charge_*.out``, ``loss.out``) are skipped and listed.

    Raises:
        InputFileError: a path is missing, or no complete pair is found (naming what is missing).
    """
    items = [paths] if isinstance(paths, (str, Path)) else list(paths)
    files: list[Path] = []
    for item in map(Path, items):
        if item.is_dir():
            files.extend(sorted(p for p in item.iterdir() if p.is_file()))
        elif item.is_file():
            files.append(item)
            files.extend(p for p in _partners(item) if p not in files and p not in map(Path, items))
        else:
            raise InputFileError(item, "no such file")
    if not files:
        raise InputFileError(Path(str(items[0])) if items else Path("."), "no prediction files given")
    out = PredictionFiles()
    nep: dict[str, dict[str, Path]] = {}
    dp: dict[str, dict[str, Path]] = {}
    for file in files:
        m_nep, m_dp = _NEP.match(file.name), _DP.match(file.name)
        if m_nep and fmt != "deepmd-out":
            nep.setdefault(m_nep[2], {})[m_nep[1].lower()] = file
        elif m_dp and fmt != "nep-out":
            dp.setdefault(m_dp[1], {})[m_dp[2].lower()] = file
        else:
            out.skipped.append(f"{file.name} (not a NEP energy_*/force_*.out or DeePMD *.e.out/*.e_peratom.out/*.f.out file)")
    for tag, found in sorted(nep.items()):
        if "energy" in found and "force" in found:
            out.pairs.append(OutputPair("nep-out", found["energy"], found["force"], True))
        else:
            have = next(iter(found.values()))
            out.skipped.append(f"{have.name} (its {'force' if 'energy' in found else 'energy'}_{tag}.out is missing)")
    for prefix, found in sorted(dp.items()):
        energy = found.get("e") or found.get("e_peratom")
        if energy is not None and "f" in found:
            out.pairs.append(OutputPair("deepmd-out", energy, found["f"], "e" not in found))
        else:
            have = next(iter(found.values()))
            need = f"{prefix}.f.out" if energy is not None else f"{prefix}.e.out or {prefix}.e_peratom.out"
            out.skipped.append(f"{have.name} ({need} is missing)")
    if not out.pairs:
        where = files[0].parent
        raise InputFileError(where, "no complete pair of prediction files: need NEP energy_X.out with force_X.out, or DeePMD "
                             f"P.e.out (or P.e_peratom.out) with P.f.out; found {', '.join(f.name for f in files)}")
    return out


def _partners(file: Path) -> list[Path]:
    """The files that belong with a named prediction file (its force or energy file)."""
    names: list[str] = []
    if m := _NEP.match(file.name):
        names.append(f"{'force' if m[1].lower() == 'energy' else 'energy'}_{m[2]}.out")
    elif m := _DP.match(file.name):
        names.extend(f"{m[1]}.{s}.out" for s in ("e", "e_peratom", "f") if s != m[2].lower())
    return [p for p in (file.with_name(n) for n in names) if p.is_file()]


def load_columns(path: Path, ncols: int) -> NDArray[np.float64]:
    """The first ``ncols`` numeric columns of a text file ('#' starts a comment)."""
    if path.stat().st_size == 0:
        raise InputFileError(path, "file is empty")
    rows = []
    with open(path, errors="replace") as handle:
        for lineno, line in enumerate(handle, 1):
            text = line.split("#", 1)[0].strip()
            if not text:
                continue
            parts = text.split()
            if len(parts) < ncols:
                raise InputFileError(path, f"line {lineno} has {len(parts)} columns, expected {ncols} (truncated?)")
            try:
                rows.append([float(p) for p in parts[:ncols]])
            except ValueError:
                raise InputFileError(path, f"line {lineno} is not numeric: {text[:60]!r}") from None
    if not rows:
        raise InputFileError(path, "no data lines")
    data = np.array(rows, dtype=np.float64)
    if not np.all(np.isfinite(data)):
        bad = int(np.flatnonzero(~np.isfinite(data).all(axis=1))[0])
        raise InputFileError(path, f"data row {bad + 1} contains NaN or inf")
    return data


@dataclass(frozen=True)
class PairValues:
    """One pair's columns: per frame reference and predicted energy, per atom reference and predicted forces."""

    ref_energy: NDArray[np.float64]   # eV/atom when per_atom else eV per frame
    pred_energy: NDArray[np.float64]
    ref_forces: NDArray[np.float64]
    pred_forces: NDArray[np.float64]
    per_atom: bool


def read_pair(pair: OutputPair) -> PairValues:
    """The columns of one pair, in the order the program wrote them."""
    e = load_columns(pair.energy, 2)
    f = load_columns(pair.forces, 6)
    if pair.fmt == "nep-out":
        return PairValues(e[:, 1], e[:, 0], f[:, 3:6], f[:, 0:3], True)
    return PairValues(e[:, 0], e[:, 1], f[:, 0:3], f[:, 3:6], pair.per_atom)


def match_pair(values: PairValues, arrays: FrameArrays, taken: NDArray[np.bool_], tol: float, pair: OutputPair) -> NDArray[np.int64]:
    """The reference frame of each row of ``values``, walking the file; marks them in ``taken``.

    Raises:
        InputFileError: listing the first rows that match no free reference frame.
    """
    n_rows = len(values.ref_energy)
    per_atom_ref = arrays.energy / arrays.n_atoms
    order = np.argsort(per_atom_ref, kind="stable")
    sorted_e = per_atom_ref[order]
    offsets = arrays.offsets
    matched = np.full(n_rows, -1, dtype=np.int64)
    cursor = 0
    unmatched: list[str] = []
    for row in range(n_rows):
        found = -1
        if values.per_atom:
            lo = np.searchsorted(sorted_e, values.ref_energy[row] - tol, side="left")
            hi = np.searchsorted(sorted_e, values.ref_energy[row] + tol, side="right")
            candidates = np.sort(order[lo:hi])
        else:
            candidates = np.flatnonzero(np.abs(arrays.energy - values.ref_energy[row]) <= tol * arrays.n_atoms)
        for k in candidates:
            if taken[k]:
                continue
            n = int(arrays.n_atoms[k])
            block = values.ref_forces[cursor:cursor + n]
            if len(block) == n and np.abs(block - arrays.forces[offsets[k]:offsets[k + 1]]).max(initial=0.0) <= tol:
                found = int(k)
                break
        if found < 0:
            unmatched.append(f"row {row + 1} (reference energy {values.ref_energy[row]:.6g} eV{'/atom' if values.per_atom else ''})")
            if len(unmatched) >= 3:
                break
            continue
        taken[found] = True
        matched[row] = found
        cursor += int(arrays.n_atoms[found])
    if unmatched:
        raise InputFileError(pair.energy, f"{_hint(values, arrays)}these frames match no reference frame of the data set (energy "
                             f"and reference forces within {tol:g} eV): {'; '.join(unmatched)}; the files belong to other data")
    if cursor != len(values.ref_forces):
        raise InputFileError(pair.forces, f"has {len(values.ref_forces)} atom rows but the {n_rows} matched frames hold {cursor} atoms")
    return matched


def _hint(values: PairValues, arrays: FrameArrays) -> str:
    """A units hint when the file's reference forces look like the data set's times 1000 (meV)."""
    scale_file = float(np.abs(values.ref_forces).mean()) if len(values.ref_forces) else 0.0
    scale_ref = float(np.abs(arrays.forces).mean()) if len(arrays.forces) else 0.0
    if scale_ref > 0 and 300 < scale_file / scale_ref < 3000:
        return "the file's values are about 1000 times the data set's (meV and meV/Å? the files must be in eV and eV/Å): "
    return ""


def import_predictions(
    paths: str | Path | Sequence[str | Path],
    reference: ReferenceSet,
    *,
    model: str,
    fmt: PredictionFormat | None = None,
    universal: bool = False,
    check_reference_tol_ev: float = 1e-3,
) -> Predictions:
    """Read a model's predictions made elsewhere and match them to ``reference`` frame by frame.

    Args:
        paths: the output files, or folders holding them (several pairs: train and test, systems).
        reference: the reference set the model was tested on, in any order.
        model: model name to store the predictions under.
        fmt: 'nep-out' or 'deepmd-out' (read from the names when None).
        universal: whether the model is a universal one (gets the per-element constant shift).
        check_reference_tol_ev: tolerance (eV/atom, eV/Å) of the match on the files' reference columns.

    Returns:
        Predictions over every reference frame; frames no file predicted carry NaN (the count is
        in ``meta["frames_without_prediction"]``), skipped files in ``meta["skipped_files"]``.

    Raises:
        InputFileError: a file is missing or malformed, or a predicted frame matches no reference frame.
    """
    found = find_outputs(paths, fmt)
    arrays = reference.arrays()
    offsets = arrays.offsets
    taken = np.zeros(len(arrays), dtype=bool)
    energy = np.full(len(arrays), np.nan)
    forces = np.full((int(offsets[-1]), 3), np.nan)
    for pair in found.pairs:
        values = read_pair(pair)
        rows = match_pair(values, arrays, taken, check_reference_tol_ev, pair)
        cursor = 0
        for row, k in enumerate(rows):
            n = int(arrays.n_atoms[k])
            energy[k] = values.pred_energy[row] * (n if values.per_atom else 1)
            forces[offsets[k]:offsets[k + 1]] = values.pred_forces[cursor:cursor + n]
            cursor += n
    return Predictions(
        model=model,
        dataset_hash=reference.content_hash(),
        frame_id=arrays.frame_id.copy(),
        energy=energy,
        forces=forces,
        n_atoms=arrays.n_atoms.copy(),
        meta={"universal": universal, "format": found.pairs[0].fmt,
              "source_files": [str(p) for pair in found.pairs for p in (pair.energy, pair.forces)],
              "skipped_files": found.skipped, "frames_without_prediction": int((~taken).sum())},
        structure_hash=np.array([structure_hash(a) for a in reference.frames], dtype=str),
    )
