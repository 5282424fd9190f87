"""A data set as columns: the arrays of every frame, a per-frame table, and its HDF5 file.

:class:`FrameColumns` is what the store keeps and what the pages read. Per atom: atomic numbers,
positions (Å) and DFT forces (eV/Å), frames concatenated; per frame: offsets into the atom arrays,
energy (eV), cell (Å), periodicity, and the table (frame id, element, temperature in K (NaN when
unknown), source, structure hash, content hash, shortest interatomic distance, volume per atom, and
the frame's other metadata, DFT details among them, as one JSON object). The derived columns
(hashes, shortest distance) are computed once, when the frames enter the store
(:func:`from_frames`), never on a page.

On disk it is one HDF5 file (:func:`write_h5`, :func:`read_h5`; h5py). The large arrays are stored
contiguous and uncompressed, so a reader maps them (``numpy.memmap`` at the dataset's offset): every
process that reads the data set shares the operating system's page cache instead of holding a copy,
and reading a data set costs milliseconds whatever its size. HDF5 was chosen over Zarr and
Parquet because the data are dense n-dimensional arrays with ragged frames (an offsets column),
h5py is the reader every atomistic code already has (GPAW, ASE, dpdata), and ``dask.array.from_array``
reads an h5py dataset chunk by chunk for data beyond one machine (see docs/store.md).

ASE ``Atoms`` are built only on demand (:meth:`FrameColumns.atoms`, :meth:`FrameColumns.reference_set`),
for the frames a job evaluates or a table shows.
"""
from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from numpy.typing import NDArray

from analysis.core.errors import InputFileError
from analysis.datasets import hashing
from analysis.datasets.frames import FrameArrays, ReferenceSet, frame_energy, frame_forces, make_frame

FORMAT = "mlff-atlas-columns"
FORMAT_VERSION = 1
FILENAME = "frames.h5"

#: info keys that are columns of their own (everything else goes into the per-frame JSON)
_OWN_KEYS = ("frame_id", "element", "temperature", "source")

_ATOM_ARRAYS = ("numbers", "positions", "forces")
_FRAME_ARRAYS = ("offsets", "energy", "cell", "pbc", "temperature", "d_min", "volume_per_atom")
_TEXT_COLUMNS = ("frame_id", "element", "source", "structure_hash", "content_hash", "info")


