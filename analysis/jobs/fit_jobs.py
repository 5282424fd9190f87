"""Fitting per element as a job kind of the queue (:mod:`analysis.jobs.queue`).

A fit job is one (family, element, data set) with a :class:`~analysis.models.fitting.FitSpec`. Its
id hashes the fit key (:func:`analysis.models.fitting.fit_key`: the element's frames, the split,
hyper-parameters, schedule, seed, code and trainer versions) and the data set's name, so the same fit
submitted twice is one job, and a fit whose result is stored is answered at once.

It shares everything else with evaluation jobs: the record and its states, claims, heartbeats and
stale-worker requeue, cancel, the job.json kept beside its files for a database rebuild. Its files
live in ``<jobs>/chunks/<job id>/``: ``work/`` is the training program's folder (its checkpoints are
what a resumed attempt starts from), ``result.json`` + ``result.npz`` the trained and scored outcome
(written atomically by :func:`train_and_score`, so a retried task, local or on Dask, finds it and
does nothing twice). :func:`store_fit` then copies the model into ``<model dir>/fitted/`` under its
fit key, registers it (``<family>-fitted-<element>``), and merges the element's test-frame predictions
into the data set's ``<family>-fitted`` predictions under a lock.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import shutil
import threading
import time
import traceback
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from analysis.core.locks import locked
from analysis.datasets.store import atomic_write_bytes, atomic_write_json, find_dataset, load_dataset, load_predictions, save_predictions
from analysis.jobs import records as q  # the records and chunks (the worker that runs fit jobs imports this module)
from analysis.models.fitting import (
    TRAINERS,
    FitCancelled,
    FitSpec,
    FitUnavailableError,
    Progress,
    deepmd_input,
    element_content_hash,
    fit_available,
    fit_frames,
    fit_key,
    merge_fit,
    run_training,
)
from analysis.models.local_files import ModelUnavailableError

log = logging.getLogger(__name__)
RESULT_JSON, RESULT_NPZ = "result.json", "result.npz"


def fit_job_id(key: str, dataset: str) -> str:
    return hashlib.sha256(json.dumps({"fit": key, "dataset": dataset}).encode()).hexdigest()[:16]


def schedule_total(spec: FitSpec, n_train: int) -> int:
    """The schedule's length in the trainer's unit (DeePMD: steps of its batches over the training frames)."""
    if spec.family == "deepmd":
        return int(deepmd_input(spec, n_train=n_train)["training"]["numb_steps"])
    return int(spec.schedule["epochs" if spec.family == "mace" else "generations"])


def stored_fit(dataset: str, spec: FitSpec, key: str) -> dict[str, Any] | None:
    """The stored fit record of ``spec.element`` in the family's predictions when it has this key."""
    pred = load_predictions(dataset).get(spec.model)
    fit = (pred.meta.get("fits") or {}).get(spec.element) if pred is not None else None
    return fit if isinstance(fit, dict) and fit.get("fit_key") == key else None


def submit_fit(family: str, dataset: str, element: str, *, seed: int = 0, hyperparameters: dict[str, Any] | None = None,
               schedule: dict[str, int] | None = None, check: bool = True) -> str:
    """Queue fitting ``family`` on ``element``'s frames of ``dataset``; returns the job id.

    Raises:
        KeyError: unknown data set or element.
        ModelUnavailableError: the family cannot be fitted here (with ``check``; the message says why).
        ValueError: bad family, schedule or too few frames.
    """
    spec = FitSpec(family, element, seed=seed, hyperparameters=hyperparameters or {}, schedule=schedule or {})
    if check:
        ok, reason = fit_available(family)
        if not ok:
            raise ModelUnavailableError(reason)
    info = find_dataset(dataset)
    ref = load_dataset(dataset)
    if element not in ref.elements:
        raise KeyError(f"data set {dataset!r} has no frames of {element} (it has {', '.join(ref.elements)})")
    split, _ = fit_frames(ref, spec)
    if not split["train"] or not split["test"]:
        raise ValueError(f"{element} has {sum(map(len, split.values()))} frame(s) in {dataset!r}: too few for a "
                         "train/validation/test split (at least 3 at one temperature)")
    key = fit_key(spec, ref)
    job_id = fit_job_id(key, dataset)
    with q.open_db() as cache, cache.transact():
        rec = q.get_record(cache, job_id)
        if rec is not None:
            if rec.state in ("queued", "running") or (rec.state == "done" and stored_fit(dataset, spec, key)):
                return job_id
            rec.state, rec.error, rec.traceback, rec.finished = "queued", "", "", None
            q.put_record(cache, rec)
            return job_id
        rec = q.JobRecord(job_id=job_id, model=spec.model, spec={}, dataset=dataset, dataset_hash=info.content_hash,
                          device="cpu", dtype=str(spec.hyperparameters.get("default_dtype", spec.hyperparameters.get("precision", "float64"))),
                          frames_total=schedule_total(spec, len(split["train"])), created=time.time(), kind="fit",
                          fit={**spec.to_dict(), "key": key}, unit=TRAINERS[family].unit)
        if stored_fit(dataset, spec, key):
            rec.state, rec.frames_done, rec.finished = "done", rec.frames_total, time.time()
        q.put_record(cache, rec)
    return job_id


