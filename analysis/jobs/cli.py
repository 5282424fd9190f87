"""Command-line front ends of the job queue: ``worker``, ``evaluate`` and ``jobs``.

``python -m analysis evaluate --model NAME --dataset NAME`` submits the job and waits with a
progress bar. When no worker process is running it runs the job itself, in this process (it
claims the job through the queue like any worker, so a worker that starts meanwhile cannot take
it twice); with ``--no-wait`` it only submits.
"""
from __future__ import annotations

import argparse
import signal
import sys
import time
from typing import Any

from analysis.core.cluster import SchedulerUnavailable, add_backend_options, chosen_backend, connect
from analysis.jobs.queue import (
    STATES,
    JobRecord,
    Worker,
    cancel_job,
    get_job,
    list_jobs,
    live_workers,
    submit_job,
    wait_for,
)

_THREADS_HELP = (
    "torch intra-op threads (default: torch's choice). On a small shared CPU, 1 is much faster for small "
    "cells: the graphs of the next batch are built on the other core meanwhile"
)


def _set_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


def _sigterm_to_exit() -> None:
    # SystemExit unwinds through the worker, which puts its job back in the queue
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def worker_main(argv: list[str]) -> int:
    """``python -m analysis worker [--once] [--max-jobs N] [--poll S] [--threads N]``."""
    parser = argparse.ArgumentParser(prog="python -m analysis worker", description="run queued model evaluations")
    parser.add_argument("--once", action="store_true", help="exit when the queue is empty")
    parser.add_argument("--max-jobs", type=int, default=None, help="exit after this many jobs")
    parser.add_argument("--poll", type=float, default=1.0, help="seconds between polls when idle")
    parser.add_argument("--threads", type=int, default=None, help=_THREADS_HELP)
    add_backend_options(parser)
    args = parser.parse_args(argv)
    _set_threads(args.threads)
    _sigterm_to_exit()

    def report(rec: JobRecord) -> None:
        print(f"{rec.job_id} {rec.model} on {rec.dataset}: {rec.state} {rec.frames_done}/{rec.frames_total}", flush=True)

    try:
        if chosen_backend(args) == "dask":  # this process coordinates; the chunks run on the cluster
            from analysis.jobs.dask_backend import serve

            with connect(args.scheduler, timeout_s=args.scheduler_timeout) as client:
                n = serve(client, once=args.once, poll_s=args.poll, max_jobs=args.max_jobs, on_progress=report)
        else:
            n = Worker(poll_s=args.poll).run(once=args.once, max_jobs=args.max_jobs, on_progress=report)
    except SchedulerUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    print(f"worker ran {n} job(s)", flush=True)
    return 0


class _Bar:
    """A tqdm progress bar fed with job records."""

    def __init__(self, rec: JobRecord) -> None:
        from tqdm import tqdm

        what = f"{rec.model} {rec.fit.get('element', '')}" if rec.kind == "fit" else rec.model
        self.bar = tqdm(total=rec.frames_total, unit=rec.unit.rstrip("s") or "frame", desc=f"{what} on {rec.dataset}")

    def __call__(self, rec: JobRecord) -> None:
        self.bar.total = rec.frames_total
        self.bar.n = rec.frames_done
        self.bar.set_postfix_str(rec.state)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def evaluate_main(argv: list[str]) -> int:
    """``python -m analysis evaluate --model NAME --dataset NAME [--device D] [--dtype T] [--wait|--no-wait]``."""
    parser = argparse.ArgumentParser(prog="python -m analysis evaluate", description="evaluate a model on a data set")
    parser.add_argument("--model", required=True, help="registry name or family:PATH (see `python -m analysis models`)")
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--dtype", default="auto", choices=("auto", "float32", "float64"), help="auto: float64 where the model supports it")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--chunk-frames", type=int, default=32)
    wait = parser.add_mutually_exclusive_group()
    wait.add_argument("--wait", dest="no_wait", action="store_false", help="wait for the result (the default)")
    wait.add_argument("--no-wait", dest="no_wait", action="store_true", help="only submit; print the job id")
    parser.set_defaults(no_wait=False)
    parser.add_argument("--threads", type=int, default=None, help=_THREADS_HELP + " (when run in this process)")
    parser.add_argument(
        "--option", action="append", default=[], metavar="KEY=VALUE",
        help="option of a family:PATH model (e.g. architecture=orb-v3-direct-20-omat)",
    )
    add_backend_options(parser)
    args = parser.parse_args(argv)
    model: Any = args.model
    if args.option:
        from analysis.models.registry import get_spec

        options = dict(o.split("=", 1) for o in args.option)
        model = get_spec(args.model, **options)
    try:
        job_id = submit_job(
            model, args.dataset, args.device, args.dtype, chunk_frames=args.chunk_frames, batch_size=args.batch_size
        )
    except (KeyError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"job {job_id}", flush=True)
    if args.no_wait:
        return 0
    rec = get_job(job_id)
    bar = _Bar(rec)
    try:
        if not _run_jobs([job_id], args, bar):
            return 1
        rec = wait_for(job_id, on_progress=bar)
    finally:
        bar.close()
    if rec.state == "failed":
        print(f"failed: {rec.error}\n{rec.traceback}", file=sys.stderr)
        return 1
    print(f"{rec.state}: {rec.model} on {rec.dataset} ({rec.frames_done}/{rec.frames_total} frames, {rec.seconds:.1f} s)")
    if rec.frames_failed:
        print(
            f"warning: {rec.model} refused {rec.frames_failed} frame(s); they are left out of its errors "
            f"(see `python -m analysis jobs --show {rec.job_id}` and the element pages)",
            file=sys.stderr,
        )
    return 0 if rec.state == "done" else 1


