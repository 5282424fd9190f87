"""Predictions made elsewhere (NEP's ``energy_*.out``/``force_*.out``, DeePMD's ``dp test`` outputs,
an extended XYZ with a model's keys beside the reference: mace-torch's ``mace_eval_configs``),
matched to reference frames by the reference values the files carry beside the predictions.

Formats:
    ``nep-out``    GPUMD's ``energy_*.out`` (eV/atom: predicted, reference) and ``force_*.out``
                   (eV/Å: 3 predicted, 3 reference components per atom),
    ``deepmd-out`` ``dp test -d PREFIX`` outputs ``PREFIX.e.out`` (eV per frame) or
                   ``PREFIX.e_peratom.out`` (eV/atom) and ``PREFIX.f.out`` (reference columns first,
                   then predicted); several systems follow one another in one file,
    ``extxyz``     an extended XYZ whose frames carry the reference (``REF_energy`` and a
                   ``REF_forces`` column, or any key :mod:`analysis.datasets.xyz` detects) and a
                   model's predictions under a prefix (``MACE_energy``, ``MACE_forces``: the
                   ``--info_prefix`` of ``mace_eval_configs``); the prefix is detected when only one fits.

None of them says which structure a row belongs to, and none keeps the reference set's order
(GPUMD writes train and test files separately, ``dp test`` visits systems in the file system's
order). Each predicted frame is therefore identified by its reference energy and its reference
force rows: walking the file, the next frame is the first reference frame (in the data set's
order), not yet taken, whose energy per atom and every force component agree within the
tolerance (ties go in file order).

The search is a sort, not a scan: the reference frames are grouped by atom count, each group
sorted by energy per atom, so a row's candidates are a binary search away (``searchsorted`` on
the window ``±tol``, which handles the tolerance across any bucket edge); among them the first
atom's force components sift out the rest before a whole force block is compared. A file whose
energies are per frame (``*.e.out``) is searched in each atom-count group at that group's energy
per atom. The force file is read in chunks, never whole, so memory stays at the data set's arrays,
the predictions' arrays and one chunk. The result is stored aligned to the data set's frame order.

A folder is read file by file: pairs of energy and force files are found by their names, extended
XYZ files with predictions by their keys, and every other file is listed as skipped.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from analysis.core.errors import InputFileError
from analysis.datasets.columns import FrameColumns
from analysis.datasets.frames import FrameArrays, Predictions, ReferenceSet, structure_hash

PredictionFormat = Literal["nep-out", "deepmd-out", "extxyz"]
_NEP = re.compile(r"(energy|force)_(\w+)\.out$", re.IGNORECASE)
_DP = re.compile(r"(.+)\.(e|e_peratom|f)\.out$", re.IGNORECASE)
_XYZ = re.compile(r".+\.(ext)?xyz$", re.IGNORECASE)
#: rows of a force file parsed at a time
CHUNK_ROWS = 1 << 18


@dataclass(frozen=True)
class OutputPair:
    """One energy file and its force file (a NEP train/test pair or a ``dp test`` prefix), or one
    extended XYZ file holding both (``energy`` and ``forces`` are then the same path)."""

    fmt: PredictionFormat
    energy: Path
    forces: Path
    per_atom: bool  # energies per atom (NEP, *.e_peratom.out) rather than per frame (*.e.out, extxyz)


@dataclass
class PredictionFiles:
    """What a list of paths holds: the output pairs found and the files skipped (with why)."""

    pairs: list[OutputPair] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def find_outputs(paths: str | Path | Sequence[str | Path], fmt: PredictionFormat | None = None,
                 *, pred_prefix: str | None = None) -> PredictionFiles:
    """Group prediction files (or the files of folders) into energy/force pairs.

    A NEP ``energy_X.out`` pairs with ``force_X.out``; a DeePMD ``P.e.out`` (or ``P.e_peratom.out``)
    with ``P.f.out``; a named file's partner beside it is taken too. An extended XYZ file is a
    source of its own when its first frame has a prediction prefix (``MACE_energy`` with a
    ``MACE_forces`` column, or ``pred_prefix``); in a folder, one without is skipped (the data
    set's own ``train.xyz``), and a named one is an error saying which keys it has. Files of
    neither kind (logs, ``virial_*.out``, qNEP's ``charge_*.out``, ``loss.out``) are skipped and listed.

    Raises:
        InputFileError: a path is missing, a named XYZ file holds no predictions, or no complete
            pair is found (naming what is missing).
    """
    from analysis.datasets import xyz

    items = [paths] if isinstance(paths, (str, Path)) else list(paths)
    named = {Path(p) for p in items}
    files: list[Path] = []
    for item in map(Path, items):
        if item.is_dir():
            files.extend(sorted(p for p in item.rglob("*") if p.is_file()) if _has_xyz_below(item)
                         else sorted(p for p in item.iterdir() if p.is_file()))
        elif item.is_file():
            files.append(item)
            files.extend(p for p in _partners(item) if p not in files and p not in named)
        else:
            raise InputFileError(item, "no such file")
    if not files:
        raise InputFileError(Path(str(items[0])) if items else Path("."), "no prediction files given")
    out = PredictionFiles()
    nep: dict[str, dict[str, Path]] = {}
    dp: dict[str, dict[str, Path]] = {}
    for file in files:
        m_nep, m_dp = _NEP.match(file.name), _DP.match(file.name)
        if m_nep and fmt in (None, "nep-out"):
            nep.setdefault(m_nep[2], {})[m_nep[1].lower()] = file
        elif m_dp and fmt in (None, "deepmd-out"):
            dp.setdefault(m_dp[1], {})[m_dp[2].lower()] = file
        elif fmt in (None, "extxyz") and (_XYZ.match(file.name) or fmt == "extxyz" or file in named) and _is_xyz(file):
            comment = xyz.first_comment(file) or ""
            if pred_prefix is not None or xyz.prediction_prefixes(comment) or file in named:
                out.pairs.append(OutputPair("extxyz", file, file, False))
            else:
                out.skipped.append(f"{file.name} (extended XYZ without a model's keys beside the reference, such as MACE_energy "
                                   "and MACE_forces)")
        else:
            out.skipped.append(f"{file.name} (not a NEP energy_*/force_*.out, DeePMD *.e.out/*.e_peratom.out/*.f.out or "
                               "extended XYZ file with predictions)")
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
        raise InputFileError(where, "no complete pair of prediction files: need NEP energy_X.out with force_X.out, DeePMD "
                             "P.e.out (or P.e_peratom.out) with P.f.out, or an extended XYZ with a model's keys (MACE_energy, "
                             f"MACE_forces) beside the reference; found {', '.join(f.name for f in files)}")
    return out


def _has_xyz_below(folder: Path) -> bool:
    """Whether a folder holds extended XYZ files in subfolders (then it is read recursively)."""
    return any(_XYZ.match(p.name) for p in folder.rglob("*") if p.parent != folder and p.is_file())


def _is_xyz(path: Path) -> bool:
    from analysis.datasets.xyz import first_comment

    return first_comment(path) is not None


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


def iter_columns(path: Path, ncols: int, chunk_rows: int = CHUNK_ROWS) -> Iterator[NDArray[np.float64]]:
    """The first ``ncols`` numeric columns of a text file, ``chunk_rows`` rows at a time.

    Parsed by pandas' C reader; a chunk it cannot read cleanly (a short or non-numeric line, NaN)
    sends the file to :func:`load_columns`, whose message names the line.

    Raises:
        InputFileError: as :func:`load_columns`.
    """
    import pandas as pd

    if path.stat().st_size == 0:
        raise InputFileError(path, "file is empty")
    seen = 0
    try:
        reader = pd.read_csv(path, sep=r"\s+", header=None, comment="#", usecols=range(ncols), dtype=np.float64,
                             engine="c", chunksize=chunk_rows, encoding_errors="replace")
        with reader:
            for chunk in reader:
                values = chunk.to_numpy(dtype=np.float64)
                if values.shape[1] != ncols or not np.isfinite(values).all():
                    raise ValueError("not clean")
                seen += len(values)
                yield values
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
        load_columns(path, ncols)  # raises with the line's number and what is wrong
        raise InputFileError(path, "cannot be read as numeric columns") from None
    if not seen:
        raise InputFileError(path, "no data lines")


@dataclass(frozen=True)
class PairValues:
    """One pair's columns: per frame reference and predicted energy, per atom reference and predicted forces."""

    ref_energy: NDArray[np.float64]   # eV/atom when per_atom else eV per frame
    pred_energy: NDArray[np.float64]
    ref_forces: NDArray[np.float64]
    pred_forces: NDArray[np.float64]
    per_atom: bool


def read_pair(pair: OutputPair) -> PairValues:
    """The columns of one NEP or DeePMD pair, in the order the program wrote them (whole files in memory)."""
    e = load_columns(pair.energy, 2)
    f = load_columns(pair.forces, 6)
    if pair.fmt == "nep-out":
        return PairValues(e[:, 1], e[:, 0], f[:, 3:6], f[:, 0:3], True)
    return PairValues(e[:, 0], e[:, 1], f[:, 0:3], f[:, 3:6], pair.per_atom)


class _ForceRows:
    """The atom rows of a force file as (reference, predicted) blocks, read chunk by chunk as they are consumed."""

    def __init__(self, chunks: Iterator[tuple[NDArray[np.float64], NDArray[np.float64]]]) -> None:
        self._chunks = chunks
        self._ref = np.zeros((0, 3))
        self._pred = np.zeros((0, 3))
        self._start = 0
        self.consumed = 0
        self.read = 0
        self.abs_sum = 0.0  # of the reference components read so far (for the meV hint)
        self.done = False

    def _fill(self, n: int) -> None:
        while len(self._ref) - self._start < n and not self.done:
            try:
                ref, pred = next(self._chunks)
            except StopIteration:
                self.done = True
                break
            self.read += len(ref)
            self.abs_sum += float(np.abs(ref).sum())
            self._ref = np.concatenate([self._ref[self._start:], ref])
            self._pred = np.concatenate([self._pred[self._start:], pred])
            self._start = 0

    def peek(self, n: int) -> NDArray[np.float64]:
        """The next ``n`` reference rows (fewer at the end of the file)."""
        self._fill(n)
        return self._ref[self._start:self._start + n]

    def take(self, n: int) -> NDArray[np.float64]:
        """Consume the next ``n`` rows; returns their predicted forces."""
        self._fill(n)
        pred = self._pred[self._start:self._start + n]
        self._start += n
        self.consumed += n
        return pred

    def total(self) -> int:
        """All rows of the file (the rest is read, and counted)."""
        while not self.done:
            self._fill(len(self._ref) - self._start + CHUNK_ROWS)
        return self.read

    def mean_abs(self) -> float:
        return self.abs_sum / (3 * self.read) if self.read else 0.0


class Matcher:
    """Reference frames found by their energy per atom and forces, each at most once (see the module docstring).

    Args:
        arrays: the data set's arrays.
        tol: the tolerance (eV/atom, eV/Å) on the files' reference columns.
    """

    def __init__(self, arrays: FrameArrays, tol: float) -> None:
        self.arrays = arrays
        self.tol = tol
        self.offsets = arrays.offsets
        self.taken = np.zeros(len(arrays), dtype=bool)
        self.per_atom = arrays.energy / np.maximum(arrays.n_atoms, 1)
        first = np.zeros((len(arrays), 3))
        has = arrays.n_atoms > 0
        first[has] = arrays.forces[self.offsets[:-1][has]]
        self.first_force = first
        self.forces = arrays.forces
        #: per atom count: (frame indices sorted by energy per atom, those energies, their first atom's forces)
        self.groups: dict[int, tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]] = {}
        for n in np.unique(arrays.n_atoms).tolist():
            members = np.flatnonzero(arrays.n_atoms == n)
            order = members[np.argsort(self.per_atom[members], kind="stable")]
            self.groups[int(n)] = (order, self.per_atom[order], first[order])

    def _window(self, n: int, ref_energy: float, per_atom: bool) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """(free frames of ``n`` atoms whose energy agrees with the row's, their first atom's forces), by energy."""
        order, values, first = self.groups[n]
        e = ref_energy if per_atom else ref_energy / max(n, 1)
        slack = 1e-9 * max(1.0, abs(e))  # the window is widened for rounding; the exact test follows
        lo = int(values.searchsorted(e - self.tol - slack, side="left"))
        hi = int(values.searchsorted(e + self.tol + slack, side="right"))
        if hi <= lo:
            return order[:0], first[:0]
        idx = order[lo:hi]
        if per_atom:
            keep = np.abs(values[lo:hi] - ref_energy) <= self.tol
        else:
            keep = np.abs(self.arrays.energy[idx] - ref_energy) <= self.tol * n
        keep &= ~self.taken[idx]
        return idx[keep], first[lo:hi][keep]

    def _sizes(self, n_atoms: int | None) -> list[int]:
        if n_atoms is not None:
            return [n_atoms] if n_atoms in self.groups else []
        return list(self.groups)

    def candidates(self, ref_energy: float, per_atom: bool, n_atoms: int | None) -> NDArray[np.int64]:
        """Free frames whose energy agrees with a row's, in the data set's order."""
        found = [self._window(n, ref_energy, per_atom)[0] for n in self._sizes(n_atoms)]
        return np.sort(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)

    def match(self, ref_energy: float, per_atom: bool, block_of: Callable[[int], NDArray[np.float64]],
              n_atoms: int | None = None) -> int:
        """The first free frame (in the data set's order) whose energy and force block agree, marked taken; or -1.

        Args:
            block_of: the row's reference force block for a frame of that many atoms (fewer rows
                when the file ends first).
            n_atoms: the row's atom count when the file says it (extended XYZ).
        """
        tol = self.tol
        survivors: list[tuple[NDArray[np.int64], NDArray[np.float64]]] = []
        for n in self._sizes(n_atoms):
            idx, first = self._window(n, ref_energy, per_atom)
            if not len(idx):
                continue
            block = block_of(n)
            if len(block) != n:
                continue
            if n:
                idx = idx[np.abs(first - block[0]).max(axis=1) <= tol]
            if len(idx):
                survivors.append((np.sort(idx), block))
        if len(survivors) > 1:  # frames of several sizes agree: take them in the data set's order
            merged = sorted(((int(k), block) for idx, block in survivors for k in idx), key=lambda item: item[0])
        else:
            merged = [(int(k), survivors[0][1]) for k in survivors[0][0]] if survivors else []
        offsets, forces = self.offsets, self.forces
        for k, block in merged:
            if np.abs(block - forces[offsets[k]:offsets[k + 1]]).max(initial=0.0) <= tol:
                self.taken[k] = True
                return k
        return -1


#: predicted per-atom energies of one element that spread over more than this many times the reference's
#: spread (plus :data:`SPREAD_FLOOR_EV`) are in another unit: meV x1000, kJ/mol x96, kcal/mol x23
MAX_SPREAD_RATIO = 20.0
SPREAD_FLOOR_EV = 0.5


def check_prediction_units(path: Path, forces_path: Path, frames: Sequence[int], energy: NDArray[np.float64],
                           forces: NDArray[np.float64], arrays: FrameArrays) -> None:
    """Refuse predictions whose magnitudes betray another unit than eV and eV/Å.

    A predicted force component beyond the bound no metal's AIMD reaches (the reference's, 100 eV/Å),
    a per-atom energy beyond any code's, or predicted per-atom energies of one element (3 frames or
    more) spreading :data:`MAX_SPREAD_RATIO` times wider than the reference values they are matched to.

    Raises:
        InputFileError: naming the file (``path`` for energies, ``forces_path`` for forces), the element
            or value, and the units expected.
    """
    from analysis.datasets.importers import MAX_FORCE_EV_PER_A, MAX_PLAUSIBLE_EV

    if not len(frames):
        return
    ks = np.asarray(frames, dtype=np.int64)
    chosen = np.zeros(len(arrays), dtype=bool)
    chosen[ks] = True
    atoms = np.repeat(chosen, arrays.n_atoms)
    biggest = float(np.abs(forces[atoms]).max(initial=0.0))
    expected = "predictions must be in eV and eV/Å, like the reference columns beside them"
    if biggest > MAX_FORCE_EV_PER_A:
        raise InputFileError(forces_path, f"a predicted force component of {biggest:.4g} eV/Å, beyond the {MAX_FORCE_EV_PER_A:g} eV/Å no "
                             f"metal's AIMD reaches: the predicted forces are in another unit (meV/Å?); the {expected}")
    n = arrays.n_atoms[ks]
    pred, ref = energy[ks] / n, arrays.energy[ks] / n
    if np.abs(pred).max() > MAX_PLAUSIBLE_EV:
        raise InputFileError(path, f"a predicted energy of {np.abs(pred).max():.3g} eV/atom is no total energy: another unit; the {expected}")
    labels = arrays.element[ks]
    for element in np.unique(labels).tolist():
        sel = labels == element
        if sel.sum() < 3:
            continue
        spread_pred, spread_ref = float(np.ptp(pred[sel])), float(np.ptp(ref[sel]))
        if spread_pred > MAX_SPREAD_RATIO * spread_ref + SPREAD_FLOOR_EV:
            raise InputFileError(path, f"the predicted per-atom energies of {element} spread over {spread_pred:.4g} eV/atom, "
                                 f"{spread_pred / max(spread_ref, 1e-12):.3g} times the {spread_ref:.3g} eV/atom of the reference "
                                 f"frames they match: the predictions are in another unit (meV, kJ/mol, kcal/mol?); the {expected}")


def _hint(file_mean_abs: float, arrays: FrameArrays) -> str:
    """A units hint when the file's reference forces look like the data set's times 1000 (meV)."""
    scale_ref = float(np.abs(arrays.forces).mean()) if len(arrays.forces) else 0.0
    if scale_ref > 0 and 300 < file_mean_abs / scale_ref < 3000:
        return "the file's values are about 1000 times the data set's (meV and meV/Å? the files must be in eV and eV/Å): "
    return ""


def _unmatched_error(path: Path, hint: str, unmatched: list[str], tol: float) -> InputFileError:
    return InputFileError(path, f"{hint}these frames match no reference frame of the data set (energy and reference forces "
                          f"within {tol:g} eV): {'; '.join(unmatched)}; the files belong to other data")


def _match_table_pair(pair: OutputPair, matcher: Matcher, energy: NDArray[np.float64], forces: NDArray[np.float64]) -> list[int]:
    """Match a NEP or DeePMD pair, writing its predictions into ``energy``/``forces`` (data set order);
    returns the frames it predicted."""
    e = load_columns(pair.energy, 2)
    ref_e, pred_e = (e[:, 1], e[:, 0]) if pair.fmt == "nep-out" else (e[:, 0], e[:, 1])
    nep = pair.fmt == "nep-out"
    rows = _ForceRows((c[:, 3:6], c[:, 0:3]) if nep else (c[:, 0:3], c[:, 3:6]) for c in iter_columns(pair.forces, 6))
    arrays, offsets = matcher.arrays, matcher.offsets
    unmatched: list[str] = []
    found: list[int] = []
    ran_out = False
    for row in range(len(ref_e)):
        k = matcher.match(float(ref_e[row]), pair.per_atom, rows.peek)
        if k < 0:
            sizes = np.unique(arrays.n_atoms[matcher.candidates(float(ref_e[row]), pair.per_atom, None)]).tolist()
            if sizes and all(len(rows.peek(int(n))) < n for n in sizes):
                ran_out = True
                break
            unmatched.append(f"row {row + 1} (reference energy {ref_e[row]:.6g} eV{'/atom' if pair.per_atom else ''})")
            if len(unmatched) >= 3:
                break
            continue
        n = int(arrays.n_atoms[k])
        energy[k] = pred_e[row] * (n if pair.per_atom else 1)
        forces[offsets[k]:offsets[k + 1]] = rows.take(n)
        found.append(k)
    if ran_out and not unmatched:
        raise InputFileError(pair.forces, f"has {rows.read} atom rows, which end before frame {row + 1} of the "
                             f"{len(ref_e)} in {pair.energy.name} (truncated, or the two files are not one run's)")
    if unmatched:
        rows.peek(1)  # the hint needs some of the file's force rows
        raise _unmatched_error(pair.energy, _hint(rows.mean_abs(), arrays), unmatched, matcher.tol)
    total = rows.total()
    if rows.consumed != total:
        raise InputFileError(pair.forces, f"has {total} atom rows but the {len(ref_e)} matched frames hold {rows.consumed} atoms")
    return found


def _match_xyz(pair: OutputPair, matcher: Matcher, energy: NDArray[np.float64], forces: NDArray[np.float64],
               pred_prefix: str | None, energy_key: str | None, forces_key: str | None) -> tuple[str, list[int]]:
    """Match an extended XYZ file with predictions; returns the prefix used and the frames it predicted."""
    from analysis.datasets.xyz import read_xyz_predictions

    prefix, frames = read_xyz_predictions(pair.energy, pred_prefix, energy_key=energy_key, forces_key=forces_key)
    arrays, offsets = matcher.arrays, matcher.offsets
    unmatched: list[str] = []
    found: list[int] = []
    abs_sum = count = 0.0
    for index, frame in enumerate(frames):
        abs_sum += float(np.abs(frame.ref_forces).sum())
        count += frame.ref_forces.size
        k = matcher.match(frame.ref_energy, False, lambda n, f=frame: f.ref_forces[:n] if n == f.n_atoms else f.ref_forces[:0],
                          n_atoms=frame.n_atoms)
        if k < 0:
            unmatched.append(f"frame {index} (reference energy {frame.ref_energy:.6g} eV, {frame.n_atoms} atoms)")
            if len(unmatched) >= 3:
                break
            continue
        energy[k] = frame.pred_energy
        forces[offsets[k]:offsets[k + 1]] = frame.pred_forces
        found.append(k)
    if unmatched:
        raise _unmatched_error(pair.energy, _hint(abs_sum / count if count else 0.0, arrays), unmatched, matcher.tol)
    return prefix, found


def import_predictions(
    paths: str | Path | Sequence[str | Path],
    reference: ReferenceSet | FrameColumns,
    *,
    model: str,
    dataset_hash: str | None = None,
    fmt: PredictionFormat | None = None,
    universal: bool = False,
    check_reference_tol_ev: float = 1e-3,
    pred_prefix: str | None = None,
    energy_key: str | None = None,
    forces_key: str | None = None,
) -> Predictions:
    """Read a model's predictions made elsewhere and match them to ``reference`` frame by frame.

    Args:
        paths: the output files, or folders holding them (several pairs: train and test, systems).
        reference: the reference set the model was tested on, in any order: frames, or the store's
            columns (:func:`analysis.datasets.store.load_columns`: no ``Atoms`` are built).
        model: model name to store the predictions under.
        dataset_hash: the reference's content hash when known (the manifest's); computed when None.
        fmt: 'nep-out', 'deepmd-out' or 'extxyz' (read from the names and content when None).
        universal: whether the model is a universal one (gets the per-element constant shift).
        check_reference_tol_ev: tolerance (eV/atom, eV/Å) of the match on the files' reference columns.
        pred_prefix: extended XYZ: the prefix of the predicted keys (``MACE_``); detected when None.
        energy_key, forces_key: extended XYZ: the reference's keys; detected when None.

    Returns:
        Predictions over every reference frame, in its order; frames no file predicted carry NaN
        (the count is in ``meta["frames_without_prediction"]``), skipped files in ``meta["skipped_files"]``.

    Raises:
        InputFileError: a file is missing or malformed, or a predicted frame matches no reference frame.
    """
    found = find_outputs(paths, fmt, pred_prefix=pred_prefix)
    arrays = reference.arrays()
    offsets = arrays.offsets
    matcher = Matcher(arrays, check_reference_tol_ev)
    energy = np.full(len(arrays), np.nan)
    forces = np.full((int(offsets[-1]), 3), np.nan)
    prefixes: list[str] = []
    for pair in found.pairs:
        if pair.fmt == "extxyz":
            prefix, found_frames = _match_xyz(pair, matcher, energy, forces, pred_prefix, energy_key, forces_key)
            prefixes.append(prefix)
        else:
            found_frames = _match_table_pair(pair, matcher, energy, forces)
        check_prediction_units(pair.energy, pair.forces, found_frames, energy, forces, arrays)
    meta = {"universal": universal, "format": found.pairs[0].fmt,
            "source_files": list(dict.fromkeys(str(p) for pair in found.pairs for p in (pair.energy, pair.forces))),
            "skipped_files": found.skipped, "frames_without_prediction": int((~matcher.taken).sum())}
    if prefixes:
        meta["prediction_prefix"] = sorted(set(prefixes))
    if isinstance(reference, FrameColumns):
        hashes = np.asarray(reference.structure_hash, dtype=str)
        content = dataset_hash or reference.set_content_hash()
    else:
        hashes = np.array([structure_hash(a) for a in reference.frames], dtype=str)
        content = dataset_hash or reference.content_hash()
    return Predictions(
        model=model,
        dataset_hash=content,
        frame_id=np.array(arrays.frame_id, copy=True),
        energy=energy,
        forces=forces,
        n_atoms=arrays.n_atoms.copy(),
        meta=meta,
        structure_hash=hashes,
    )
