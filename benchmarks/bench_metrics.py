"""Benchmark: the full metrics table for 10^5 frames of 100 atoms (3x10^7 force components),
43 elements, 4 temperatures, 2 models, against a straightforward pandas groupby baseline
computed in the same run. Prints both times and their ratio.

Run: .venv/bin/python benchmarks/bench_metrics.py [--frames N] [--atoms M] [--repeat R]
     .venv/bin/python benchmarks/bench_metrics.py --smoke    # 2000 frames of 10 atoms, once (the test suite runs it)
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.core.elements import METAL43  # noqa: E402
from analysis.datasets.frames import FrameArrays, Predictions  # noqa: E402
from analysis.metrics.tables import compute_metrics_table  # noqa: E402


def make_data(n_frames: int, n_atoms: int, seed: int = 0) -> tuple[FrameArrays, dict[str, Predictions]]:
    rng = np.random.default_rng(seed)
    element = rng.choice(np.array(METAL43), n_frames)
    temperature = rng.choice(np.array([300.0, 600.0, 1200.0, 1440.0]), n_frames)
    n = np.full(n_frames, n_atoms, dtype=np.int64)
    forces = rng.normal(0, 1, (n_frames * n_atoms, 3))
    ref = FrameArrays(np.array([f"f{i}" for i in range(n_frames)]), element.astype(str), temperature, n,
                      rng.normal(-5, 0.1, n_frames) * n_atoms, forces)
    preds = {}
    for k, name in enumerate(("model-a", "model-b")):
        preds[name] = Predictions(name, "bench", ref.frame_id, ref.energy + rng.normal(0.1 * k, 0.01, n_frames) * n_atoms,
                                  forces + rng.normal(0, 0.1, forces.shape), n, {"universal": bool(k)})
    return ref, preds


def pandas_baseline(ref: FrameArrays, preds: dict[str, Predictions]) -> pd.DataFrame:
    """The straightforward way: per-frame and per-atom DataFrames, groupby per model."""
    out = []
    frame_df = pd.DataFrame({"element": ref.element, "temperature": ref.temperature, "n": ref.n_atoms})
    atom_keys = pd.DataFrame({"element": np.repeat(ref.element, ref.n_atoms), "temperature": np.repeat(ref.temperature, ref.n_atoms)})
    for name, pred in preds.items():
        f = frame_df.assign(de=(pred.energy - ref.energy) / ref.n_atoms)
        if pred.meta.get("universal"):
            f["de"] -= f.groupby("element")["de"].transform("mean")
        f["de2"], f["ade"] = f["de"] ** 2, f["de"].abs()
        e = f.groupby(["element", "temperature"]).agg(e2=("de2", "mean"), ae=("ade", "mean"), n_frames=("de", "size"))
        df = pred.forces - ref.forces
        a = atom_keys.assign(sq=(df**2).sum(axis=1), ab=np.abs(df).sum(axis=1))
        g = a.groupby(["element", "temperature"]).agg(sq=("sq", "mean"), ab=("ab", "mean"))
        table = pd.DataFrame({
            "energy_rmse_mev_per_atom": 1e3 * np.sqrt(e["e2"]), "energy_mae_mev_per_atom": 1e3 * e["ae"],
            "force_rmse_mev_per_a": 1e3 * np.sqrt(g["sq"] / 3), "force_mae_mev_per_a": 1e3 * g["ab"] / 3,
            "n_frames": e["n_frames"],
        }).reset_index().assign(model=name)
        out.append(table)
    return pd.concat(out, ignore_index=True)


def best_of(func, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - t0)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--atoms", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="tiny size (2000 frames of 10 atoms, once): checks that it runs")
    args = parser.parse_args()
    if args.smoke:
        args.frames, args.atoms, args.repeat = 2000, 10, 1
    ref, preds = make_data(args.frames, args.atoms)
    t_np, table = best_of(lambda: compute_metrics_table(ref, preds, include_pooled=False), args.repeat)
    t_pd, base = best_of(lambda: pandas_baseline(ref, preds), args.repeat)
    # the two must agree before their times mean anything
    merged = base.assign(temperature=base.temperature.map(lambda t: f"{t:g}")).merge(table, on=["model", "element", "temperature"])
    for col in ("energy_rmse_mev_per_atom", "force_rmse_mev_per_a", "force_mae_mev_per_a"):
        np.testing.assert_allclose(merged[f"{col}_x"], merged[f"{col}_y"], rtol=1e-8)
    t_full, _ = best_of(lambda: compute_metrics_table(ref, preds, include_pooled=True), args.repeat)
    comps = ref.forces.size
    print(f"frames={args.frames} atoms/frame={args.atoms} force components={comps:.2e} models={len(preds)} groups={len(table) // len(preds)}")
    print(f"numpy (analysis.metrics), per temperature:        {t_np:7.3f} s")
    print(f"numpy (analysis.metrics), plus pooled rows:       {t_full:7.3f} s")
    print(f"pandas groupby baseline (same table):             {t_pd:7.3f} s")
    print(f"speed-up vs baseline: {t_pd / t_np:.2f}x   (goal: < 0.5 s and >= 2x)")


if __name__ == "__main__":
    main()