def _age(t: float | None) -> str:
    if not t:
        return "-"
    s = time.time() - t
    return f"{s:.0f}s" if s < 120 else f"{s / 60:.0f}m" if s < 7200 else f"{s / 3600:.0f}h"


def jobs_main(argv: list[str]) -> int:
    """``python -m analysis jobs [--state S] [--cancel ID] [--show ID]``."""
    parser = argparse.ArgumentParser(prog="python -m analysis jobs", description="list evaluation jobs")
    parser.add_argument("--state", choices=STATES)
    parser.add_argument("--cancel", metavar="JOB_ID")
    parser.add_argument("--show", metavar="JOB_ID", help="print one job in full (with its traceback)")
    parser.add_argument("--cache", action="store_true", help="print the per-frame result cache's size")
    parser.add_argument("--clear-cache", action="store_true", help="empty the per-frame result cache (results are computed again)")
    parser.add_argument("--repair", action="store_true", help="check the queue and cache databases, chunks, cached values and "
                        "stored predictions; move aside or discard what is damaged and rebuild the queue")
    args = parser.parse_args(argv)
    if args.repair:
        for line in repair():
            print(line)
        return 0
    if args.cache or args.clear_cache:
        from analysis.models.frame_cache import FrameCache

        with FrameCache() as cache:
            if args.clear_cache:
                print(f"removed {cache.clear()} stored frame results from {cache.path}")
            print(f"{len(cache)} frame results, {cache.volume() / 2**20:.1f} MiB in {cache.path}")
        return 0
    if args.cancel:
        rec = cancel_job(args.cancel)
        print(f"{rec.job_id}: {rec.state}")
        return 0
    if args.show:
        rec = get_job(args.show)
        for key, value in rec.__dict__.items():
            print(f"{key:>14}: {value}")
        return 0
    recs = list_jobs(state=args.state)
    print(f"{'job':<16} {'state':<9} {'progress':>11} {'model':<30} {'dataset':<20} {'device':<7} {'dtype':<7} {'age':>5}")
    for r in recs:
        print(
            f"{r.job_id:<16} {r.state:<9} {r.frames_done:>5}/{r.frames_total:<5} {_what(r)[:30]:<30} "
            f"{r.dataset[:20]:<20} {r.device:<7} {r.dtype:<7} {_age(r.created):>5}"
        )
        for note in r.integrity_notes:
            print(f"{'':<16} {note}")
        if r.state == "failed":
            print(f"{'':<16} {r.error}")
        elif r.frames_failed:
            print(f"{'':<16} {r.frames_failed} frame(s) refused by the model (left out of its errors)")
    if not recs:
        print("(no jobs)")
    from analysis.jobs.queue import REPAIRS

    for line in REPAIRS:
        print(f"note: {line}")
    return 0