@dataclass(frozen=True)
class FrameColumns:
    """Every frame of a data set as arrays (see the module docstring).

    Attributes:
        numbers: (A,) atomic numbers.
        positions: (A, 3) Å.
        forces: (A, 3) DFT forces, eV/Å.
        offsets: (F+1,) frame ``i``'s atoms are ``offsets[i]:offsets[i+1]``.
        energy: (F,) DFT energy, eV.
        cell: (F, 3, 3) Å.
        pbc: (F, 3) periodicity.
        temperature: (F,) K, NaN when unknown.
        d_min: (F,) shortest interatomic distance, Å (minimum image, self-images included; inf without one).
        volume_per_atom: (F,) Å^3 (NaN for a frame that is not periodic in all three directions).
        frame_id, element, source, structure_hash, content_hash: (F,) text columns.
        info: (F,) the frame's other metadata as JSON objects (DFT details, sampler, ...).
    """

    numbers: NDArray[np.int64]
    positions: NDArray[np.float64]
    forces: NDArray[np.float64]
    offsets: NDArray[np.int64]
    energy: NDArray[np.float64]
    cell: NDArray[np.float64]
    pbc: NDArray[np.bool_]
    temperature: NDArray[np.float64]
    d_min: NDArray[np.float64]
    volume_per_atom: NDArray[np.float64]
    frame_id: NDArray[np.str_]
    element: NDArray[np.str_]
    source: NDArray[np.str_]
    structure_hash: NDArray[np.str_]
    content_hash: NDArray[np.str_]
    info: NDArray[np.str_]
    #: :meth:`ReferenceSet.content_hash` of these frames when it is known (computed with the per-frame hashes)
    set_hash: str = ""

    def __len__(self) -> int:
        return len(self.energy)

    @property
    def n_atoms(self) -> NDArray[np.int64]:
        return np.diff(self.offsets).astype(np.int64)

    def arrays(self) -> FrameArrays:
        """The flat arrays the metrics read (no ``Atoms``; the forces stay mapped)."""
        return FrameArrays(frame_id=self.frame_id, element=self.element, temperature=self.temperature,
                           n_atoms=self.n_atoms, energy=self.energy, forces=self.forces)

    def frame_info(self, i: int) -> dict[str, Any]:
        """Frame ``i``'s metadata: its JSON object plus the table's columns."""
        info = json.loads(str(self.info[i]) or "{}")
        info.update(frame_id=str(self.frame_id[i]), element=str(self.element[i]),
                    temperature=float(self.temperature[i]), source=str(self.source[i]))
        return info

    def atoms(self, i: int) -> Atoms:
        """Frame ``i`` as labelled ASE ``Atoms`` (a copy: changing it changes nothing stored)."""
        lo, hi = int(self.offsets[i]), int(self.offsets[i + 1])
        atoms = Atoms(numbers=np.asarray(self.numbers[lo:hi]), positions=np.array(self.positions[lo:hi]),
                      cell=np.array(self.cell[i]), pbc=np.asarray(self.pbc[i], dtype=bool))
        info = self.frame_info(i)
        extra = {k: v for k, v in info.items() if k not in ("element", "temperature", "source", "calc_extra")}
        frame = make_frame(atoms, float(self.energy[i]), np.array(self.forces[lo:hi]), temperature_k=info["temperature"],
                           source=info["source"], element=info["element"], extra_info=extra)
        for key, value in (info.get("calc_extra") or {}).items():
            frame.calc.results[key] = np.asarray(value) if isinstance(value, list) else value
        return frame

    def reference_set(self, provenance: dict[str, Any] | None = None, *, indices: Iterable[int] | None = None) -> ReferenceSet:
        """The frames (all, or ``indices``) as a :class:`ReferenceSet` of ``Atoms`` (for jobs and exports)."""
        chosen = range(len(self)) if indices is None else indices
        return ReferenceSet([self.atoms(int(i)) for i in chosen], dict(provenance or {}))

    def set_content_hash(self) -> str:
        """:meth:`ReferenceSet.content_hash` of these frames, computed on the columns (vectorised)."""
        if self.set_hash:
            return self.set_hash
        return hashing.set_content_hash(self.frame_id, self.element, self.temperature, self.numbers, self.positions, self.cell,
                                        self.energy, self.forces, self.offsets)

    def elemental(self) -> NDArray[np.bool_]:
        """(F,) frames whose atoms are all of one element (every number equal to the frame's first)."""
        n = self.n_atoms
        first = np.repeat(self.numbers[self.offsets[:-1]], n)
        mixed = np.bincount(np.repeat(np.arange(len(self)), n), self.numbers != first, minlength=len(self)) > 0
        return ~mixed


# --------------------------------------------------------------------------- building
def _arrays_of(frames: Sequence[Atoms]) -> dict[str, Any]:
    """The per-atom and per-frame arrays of labelled frames, concatenated in their order."""
    n_atoms = np.array([len(a) for a in frames], dtype=np.int64)
    return {
        "numbers": np.concatenate([a.numbers for a in frames]).astype(np.int64) if frames else np.zeros(0, np.int64),
        "positions": np.concatenate([a.positions for a in frames]).astype(np.float64) if frames else np.zeros((0, 3)),
        "forces": np.concatenate([frame_forces(a) for a in frames]).astype(np.float64) if frames else np.zeros((0, 3)),
        "offsets": np.concatenate([[0], np.cumsum(n_atoms)]).astype(np.int64),
        "energy": np.array([frame_energy(a) for a in frames], dtype=np.float64),
        "cell": np.array([a.cell.array for a in frames], dtype=np.float64).reshape(-1, 3, 3),
        "pbc": np.array([a.pbc for a in frames], dtype=bool).reshape(-1, 3),
    }


