"""Commands ``import``, ``datasets`` and ``embed-predictions`` of ``python -m analysis``."""
from __future__ import annotations

import argparse
import json
import sys

from analysis.core.errors import InputFileError
from analysis.datasets import store
from analysis.datasets.frames import ReferenceSet
from analysis.datasets.importers import (
    ENERGY_UNITS,
    import_predictions,
    import_reference,
)


DEFAULT_DATASET = "metal43-gpaw"


def import_main(argv: list[str]) -> int:
    """``python -m analysis import PATH... [--element X] [--temperature T] [--dataset NAME]``.

    Reference files are merged into the data set (created when absent); with ``--predictions
    --model NAME`` the files are a model's outputs on that data set instead.
    """
    parser = argparse.ArgumentParser(prog="python -m analysis import", description=import_main.__doc__)
    parser.add_argument("paths", nargs="+", help="files, DeePMD folders, or .zip/.tar.gz archives of them")
    parser.add_argument("--element", help="element label for every frame (default: from the species)")
    parser.add_argument("--temperature", type=float, help="temperature in K for every frame")
    parser.add_argument("--dataset", default="imported", help="data set to add to (default: %(default)s)")
    parser.add_argument("--format", dest="fmt", help="force a format (extxyz, nep, outcar, vasprun, deepmd, archive, nep-out, deepmd-out)")
    parser.add_argument("--energy-unit", default="eV", choices=sorted(ENERGY_UNITS))
    parser.add_argument("--predictions", action="store_true", help="the files are a model's predictions")
    parser.add_argument("--model", help="model name for --predictions")
    parser.add_argument("--universal", action="store_true", help="the model is universal (apply the per-element shift)")
    args = parser.parse_args(argv)
    try:
        if args.predictions:
            if not args.model:
                parser.error("--predictions needs --model NAME")
            reference = store.load_dataset(args.dataset)
            pred = import_predictions(args.paths, reference, model=args.model, fmt=args.fmt, universal=args.universal)
            path = store.save_predictions(pred, args.dataset)
            print(f"stored predictions of {args.model} for {len(pred.frame_id)} frames in {path}")
            return 0
        sets = [
            import_reference(p, fmt=args.fmt, element=args.element, temperature_k=args.temperature, energy_unit=args.energy_unit)
            for p in args.paths
        ]
    except InputFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 1
    existing = [s.name for s in store.list_datasets() if not s.embedded]
    if args.dataset in existing:
        sets.insert(0, store.load_dataset(args.dataset))
    merged = ReferenceSet.merge(sets) if len(sets) > 1 else sets[0]
    merged.provenance = {"source_files": [f for s in sets for f in s.provenance.get("source_files", [])]}
    path = store.save_dataset(merged, args.dataset)
    print(f"data set {args.dataset!r}: {len(merged)} frames, {len(merged.elements)} elements -> {path}")
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
