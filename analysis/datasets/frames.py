"""In-memory reference data: frames with DFT energies and forces, and model predictions.

A :class:`ReferenceSet` holds ASE ``Atoms`` frames, each carrying its DFT energy (eV) and forces
(eV/Å) through a ``SinglePointCalculator`` and the metadata keys ``element``, ``temperature`` (K,
NaN when unknown), ``source`` and ``frame_id`` in ``atoms.info``. :meth:`ReferenceSet.arrays`
flattens it into numpy arrays for vectorised metrics.
"""
from __future__ import annotations

import hashlib
import math
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Iterable, Sequence

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from numpy.typing import NDArray

UNITS: dict[str, str] = {"energy": "eV", "forces": "eV/Å", "temperature": "K", "positions": "Å"}


UNKNOWN_TEMPERATURE_LABEL = "unknown"


def temperature_key(temperature_k: float | None) -> float | None:
    """The grouping key of a temperature: the value in K, or None when unknown.

    NaN, None and infinities are all "unknown"; unlike NaN, None compares equal to itself, so
    every frame of unknown temperature falls into one group (one dict key, one set member).

    Args:
        temperature_k: temperature in K, NaN or None when unknown.

    Returns:
        The temperature in K as a float, or None when unknown.
    """
    if temperature_k is None:
        return None
    try:
        value = float(temperature_k)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def temperature_label(temperature_k: float | None) -> str:
    """Label used in tables and URLs: '300' for 300 K, 'unknown' for NaN or None."""
    key = temperature_key(temperature_k)
    if key is None:
        return UNKNOWN_TEMPERATURE_LABEL
    return f"{key:g}"


def frame_element(atoms: Atoms) -> str:
    """The element of an elemental frame, or the reduced formula of a compound frame."""
    from ase.data import chemical_symbols

    numbers = atoms.numbers
    if len(numbers) and (numbers == numbers[0]).all():
        return chemical_symbols[int(numbers[0])]
    return atoms.get_chemical_formula(mode="reduce")


def make_frame(
    atoms: Atoms,
    energy_ev: float,
    forces_ev_per_a: NDArray[np.float64],
    *,
    temperature_k: float = math.nan,
    source: str = "",
    element: str | None = None,
    extra_info: dict[str, Any] | None = None,
) -> Atoms:
    """Return a copy of ``atoms`` labelled with DFT energy and forces and the frame metadata."""
    forces = np.asarray(forces_ev_per_a, dtype=np.float64)
    if forces.shape != (len(atoms), 3):
        raise ValueError(f"forces shape {forces.shape} does not match {len(atoms)} atoms")
    frame = Atoms(
        numbers=atoms.get_atomic_numbers(),
        positions=atoms.get_positions(),
        cell=atoms.get_cell(),
        pbc=atoms.get_pbc(),
    )
    frame.info.update(extra_info or {})
    frame.info["element"] = element or frame_element(atoms)
    frame.info["temperature"] = float(temperature_k)
    frame.info["source"] = source
    frame.calc = SinglePointCalculator(frame, energy=float(energy_ev), forces=forces)
    # the calculator's own copy of the atoms doubled an import's memory: the labels belong to this
    # frame, which is data (never moved in place; models evaluate copies), so it is its own reference
    frame.calc.atoms = frame
    return frame


def frame_energy(atoms: Atoms) -> float:
    """DFT energy (eV) stored on a frame."""
    return float(atoms.calc.results["energy"])


def frame_forces(atoms: Atoms) -> NDArray[np.float64]:
    """DFT forces (eV/Å) stored on a frame."""
    return np.asarray(atoms.calc.results["forces"], dtype=np.float64)


@dataclass(frozen=True)
class FrameArrays:
    """Flat arrays of a reference set, in the set's frame order.

    Attributes:
        frame_id: (F,) unique frame ids.
        element: (F,) element of each frame.
        temperature: (F,) temperature in K (NaN when unknown).
        n_atoms: (F,) atoms per frame.
        energy: (F,) DFT energy in eV.
        forces: (A, 3) DFT forces in eV/Å, frames concatenated.
        offsets: (F+1,) start of each frame's atoms in ``forces``.
    """

    frame_id: NDArray[np.str_]
    element: NDArray[np.str_]
    temperature: NDArray[np.float64]
    n_atoms: NDArray[np.int64]
    energy: NDArray[np.float64]
    forces: NDArray[np.float64]

    @property
    def offsets(self) -> NDArray[np.int64]:
        return np.concatenate([[0], np.cumsum(self.n_atoms)]).astype(np.int64)

    def __len__(self) -> int:
        return len(self.frame_id)


