"""The worker: takes jobs from the queue and runs them chunk by chunk (``python -m analysis worker``).

A :class:`Worker` claims the oldest queued job (:func:`analysis.jobs.records.claim_job`), evaluates its
frames in chunks (frames a model has scored before come from the per-frame cache), writes each
chunk to disk as soon as it is done, beats a heartbeat while it runs, and stores the predictions
when every chunk is there; a fit job runs through :mod:`analysis.jobs.fit_jobs`. A full disk makes
it wait and retry. The records and chunks it works on are :mod:`analysis.jobs.records`.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np

from analysis.core.config import cache_dir
from analysis.datasets.frames import Predictions
from analysis.datasets.store import load_dataset, save_predictions
from analysis.jobs import records
from analysis.jobs.records import (
    JobRecord,
    announce_worker,
    chunk_dir,
    chunk_files,
    chunk_frames_done,
    chunk_frames_failed,
    claim_job,
    get_record,
    open_db,
    remove_chunks,
    requeue_stale,
    update_running,
    withdraw_worker,
    write_chunk,
)
from analysis.models.registry import ModelSpec, model_versions

log = logging.getLogger(__name__)


class DiskFull(Exception):
    """The disk filled up while a job ran (its chunks so far are kept)."""

    def __init__(self, job_id: str | None, cause: BaseException) -> None:
        super().__init__(f"{cause}")
        self.job_id, self.cause = job_id, cause


#: seconds a worker waits after the disk filled up before it tries again
DISK_FULL_WAIT_S = 30.0


class Worker:
    """Runs jobs in this process, keeping loaded models between jobs.

    Args:
        poll_s: seconds between queue polls when idle.
        keep_models: how many loaded evaluators to keep for reuse across jobs.
    """

    def __init__(self, *, poll_s: float = 1.0, keep_models: int = 2) -> None:
        self.poll_s = poll_s
        self.keep_models = keep_models
        self.pid = os.getpid()
        self._evaluators: dict[str, Any] = {}
        self.jobs_run = 0
        self.disk_full_waits = 0

    # -- registration, so `evaluate` can tell whether a worker is running
    def _heartbeat(self) -> None:
        announce_worker(self.pid)

    def _unregister(self) -> None:
        withdraw_worker(self.pid)

    def run(
        self,
        *,
        once: bool = False,
        max_jobs: int | None = None,
        job_id: str | None = None,
        on_progress: Callable[[JobRecord], None] | None = None,
    ) -> int:
        """Take and run jobs until stopped; returns the number of jobs run.

        Args:
            once: stop when the queue is empty instead of waiting for more.
            max_jobs: stop after this many jobs.
            job_id: run only this job (if it is queued), then stop.
            on_progress: called with the record after each chunk.
        """
        from analysis.core.storage import disk_full_message, is_disk_full

        run = 0
        try:
            while max_jobs is None or run < max_jobs:
                try:
                    self._heartbeat()
                    requeue_stale()
                    rec = claim_job(job_id)
                    if rec is None:
                        if once or job_id is not None:
                            break
                        time.sleep(self.poll_s)
                        continue
                    self.run_job(rec, on_progress=on_progress)
                except DiskFull as full:
                    self._wait_for_space(full.job_id, full.cause)
                    if once:
                        break
                    continue
                except Exception as exc:  # the heartbeat or the claim hit a full disk
                    if not is_disk_full(exc):
                        raise
                    log.error("%s", disk_full_message(cache_dir()))
                    self._wait_for_space(None, exc)
                    if once:
                        break
                    continue
                run += 1
                if job_id is not None:
                    break
        finally:
            try:
                self._unregister()
            except Exception as exc:  # a full disk must not turn the exit into a traceback
                if not is_disk_full(exc):
                    raise
            for ev in self._evaluators.values():
                ev.close()
            self._evaluators.clear()
        self.jobs_run += run
        return run

    def _wait_for_space(self, job_id: str | None, cause: BaseException) -> None:
        """Say which folder is full, put the job back in the queue when the database lets us, wait."""
        from analysis.core.storage import disk_full_message

        log.error("worker %d: %s (%s); waiting %.0f s, then retrying", self.pid, disk_full_message(cache_dir(), 2**20),
                  cause, DISK_FULL_WAIT_S)
        self.disk_full_waits += 1
        if job_id is not None:
            try:
                update_running(job_id, self.pid, state="queued", worker_pid=None, frames_done=chunk_frames_done(job_id))
            except Exception:  # still full: requeue_stale puts it back once this worker is gone
                log.warning("job %s stays 'running' until the disk has space again", job_id)
        time.sleep(DISK_FULL_WAIT_S)

    def _evaluator(self, spec: ModelSpec, rec: JobRecord) -> Any:
        from analysis.models.evaluate import make_evaluator

        key = json.dumps([spec.identity(), rec.device, rec.dtype], sort_keys=True)
        ev = self._evaluators.pop(key, None)
        if ev is None:
            ev = make_evaluator(spec, device=rec.device, dtype=rec.dtype, mode="batched", batch_size=rec.batch_size)
        self._evaluators[key] = ev  # most recently used last
        while len(self._evaluators) > self.keep_models:
            old_key = next(iter(self._evaluators))
            self._evaluators.pop(old_key).close()
        if hasattr(ev, "batch_size") and not getattr(ev, "oom_retries", 0):
            ev.batch_size = rec.batch_size  # after an out-of-memory halving, keep the smaller batch
        return ev

    def run_job(self, rec: JobRecord, *, on_progress: Callable[[JobRecord], None] | None = None) -> JobRecord:
        """Evaluate one claimed job chunk by chunk (a fit job: train, then score); returns its final record."""
        if rec.kind == "fit":
            from analysis.jobs.fit_jobs import run_fit_job

            return run_fit_job(rec, self.pid, on_progress=on_progress)
        from analysis.datasets.frames import structure_hash
        from analysis.models.frame_cache import FrameCache, model_key

        fcache: FrameCache | None = None
        stop_beating = threading.Event()

        def beat() -> None:  # a long chunk must not look like a dead worker from another host
            while not stop_beating.wait(records.HEARTBEAT_S):  # read at run time (tests shorten it)
                update_running(rec.job_id, self.pid, heartbeat=time.time())
                self._heartbeat()

        beater = threading.Thread(target=beat, name=f"heartbeat-{rec.job_id}", daemon=True)
        beater.start()
        try:
            spec = ModelSpec.from_dict(rec.spec)
            ref = load_dataset(rec.dataset)
            rec = follow_content(rec, ref.content_hash(), self.pid)
            rec = check_chunks(rec, self.pid)
            frames = ref.frames
            t_load = time.perf_counter()
            evaluator = self._evaluator(spec, rec)
            load_s = time.perf_counter() - t_load
            done = chunk_files(rec.job_id)
            reused = chunk_frames_done(rec.job_id)
            self._update_fields(rec, device_used=evaluator.device, frames_total=len(frames), frames_reused=reused)
            n_failed = chunk_frames_failed(rec.job_id)
            any_scored = reused > n_failed
            # what the model sees of each frame: the per-frame cache's key and the predictions' record
            hashes = [structure_hash(a) for a in frames]
            fcache = FrameCache()
            mkey = model_key(spec.identity(), model_versions(spec), rec.dtype, evaluator.device)
            n_cached = 0
            for start in range(0, len(frames), rec.chunk_frames):
                if start in done:
                    continue
                current = self._refresh(rec)
                if current is None or current.state != "running" or current.worker_pid != self.pid:
                    return current or rec  # cancelled, or taken over
                t_chunk = time.perf_counter()
                chunk = frames[start : start + rec.chunk_frames]
                res, failed, hits = predict_chunk(evaluator, chunk, hashes[start : start + rec.chunk_frames], fcache, mkey)
                n_cached += hits
                if len(failed) == len(chunk) and not any_scored and len({_element_of(a) for a in chunk}) > 1:
                    # nothing has worked yet, on several elements: a broken model rather than
                    # refused frames (a model may refuse one element; later chunks still run then)
                    raise RuntimeError(f"{spec.name} failed on every frame of the first chunk; first error: {failed[0]}")
                any_scored = any_scored or len(failed) < len(chunk)
                n_failed += len(failed)
                write_chunk(rec.job_id, start, res.energy, res.forces, time.perf_counter() - t_chunk, failed)
                updated = update_running(
                    rec.job_id, self.pid, frames_done=chunk_frames_done(rec.job_id), frames_failed=n_failed, frames_cached=n_cached
                )
                if updated is not None and on_progress is not None:
                    on_progress(updated)
            if fcache.discarded or fcache.moved_aside:
                notes = [*rec.integrity_notes, *(f"per-frame cache database moved aside: {m}" for m in fcache.moved_aside)]
                if fcache.discarded:
                    notes.append(f"{fcache.discarded} cached frame result(s) failed their checksum: discarded and computed again")
                rec = update_running(rec.job_id, self.pid, integrity_notes=notes) or rec
            pred = self._assemble(rec, spec, ref, evaluator, load_s, hashes)
            current = self._refresh(rec)
            if current is None or current.state != "running" or current.worker_pid != self.pid:
                return current or rec
            save_predictions(pred, rec.dataset)
            final = update_running(
                rec.job_id,
                self.pid,
                state="done",
                frames_done=len(frames),
                finished=time.time(),
                seconds=float(pred.meta["timings"]["seconds_evaluating"]),
            )
            remove_chunks(rec.job_id)
        except BaseException as exc:  # record every failure, including KeyboardInterrupt
            from analysis.core.storage import is_disk_full

            if is_disk_full(exc):  # not the job's fault: back in the queue, the worker waits and retries
                raise DiskFull(rec.job_id, exc) from exc
            state = "failed" if isinstance(exc, Exception) else "queued"
            final = update_running(
                rec.job_id,
                self.pid,
                state=state,
                error=f"{type(exc).__name__}: {exc}",
                traceback=traceback.format_exc(),
                finished=time.time() if state == "failed" else None,
                worker_pid=None if state == "queued" else self.pid,
                frames_done=chunk_frames_done(rec.job_id),
            )
            if not isinstance(exc, Exception):
                raise
        finally:
            stop_beating.set()
            beater.join()
            if fcache is not None:
                fcache.close()
        if final is not None and on_progress is not None:
            on_progress(final)
        return final or rec

    def _refresh(self, rec: JobRecord) -> JobRecord | None:
        with open_db() as cache:
            return get_record(cache, rec.job_id)

    def _update_fields(self, rec: JobRecord, **changes: Any) -> None:
        update_running(rec.job_id, self.pid, **changes)

    def _assemble(
        self, rec: JobRecord, spec: ModelSpec, ref: Any, evaluator: Any, load_s: float, hashes: list[str]
    ) -> Predictions:
        files = chunk_files(rec.job_id)
        energies, forces, n_atoms, seconds = [], [], [], 0.0
        failed_at: dict[int, str] = {}
        from analysis.jobs.integrity import read_chunk

        for start in sorted(files):
            npz = read_chunk(files[start])
            if npz is None:
                files[start].unlink(missing_ok=True)
                raise RuntimeError(f"chunk {files[start].name} of job {rec.job_id} was damaged after it was written: "
                                   "discarded; submit the job again to recompute its frames")
            energies.append(npz["energy"])
            forces.append(npz["forces"])
            n_atoms.append(npz["n_atoms"])
            seconds += float(npz["seconds"])
            failed_at.update({start + int(i): str(e) for i, e in zip(npz["failed_index"], npz["failed_error"])})
        energy = np.concatenate(energies)
        arrays = ref.arrays()
        n = np.concatenate(n_atoms)
        if len(energy) != len(arrays.frame_id) or not np.array_equal(n, arrays.n_atoms):
            raise RuntimeError(f"job {rec.job_id}: chunks cover {len(energy)} frames, the data set has {len(arrays.frame_id)}")
        if failed_at and len(failed_at) == len(energy):
            raise RuntimeError(f"{spec.name} failed on every frame; first error: {failed_at[min(failed_at)]}")
        versions = model_versions(spec)
        versions.update(getattr(evaluator, "versions", {}) or {})
        meta = {
            "job_id": rec.job_id,
            "spec": spec.to_dict(),
            "universal": spec.universal,
            "device": evaluator.device,
            "dtype": evaluator.dtype,
            "mode": evaluator.mode,
            "batch_size": getattr(evaluator, "batch_size", 1),
            "timings": {
                "seconds_evaluating": seconds,
                "seconds_model_load": load_s,
                "frames_per_second": len(energy) / seconds if seconds > 0 else None,
            },
            "versions": versions,
            # frame id -> the model's error, for frames it refused (NaN in energy and forces)
            "failed_frames": {str(arrays.frame_id[i]): msg for i, msg in sorted(failed_at.items())},
        }
        return Predictions(
            structure_hash=np.array(hashes, dtype=str),
            model=spec.name,
            dataset_hash=rec.dataset_hash,
            frame_id=arrays.frame_id,
            energy=energy,
            forces=np.concatenate(forces),
            n_atoms=n,
            meta=meta,
        )


def _element_of(atoms: Any) -> str:
    return str(atoms.info.get("element") or atoms.get_chemical_formula(mode="metal", empirical=True))


def predict_chunk(
    evaluator: Any, chunk: list[Any], hashes: list[str], fcache: Any, mkey: str
) -> tuple[Any, dict[int, str], int]:
    """Predict ``chunk`` (its frames' structure hashes ``hashes``): frames in the per-frame cache
    are read, only the others reach the model.

    Returns the results (NaN for refused frames), the refused frames' index -> error, and the
    number of frames answered from the cache.
    """
    from analysis.models.evaluate import FrameResults, predict_isolating_failures

    hits = fcache.get_many(mkey, hashes, [len(a) for a in chunk])
    energy = np.empty(len(chunk), dtype=np.float64)
    forces: list[np.ndarray] = [np.empty((0, 3))] * len(chunk)
    failed: dict[int, str] = {}
    todo = [i for i in range(len(chunk)) if i not in hits]
    if todo:
        res, refused = predict_isolating_failures(evaluator, [chunk[i] for i in todo])
        fcache.put_many(mkey, [hashes[i] for i in todo], res.energy, res.forces, refused)
        for j, i in enumerate(todo):
            energy[i], forces[i] = res.energy[j], res.forces[j]
            if j in refused:
                failed[i] = refused[j]
    for i, (e, f, err) in hits.items():
        energy[i], forces[i] = e, f
        if err is not None:
            failed[i] = err
    return FrameResults(energy, forces), failed, len(hits)


def follow_content(rec: JobRecord, current_hash: str, pid: int) -> JobRecord:
    """A job whose data set changed since submission (frames appended) evaluates the new content.

    Its chunks, computed on the old frame order, are dropped; the per-frame cache still holds every
    frame the model has seen, so only the new frames reach the model.
    """
    if current_hash == rec.dataset_hash:
        return rec
    remove_chunks(rec.job_id)
    return update_running(rec.job_id, pid, dataset_hash=current_hash, frames_done=0, frames_failed=0) or rec


def check_chunks(rec: JobRecord, pid: int) -> JobRecord:
    """Discard the job's chunks that fail their checksum (they are computed again), note it in the
    record, and keep the claimed record beside the chunks for a database rebuild."""
    from analysis.jobs.integrity import discard_damaged_chunks, write_job_file

    bad = discard_damaged_chunks(chunk_dir(rec.job_id))
    write_job_file(chunk_dir(rec.job_id), rec.to_json())
    if not bad:
        return rec
    note = f"discarded {len(bad)} damaged chunk(s) ({', '.join(bad[:3])}): unreadable or failing their checksum; computed again"
    return update_running(rec.job_id, pid, integrity_notes=[*rec.integrity_notes, note], frames_done=chunk_frames_done(rec.job_id)) or rec


def run_worker(**kwargs: Any) -> int:
    """Run a :class:`Worker` in this process (see :meth:`Worker.run`); returns jobs run."""
    poll_s = kwargs.pop("poll_s", 1.0)
    return Worker(poll_s=poll_s).run(**kwargs)