def repair() -> list[str]:
    """``jobs --repair``: every store of the queue checked; what is damaged moved aside, discarded or rebuilt.

    Returns:
        One line per part: what was checked and what was done.
    """
    from analysis.core.config import cache_dir, data_dir
    from analysis.core.storage import check_db
    from analysis.datasets.store import damaged_predictions
    from analysis.jobs import queue as q
    from analysis.jobs.integrity import discard_damaged_chunks, move_predictions_aside
    from analysis.models.frame_cache import FrameCache

    lines = []
    problem = check_db(q.jobs_dir())
    with q.open_db(check=True) as cache:
        n_jobs = len(q.all_records(cache))
    lines.append(f"job queue {q.jobs_dir()}: " + (f"damaged ({problem}); " + "; ".join(q.REPAIRS) if problem else f"sound, {n_jobs} jobs"))
    chunks_root = q.jobs_dir() / "chunks"
    bad_chunks = [f"{folder.name}/{name}" for folder in sorted(chunks_root.iterdir()) if folder.is_dir()
                  for name in discard_damaged_chunks(folder)] if chunks_root.is_dir() else []
    lines.append(f"chunks: {len(bad_chunks)} damaged discarded (their frames are computed again)"
                 + (f": {', '.join(bad_chunks[:5])}" if bad_chunks else ""))
    folder = cache_dir() / "frame-results"
    cache_problem = check_db(folder)
    with FrameCache(folder, check=True) as fcache:
        bad_values = fcache.verify_all()
        size = len(fcache)
    lines.append(f"per-frame cache {folder}: " + (f"database damaged ({cache_problem}), moved aside and made anew; " if cache_problem else "")
                 + f"{bad_values} values failing their checksum deleted, {size} kept")
    bad_preds = damaged_predictions(data_dir())
    for npz, reason in bad_preds:
        move_predictions_aside(npz, reason)
    lines.append(f"stored predictions under {data_dir()}: {len(bad_preds)} damaged moved aside"
                 + "".join(f"\n  {npz.parent.parent.name}/{npz.stem}: {reason}" for npz, reason in bad_preds))
    return lines


def fit_main(argv: list[str]) -> int:
    """``python -m analysis fit --family mace|deepmd|nep --dataset NAME --elements Cu,Al|all [--epochs N]
    [--passes N] [--generations N] [--seed S] [--no-wait] [--write-only DIR]``.

    One fit job per element in the job queue (deduplicated: a fit already stored is answered at
    once). Without a running worker the jobs run in this process, one after another; ``--backend
    dask`` runs them as Dask tasks (one per element). The model of each element is registered as
    ``<family>-fitted-<element>``; its test frames are stored as predictions ``<family>-fitted``.
    ``--write-only DIR`` writes each element's training input (nep.in, input.json, train.xyz)
    into DIR/<element>/ and submits nothing (for running GPUMD or deepmd-kit elsewhere).
    """
    from pathlib import Path

    from analysis.datasets import store
    from analysis.jobs.fit_jobs import submit_fit
    from analysis.models.fitting import FAMILIES, TRAINERS, FitSpec, fit_frames

    parser = argparse.ArgumentParser(prog="python -m analysis fit", description=(fit_main.__doc__ or "").split("\n\n")[1])
    parser.add_argument("--family", default="mace", choices=FAMILIES)
    parser.add_argument("--dataset", default="metal43-gpaw-train")
    parser.add_argument("--elements", required=True, help="comma-separated, or 'all' for every element of the data set")
    parser.add_argument("--epochs", type=int, help="MACE: epochs (default 50)")
    parser.add_argument("--passes", type=int, help="DeePMD: passes over the training set (default 50, SI Table S2)")
    parser.add_argument("--generations", type=int, help="NEP: generations (default 100000, SI Table S3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-wait", action="store_true", help="only submit; print the job ids")
    parser.add_argument("--write-only", metavar="DIR", help="write the training inputs per element and stop")
    add_backend_options(parser)
    args = parser.parse_args(argv)
    names = [info.name for info in store.list_datasets()]
    if args.dataset not in names:
        print(f"error: no data set named {args.dataset!r} (present: {', '.join(names) or 'none'})", file=sys.stderr)
        return 1
    ref = store.load_dataset(args.dataset)
    elements = ref.elements if args.elements == "all" else [e.strip() for e in args.elements.split(",") if e.strip()]
    unknown = [e for e in elements if e not in ref.elements]
    if unknown:
        print(f"error: {args.dataset!r} has no frames of {', '.join(unknown)} (it has {', '.join(ref.elements)})", file=sys.stderr)
        return 1
    key = {"mace": "epochs", "deepmd": "passes", "nep": "generations"}[args.family]
    value = getattr(args, key)
    schedule = {key: value} if value is not None else {}
    if args.write_only:
        for element in elements:
            spec = FitSpec(args.family, element, seed=args.seed, schedule=schedule)
            split, by_id = fit_frames(ref, spec)
            folder = Path(args.write_only) / element
            folder.mkdir(parents=True, exist_ok=True)
            TRAINERS[args.family].prepare(folder, spec, [by_id[i] for i in split["train"]], [by_id[i] for i in split["valid"]])
            print(f"{element}: {args.family} input for {len(split['train'])} training, {len(split['valid'])} validation frames in {folder}")
        return 0
    job_ids = []
    for element in elements:
        try:
            job_ids.append(submit_fit(args.family, args.dataset, element, seed=args.seed, schedule=schedule))
        except (KeyError, ValueError, RuntimeError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"job {job_ids[-1]}: {args.family} fit of {element}", flush=True)
    if args.no_wait:
        return 0
    failed = 0
    for job_id in job_ids:
        rec = get_job(job_id)
        bar = _Bar(rec)
        try:
            if not _run_jobs(job_ids if chosen_backend(args) == "dask" else [job_id], args, bar):
                return 1
            rec = wait_for(job_id, on_progress=bar)
        finally:
            bar.close()
        element = rec.fit.get("element", "?")
        if rec.state != "done":
            failed += 1
            print(f"{element}: {rec.state}: {rec.error}", file=sys.stderr)
            continue
        fit = _stored_fit_summary(rec)
        print(f"{element}: done; {fit}", flush=True)
    from analysis.jobs.fit_jobs import refresh_stored

    if refresh_stored(args.dataset, args.family):  # frames were added since the stored fits: carried over
        print(f"stored {args.family}-fitted predictions moved onto the current content of {args.dataset}")
    return 1 if failed else 0