@dataclass
class ReferenceSet:
    """A reference data set: labelled frames plus provenance.

    Frames keep the order they are given in (a file's frames stay in the file's order, also when
    they are of several compositions; :func:`sorted_frames` gives the canonical (element,
    temperature) order where one is wanted) and each gets a unique ``frame_id``
    ('Al/1120K/0003') when it has none.
    """

    frames: list[Atoms]
    provenance: dict[str, Any] = field(default_factory=dict)
    #: the content hash recorded when these frames were stored (set by the store's reader, so a large
    #: set is not hashed again on every load); empty: computed from the frames
    known_content_hash: str = field(default="", repr=False, compare=False)

    def __post_init__(self) -> None:
        for atoms in self.frames:
            if atoms.calc is None or "energy" not in atoms.calc.results or "forces" not in atoms.calc.results:
                raise ValueError("every frame needs a DFT energy and forces (SinglePointCalculator)")
            atoms.info.setdefault("element", frame_element(atoms))
            key = temperature_key(atoms.info.get("temperature"))
            atoms.info["temperature"] = math.nan if key is None else key
            atoms.info.setdefault("source", "")
        self._assign_ids()

    def _assign_ids(self) -> None:
        seen: set[str] = set()
        counters: Counter[tuple[str, str]] = Counter()
        for atoms in self.frames:
            fid = atoms.info.get("frame_id")
            if not fid or fid in seen:
                key = (atoms.info["element"], temperature_label(atoms.info["temperature"]))
                while True:
                    fid = f"{key[0]}/{key[1]}K/{counters[key]:04d}"
                    counters[key] += 1
                    if fid not in seen:
                        break
                atoms.info["frame_id"] = fid
            seen.add(str(fid))

    def __len__(self) -> int:
        return len(self.frames)

    def groups(self) -> dict[tuple[str, float | None], list[Atoms]]:
        """Frames grouped by (element, temperature in K), None standing for an unknown temperature.

        All frames of one element without a temperature form a single group ("T unknown"),
        never one group per frame as NaN keys would.
        """
        out: dict[tuple[str, float | None], list[Atoms]] = {}
        for atoms in self.frames:
            out.setdefault((atoms.info["element"], temperature_key(atoms.info["temperature"])), []).append(atoms)
        return out

    @property
    def elements(self) -> list[str]:
        return sorted({a.info["element"] for a in self.frames})

    @cached_property
    def _arrays(self) -> FrameArrays:
        n_atoms = np.array([len(a) for a in self.frames], dtype=np.int64)
        forces = (
            np.concatenate([frame_forces(a) for a in self.frames]) if self.frames else np.zeros((0, 3))
        )
        return FrameArrays(
            frame_id=np.array([str(a.info["frame_id"]) for a in self.frames], dtype=str),
            element=np.array([a.info["element"] for a in self.frames], dtype=str),
            temperature=np.array([a.info["temperature"] for a in self.frames], dtype=np.float64),
            n_atoms=n_atoms,
            energy=np.array([frame_energy(a) for a in self.frames], dtype=np.float64),
            forces=forces,
        )

    def arrays(self) -> FrameArrays:
        """Flat numpy arrays of the frames (computed once)."""
        return self._arrays

    def content_hash(self) -> str:
        """SHA-256 (first 16 hex digits) of the frames' structures, labels and metadata.

        Floats are hashed as their '%.8f' text, the precision the extended XYZ store kept, so a
        set hashes the same before and after a round trip through the store (and both store layouts).
        """
        if self.known_content_hash:
            return self.known_content_hash
        digest = hashlib.sha256()
        for atoms in self.frames:
            digest.update(str(atoms.info["frame_id"]).encode())
            digest.update(str(atoms.info["element"]).encode())
            digest.update(f"{atoms.info['temperature']:.3f}".encode())
            digest.update(np.ascontiguousarray(atoms.get_atomic_numbers(), dtype=np.int64).tobytes())
            for block in (atoms.get_positions(), atoms.cell.array, [[frame_energy(atoms)]], frame_forces(atoms)):
                digest.update(_fixed_text(np.asarray(block, dtype=np.float64)))
        return digest.hexdigest()[:16]

    def subset(self, *, elements: Iterable[str] | None = None, temperatures: Iterable[float] | None = None) -> "ReferenceSet":
        """A new set with only the given elements and/or temperatures."""
        el = set(elements) if elements is not None else None
        ts = {temperature_key(t) for t in temperatures} if temperatures is not None else None
        frames = [
            _copy_frame(a)
            for a in self.frames
            if (el is None or a.info["element"] in el) and (ts is None or temperature_key(a.info["temperature"]) in ts)
        ]
        return ReferenceSet(frames, dict(self.provenance))

    @staticmethod
    def merge(sets: Sequence["ReferenceSet"]) -> "ReferenceSet":
        """Concatenate several sets (frame ids are made unique)."""
        frames = [a for s in sets for a in s.frames]
        provenance = {"merged_from": [s.provenance for s in sets]}
        return ReferenceSet(frames, provenance)


