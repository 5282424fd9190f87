"""Dask scaling: DFT labelling and model evaluation on a LocalCluster of 1 worker against N workers.

    .venv/bin/python benchmarks/bench_dask.py [--frames 8] [--workers 2] [--tier ci] [--eval-frames 400]
    .venv/bin/python benchmarks/bench_dask.py --smoke    # 1 frame labelled, 40 evaluated (the test suite runs it)

Labelling: the ``ci`` tier's Al cell (4 atoms, 200 eV; ``--tier default`` for the 8-atom, 350 eV
frames) is prepared once (EOS fit and MD samples, not timed); then the same ``--frames`` samples are
labelled by GPAW on a cluster of 1 worker and on one of ``--workers`` workers, each from an empty
frames folder. The labels of both runs are compared (they must be identical). Evaluation: EMT on
``--eval-frames`` Cu frames through the job queue's Dask backend, chunks of 20, on each cluster.

Prints seconds, frames/s and the speed-up of the many-worker cluster over the 1-worker baseline,
measured in this run. Goal (issue 17): at least 1.8x with 2 workers on a 2-core machine.
Everything binds to 127.0.0.1.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

os.environ.setdefault("OMP_NUM_THREADS", "1")


def _cluster(n: int):  # noqa: ANN202 - distributed types
    import distributed

    cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None, memory_limit="4GiB")
    return cluster, distributed.Client(cluster)


def _label(settings, out: Path, eos_path: Path, workers: int) -> tuple[float, list[float]]:  # noqa: ANN001
    from ase.io import read

    from analysis.reference import build_dir, frame_path
    from analysis.reference.dask_build import build_reference

    cluster, client = _cluster(workers)
    try:
        client.run(lambda: __import__("gpaw"))  # import cost outside the timing, as on a warm cluster
        t0 = time.perf_counter()
        _, records = build_reference(settings, out=out, eos_path=eos_path, client=client)
        seconds = time.perf_counter() - t0
    finally:
        client.close()
        cluster.close()
    assert sum(r["computed"] for r in records) == settings.n_frames, records
    build = build_dir(out, settings)
    temp = settings.temperatures_of("Al")[0]
    energies = [read(frame_path(build, "Al", temp, i), format="extxyz").get_potential_energy() for i in range(settings.n_frames)]
    return seconds, energies


def bench_labelling(frames: int, workers: int, tier: str) -> None:
    from analysis import reference
    from analysis.reference import build_dir
    from analysis.reference.build import prepare_element

    settings = dataclasses.replace(reference.load_settings(tier, elements=["Al"]), n_frames=frames)
    with tempfile.TemporaryDirectory() as tmp:
        base, eos_path = Path(tmp) / "base", Path(tmp) / "eos.json"
        t0 = time.perf_counter()
        prepare_element("Al", settings, base, eos_path)
        print(f"prepared Al ({tier} tier): EOS and {frames} MD samples in {time.perf_counter() - t0:.1f} s (not timed below)")
        results = {}
        for n in (1, workers):
            out = Path(tmp) / f"w{n}"
            shutil.copytree(build_dir(base, settings) / "samples", build_dir(out, settings) / "samples")
            results[n] = _label(settings, out, eos_path, n)
        (t1, e1), (tn, en) = results[1], results[workers]
        same = np.array_equal(np.array(e1), np.array(en))
        print(f"DFT labelling, {frames} frames of {settings.n_atoms} atoms: 1 worker {t1:.1f} s ({frames / t1:.3f} frames/s); "
              f"{workers} workers {tn:.1f} s ({frames / tn:.3f} frames/s); speed-up {t1 / tn:.2f}x; "
              f"labels identical: {same} (max |dE| {np.max(np.abs(np.array(e1) - np.array(en))):.1e} eV)")


def bench_evaluation(n_frames: int, workers: int) -> None:
    from analysis.datasets.frames import ReferenceSet
    from analysis.datasets.store import load_predictions, predictions_dir, save_dataset
    from analysis.jobs import dask_backend
    from analysis.jobs import queue as q
    from analysis.models.frame_cache import FrameCache
    from tests.analysis.conftest import cu_frames

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MLFF_ATLAS_DATA"], os.environ["MLFF_ATLAS_CACHE"] = f"{tmp}/data", f"{tmp}/cache"
        save_dataset(ReferenceSet(cu_frames(n_frames)), "cu")
        times, energies = {}, {}
        for n in (1, workers):
            with FrameCache() as fc:
                fc.clear()
            q.clear_finished()
            shutil.rmtree(predictions_dir("cu"), ignore_errors=True)  # else the stored result answers the job
            cluster, client = _cluster(n)
            try:
                client.run(lambda: __import__("ase.calculators.emt"))
                job_id = q.submit_job("emt", "cu", device="cpu", chunk_frames=20)
                t0 = time.perf_counter()
                rec = dask_backend.run_job(job_id, client)
                times[n] = time.perf_counter() - t0
            finally:
                client.close()
                cluster.close()
            assert rec.state == "done" and rec.frames_cached == 0, rec
            energies[n] = load_predictions("cu")["emt"].energy
        t1, tn = times[1], times[workers]
        print(f"evaluation (EMT, {n_frames} Cu frames, chunks of 20): 1 worker {n_frames / t1:.0f} frames/s; "
              f"{workers} workers {n_frames / tn:.0f} frames/s; speed-up {t1 / tn:.2f}x; "
              f"max |dE| between runs {np.max(np.abs(energies[1] - energies[workers])):.1e} eV")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8, help="frames to label (default 8)")
    parser.add_argument("--workers", type=int, default=2, help="workers of the many-worker cluster (default 2)")
    parser.add_argument("--tier", default="ci", choices=("ci", "default"), help="settings of the labelled frames")
    parser.add_argument("--eval-frames", type=int, default=400, help="frames of the evaluation run (0: skip)")
    parser.add_argument("--smoke", action="store_true", help="tiny size (1 frame labelled, 40 evaluated): checks that it runs")
    args = parser.parse_args()
    if args.smoke:
        args.frames, args.eval_frames, args.tier = 1, 40, "ci"
    print(f"{os.cpu_count()} cores; OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}")
    bench_labelling(args.frames, args.workers, args.tier)
    if args.eval_frames:
        bench_evaluation(args.eval_frames, args.workers)


if __name__ == "__main__":
    main()
