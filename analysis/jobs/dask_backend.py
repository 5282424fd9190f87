"""Dask distributed backend for evaluation jobs: one Dask task per chunk of frames.

The submitting process claims the job through the queue (:func:`analysis.jobs.queue.claim_job`),
so the record shows the same states and progress as a local job, and acts as the coordinator:
it submits one task per chunk not yet on disk. Each task (on any Dask worker sharing the data and
cache folders) consults the per-frame cache, evaluates only unseen frames and writes its chunk
under the same path the local worker uses (atomic rename; a chunk already there is not computed
again, so a retried task is idempotent). When every chunk is there the coordinator assembles and
stores the predictions exactly as the local worker does, under the same keys.

Work asked for on ``cuda`` is submitted with ``resources={"GPU": 1}``: only workers started with
``--resources GPU=1`` take it. ``distributed`` is imported inside functions only.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from analysis.core.cluster import cluster_lost, connect, task_key, task_resources
from analysis.jobs import queue as q

__all__ = ["cluster_lost", "connect", "evaluate_chunk", "fit_task", "run_fit_jobs", "run_job", "serve", "task_resources"]


def evaluate_chunk(job_id: str, start: int, data: str, cache: str, pause_s: float = 0.0) -> dict[str, int]:
    """Dask task: evaluate frames ``start:start+chunk_frames`` of job ``job_id`` and write the chunk.

    Args:
        data, cache: the data and cache folders (``MLFF_ATLAS_DATA``, ``MLFF_ATLAS_CACHE``) shared with the submitter.
        pause_s: sleep before evaluating (tests use it to kill a worker mid-job).

    Returns:
        ``{"start", "frames", "computed", "cached", "failed", "pid"}``; ``computed`` is 0 when the
        chunk was already on disk (a retried task).
    """
    os.environ["MLFF_ATLAS_DATA"], os.environ["MLFF_ATLAS_CACHE"] = data, cache
    from analysis.datasets.frames import structure_hash
    from analysis.datasets.store import load_dataset
    from analysis.models.evaluate import make_evaluator
    from analysis.models.frame_cache import FrameCache, model_key
    from analysis.models.registry import ModelSpec, model_versions

    rec = q.get_job(job_id)
    frames = load_dataset(rec.dataset).frames[start : start + rec.chunk_frames]
    info = {"start": start, "frames": len(frames), "computed": 0, "cached": 0, "failed": 0, "pid": os.getpid()}
    if start in q.chunk_files(job_id):
        return info
    time.sleep(pause_s)
    spec = ModelSpec.from_dict(rec.spec)
    evaluator = make_evaluator(spec, device=rec.device, dtype=rec.dtype, mode="batched", batch_size=rec.batch_size)
    t0 = time.perf_counter()
    mkey = model_key(spec.identity(), model_versions(spec), rec.dtype, evaluator.device)
    try:
        with FrameCache() as fcache:
            res, failed, hits = q.predict_chunk(evaluator, frames, [structure_hash(a) for a in frames], fcache, mkey)
    finally:
        evaluator.close()
    q.write_chunk(job_id, start, res.energy, res.forces, time.perf_counter() - t0, failed)
    info.update(computed=len(frames) - hits, cached=hits, failed=len(failed))
    return info


def run_job(
    job_id: str, client: Any, *, pause_s: float = 0.0, on_progress: Callable[[q.JobRecord], None] | None = None
) -> q.JobRecord:
    """Run queued job ``job_id`` on the Dask cluster of ``client``; returns its final record.

    Cancelling the job (:func:`analysis.jobs.queue.cancel_job`) cancels its outstanding futures.
    A chunk task whose worker dies is rerun by Dask on another worker (``retries=2``).
    """
    from distributed import as_completed

    from analysis.core.config import cache_dir, data_dir
    from analysis.datasets.store import load_dataset, save_predictions
    from analysis.models.registry import ModelSpec

    rec = q.claim_job(job_id)
    if rec is None:
        return q.get_job(job_id)
    coord = q.Worker()
    pid = coord.pid
    try:
        ref = load_dataset(rec.dataset)
        rec = q.follow_content(rec, ref.content_hash(), pid)
        rec = q.check_chunks(rec, pid)
        done = q.chunk_files(job_id)
        q.update_running(job_id, pid, frames_total=len(ref), frames_reused=q.chunk_frames_done(job_id), device_used=f"dask:{rec.device}")
        starts = [s for s in range(0, len(ref), rec.chunk_frames) if s not in done]
        futures = [
            client.submit(evaluate_chunk, job_id, s, str(data_dir()), str(cache_dir()), pause_s,
                          key=task_key("chunk", job_id, s), resources=task_resources(rec.device), retries=2, pure=False)
            for s in starts
        ]
        cached = failed = 0
        for fut in as_completed(futures):
            info = fut.result()
            cached, failed = cached + info["cached"], failed + info["failed"]
            current = q.update_running(job_id, pid, frames_done=q.chunk_frames_done(job_id), frames_cached=cached)
            if current is None or current.state != "running" or current.worker_pid != pid:
                client.cancel(futures)
                return current or rec
            if on_progress is not None:
                on_progress(current)
        spec = ModelSpec.from_dict(rec.spec)
        evaluator = _MetaEvaluator(rec.device, rec.dtype, rec.batch_size)
        pred = coord._assemble(rec, spec, ref, evaluator, 0.0, _hashes(ref))
        current = q.get_job(job_id)
        if current.state != "running" or current.worker_pid != pid:
            return current
        save_predictions(pred, rec.dataset)
        final = q.update_running(job_id, pid, state="done", frames_done=len(ref), frames_failed=q.chunk_frames_failed(job_id),
                          finished=time.time(), seconds=float(pred.meta["timings"]["seconds_evaluating"]))
        q.remove_chunks(job_id)
    except Exception as exc:
        import traceback

        if cluster_lost(exc):  # the work is not at fault: what is stored stays, the job waits for a scheduler
            final = q.update_running(job_id, pid, state="queued", worker_pid=None, worker_host=None, worker_start=None,
                              error=f"Dask scheduler lost ({type(exc).__name__}); the job resumes from its stored chunks",
                              frames_done=q.chunk_frames_done(job_id))
            return final or q.get_job(job_id)
        final = q.update_running(job_id, pid, state="failed", error=f"{type(exc).__name__}: {exc}",
                          traceback=traceback.format_exc(), finished=time.time(), frames_done=q.chunk_frames_done(job_id))
    return final or q.get_job(job_id)


def serve(client: Any, *, once: bool = False, poll_s: float = 1.0, max_jobs: int | None = None,
          on_progress: Callable[[q.JobRecord], None] | None = None) -> int:
    """Coordinate queued evaluation jobs on the cluster of ``client`` (``worker --backend dask``): the
    oldest queued job is claimed and run with :func:`run_job`; returns the number of jobs run."""
    run = 0
    while max_jobs is None or run < max_jobs:
        q.requeue_stale()
        queued = sorted(q.list_jobs(state="queued"), key=lambda r: r.created)
        if not queued:
            if once:
                break
            time.sleep(poll_s)
            continue
        if queued[0].kind == "fit":  # every queued fit at once: one task per element
            fits = [r.job_id for r in queued if r.kind == "fit"]
            records = run_fit_jobs(fits, client, on_progress=on_progress)
            run += len(fits)
            rec = records[-1] if records else queued[0]
        else:
            rec = run_job(queued[0].job_id, client, on_progress=on_progress)
            run += 1
        if rec.state == "queued":  # the cluster went away: wait for it rather than spin
            time.sleep(poll_s)
    return run


def fit_task(job_id: str, data: str, cache: str, pause_s: float = 0.0) -> dict[str, Any]:
    """Dask task: train and score fit job ``job_id`` (:func:`analysis.jobs.fit_jobs.train_and_score`).

    Resumes from the checkpoints in the job's shared folder (a task retried after its worker died
    continues the training there); a result already written is returned without training again.
    Returns ``{"job_id", "computed", "pid", "seconds"}``.
    """
    os.environ["MLFF_ATLAS_DATA"], os.environ["MLFF_ATLAS_CACHE"] = data, cache
    from analysis.jobs.fit_jobs import read_result, train_and_score

    info: dict[str, Any] = {"job_id": job_id, "computed": False, "pid": os.getpid(), "seconds": 0.0}
    if read_result(q.chunk_dir(job_id)) is not None:
        return info
    time.sleep(pause_s)
    rec = q.get_job(job_id)
    t0 = time.perf_counter()
    train_and_score(rec, should_stop=lambda: q.get_job(job_id).state == "cancelled",
                    device="cpu" if rec.device in ("auto", "cpu") else rec.device)
    info.update(computed=True, seconds=time.perf_counter() - t0)
    return info


def run_fit_jobs(job_ids: list[str], client: Any, *, pause_s: float = 0.0, poll_s: float = 1.0,
                 on_progress: Callable[[q.JobRecord], None] | None = None) -> list[q.JobRecord]:
    """Run queued fit jobs on the cluster of ``client``, one Dask task per element, all at once.

    This process claims each job (same states as a local worker), follows the training's progress
    from the shared work folders, stores each result as its task finishes
    (:func:`analysis.jobs.fit_jobs.store_fit`) and cancels a task whose job was cancelled.
    """
    import traceback

    from analysis.core.config import cache_dir, data_dir
    from analysis.jobs.fit_jobs import read_result, store_fit
    from analysis.jobs.integrity import write_job_file
    from analysis.models.fitting import TRAINERS

    pid = os.getpid()
    claimed: dict[str, q.JobRecord] = {}
    for job_id in job_ids:
        rec = q.claim_job(job_id)
        if rec is not None:
            q.chunk_dir(job_id).mkdir(parents=True, exist_ok=True)
            write_job_file(q.chunk_dir(job_id), rec.to_json())
            claimed[job_id] = rec
    futures = {job_id: client.submit(fit_task, job_id, str(data_dir()), str(cache_dir()), pause_s,
                                     key=task_key("fit", job_id), resources=task_resources(rec.device), retries=2, pure=False)
               for job_id, rec in claimed.items()}
    t0 = time.perf_counter()
    out: dict[str, q.JobRecord] = {}
    while futures:
        time.sleep(poll_s)
        for job_id, fut in list(futures.items()):
            rec = claimed[job_id]
            current = q.get_job(job_id)
            if current.state != "running" or current.worker_pid != pid:  # cancelled, or taken over
                fut.cancel()
                out[job_id] = current
                del futures[job_id]
                continue
            if not fut.done():
                trainer = TRAINERS[rec.fit["family"]]
                done = trainer.progress(q.chunk_dir(job_id) / "work")
                updated = q.update_running(job_id, pid, frames_done=min(done, rec.frames_total), heartbeat=time.time(),
                                    device_used="dask:cpu" if rec.device in ("auto", "cpu") else f"dask:{rec.device}")
                if updated is not None and on_progress is not None:
                    on_progress(updated)
                continue
            del futures[job_id]
            try:
                fut.result()
                result = read_result(q.chunk_dir(job_id))
                if result is None:
                    raise RuntimeError(f"fit task of job {job_id} finished without a readable result")
                store_fit(rec, result)
                final = q.update_running(job_id, pid, state="done", frames_done=rec.frames_total, finished=time.time(),
                                  seconds=time.perf_counter() - t0)
                import shutil

                shutil.rmtree(q.chunk_dir(job_id), ignore_errors=True)
            except Exception as exc:
                if cluster_lost(exc):
                    final = q.update_running(job_id, pid, state="queued", worker_pid=None, worker_host=None, worker_start=None,
                                      error=f"Dask scheduler lost ({type(exc).__name__}); the fit resumes from its checkpoints")
                else:
                    final = q.update_running(job_id, pid, state="failed", error=f"{type(exc).__name__}: {exc}",
                                      traceback=traceback.format_exc(), finished=time.time())
            out[job_id] = final or q.get_job(job_id)
            if on_progress is not None:
                on_progress(out[job_id])
    return [out[j] for j in job_ids if j in out]


def _hashes(ref: Any) -> list[str]:
    from analysis.datasets.frames import structure_hash

    return [structure_hash(a) for a in ref.frames]


class _MetaEvaluator:
    """What :meth:`Worker._assemble` reads of an evaluator, for chunks computed on Dask workers."""

    mode = "batched"
    versions: dict[str, str] = {}

    def __init__(self, device: str, dtype: str, batch_size: int) -> None:
        self.device = "cpu" if device in ("auto", "cpu") else device
        self.dtype, self.batch_size = dtype, batch_size
