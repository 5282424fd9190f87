"""``python -m analysis export``: a data set, or a selection of it, for another group's fitting code.

The formats of :mod:`analysis.datasets.export` (extended XYZ in ASE's or MACE's keys, DeePMD npy
systems, an ASE database), and NEP's ``nep.in`` + ``train.xyz``/``test.xyz`` per element, written
by the same writer as ``fit --family nep --write-only`` (:func:`analysis.models.fit_inputs.write_nep_inputs`:
SI Table S3 through calorine) on the same per-temperature split (:func:`analysis.models.fitting.split_frames`).
This module lives in the models layer because the NEP input and the fit split are the fitting code's;
the data set formats stay in :mod:`analysis.datasets.export`.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from analysis.datasets.export import FORMATS, export_frames, parse_temperatures, select, write_atomic_folder
from analysis.datasets.frames import ReferenceSet

SPLITS = ("train", "valid", "test")


def split_ids(ref: ReferenceSet, elements: Sequence[str], split: str, *, seed: int = 0) -> list[str]:
    """The frame ids of a fit's ``split`` ('train', 'valid' or 'test') of each element, as ``fit`` makes it."""
    from analysis.models.fitting import split_frames

    return [fid for element in elements for fid in split_frames(ref, element, seed=seed)[split]]


def write_nep(ref: ReferenceSet, out: Path, *, seed: int = 0) -> Path:
    """``out/<El>/nep.in``, ``train.xyz`` (the fit's training frames) and ``test.xyz`` (its validation
    frames) for each element of ``ref``, as ``fit --family nep --write-only`` writes them; the test
    split is held out, as in a fit.

    Raises:
        ValueError: a compound label (nep.in's ``type`` line names one element here).
    """
    from analysis.models.fit_inputs import write_nep_inputs
    from analysis.models.fitting import FitSpec, fit_frames

    compounds = [label for label in ref.elements if any(len(set(a.numbers)) > 1 for a in ref.frames if a.info["element"] == label)]
    if compounds:
        raise ValueError(f"NEP inputs are written per element; {', '.join(compounds)} are compounds: export them as extxyz or mace")

    def write(folder: Path) -> None:
        for element in ref.elements:
            spec = FitSpec("nep", element, seed=seed)
            split, by_id = fit_frames(ref, spec)
            write_nep_inputs(folder / element, spec, [by_id[i] for i in split["train"]], [by_id[i] for i in split["valid"]])

    return write_atomic_folder(out, write)


def export_main(argv: list[str]) -> int:
    """``python -m analysis export --dataset NAME --format extxyz|mace|nep|deepmd|ase-db --out PATH
    [--elements Cu,Al] [--temperatures 300,1358|unknown] [--split train|valid|test]``."""
    parser = argparse.ArgumentParser(prog="python -m analysis export", description=export_main.__doc__)
    parser.add_argument("--dataset", required=True, help="the data set (user or embedded)")
    parser.add_argument("--format", dest="fmt", required=True, choices=(*FORMATS, "nep"),
                        help="extxyz (ASE's keys), mace (REF_energy/REF_forces/config_type), nep (nep.in + train.xyz/test.xyz "
                        "per element), deepmd (npy systems per element and temperature), ase-db")
    parser.add_argument("--out", required=True, type=Path, help="file (extxyz, mace, ase-db) or folder (nep, deepmd) to write; must not exist")
    parser.add_argument("--elements", help="element labels, comma-separated (default: all)")
    parser.add_argument("--temperatures", help="temperatures in K, comma-separated; 'unknown' for frames without one (default: all)")
    parser.add_argument("--split", choices=SPLITS, help="only this part of a fit's per-temperature split (seeded as fit does)")
    parser.add_argument("--seed", type=int, default=0, help="the split's seed (default: %(default)s, as fit)")
    parser.add_argument("--energy-key", default="energy", help="extxyz: the energy key to write (default: %(default)s)")
    parser.add_argument("--forces-key", default="forces", help="extxyz: the forces column to write (default: %(default)s)")
    args = parser.parse_args(argv)
    from analysis.datasets import store

    try:
        ref = store.load_dataset(args.dataset)
        elements = [e.strip() for e in args.elements.split(",") if e.strip()] if args.elements else None
        frames = select(ref, elements=elements, temperatures=parse_temperatures(args.temperatures))
        chosen = ReferenceSet(frames, dict(ref.provenance))
        if args.split:
            if args.fmt == "nep":
                parser.error("--split does not apply to nep, whose train.xyz/test.xyz are the fit's own split")
            frames = select(chosen, frame_ids=split_ids(chosen, chosen.elements, args.split, seed=args.seed))
        if args.fmt == "nep":
            path = write_nep(chosen, args.out, seed=args.seed)
        else:
            path = export_frames(frames, args.fmt, args.out, energy_key=args.energy_key, forces_key=args.forces_key)
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 1
    except (ValueError, FileExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    n = len(chosen) if args.fmt == "nep" else len(frames)
    print(f"exported {n} frames of {args.dataset!r} ({', '.join(sorted({a.info['element'] for a in frames}))}) as {args.fmt} -> {path}")
    return 0
