"""Command ``metrics`` of ``python -m analysis``: the error table of a data set."""
from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np
import pandas as pd

from analysis.core.errors import InputFileError
from analysis.datasets import store
from analysis.datasets.frames import Predictions
from analysis.metrics.tables import (
    METRIC_COLUMNS,
    compute_metrics_table,
    distribution_stats,
)


DEFAULT_DATASET = "metal43-gpaw"


def without_frames(pred: Predictions, frame_ids: set[str]) -> Predictions:
    """``pred`` with the frames ``frame_ids`` unscored (NaN energy and forces): left out of every error."""
    from dataclasses import replace

    import numpy as np

    drop = np.isin(pred.frame_id.astype(str), sorted(frame_ids))
    if not drop.any():
        return pred
    energy = pred.energy.copy()
    energy[drop] = np.nan
    forces = pred.forces.copy()
    forces[np.repeat(drop, pred.n_atoms)] = np.nan
    return replace(pred, energy=energy, forces=forces)


def metrics_main(argv: list[str]) -> int:
    """``python -m analysis metrics [--dataset NAME] [--model NAME] [--csv] [--stats METRIC]``."""
    parser = argparse.ArgumentParser(prog="python -m analysis metrics", description=metrics_main.__doc__)
    parser.add_argument("--dataset", default=DEFAULT_DATASET)
    parser.add_argument("--model", action="append", help="restrict to this model (repeatable)")
    parser.add_argument("--temperature", help="restrict to one temperature label ('300', 'all', ...)")
    parser.add_argument("--shift", choices=["auto", "on", "off"], default="auto", help="per-element constant energy shift")
    parser.add_argument("--csv", action="store_true", help="print CSV")
    parser.add_argument("--stats", metavar="METRIC", help="print mean/std across elements of METRIC instead")
    parser.add_argument("--exclude-frames", metavar="IDS",
                        help="comma-separated frame ids left out of every error (counted as unscored), e.g. "
                             "$(python -m analysis contacts --ids) for the frames with a close contact")
    args = parser.parse_args(argv)
    try:
        reference = store.load_columns(args.dataset)
        predictions = store.load_predictions(args.dataset)
    except (KeyError, InputFileError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.model:
        missing = [m for m in args.model if m not in predictions]
        if missing:
            print(f"error: no predictions for {missing} on {args.dataset!r} (have: {sorted(predictions)})", file=sys.stderr)
            return 1
        predictions = {m: predictions[m] for m in args.model}
    if args.exclude_frames:
        dropped = {f.strip() for f in args.exclude_frames.split(",") if f.strip()}
        unknown = dropped - set(reference.arrays().frame_id.tolist())
        if unknown:
            print(f"error: {args.dataset!r} has no frames {', '.join(sorted(unknown)[:5])}", file=sys.stderr)
            return 1
        predictions = {m: without_frames(p, dropped) for m, p in predictions.items()}
        print(f"left out {len(dropped)} frame(s): {', '.join(sorted(dropped))}", file=sys.stderr)
    predictions = _matched(reference, predictions)
    if not predictions:
        print(f"error: no stored predictions match the frames of {args.dataset!r}", file=sys.stderr)
        return 1
    shift = {"auto": "auto", "on": True, "off": False}[args.shift]
    table = compute_metrics_table(reference.arrays(), predictions, shift=shift)
    if args.temperature:
        table = table[table["temperature"] == args.temperature]
    if args.stats:
        if args.stats not in METRIC_COLUMNS:
            parser.error(f"--stats must be one of {', '.join(METRIC_COLUMNS)}")
        table = distribution_stats(table, args.stats)
    if args.csv:
        table.to_csv(sys.stdout, index=False, float_format="%.4f")
    else:
        with pd.option_context("display.width", 200, "display.max_rows", 1000, "display.max_columns", 30):
            print(table.to_string(index=False, float_format=lambda x: f"{x:.2f}"))
    return 0


def _matched(reference: Any, predictions: dict[str, Any]) -> dict[str, Any]:
    """Each model's predictions on the data set's current frames, as the dashboard matches them (by
    frame id and structure hash): frames added since a model ran are unscored, with a note on
    stderr; predictions that match nothing are left out with the reason."""
    ref = reference.arrays()
    hashes = reference.structure_hash
    out = {}
    for model, pred in predictions.items():
        try:
            if pred.structure_hash is None:
                out[model] = pred.aligned_to(ref, source=f"predictions of {model}")
                continue
            out[model], missing = pred.matched_to(ref, hashes, source=f"predictions of {model}")
        except ValueError as exc:
            print(f"left out {model}: {exc}", file=sys.stderr)
            continue
        if missing:
            print(f"{model} has not seen {len(missing)} frame(s) added or changed since it ran: unscored", file=sys.stderr)
    return out
