"""``python -m analysis build-reference``: the GPAW reference set (--tier ci|default|train|full), resumable, in the background."""
from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from pathlib import Path

from analysis.core.cluster import SchedulerUnavailable, add_backend_options, chosen_backend, connect
from analysis.core.config import data_dir, default_data_dir
from analysis.core.errors import InputFileError
from analysis.reference import gpaw_calc
from analysis.reference.build import (
    BuildIncomplete,
    _frame_done,
    build_dir,
    build_reference,
    failed_path,
    frame_path,
)
from analysis.reference.eos_fit import DEFAULT_EOS_PATH
from analysis.reference.tiers import SETTINGS_PATH, TIERS, estimated_cost, load_settings
from analysis.reference.timing import (
    dft_seconds_per_frame,
    projected_seconds,
    timing_totals,
)


def main(argv: list[str] | None = None) -> int:
    """``python -m analysis build-reference [--tier ci|default|full] [--jobs N] [--elements ...]``."""
    parser = argparse.ArgumentParser(prog="python -m analysis build-reference", description=__doc__.splitlines()[0])
    parser.add_argument("--tier", default="default", help=f"a tier of the settings file ({', '.join(TIERS)} in the shipped one)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (default: number of cores)")
    parser.add_argument("--elements", nargs="+", help="only these elements (default: the tier's)")
    parser.add_argument("--out", type=Path, help="store root (default: analysis/data/default for default/full, the data directory for ci)")
    parser.add_argument("--eos", type=Path, help="EOS cache file (default: analysis/data/eos.json; <out>/eos.json for ci)")
    parser.add_argument("--settings", type=Path, default=SETTINGS_PATH)
    parser.add_argument("--plan", action="store_true", help="print the element order and frame counts, compute nothing")
    parser.add_argument("--assemble-only", action="store_true",
                        help="write the data set from the frames finished so far (e.g. by a build into another --out), compute nothing")
    parser.add_argument("--log", type=Path, help="also append the progress log to this file")
    parser.add_argument("--retry-failed", action="store_true", help="try again the frames whose DFT failed before")
    parser.add_argument("--check-eos", action="store_true",
                        help="print the equation-of-state fits flagged (B' outside [2, 8], large residual), compute nothing")
    parser.add_argument("--refit-eos", action="store_true",
                        help="with --check-eos: refit flagged fits with a wider, denser scan (stored beside the original)")
    add_backend_options(parser)
    args = parser.parse_args(argv)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if args.log:
        args.log.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(args.log))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", handlers=handlers, force=True)
    try:
        settings = load_settings(args.tier, path=args.settings, elements=args.elements)
    except (InputFileError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    out = args.out or (data_dir() if args.tier == "ci" else default_data_dir())
    eos_path = args.eos or (out / "eos.json" if args.tier == "ci" else DEFAULT_EOS_PATH)
    if args.check_eos:
        from analysis.reference.eos_fit import check_eos, load_eos_table

        flags = check_eos(eos_path, settings, refit=args.refit_eos)
        entries = load_eos_table(eos_path)["entries"]
        for symbol, why in flags.items():
            if why:
                refit = entries[f"{settings.eos_hash_of(symbol)}/{symbol}"].get("refit")
                extra = (f"; refit: V0 {refit['V0_A3_per_atom']:.3f} Å^3/atom, B0 {refit['B0_GPa']:.1f} GPa, "
                         f"B' {refit['Bprime']:.2f}" + (f" (still {'; '.join(refit['flags'])})" if refit["flags"] else "")
                         if refit else "")
                print(f"{symbol}: {'; '.join(why)}{extra}")
        print(f"{sum(bool(v) for v in flags.values())} of {len(flags)} fits flagged")
        return 0
    if args.assemble_only:
        from analysis.reference.build import assemble_dataset, finished_frames

        frames = finished_frames(build_dir(out, settings), settings)
        path = assemble_dataset(settings, out, eos_path, frames=frames)
        print(f"data set {settings.dataset!r}: {len(frames)} finished frames -> {path}" if path else "no finished frame yet")
        return 0
    if args.plan:
        build = build_dir(out, settings)
        measured = dft_seconds_per_frame(build / "timings.jsonl")
        cost = {s: estimated_cost(s, settings.dft) for s in settings.elements}
        remaining: dict[str, int] = {}
        for s in settings.elements:
            temps = settings.temperatures_of(s)
            done = sum(_frame_done(frame_path(build, s, t, i), settings) for t in temps for i in range(settings.n_frames))
            bad = sum(failed_path(build, s, t, i).is_file() for t in temps for i in range(settings.n_frames))
            remaining[s] = len(temps) * settings.n_frames - done - bad
            timed = f"  {measured[s]:5.0f} s/frame" if s in measured else ""
            print(f"{s:<3} cost {cost[s]:7.0f}  T {', '.join(f'{t:g}' for t in temps)} K  "
                  f"frames {done}/{len(temps) * settings.n_frames}" + (f"  failed {bad}" if bad else "") + timed)
        totals = timing_totals(build / "timings.jsonl")
        print("compute so far (wall s): " + (", ".join(f"{k} {v:.0f}" for k, v in sorted(totals.items())) or "none"))
        spin = {s: "spin" if gpaw_calc.is_spin_polarized(s, settings.dft) else "paired" for s in settings.elements}
        left = projected_seconds(remaining, measured, cost, spin)
        if sum(remaining.values()):
            print(f"projected DFT for the {sum(remaining.values())} frames left: " + (
                f"{left / 3600:.1f} CPU-hours (elements not timed yet scaled by their cost, spin-polarised ones by the timed spin-polarised "
                "elements; EOS and MD add a few minutes per element)"
                if math.isfinite(left) else "unknown until a frame has been timed"))
        return 0
    try:
        if chosen_backend(args) == "dask":
            from analysis.reference.dask_build import build_reference as build_on_dask

            with connect(args.scheduler, timeout_s=args.scheduler_timeout) as client:
                path, records = build_on_dask(settings, out=out, eos_path=eos_path, client=client, retry_failed=args.retry_failed)
            print(f"{sum(r['computed'] for r in records)} frame(s) labelled on Dask, {len(records)} task(s)")
        else:
            path = build_reference(settings, out=out, eos_path=eos_path, jobs=max(1, args.jobs), retry_failed=args.retry_failed)
    except (BuildIncomplete, SchedulerUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"data set {settings.dataset!r} -> {path}")
    return 0
