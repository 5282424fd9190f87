"""Screening sampled frames for unphysically close contacts.

The classical sampler (CHGNet Langevin MD at up to 1.2 Tc) can push two atoms far into their
repulsive wall; such a frame has DFT forces of several eV/Å and dominates an element's force RMSE
(the default set's Os frame at 3967 K: shortest distance 2.08 Å, DFT force RMS 5.4 eV/Å). Each
frame's shortest interatomic distance ``d_min`` (minimum image, periodic images of the atom itself
included) is compared with the nearest-neighbour distance ``d_nn`` of the perfect crystal of the
element's phase at the frame's own volume per atom:

    flagged when d_min / d_nn < CONTACT_RATIO (0.78).

The threshold is the lowest 5 % of the ratio over the default set's 172 frames (5th percentile
0.786, median 0.850): it flags about one frame in twenty, the Os contact among them, and the
flagged frames are shown (frame table, element page) and can be left out of the metrics, not
silently dropped.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from ase import Atoms
from numpy.typing import NDArray

if TYPE_CHECKING:
    from analysis.datasets.columns import FrameColumns

CONTACT_RATIO = 0.78
"""Frames whose shortest distance is below this fraction of the crystal's nearest-neighbour distance are flagged."""


@dataclass(frozen=True)
class Contact:
    """Shortest distance of one frame (Å), the crystal's nearest-neighbour distance at its volume (Å), and the flag."""

    d_min_a: float
    d_nn_a: float
    ratio: float
    flagged: bool


def shortest_distance(atoms: Atoms) -> float:
    """The shortest interatomic distance (Å) under periodic boundary conditions (self-images included)."""
    from analysis.datasets.columns import neighbour_list_shortest

    return neighbour_list_shortest(atoms)


def crystal_nn_distance(symbol: str, volume_per_atom: float) -> float:
    """Nearest-neighbour distance (Å) of ``symbol``'s phase at ``volume_per_atom`` (Å^3)."""
    from analysis.reference.gpaw_calc import supercell

    return shortest_distance(supercell(symbol, volume_per_atom, 8))


def screen(atoms: Atoms, *, ratio: float = CONTACT_RATIO) -> Contact:
    """The contact record of one elemental frame (see the module docstring)."""
    symbols = set(atoms.get_chemical_symbols())
    if len(symbols) != 1:
        raise ValueError(f"contact screening needs an elemental frame, got {sorted(symbols)}")
    d_min = shortest_distance(atoms)
    d_nn = crystal_nn_distance(symbols.pop(), atoms.get_volume() / len(atoms))
    r = d_min / d_nn
    return Contact(d_min, d_nn, float(r), bool(r < ratio))


def screen_many(frames: list[Atoms], *, ratio: float = CONTACT_RATIO) -> list[Contact | None]:
    """:func:`screen` for each frame (None for compounds or elements without a Metal-43 phase)."""
    out: list[Contact | None] = []
    nn: dict[tuple[str, float], float] = {}
    for atoms in frames:
        symbols = set(atoms.get_chemical_symbols())
        if len(symbols) != 1 or not atoms.pbc.all():
            out.append(None)
            continue
        symbol = symbols.pop()
        key = (symbol, round(atoms.get_volume() / len(atoms), 6))
        try:
            if key not in nn:
                nn[key] = crystal_nn_distance(symbol, key[1])
        except (KeyError, ValueError):
            out.append(None)
            continue
        d_min = shortest_distance(atoms)
        r = d_min / nn[key]
        out.append(Contact(d_min, nn[key], float(r), bool(r < ratio)))
    return out


def screen_columns(cols: "FrameColumns", *, ratio: float = CONTACT_RATIO) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """(F,) ``d_min / d_nn`` and the flag of every frame of a data set's columns (NaN / False for compounds,
    frames that are not periodic and elements without a Metal-43 phase).

    Reads the shortest distances stored with the frames (computed once, at import); the crystal's
    nearest-neighbour distance is computed once per element, at its frames' median volume, and
    scaled as V^(1/3) to each frame's volume (the phase's cell at fixed c/a scales homogeneously),
    so a data set of 10^5 frames, even at a volume per frame (NPT), costs one crystal per element.
    """
    out = np.full(len(cols), np.nan)
    if not len(cols):
        return out, np.zeros(0, dtype=bool)
    d_nn = np.full(len(cols), np.nan)
    volume = np.asarray(cols.volume_per_atom, dtype=np.float64)
    for symbol in np.unique(cols.element).tolist():
        mine = (cols.element == symbol) & np.isfinite(volume)
        if not mine.any():
            continue
        v_ref = round(float(np.median(volume[mine])), 6)
        try:
            d_ref = crystal_nn_distance(symbol, v_ref)
        except (KeyError, ValueError):
            continue
        # the phase's cell scales homogeneously with the volume (fixed c/a): d_nn grows as V^(1/3)
        d_nn[mine] = d_ref * np.cbrt(volume[mine] / v_ref)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(cols.elemental(), cols.d_min / d_nn, np.nan)
    return out, np.nan_to_num(out, nan=np.inf) < ratio


def flagged_in_columns(cols: "FrameColumns", *, ratio: float = CONTACT_RATIO) -> list[tuple[int, Contact]]:
    """(frame index, contact record) of every flagged frame of a data set's columns, in order."""
    ratios, flags = screen_columns(cols, ratio=ratio)
    return [(int(i), Contact(float(cols.d_min[i]), float(cols.d_min[i] / ratios[i]), float(ratios[i]), True)) for i in np.flatnonzero(flags)]


__all__ = ["CONTACT_RATIO", "Contact", "crystal_nn_distance", "flagged_in_columns", "screen", "screen_columns", "screen_many",
           "shortest_distance"]


def flagged(frames: list[Atoms], *, ratio: float = CONTACT_RATIO) -> list[tuple[Atoms, Contact]]:
    """The frames :func:`screen_many` flags, with their contact records, in order."""
    return [(a, c) for a, c in zip(frames, screen_many(frames, ratio=ratio)) if c is not None and c.flagged]


def flagged_frame_ids(frames: list[Atoms], *, ratio: float = CONTACT_RATIO) -> set[str]:
    """Frame ids of the frames :func:`screen_many` flags."""
    return {str(a.info.get("frame_id")) for a, _ in flagged(frames, ratio=ratio)}


def contacts_main(argv: list[str]) -> int:
    """``python -m analysis contacts [--dataset NAME] [--ids]``: the frames flagged for a close contact.

    ``--ids`` prints only their frame ids, comma-separated, for ``python -m analysis metrics --exclude-frames``.
    """
    import argparse
    import sys

    from analysis.datasets import store

    parser = argparse.ArgumentParser(prog="python -m analysis contacts", description=contacts_main.__doc__)
    parser.add_argument("--dataset", default="metal43-gpaw")
    parser.add_argument("--ids", action="store_true", help="print the flagged frame ids only, comma-separated")
    args = parser.parse_args(argv)
    if args.dataset not in [i.name for i in store.list_datasets()]:
        print(f"error: no data set named {args.dataset!r}", file=sys.stderr)
        return 1
    cols = store.load_columns(args.dataset)
    found = flagged_in_columns(cols)
    if args.ids:
        print(",".join(str(cols.frame_id[i]) for i, _ in found))
        return 0
    for i, c in found:
        print(f"{cols.frame_id[i]:<20} d_min {c.d_min_a:.3f} Å  d_nn {c.d_nn_a:.3f} Å  ratio {c.ratio:.3f}")
    print(f"{len(found)} of {len(cols)} frames below {CONTACT_RATIO:g} d_nn")
    return 0