def read_result(folder: Path) -> dict[str, Any] | None:
    """The trained and scored outcome in a fit job's folder, or None (absent or damaged)."""
    from analysis.core.storage import array_digest

    try:
        meta = json.loads((folder / RESULT_JSON).read_text())
        with np.load(folder / RESULT_NPZ, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in ("energy", "forces", "n_atoms")}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # json.JSONDecodeError is a ValueError
        return None
    if meta.get("checksum") != array_digest([arrays["energy"], arrays["forces"], arrays["n_atoms"]]):
        return None
    return {**meta, **arrays}


def train_and_score(rec: q.JobRecord, *, should_stop: Callable[[], bool] = lambda: False,
                    on_progress: Callable[[Progress], None] | None = None, device: str = "cpu",
                    poll_s: float = 2.0) -> dict[str, Any]:
    """Train the fit of ``rec`` (resuming from its checkpoints) and predict its test frames; idempotent.

    The model file is copied to ``<model dir>/fitted/<family>-<element>-<fit key>.<ext>``. Returns
    :func:`read_result`'s dictionary.
    """
    from analysis.core.storage import array_digest
    from analysis.models.evaluate import make_evaluator
    from analysis.models.registry import ModelSpec, model_dir

    folder = q.chunk_dir(rec.job_id)
    done = read_result(folder)
    if done is not None:
        return done
    spec = FitSpec.from_dict(rec.fit)
    ref = load_dataset(rec.dataset)
    if fit_key(spec, ref) != rec.fit["key"]:
        raise RuntimeError(f"the frames of {spec.element} in {rec.dataset!r} changed since this fit was submitted: "
                           "submit it again")
    split, by_id = fit_frames(ref, spec)
    model, curve, seconds, resumed = run_training(spec, folder / "work", [by_id[i] for i in split["train"]],
                                         [by_id[i] for i in split["valid"]], should_stop=should_stop, on_progress=on_progress,
                                                  poll_s=poll_s)
    target_dir = model_dir() / "fitted"
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / f"{spec.family}-{spec.element}-{rec.fit['key']}{model.suffix}"
    atomic_write_bytes(target, model.read_bytes())
    family = TRAINERS[spec.family].model_family()
    evaluator = make_evaluator(ModelSpec(name=f"{spec.model}-{spec.element}", family=family, source=str(target), universal=False),  # type: ignore[arg-type]
                               device=device, dtype="float64", mode="loop")
    t0 = time.perf_counter()
    try:
        predicted = evaluator.predict([by_id[i] for i in split["test"]])
    finally:
        evaluator.close()
    energy = np.asarray(predicted.energy, dtype=np.float64)
    forces = np.concatenate(predicted.forces).astype(np.float64)
    n_atoms = np.array([len(f) for f in predicted.forces], dtype=np.int64)
    buffer = io.BytesIO()
    np.savez(buffer, energy=energy, forces=forces, n_atoms=n_atoms)
    meta = {"fit_key": rec.fit["key"], "element": spec.element, "family": spec.family, "split": split,
            "n_train": len(split["train"]), "n_valid": len(split["valid"]), "n_test": len(split["test"]),
            "learning_curve": curve, "unit": TRAINERS[spec.family].unit, "seconds": seconds, "resumed_from_checkpoint": resumed,
            "seconds_scoring": time.perf_counter() - t0, "model_file": f"fitted/{target.name}",
            "trainer_version": TRAINERS[spec.family].version(), "element_data": element_content_hash(ref, spec.element),
            "checksum": array_digest([energy, forces, n_atoms])}
    atomic_write_bytes(folder / RESULT_NPZ, buffer.getvalue())
    atomic_write_json(folder / RESULT_JSON, meta)
    result = read_result(folder)
    assert result is not None
    return result