def from_frames(frames: Sequence[Atoms]) -> FrameColumns:
    """Columns of labelled frames (a :class:`ReferenceSet`'s, in its order), with the derived columns computed now."""
    arr = _arrays_of(frames)
    numbers, positions, forces, offsets, energy, cell, pbc = (
        arr[k] for k in ("numbers", "positions", "forces", "offsets", "energy", "cell", "pbc"))
    structure = hashing.structure_hashes(numbers, positions, offsets, cell, pbc)
    texts = {"energy": hashing.fixed_text_buffer(energy), "forces": hashing.fixed_text_buffer(forces)}  # shared by both hashes
    frame_id = np.array([str(a.info["frame_id"]) for a in frames], dtype=str)
    element = np.array([str(a.info["element"]) for a in frames], dtype=str)
    temperature = np.array([a.info["temperature"] for a in frames], dtype=np.float64)
    return FrameColumns(
        **arr,
        temperature=temperature,
        d_min=shortest_distances(positions, offsets, cell, pbc),
        volume_per_atom=volumes_per_atom(cell, pbc, np.diff(offsets)),
        frame_id=frame_id,
        element=element,
        source=np.array([str(a.info.get("source", "")) for a in frames], dtype=str),
        structure_hash=structure,
        content_hash=hashing.frame_content_hashes(structure, energy, forces, offsets, texts=texts),
        info=np.array([_info_json(a) for a in frames], dtype=str),
        set_hash=hashing.set_content_hash(frame_id, element, temperature, numbers, positions, cell, energy, forces, offsets, texts=texts),
    )


def content_hashes(frames: Sequence[Atoms]) -> list[str]:
    """:func:`analysis.datasets.frames.frame_content_hash` of every frame, computed on their arrays at once."""
    if not frames:
        return []
    arr = _arrays_of(frames)
    structure = hashing.structure_hashes(arr["numbers"], arr["positions"], arr["offsets"], arr["cell"], arr["pbc"])
    return hashing.frame_content_hashes(structure, arr["energy"], arr["forces"], arr["offsets"]).tolist()


def _info_json(atoms: Atoms) -> str:
    info = {k: _plain(v) for k, v in atoms.info.items() if k not in _OWN_KEYS}
    extra = {k: _plain(v) for k, v in atoms.calc.results.items() if k not in ("energy", "forces")}
    if extra:
        info["calc_extra"] = extra
    return json.dumps(info, sort_keys=True, allow_nan=True)


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    return value


