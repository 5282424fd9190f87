"""Commands ``import``, ``datasets`` and ``embed-predictions`` of ``python -m analysis``."""
from __future__ import annotations

import argparse
import json
import sys

from analysis.core.errors import InputFileError
from analysis.datasets import store
from analysis.datasets.frames import ReferenceSet
from analysis.datasets.importers import ENERGY_UNITS, FORCE_UNITS, import_reference
from analysis.datasets.predictions import import_predictions
from analysis.datasets.writing import MODES, write_frames

DEFAULT_DATASET = "metal43-gpaw"


def import_main(argv: list[str]) -> int:
    """``python -m analysis import PATH... [--dataset NAME] [--mode refuse|append|replace]``.

    Reference files go into the data set (created when absent; an existing one is written into only
    with ``--mode append`` or ``--mode replace``); with ``--predictions --model NAME`` the files are
    a model's outputs on that data set instead, matched to its frames by their reference columns.
    """
    parser = argparse.ArgumentParser(prog="python -m analysis import", description=import_main.__doc__)
    parser.add_argument("paths", nargs="+", help="files (also .gz/.bz2), DeePMD folders, folders of reference files (read "
                        "recursively) or of outputs, or .zip/.tar.gz archives")
    parser.add_argument("--element", help="element label for every frame (checked against the atoms; default: from the species)")
    parser.add_argument("--temperature", type=float, help="temperature in K for every frame")
    parser.add_argument("--dataset", default="imported", help="data set to write into (default: %(default)s)")
    parser.add_argument("--mode", choices=MODES, default="refuse",
                        help="when the data set exists: refuse (default), append (identical frames skipped) or replace")
    parser.add_argument("--format", dest="fmt", help="force a format (extxyz, nep, outcar, vasprun, deepmd, pwmat-movement, abacus, "
                        "qe-pw, qe-cp, cp2k-output, cp2k-aimd, fhi-aims, siesta, ase-traj, ase-db, archive, folder, or dpdata's "
                        "names such as pwmat/movement; with --predictions: nep-out, deepmd-out, extxyz)")
    parser.add_argument("--energy-unit", default="eV", choices=sorted(ENERGY_UNITS), help="unit of the file's energies (forces: the same per Å)")
    parser.add_argument("--force-unit", choices=sorted(FORCE_UNITS), help="unit of the file's forces (default: the energy unit per Å)")
    parser.add_argument("--type-map", help="elements of a DeePMD system's type numbers, comma-separated (when it has no type_map.raw)")
    parser.add_argument("--energy-key", help="extended XYZ: the comment-line key of the reference energy (default: detected among "
                        "energy, REF_energy, DFT_energy, free_energy, in any case)")
    parser.add_argument("--forces-key", help="extended XYZ: the Properties column of the reference forces (default: detected among "
                        "forces, force, REF_forces, DFT_forces)")
    parser.add_argument("--predictions", action="store_true", help="the files are a model's predictions")
    parser.add_argument("--model", help="model name for --predictions")
    parser.add_argument("--universal", action="store_true", help="the model is universal (apply the per-element shift)")
    parser.add_argument("--pred-prefix", help="extended XYZ predictions: the prefix of the model's keys (MACE_ for MACE_energy and "
                        "a MACE_forces column, as mace_eval_configs writes; default: detected when only one fits)")
    args = parser.parse_args(argv)
    if args.predictions and not args.model:
        parser.error("--predictions needs --model NAME")
    type_map = [t.strip() for t in args.type_map.split(",") if t.strip()] if args.type_map else None
    sets: list[ReferenceSet] = []
    try:
        if args.predictions:
            reference = store.load_columns(args.dataset)  # the stored arrays and hashes: no Atoms are built
            pred = import_predictions(args.paths, reference, model=args.model, fmt=args.fmt, universal=args.universal,
                                      dataset_hash=store.find_dataset(args.dataset).content_hash,
                                      pred_prefix=args.pred_prefix, energy_key=args.energy_key, forces_key=args.forces_key)
            path = store.save_predictions(pred, args.dataset)
            for name in pred.meta["skipped_files"]:
                print(f"skipped {name}")
            missing = pred.meta["frames_without_prediction"]
            note = f" ({missing} frames of the data set have no prediction in these files)" if missing else ""
            print(f"stored predictions of {args.model} for {len(pred.frame_id) - missing} of {len(pred.frame_id)} frames in {path}{note}")
            return 0
        sets = [
            import_reference(p, fmt=args.fmt, element=args.element, temperature_k=args.temperature,
                             energy_unit=args.energy_unit, type_map=type_map, energy_key=args.energy_key, forces_key=args.forces_key, force_unit=args.force_unit)
            for p in args.paths
        ]
        skipped = [f for s in sets for f in s.provenance.get("skipped_files", [])]
        merged = ReferenceSet.merge(sets) if len(sets) > 1 else sets[0]
        merged.provenance = {"source_files": [f for s in sets for f in s.provenance.get("source_files", [])],
                             **({"warnings": w} if (w := [x for s in sets for x in s.provenance.get("warnings", [])]) else {})}
        for warning in merged.provenance.get("warnings", []):
            print(f"warning: {warning}", file=sys.stderr)
        for name in skipped:
            print(f"skipped {name}", file=sys.stderr)
        outcome = write_frames(merged, args.dataset, mode=args.mode)
    except (InputFileError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 1
    except OSError as exc:
        from analysis.core.config import data_dir
        from analysis.core.storage import disk_full_message, is_disk_full

        if is_disk_full(exc):
            needed = sum(120 * len(a) + 400 for s in sets for a in s.frames)  # the store's extended XYZ, about
            print(f"error: cannot write data set {args.dataset!r}: {disk_full_message(data_dir() / 'datasets', needed)}; "
                  "nothing stored was changed", file=sys.stderr)
        else:
            print(f"error: cannot write data set {args.dataset!r}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    skipped = f", {outcome.skipped_duplicates} identical frames skipped" if outcome.skipped_duplicates else ""
    print(f"data set {args.dataset!r}: {outcome.added} frames added{skipped}; {outcome.total} frames, "
          f"{len(outcome.elements)} elements -> {outcome.path}")
    return 0


def datasets_main(argv: list[str]) -> int:
    """``python -m analysis datasets``: list data sets with frame counts and provenance."""
    argparse.ArgumentParser(prog="python -m analysis datasets", description=datasets_main.__doc__).parse_args(argv)
    for info in store.list_datasets():
        kind = "embedded" if info.embedded else "user"
        models = sorted(store.load_predictions(info.name))
        print(f"{info.name:<24} {kind:<8} {info.n_frames:>6} frames {len(info.elements):>3} elements  hash {info.content_hash}  models {models}")
    return 0


def embed_main(argv: list[str]) -> int:
    """``python -m analysis embed-predictions [--dataset NAME]``: copy the user data directory's
    predictions on an embedded data set into the embedded default data (for maintainers who
    rebuild the shipped scores). Only predictions whose data set hash matches are copied."""
    parser = argparse.ArgumentParser(prog="python -m analysis embed-predictions", description=embed_main.__doc__)
    parser.add_argument("--dataset", default=DEFAULT_DATASET)
    parser.add_argument("--model", action="append", help="only this model (repeatable)")
    args = parser.parse_args(argv)
    from analysis.core.config import data_dir, default_data_dir

    try:
        info = store.find_dataset(args.dataset)
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 1
    if not info.embedded:
        print(f"error: {args.dataset!r} is not an embedded data set", file=sys.stderr)
        return 1
    source = store.predictions_dir(args.dataset, root=data_dir())
    target = store.predictions_dir(args.dataset, root=default_data_dir())
    copied = 0
    for meta_path in sorted(source.glob("*.json")) if source.is_dir() else []:
        meta = json.loads(meta_path.read_text())
        if args.model and meta.get("model") not in args.model:
            continue
        if meta.get("dataset_hash") != info.content_hash:
            print(f"skip {meta.get('model')}: computed on data set hash {meta.get('dataset_hash')}, now {info.content_hash}")
            continue
        npz = meta_path.with_suffix(".npz")
        store.atomic_write_bytes(target / npz.name, npz.read_bytes())
        store.atomic_write_bytes(target / meta_path.name, meta_path.read_bytes())
        copied += 1
        print(f"embedded predictions of {meta.get('model')} -> {target / npz.name}")
    if not copied:
        print("nothing to embed", file=sys.stderr)
        return 1
    return 0