def sorted_frames(frames: Iterable[Atoms]) -> list[Atoms]:
    """``frames`` sorted by (element label, temperature; unknown last), stably: the order of a built reference set."""
    return sorted(frames, key=lambda a: (str(a.info.get("element") or frame_element(a)), _sort_temp(a.info.get("temperature"))))


def _check_atom_counts(n_atoms: NDArray[np.int64], ref: FrameArrays, source: str) -> None:
    """Raise ValueError naming the first frame whose predicted atom count differs from the reference."""
    if not np.array_equal(n_atoms, ref.n_atoms):
        bad = int(np.flatnonzero(n_atoms != ref.n_atoms)[0])
        raise ValueError(f"{source}: frame {ref.frame_id[bad]} has {n_atoms[bad]} predicted atoms, reference {ref.n_atoms[bad]}")


def _fixed_text(values: NDArray[np.float64]) -> bytes:
    return " ".join(f"{v:.8f}" for v in values.ravel()).replace("-0.00000000", "0.00000000").encode()


def _copy_frame(atoms: Atoms) -> Atoms:
    copy = atoms.copy()
    copy.calc = SinglePointCalculator(copy, **atoms.calc.results)
    return copy


def _sort_temp(t: float) -> float:
    key = temperature_key(t)
    return math.inf if key is None else key