def volumes_per_atom(cell: NDArray[np.float64], pbc: NDArray[np.bool_], n_atoms: NDArray[np.int64]) -> NDArray[np.float64]:
    """(F,) |det cell| / atoms for frames periodic in all three directions, NaN otherwise."""
    volume = np.abs(np.linalg.det(cell)) if len(cell) else np.zeros(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = volume / np.maximum(n_atoms, 1)
    return np.where(pbc.all(axis=1) if len(pbc) else np.zeros(0, bool), out, np.nan)


def shortest_distances(positions: NDArray[np.float64], offsets: NDArray[np.int64], cell: NDArray[np.float64],
                       pbc: NDArray[np.bool_], *, batch_atoms: int = 100_000) -> NDArray[np.float64]:
    """(F,) the shortest interatomic distance of every frame (Å; minimum image, self-images included).

    Vectorised over frames of equal size: all pairs under the wrapped (fractional, rounded)
    minimum image. That image is the true nearest one for every pair closer than half the cell's
    smallest perpendicular width ``h`` (its fractional components are then all below 1/2), so a
    frame whose wrapped minimum is below ``h/2`` is exact; any other frame (tiny, very skewed or
    non-periodic cells) is measured with ASE's neighbour list, as
    :func:`analysis.reference.contacts.shortest_distance` does.
    """
    n_atoms = np.diff(offsets)
    out = np.full(len(n_atoms), np.inf)
    periodic = pbc.all(axis=1) if len(pbc) else np.zeros(0, bool)
    widths = np.full(len(n_atoms), np.nan)
    if periodic.any():
        widths[periodic] = _perpendicular_widths(cell[periodic])
    for n in np.unique(n_atoms[periodic & (n_atoms > 1)]):
        frames = np.flatnonzero(periodic & (n_atoms == n))
        first, second = np.triu_indices(int(n), 1)  # each pair once
        step = max(1, batch_atoms // len(first))
        for start in range(0, len(frames), step):
            idx = frames[start : start + step]
            pos = positions[(offsets[idx][:, None] + np.arange(n)[None, :])]  # (B, n, 3)
            frac = np.matmul(pos, np.linalg.inv(cell[idx]))  # fractional = r @ inv(cell)
            diff = frac[:, first] - frac[:, second]  # (B, P, 3)
            diff -= np.round(diff)
            vec = np.matmul(diff, cell[idx])
            out[idx] = np.sqrt(np.min(np.einsum("bpl,bpl->bp", vec, vec), axis=1))
    # self-images: the shortest lattice vector bounds d_min from above; frames not certified exact go to ASE
    exact = periodic & (n_atoms > 1) & (out < 0.5 * widths)
    for i in np.flatnonzero(~exact):
        out[i] = _ase_shortest(positions[offsets[i] : offsets[i + 1]], cell[i], pbc[i])
    return out


def _perpendicular_widths(cell: NDArray[np.float64]) -> NDArray[np.float64]:
    """(F,) the smallest distance between opposite faces of each cell: V / |a_j x a_k|, minimum over the three pairs."""
    volume = np.abs(np.linalg.det(cell))
    areas = np.stack([np.linalg.norm(np.cross(cell[:, j], cell[:, k]), axis=1) for j, k in ((1, 2), (2, 0), (0, 1))], axis=1)
    return volume / areas.max(axis=1)


def _ase_shortest(positions: NDArray[np.float64], cell: NDArray[np.float64], pbc: NDArray[np.bool_]) -> float:
    return neighbour_list_shortest(Atoms(numbers=np.ones(len(positions), int), positions=np.asarray(positions), cell=cell, pbc=pbc))


def neighbour_list_shortest(atoms: Atoms) -> float:
    """The shortest interatomic distance (Å) of ``atoms`` from ASE's neighbour list, periodic images of
    the atom itself included (inf for a lone atom without periodicity); the cutoff grows until a pair is found."""
    from ase.neighborlist import neighbor_list

    if len(atoms) == 1 and not atoms.pbc.any():
        return math.inf
    volume = atoms.get_volume() / len(atoms) if atoms.pbc.all() else 20.0
    cutoff = 1.5 * volume ** (1 / 3)
    for _ in range(4):
        d = neighbor_list("d", atoms, cutoff, self_interaction=False)
        if len(d):
            return float(d.min())
        cutoff *= 2
    return math.inf


# --------------------------------------------------------------------------- HDF5
def checksum(cols: FrameColumns) -> str:
    """BLAKE2b (32 hex digits) of every column's bytes, in a fixed order."""
    digest = hashlib.blake2b(digest_size=16)
    for name in (*_ATOM_ARRAYS, *_FRAME_ARRAYS):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(getattr(cols, name)).tobytes())
    for name in _TEXT_COLUMNS:
        digest.update(name.encode())
        digest.update("\x1f".join(getattr(cols, name).tolist()).encode())
    return digest.hexdigest()


def write_h5(path: Path, cols: FrameColumns, attrs: dict[str, Any] | None = None) -> str:
    """Write ``cols`` to the HDF5 file ``path`` (the caller renames it into place); returns the checksum.

    Raises:
        OSError: with errno ENOSPC when the disk is full (HDF5's own error says so only in its text).
    """
    digest = checksum(cols)
    try:
        _write_h5_file(path, cols, digest, attrs)
    except Exception as exc:  # HDF5 reports a full disk as its own error, with the errno in the text
        if "No space left on device" in str(exc) or "errno = 28" in str(exc):
            import errno

            raise OSError(errno.ENOSPC, f"No space left on device while writing {path.name}") from exc
        raise
    return digest


def _write_h5_file(path: Path, cols: FrameColumns, digest: str, attrs: dict[str, Any] | None) -> None:
    import h5py

    # datasets aligned to 4 KiB pages: mapped arrays start on a page (and a SIMD boundary), so reductions
    # over them sum in the same order as over an array in memory (same numbers to the last bit)
    with h5py.File(path, "w", libver="latest", alignment_threshold=1, alignment_interval=4096) as h5:
        for name in (*_ATOM_ARRAYS, *_FRAME_ARRAYS):
            value = np.ascontiguousarray(getattr(cols, name))
            if name == "numbers":
                value = value.astype(np.int16)
            elif name == "pbc":
                value = value.astype(np.uint8)
            h5.create_dataset(name, data=value, track_times=False)  # contiguous, uncompressed: mappable
        text = h5py.string_dtype("utf-8")
        for name in _TEXT_COLUMNS:
            h5.create_dataset(name, data=np.asarray(getattr(cols, name), dtype=object), dtype=text, track_times=False)
        h5.attrs.update({"format": FORMAT, "version": FORMAT_VERSION, "checksum": digest,
                         "n_frames": len(cols), "n_atoms": int(cols.offsets[-1]) if len(cols.offsets) else 0,
                         **{k: json.dumps(v) for k, v in (attrs or {}).items()}})


def read_h5(path: Path, *, verify: bool = True) -> FrameColumns:
    """The columns stored in ``path``; the large arrays are mapped, not read.

    Raises:
        InputFileError: not a columns file, unreadable, or (with ``verify``) failing its checksum.
    """
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            if h5.attrs.get("format") != FORMAT:
                raise ValueError(f"not a {FORMAT} file")
            if int(h5.attrs.get("version", 0)) > FORMAT_VERSION:
                raise ValueError(f"written by a newer version of the store (format {h5.attrs['version']}); update the atlas")
            values: dict[str, Any] = {}
            for name in (*_ATOM_ARRAYS, *_FRAME_ARRAYS):
                values[name] = _mapped(path, h5[name])
            for name in _TEXT_COLUMNS:
                values[name] = np.array(h5[name].asstr()[()], dtype=str) if len(h5[name]) else np.zeros(0, dtype=str)
            expected = str(h5.attrs.get("checksum", ""))
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise InputFileError(path, f"cannot read stored frames: {exc}") from exc
    values["numbers"] = values["numbers"].astype(np.int64)
    values["pbc"] = np.asarray(values["pbc"]).astype(bool)
    cols = FrameColumns(**values)
    if verify and checksum(cols) != expected:
        raise InputFileError(path, "stored frames fail the checksum recorded in the file (damaged or changed by hand)")
    return cols


def _mapped(path: Path, dataset: Any) -> NDArray[Any]:
    """``dataset`` as a read-only ``numpy.memmap`` when it is contiguous and uncompressed, else read into memory."""
    offset = dataset.id.get_offset()
    if offset is None or dataset.chunks is not None or dataset.compression is not None or dataset.size == 0:
        return np.asarray(dataset[()])
    return np.memmap(path, dtype=dataset.dtype, mode="r", offset=offset, shape=dataset.shape)


__all__ = ["FILENAME", "FrameColumns", "checksum", "content_hashes", "from_frames", "neighbour_list_shortest", "read_h5", "shortest_distances", "volumes_per_atom", "write_h5"]
