"""Structures per second: batched evaluation versus the per-structure ASE loop, same model and frames.

Models: a small randomly initialised MACE (ScaleShiftMACE built in code) and CHGNet 0.3.0
(weights in the chgnet wheel). Frames: rattled fcc Cu cells of 8 and 32 atoms.

For each case it prints structures per second of
  * ``ase-loop``  one ASE calculator call per frame (MACECalculator / CHGNetCalculator): the baseline,
  * ``batch=1``   the batched code path one frame at a time (separates batching from calculator overhead),
  * ``batched, no prefetch``  framework batching (batch 16), graphs built just before each batch,
  * ``batched``   framework batching (batch 16) with the next batch's graphs built in a background thread,
and the ratio batched / ase-loop measured in this run.

The small MACE file is built in a temporary folder that the script makes the model directory
(``MLFF_ATLAS_MODEL_DIR``) for its own process: model files load only from there.

Usage:
    python benchmarks/bench_eval.py [--frames 32] [--device auto] [--dtype float64] [--threads N] [--skip-chgnet]
    python benchmarks/bench_eval.py --smoke     # 4 frames, 1 round: seconds (the test suite runs it)
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.core.config import MODEL_DIR_ENV  # noqa: E402
from analysis.models.evaluate import Evaluator, evaluator_for_model, resolve_device  # noqa: E402
from analysis.models.registry import build_small_mace, get_spec, load_torch_model  # noqa: E402


def cu_cells(n: int, repeat: tuple[int, int, int], seed: int = 0) -> list[Any]:
    from ase.build import bulk

    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n):
        atoms = bulk("Cu", "fcc", a=3.61, cubic=True) * repeat
        atoms.positions += rng.normal(0.0, 0.08, atoms.positions.shape)
        frames.append(atoms)
    return frames


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def run_case(
    label: str,
    make: Callable[[str, int, bool], Evaluator],
    frames: list[Any],
    repeats: int,
) -> float:
    """Time the four paths in interleaved rounds (fair under a shared, noisy CPU); best of ``repeats``."""
    paths = {
        "ase-loop": make("loop", 1, False),
        "batch=1": make("batched", 1, False),
        "batched, no prefetch": make("batched", 16, False),
        "batched": make("batched", 16, True),
    }
    best = {name: np.inf for name in paths}
    results: dict[str, Any] = {}
    for ev in paths.values():
        ev.predict(frames[:2])  # warm-up
    for _ in range(repeats):
        for name, ev in paths.items():
            t0 = time.perf_counter()
            results[name] = ev.predict(frames)
            _sync(ev.device)
            best[name] = min(best[name], time.perf_counter() - t0)
    sps = {name: len(frames) / t for name, t in best.items()}
    n_atoms = len(frames[0])
    loop_res, bat_res = results["ase-loop"], results["batched"]
    de = np.max(np.abs(bat_res.energy - loop_res.energy)) / n_atoms
    df = np.max(np.abs(np.concatenate(bat_res.forces) - np.concatenate(loop_res.forces)))
    ratio = sps["batched"] / sps["ase-loop"]
    print(
        f"{label:<26} {len(frames):>3} frames  " + "  ".join(f"{k} {v:7.1f}/s" for k, v in sps.items())
        + f"  ratio batched/ase-loop {ratio:5.2f}x  (max |dE| {de:.1e} eV/atom, |dF| {df:.1e} eV/Å)",
        flush=True,
    )
    return ratio


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=32, help="8-atom frames (32-atom cases use a quarter)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="float64", choices=("float32", "float64"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-chgnet", action="store_true")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--smoke", action="store_true", help="tiny size (4 frames, 1 round, 1 thread): checks that it runs")
    args = parser.parse_args(argv)
    if args.smoke:
        args.frames, args.repeats, args.threads = 4, 1, args.threads or 1

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    device = resolve_device(args.device)
    name = torch.cuda.get_device_name(device) if device.startswith("cuda") else f"CPU ({torch.get_num_threads()} torch threads)"
    print(f"device: {device} = {name}; dtype {args.dtype}; torch {torch.__version__}")
    ratios: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        # the model file is built here, so here is this process's model directory while it loads
        saved = os.environ.get(MODEL_DIR_ENV)
        os.environ[MODEL_DIR_ENV] = tmp
        try:
            path = build_small_mace(Path(tmp) / "small.model", atomic_numbers=(29,), channels=16)
            model = load_torch_model(get_spec(f"mace:{path}"), device=device, dtype=args.dtype)
        finally:
            if saved is None:
                os.environ.pop(MODEL_DIR_ENV)
            else:
                os.environ[MODEL_DIR_ENV] = saved

        def make_mace(mode: str, batch: int, prefetch: bool) -> Evaluator:
            return evaluator_for_model("mace", model, device=device, dtype=args.dtype, mode=mode, batch_size=batch, prefetch=prefetch)  # type: ignore[arg-type]

        ratios["mace 8-atom"] = run_case("small MACE, 8-atom Cu", make_mace, cu_cells(args.frames, (1, 1, 2)), args.repeats)
        ratios["mace 32-atom"] = run_case("small MACE, 32-atom Cu", make_mace, cu_cells(max(4, args.frames // 4), (2, 2, 2)), args.repeats)

    if not args.skip_chgnet:
        chg = load_torch_model(get_spec("chgnet-0.3.0"), device=device, dtype="float32")

        def make_chg(mode: str, batch: int, prefetch: bool) -> Evaluator:
            return evaluator_for_model("chgnet", chg, device=device, dtype="float32", mode=mode, batch_size=batch, prefetch=prefetch)  # type: ignore[arg-type]

        n = max(4, args.frames // 4)
        ratios["chgnet 8-atom"] = run_case("CHGNet 0.3.0, 8-atom Cu", make_chg, cu_cells(n, (1, 1, 2)), args.repeats)
        ratios["chgnet 32-atom"] = run_case("CHGNet 0.3.0, 32-atom Cu", make_chg, cu_cells(max(4, n // 2), (2, 2, 2)), args.repeats)

    print("ratios (batched / ase-loop): " + ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