def store_fit(rec: q.JobRecord, result: dict[str, Any]) -> str:
    """Register the fitted model and merge its test-frame predictions into the data set's
    ``<family>-fitted`` predictions (under a lock: several elements may finish at once); returns
    the registered name."""
    from analysis.datasets.store import predictions_dir
    from analysis.models.local_files import register_file
    from analysis.models.registry import _builtin, model_dir

    spec = FitSpec.from_dict(rec.fit)
    name = f"{spec.model}-{spec.element}"
    register_file(name, TRAINERS[spec.family].model_family(), model_dir() / result["model_file"], reserved=set(_builtin()),
                  universal=False, replace=True,
                  description=f"{spec.family} fitted on {spec.element} of {rec.dataset} ({result['n_train']} training frames, fit {result['fit_key']})")
    folder = predictions_dir(rec.dataset)
    folder.mkdir(parents=True, exist_ok=True)
    fit_meta = {k: v for k, v in result.items() if k not in ("energy", "forces", "n_atoms", "checksum")}
    fit_meta.update(registered_name=name, job_id=rec.job_id)
    offsets = np.concatenate([[0], np.cumsum(result["n_atoms"])])
    forces = [result["forces"][offsets[i]:offsets[i + 1]] for i in range(len(result["n_atoms"]))]
    with locked(folder / f".{spec.model}.lock"):
        ref = load_dataset(rec.dataset)
        previous = load_predictions(rec.dataset).get(spec.model)
        pred = merge_fit(previous, ref, spec, result["split"]["test"], result["energy"], forces, fit_meta)
        save_predictions(pred, rec.dataset)
    return name


def refresh_stored(dataset: str, family: str) -> bool:
    """Move the family's stored fitted predictions onto the data set's current content (after frames
    were added: the fits of unchanged elements carry over); whether anything was rewritten."""
    from analysis.datasets.store import predictions_dir
    from analysis.models.fitting import FITTED_MODELS, refresh_fitted

    model = FITTED_MODELS[family]
    folder = predictions_dir(dataset)
    if not (folder / f"{model}.json").is_file():
        return False
    with locked(folder / f".{model}.lock"):
        previous = load_predictions(dataset).get(model)
        fresh = refresh_fitted(previous, load_dataset(dataset)) if previous is not None else None
        if fresh is None:
            return False
        save_predictions(fresh, dataset)
    return True


def run_fit_job(rec: q.JobRecord, pid: int, *, on_progress: Callable[[q.JobRecord], None] | None = None,
                poll_s: float = 2.0) -> q.JobRecord:
    """Run one claimed fit job in this process (the local worker's path); returns its final record."""
    from analysis.jobs.integrity import write_job_file

    stop_beating = threading.Event()

    def beat() -> None:
        while not stop_beating.wait(q.HEARTBEAT_S):
            q.update_running(rec.job_id, pid, heartbeat=time.time())

    def should_stop() -> bool:
        current = q.get_job(rec.job_id)
        return current.state != "running" or current.worker_pid != pid

    def progress(p: Progress) -> None:
        updated = q.update_running(rec.job_id, pid, frames_done=p.done, frames_total=p.total, unit=p.unit)
        if updated is not None and on_progress is not None:
            on_progress(updated)

    beater = threading.Thread(target=beat, name=f"heartbeat-{rec.job_id}", daemon=True)
    beater.start()
    final: q.JobRecord | None
    t0 = time.perf_counter()
    try:
        q.chunk_dir(rec.job_id).mkdir(parents=True, exist_ok=True)
        write_job_file(q.chunk_dir(rec.job_id), rec.to_json())
        result = train_and_score(rec, should_stop=should_stop, on_progress=progress, poll_s=poll_s)
        current = q.get_job(rec.job_id)
        if current.state != "running" or current.worker_pid != pid:
            return current
        store_fit(rec, result)
        final = q.update_running(rec.job_id, pid, state="done", frames_done=current.frames_total, finished=time.time(),
                          seconds=rec.seconds + time.perf_counter() - t0)
        shutil.rmtree(q.chunk_dir(rec.job_id), ignore_errors=True)
    except FitCancelled:
        return q.get_job(rec.job_id)
    except BaseException as exc:
        state = "failed" if isinstance(exc, Exception) else "queued"
        error = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, FitUnavailableError):
            error = f"unavailable here: {exc}"
        final = q.update_running(rec.job_id, pid, state=state, error=error, traceback=traceback.format_exc(),
                          finished=time.time() if state == "failed" else None, worker_pid=None if state == "queued" else pid,
                          seconds=rec.seconds + time.perf_counter() - t0)
        if not isinstance(exc, Exception):
            raise
    finally:
        stop_beating.set()
        beater.join()
    if final is not None and on_progress is not None:
        on_progress(final)
    return final or rec
