"""Rescoring a data set that grew: the per-frame result cache against evaluating everything again.

The scenario of the embedded default while its DFT runs (and of any user adding frames): a model
has scored N frames; M new frames are added; the model is evaluated again. Both runs go through
the real job queue (diskcache, chunks, a real worker in this process) with CHGNet 0.3.0 (weights in
its wheel) on 8-atom Cu cells:

  * ``baseline``  the grown set evaluated with an empty per-frame cache (what a job keyed only by
                  the data set's hash costs: every frame again),
  * ``cached``    the grown set evaluated after the first N frames were scored (only M reach the model).

It prints both wall times, the ratio, and checks that the two give the same predictions.

Usage:
    python benchmarks/bench_rescore.py [--frames 400] [--new 40] [--threads 1]
    python benchmarks/bench_rescore.py --smoke    # 8 frames + 2 new (the test suite runs it)
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _frames(n: int, seed: int) -> list:
    from ase.build import bulk
    from ase.calculators.emt import EMT

    from analysis.datasets.frames import make_frame

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        atoms = bulk("Cu", "fcc", a=3.61, cubic=True) * (2, 1, 1)
        atoms.positions += rng.normal(0.0, 0.08, atoms.positions.shape)
        atoms.calc = EMT()  # reference labels only; the model evaluated is CHGNet
        out.append(make_frame(atoms, atoms.get_potential_energy(), atoms.get_forces(), temperature_k=300.0, source="emt"))
    return out


def _evaluate(name: str) -> tuple[float, object]:
    from analysis.datasets.store import load_predictions
    from analysis.jobs import queue as jobs

    t0 = time.perf_counter()
    job_id = jobs.submit_job("chgnet-0.3.0", name, device="cpu")
    jobs.Worker(poll_s=0.05).run(job_id=job_id)
    seconds = time.perf_counter() - t0
    rec = jobs.get_job(job_id)
    assert rec.state == "done", rec.error
    return seconds, (rec, load_predictions(name)["chgnet-0.3.0"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=400, help="frames scored before the set grows")
    parser.add_argument("--new", type=int, default=40, help="frames added")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--smoke", action="store_true", help="tiny size (8 frames, then 2 added): checks that it runs")
    args = parser.parse_args()
    if args.smoke:
        args.frames, args.new = 8, 2
    import torch

    torch.set_num_threads(args.threads)
    from analysis.datasets.frames import ReferenceSet
    from analysis.datasets.store import save_dataset

    old, new = _frames(args.frames, seed=0), _frames(args.new, seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        # baseline: a fresh cache folder, the grown set from scratch (both folders set: an MLFF_ATLAS_CACHE
        # of the caller's would otherwise hold one per-frame cache for both runs)
        os.environ["MLFF_ATLAS_DATA"], os.environ["MLFF_ATLAS_CACHE"] = f"{tmp}/baseline", f"{tmp}/baseline/cache"
        save_dataset(ReferenceSet([*old, *new]), "grown")
        t_base, (rec_b, pred_b) = _evaluate("grown")
        # cached: score the first frames, grow the set, score again
        os.environ["MLFF_ATLAS_DATA"], os.environ["MLFF_ATLAS_CACHE"] = f"{tmp}/cached", f"{tmp}/cached/cache"
        save_dataset(ReferenceSet(list(old)), "grown")
        t_first, _ = _evaluate("grown")
        save_dataset(ReferenceSet([*old, *new]), "grown")
        t_cached, (rec_c, pred_c) = _evaluate("grown")
    same = np.allclose(pred_b.energy, pred_c.energy, atol=1e-6) and np.allclose(pred_b.forces, pred_c.forces, atol=1e-6)
    print(f"CHGNet 0.3.0 on 8-atom Cu, {args.threads} torch thread(s): {args.frames} frames scored, then {args.new} added")
    print(f"{'run':<40} {'frames to model':>16} {'wall (s)':>9}")
    print(f"{'first scoring (cache filled)':<40} {args.frames:>16} {t_first:9.2f}")
    print(f"{'baseline: grown set, empty cache':<40} {rec_b.frames_total - rec_b.frames_cached:>16} {t_base:9.2f}")
    print(f"{'cached: grown set after first scoring':<40} {rec_c.frames_total - rec_c.frames_cached:>16} {t_cached:9.2f}")
    print(f"speed-up of rescoring: {t_base / t_cached:.1f}x; identical predictions: {same}")


if __name__ == "__main__":
    main()