def _run_jobs(job_ids: list[str], args: argparse.Namespace, bar: Any) -> bool:
    """Run the queued ones of ``job_ids``: on Dask when chosen (all fits at once, one task per
    element), else in this process when no worker is running (a running worker takes them itself).
    Returns False when the Dask scheduler cannot be reached (the jobs stay queued)."""
    from analysis.jobs import dask_backend

    queued = [j for j in job_ids if get_job(j).state == "queued"]
    if not queued:
        return True
    if chosen_backend(args) == "dask":
        try:
            with connect(args.scheduler, timeout_s=args.scheduler_timeout) as client:
                fits = [j for j in queued if get_job(j).kind == "fit"]
                if fits:
                    dask_backend.run_fit_jobs(fits, client, on_progress=bar)
                for job_id in (j for j in queued if j not in fits):
                    dask_backend.run_job(job_id, client, on_progress=bar)
        except SchedulerUnavailable as exc:
            print(f"error: {exc} (the jobs stay queued)", file=sys.stderr)
            return False
    elif not live_workers():
        _set_threads(getattr(args, "threads", None))
        _sigterm_to_exit()
        for job_id in queued:
            Worker().run(job_id=job_id, on_progress=bar)
    return True


def _what(rec: JobRecord) -> str:
    """A job's model, with the element for a fit job ('deepmd-fitted Cu')."""
    return f"{rec.model} {rec.fit.get('element', '')}" if rec.kind == "fit" else rec.model


def _stored_fit_summary(rec: JobRecord) -> str:
    from analysis.datasets.store import load_predictions

    pred = load_predictions(rec.dataset).get(rec.model)
    fit = (pred.meta.get("fits") or {}).get(rec.fit.get("element", "")) if pred is not None else None
    if not fit:
        return "no stored result"
    last = (fit.get("learning_curve") or [{}])[-1]
    return (f"{fit['n_train']} training, {fit['n_valid']} validation, {fit['n_test']} test frames; {fit['seconds']:.0f} s; "
            f"last validation force RMSE {last.get('valid_rmse_f') or float('nan'):.3f} eV/Å; model {fit['registered_name']}")