@dataclass(frozen=True)
class Predictions:
    """A model's predictions on a reference set, per frame.

    Attributes:
        model: model name/spec string.
        dataset_hash: content hash of the reference set they were computed on.
        frame_id: (F,) frame ids, matching the reference set's.
        energy: (F,) predicted total energies in eV.
        forces: (A, 3) predicted forces in eV/Å, in the same frame order.
        n_atoms: (F,) atoms per frame.
        meta: free-form metadata (device, dtype, timings, versions).
        structure_hash: (F,) :func:`structure_hash` of each frame the model saw, when known (the
            job queue records it): lets predictions be matched frame by frame to a reference set
            that has grown or changed since (:meth:`matched_to`).
    """

    model: str
    dataset_hash: str
    frame_id: NDArray[np.str_]
    energy: NDArray[np.float64]
    forces: NDArray[np.float64]
    n_atoms: NDArray[np.int64]
    meta: dict[str, Any] = field(default_factory=dict)
    structure_hash: NDArray[np.str_] | None = None

    def scored(self) -> NDArray[np.bool_]:
        """(F,) True for frames the model scored; False where it refused (NaN energy or forces)."""
        ok = np.isfinite(self.energy)
        if len(self.forces):
            bad_atom = ~np.isfinite(self.forces).all(axis=1)
            if bad_atom.any():
                frame_of_atom = np.repeat(np.arange(len(self.energy)), self.n_atoms)
                ok &= np.bincount(frame_of_atom, bad_atom, minlength=len(ok)) == 0
        return ok

    @property
    def failed_frames(self) -> dict[str, str]:
        """Frame id -> the model's error, for the frames it refused (recorded by the job queue)."""
        return dict(self.meta.get("failed_frames") or {})

    def aligned_to(self, ref: FrameArrays, *, source: str = "predictions") -> "Predictions":
        """Reorder to the reference frame order; raise ValueError naming the counts on any mismatch."""
        if len(self.frame_id) != len(ref.frame_id):
            raise ValueError(f"{source}: {len(self.frame_id)} predicted frames but the reference has {len(ref.frame_id)}")
        if np.array_equal(self.frame_id, ref.frame_id):
            _check_atom_counts(self.n_atoms, ref, source)
            return self
        index = {fid: i for i, fid in enumerate(self.frame_id)}
        missing = [fid for fid in ref.frame_id if fid not in index]
        if missing:
            raise ValueError(f"{source}: {len(missing)} reference frames have no prediction, e.g. {missing[0]}")
        order = np.array([index[fid] for fid in ref.frame_id], dtype=np.int64)
        n_atoms = self.n_atoms[order]
        _check_atom_counts(n_atoms, ref, source)
        offsets = np.concatenate([[0], np.cumsum(self.n_atoms)])
        forces = np.concatenate([self.forces[offsets[i] : offsets[i + 1]] for i in order])
        hashes = self.structure_hash[order] if self.structure_hash is not None else None
        return Predictions(self.model, self.dataset_hash, self.frame_id[order], self.energy[order], forces, n_atoms, self.meta, hashes)

    def matched_to(
        self, ref: FrameArrays, ref_hashes: NDArray[np.str_], *, source: str = "predictions"
    ) -> tuple["Predictions", list[str]]:
        """Predictions for every frame of ``ref``, matched by frame id *and* structure hash.

        A reference frame the model never saw (added since), or whose structure changed under the
        same id, gets NaN energy and forces (left out of the metrics like a refused frame).

        Returns:
            The full-length predictions in the reference order, and the ids of the frames
            without a matching prediction.

        Raises:
            ValueError: these predictions carry no structure hashes, or no frame matches.
        """
        if self.structure_hash is None:
            raise ValueError(f"{source}: no structure hashes recorded, so frames cannot be matched one by one")
        ids = np.asarray(self.frame_id, dtype=str)
        order = np.argsort(ids, kind="stable")
        ordered = ids[order]
        ref_ids = np.asarray(ref.frame_id, dtype=str)
        pos = np.searchsorted(ordered, ref_ids)
        found = pos < len(ordered)
        found[found] = ordered[pos[found]] == ref_ids[found]
        src = order[np.where(found, pos, 0)] if len(order) else np.zeros(len(ref_ids), dtype=np.int64)
        ok = found.copy()
        if len(order):
            ok &= (np.asarray(self.structure_hash, dtype=str)[src] == np.asarray(ref_hashes, dtype=str)) & (self.n_atoms[src] == ref.n_atoms)
        own = np.concatenate([[0], np.cumsum(self.n_atoms)]).astype(np.int64)
        offsets = ref.offsets
        energy = np.full(len(ref), np.nan)
        forces = np.full((int(offsets[-1]), 3), np.nan)
        energy[ok] = self.energy[src[ok]]
        lengths = np.asarray(ref.n_atoms)[ok].astype(np.int64)
        if lengths.sum():  # every matched frame's atom rows at once: source and target index ranges
            within = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
            forces[np.repeat(offsets[:-1][ok], lengths) + within] = np.asarray(self.forces)[np.repeat(own[src[ok]], lengths) + within]
        missing = ref_ids[~ok].tolist()
        if len(missing) == len(ref):
            raise ValueError(f"{source}: none of the {len(ref)} reference frames matches a predicted frame")
        matched = Predictions(self.model, self.dataset_hash, ref.frame_id, energy, forces, ref.n_atoms, self.meta, np.asarray(ref_hashes))
        return matched, missing


def structure_hash(atoms: Atoms) -> str:
    """SHA-256 (32 hex digits) of what a model sees: numbers, positions, cell, pbc (rounded to 1e-6 Å).

    Labels, frame ids and temperatures do not enter; a round trip through extended XYZ hashes the same.
    """
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(atoms.numbers, dtype=np.int64).tobytes())
    for block in (atoms.positions, atoms.cell.array):
        # +0.0 turns -0.0 into 0.0 so that both hash alike
        digest.update(np.ascontiguousarray(np.round(np.asarray(block, dtype=np.float64), 6) + 0.0).tobytes())
    digest.update(np.asarray(atoms.pbc, dtype=np.uint8).tobytes())
    return digest.hexdigest()[:32]


def frame_content_hash(atoms: Atoms) -> str:
    """SHA-256 (32 hex digits) of a frame's structure and DFT labels at the store's precision.

    Two frames with the same hash are the same data (the same structure, energy and forces): an
    import that appends skips them. Ids, sources and temperatures do not enter.
    """
    digest = hashlib.sha256(structure_hash(atoms).encode())
    digest.update(_fixed_text(np.array([frame_energy(atoms)])))
    digest.update(_fixed_text(frame_forces(atoms)))
    return digest.hexdigest()[:32]
