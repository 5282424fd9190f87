"""Label noise of the shipped default frames against the model errors mapped on them.

For each chosen element, one shipped frame of ``metal43-gpaw`` is labelled again with the
production settings except for a denser k-mesh (k-point density 4.5 /Å instead of 3.0) and a
tighter SCF (density 1e-6): the change of the forces is the k-sampling + SCF part of the label
noise, measured on the real configurations. It is compared with the smallest per-element force
RMSE of any shipped model on that element: the labels resolve the model errors when the noise is
well below them (added in quadrature, a noise of 30 % of an error inflates it by 4 %).

Usage::

    .venv/bin/python scripts/label_noise_check.py [--elements Na K Cu] [--out docs/label_noise.jsonl]

Each finished element is appended to the JSONL file at once and skipped on a rerun; the Markdown
table is printed at the end (docs/reference_data.md quotes it).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")

DATASET = "metal43-gpaw"
DENSE = {"kpt_density": 4.5, "convergence": {"density": 1e-6, "eigenstates": 1e-7}}


def _shipped(element: str) -> tuple[Any, Any]:
    """The first shipped frame of ``element`` and the element's rows of the shipped metrics table."""
    from analysis import views
    from analysis.core.config import default_data_dir
    from analysis.datasets import store

    os.environ["MLFF_ATLAS_DEFAULT_DATA"] = str(default_data_dir())
    ref = store.load_dataset(DATASET)
    frames = [a for a in ref.frames if a.info["element"] == element]
    if not frames:
        raise SystemExit(f"{element}: no shipped frame in {DATASET}")
    table = views.metrics_table(DATASET)
    return frames[0], table[(table.element == element) & (table.temperature == "all")]


def check(element: str) -> dict[str, Any]:
    from analysis.reference.gpaw_calc import single_point
    from analysis.reference.tiers import dft_for_temperature, load_settings

    frame, rows = _shipped(element)
    settings = load_settings("default", elements=[element])
    dft = dft_for_temperature(settings.dft, float(frame.info["temperature"]))
    dense = single_point(frame, {**dft, **DENSE})
    f_ref = frame.get_forces()
    df = dense.forces_ev_per_a - f_ref
    return {
        "element": element,
        "frame_id": frame.info["frame_id"],
        "kpts_production": frame.info.get("kpts"),
        "kpts_dense": "x".join(map(str, dense.kpts)),
        "dF_rms_mev_per_a": 1e3 * float(np.sqrt(np.mean(df**2))),
        "dF_max_mev_per_a": 1e3 * float(np.abs(df).max()),
        "dE_mev_per_atom": 1e3 * (dense.energy_ev - frame.get_potential_energy()) / len(frame),
        "F_rms_mev_per_a": 1e3 * float(np.sqrt(np.mean(f_ref**2))),
        "model_force_rmse_mev_per_a": {r.model: float(r.force_rmse_mev_per_a) for r in rows.itertuples()},
        "wall_s": round(dense.wall_s, 1),
    }


def table(records: list[dict[str, Any]]) -> str:
    lines = [
        "| element | frame | k-mesh (production → dense) | dF RMS (meV/Å) | dF max (meV/Å) | dE (meV/atom) | "
        "smallest model force RMSE (meV/Å) | noise / error |",
        "|---|---|---|---:|---:|---:|---|---:|",
    ]
    for r in records:
        models = r["model_force_rmse_mev_per_a"]
        best = min(models, key=models.get) if models else None
        ratio = r["dF_rms_mev_per_a"] / models[best] if best else float("nan")
        lines.append(
            f"| {r['element']} | {r['frame_id']} | {r['kpts_production']} → {r['kpts_dense']} | {r['dF_rms_mev_per_a']:.1f} | "
            f"{r['dF_max_mev_per_a']:.1f} | {r['dE_mev_per_atom']:+.1f} | "
            f"{f'{models[best]:.0f} ({best})' if best else 'none'} | {ratio:.2f} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elements", nargs="+", default=["Na", "K", "Cu"])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "label_noise.jsonl")
    args = parser.parse_args()
    done = {}
    if args.out.is_file():
        for line in args.out.read_text().splitlines():
            rec = json.loads(line)
            done[rec["element"]] = rec
    for element in args.elements:
        if element in done:
            continue
        rec = check(element)
        with open(args.out, "a") as handle:
            handle.write(json.dumps(rec) + "\n")
        done[element] = rec
        print(f"{element}: dF RMS {rec['dF_rms_mev_per_a']:.1f} meV/Å ({rec['wall_s']:.0f} s)", flush=True)
    print(table([done[e] for e in args.elements if e in done]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
