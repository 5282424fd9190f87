"""Models fitted per element (the paper's small models), first part: MACE trained by mace-torch's own
training program on one element's frames, with one uniform hyper-parameter set for every element.

For each element: the frames are split per temperature into train / validation / test with a fixed
seed (:func:`split_frames`); ``mace_run_train`` (the venv's console script, in a subprocess with one
thread) fits a small MACE on the training frames, validating on the validation frames; the model file
goes into ``<model dir>/fitted/`` and the test frames are evaluated with it through the project's own
evaluator. :func:`fit_per_element` merges the elements into one set of predictions, "mace-fitted"
(each element's test frames predicted by its own model; its training and validation frames unscored,
so no error is ever computed on a frame a model was trained on), with the split, the number of
training frames, the hyper-parameters and the learning curves in the predictions' metadata.

Not yet: fitting as a job of the job queue (resumable, deduplicated, cancellable), DeePMD and NEP.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from analysis.datasets.frames import Predictions, ReferenceSet, structure_hash, temperature_key

#: one hyper-parameter set for every element (recorded with the predictions, like the SI's tables)
MACE_HYPERPARAMETERS: dict[str, Any] = {
    "model": "MACE", "hidden_irreps": "16x0e", "r_max": 5.0, "num_interactions": 2, "correlation": 2, "max_L": 0,
    "batch_size": 4, "valid_batch_size": 4, "E0s": "average", "default_dtype": "float64", "lr": 0.01,
    "energy_weight": 1.0, "forces_weight": 100.0,
}
FITTED_MODEL = "mace-fitted"


def split_frames(ref: ReferenceSet, element: str, *, seed: int = 0, valid: float = 0.15, test: float = 0.15) -> dict[str, list[str]]:
    """Frame ids of ``element`` split into 'train', 'valid' and 'test', per temperature, with a fixed seed.

    Every temperature keeps at least one training frame; with three or more frames it also gives
    one validation and one test frame at least. The same set, seed and fractions give the same split.
    """
    groups: dict[float | None, list[str]] = {}
    for atoms in ref.frames:
        if atoms.info["element"] == element:
            groups.setdefault(temperature_key(atoms.info["temperature"]), []).append(str(atoms.info["frame_id"]))
    out: dict[str, list[str]] = {"train": [], "valid": [], "test": []}
    for temp, ids in sorted(groups.items(), key=lambda kv: (kv[0] is None, kv[0] or 0.0)):
        ids = sorted(ids)
        order = np.random.default_rng([seed, int(temp) if temp is not None else 0]).permutation(len(ids))
        n_test = max(1, round(test * len(ids))) if len(ids) >= 3 else 0
        n_valid = max(1, round(valid * len(ids))) if len(ids) >= 3 else (1 if len(ids) == 2 else 0)
        picked = [ids[i] for i in order]
        out["test"] += picked[:n_test]
        out["valid"] += picked[n_test:n_test + n_valid]
        out["train"] += picked[n_test + n_valid:]
    return {k: sorted(v) for k, v in out.items()}


@dataclass
class FitResult:
    """One element's fit: the model file, its split, the learning curve and the wall time."""

    element: str
    model_path: Path
    split: dict[str, list[str]]
    learning_curve: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def _write_labelled(frames: list[Any], path: Path) -> None:
    from ase.io import write

    out = []
    for atoms in frames:
        copy = atoms.copy()
        copy.info = {"REF_energy": float(atoms.calc.results["energy"])}
        copy.arrays["REF_forces"] = np.asarray(atoms.calc.results["forces"], dtype=np.float64)
        out.append(copy)
    write(path, out, format="extxyz")


def learning_curve(results_dir: Path) -> list[dict[str, Any]]:
    """Per epoch the training loss and the validation RMSEs (eV/atom, eV/Å) from mace's results file."""
    curve: dict[int, dict[str, Any]] = {}
    for path in sorted(results_dir.glob("*_train.txt")):
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            epoch = row.get("epoch")
            if epoch is None:
                continue
            entry = curve.setdefault(int(epoch), {"epoch": int(epoch)})
            if row.get("mode") == "opt":
                entry["train_loss"] = float(row["loss"])
            elif row.get("mode") == "eval":
                entry.update(valid_loss=float(row["loss"]), valid_rmse_e_per_atom=row.get("rmse_e_per_atom"), valid_rmse_f=row.get("rmse_f"))
    return [curve[k] for k in sorted(curve)]


def fit_mace(ref: ReferenceSet, element: str, *, work: Path, model_dir: Path, epochs: int = 50, seed: int = 0,
             hyperparameters: dict[str, Any] | None = None) -> FitResult:
    """Fit one element's MACE with ``mace_run_train`` (see the module docstring).

    Raises:
        RuntimeError: the training program failed (its last lines in the message) or wrote no model.
    """
    hyper = {**MACE_HYPERPARAMETERS, **(hyperparameters or {})}
    split = split_frames(ref, element, seed=seed)
    by_id = {str(a.info["frame_id"]): a for a in ref.frames}
    work.mkdir(parents=True, exist_ok=True)
    _write_labelled([by_id[i] for i in split["train"]], work / "train.xyz")
    _write_labelled([by_id[i] for i in split["valid"] or split["train"][:1]], work / "valid.xyz")
    name = f"{element}-mace-fitted"
    cmd = [str(Path(sys.executable).with_name("mace_run_train")), "--name", name, "--train_file", "train.xyz",
           "--valid_file", "valid.xyz", "--energy_key", "REF_energy", "--forces_key", "REF_forces", "--device", "cpu",
           "--max_num_epochs", str(epochs), "--seed", str(seed), "--results_dir", "results", "--checkpoints_dir", "checkpoints",
           "--model_dir", ".", "--log_dir", "logs", *[f"--{k}={v}" for k, v in hyper.items()]]
    start = time.perf_counter()
    run = subprocess.run(cmd, cwd=work, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    seconds = time.perf_counter() - start
    model = work / f"{name}.model"
    if run.returncode != 0 or not model.is_file():
        tail = "\n".join((run.stderr or run.stdout).strip().splitlines()[-5:])
        raise RuntimeError(f"mace_run_train failed for {element} (exit {run.returncode}): {tail}")
    model_dir.mkdir(parents=True, exist_ok=True)
    target = model_dir / f"{name}-seed{seed}.model"
    target.write_bytes(model.read_bytes())
    return FitResult(element, target, split, learning_curve(work / "results"), seconds)


def fit_per_element(ref: ReferenceSet, elements: Sequence[str], *, work: Path, model_dir: Path, epochs: int = 50,
                    seed: int = 0) -> tuple[Predictions, list[FitResult]]:
    """Fit each element and predict its test frames; one set of predictions over the whole data set."""
    from analysis.models.evaluate import make_evaluator
    from analysis.models.registry import ModelSpec

    arrays = ref.arrays()
    offsets = arrays.offsets
    energy = np.full(len(arrays), np.nan)
    forces = np.full((int(offsets[-1]), 3), np.nan)
    index = {fid: k for k, fid in enumerate(arrays.frame_id.tolist())}
    by_id = {str(a.info["frame_id"]): a for a in ref.frames}
    results = []
    for element in elements:
        result = fit_mace(ref, element, work=work / element, model_dir=model_dir, epochs=epochs, seed=seed)
        results.append(result)
        spec = ModelSpec(name=f"{FITTED_MODEL}-{element}", family="mace", source=str(result.model_path), universal=False)
        evaluator = make_evaluator(spec, device="cpu", dtype="float64", mode="loop")
        try:
            test = [by_id[i] for i in result.split["test"]]
            predicted = evaluator.predict(test)
        finally:
            evaluator.close()
        for fid, e, f in zip(result.split["test"], predicted.energy, predicted.forces):
            k = index[fid]
            energy[k] = e
            forces[offsets[k]:offsets[k + 1]] = f
    meta = {
        "universal": False, "kind": "fitted per element", "family": "mace", "hyperparameters": dict(MACE_HYPERPARAMETERS),
        "epochs": epochs, "seed": seed,
        "fits": {r.element: {"n_train": len(r.split["train"]), "n_valid": len(r.split["valid"]), "n_test": len(r.split["test"]),
                             "split": r.split, "seconds": r.seconds, "learning_curve": r.learning_curve,
                             "model_file": r.model_path.name} for r in results},
    }
    pred = Predictions(FITTED_MODEL, ref.content_hash(), arrays.frame_id.copy(), energy, forces, arrays.n_atoms.copy(), meta,
                       np.array([structure_hash(a) for a in ref.frames], dtype=str))
    return pred, results


def fit_main(argv: list[str]) -> int:
    """``python -m analysis fit --dataset NAME --elements Cu,Al [--epochs N] [--seed S]``: MACE fitted per element.

    The models go to ``<model dir>/fitted/``; the test-frame predictions are stored on the data set
    as model ``mace-fitted`` (shown on the map beside the universal models).
    """
    import argparse
    import tempfile

    from analysis.datasets import store
    from analysis.models.registry import model_dir

    parser = argparse.ArgumentParser(prog="python -m analysis fit", description=fit_main.__doc__)
    parser.add_argument("--dataset", default="metal43-gpaw-train")
    parser.add_argument("--elements", required=True, help="comma-separated, or 'all' for every element of the data set")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
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
    with tempfile.TemporaryDirectory(prefix="atlas-fit-") as tmp:
        try:
            pred, results = fit_per_element(ref, elements, work=Path(tmp), model_dir=model_dir() / "fitted", epochs=args.epochs,
                                            seed=args.seed)
        except RuntimeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    path = store.save_predictions(pred, args.dataset)
    for r in results:
        last = r.learning_curve[-1] if r.learning_curve else {}
        print(f"{r.element}: {len(r.split['train'])} training, {len(r.split['valid'])} validation, {len(r.split['test'])} test frames; "
              f"{r.seconds:.0f} s; last validation force RMSE {last.get('valid_rmse_f', float('nan')):.3f} eV/Å -> {r.model_path}")
    print(f"stored test-frame predictions of {FITTED_MODEL} in {path}")
    return 0
