"""A persistent, cached job queue for model evaluations (diskcache under ``cache_dir()/jobs``).

A job is (model spec, data set name and content hash, device, dtype). Its id is a hash of those,
so submitting the same job twice gives one job, and a finished job is answered at once.

States: ``queued`` -> ``running`` -> ``done`` | ``failed`` | ``cancelled``. A worker
(``python -m analysis worker``) claims the oldest queued job inside a diskcache transaction (an
SQLite ``BEGIN IMMEDIATE``), so two workers never take the same job. It evaluates the frames in
chunks and writes each chunk to ``cache_dir()/jobs/chunks/<job id>/`` as soon as it is done: a
worker killed mid-job loses only the chunk in progress, and the next worker resumes from the
chunks on disk. A ``running`` job whose worker process is gone (same host, pid dead or reused) is
put back in the queue. When all chunks are there, the predictions are stored beside the data set
with :func:`analysis.datasets.store.save_predictions` and the chunks are removed.

Cancelling a running job takes effect between chunks. Records are stored as JSON strings.

The module is long (about 870 lines) but one coherent thing: the job records, their claims and
heartbeats, the chunks on disk and the worker loop share one database and its transactions, and a
split would scatter the crash-safety argument above over several files.

Public API (used by the dashboard): :func:`submit_job`, :func:`list_jobs`, :func:`get_job`,
:func:`cancel_job`, and :func:`analysis.models.available_models`.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np

from analysis.core.config import cache_dir
from analysis.core.procs import process_start, running_here
from analysis.datasets.frames import Predictions
from analysis.datasets.store import atomic_write_bytes, find_dataset, load_dataset, model_slug, predictions_dir, save_predictions
from analysis.models.registry import ModelSpec, ModelUnavailableError, check_available, get_spec, model_versions, resolve_dtype

State = Literal["queued", "running", "done", "failed", "cancelled"]
STATES: tuple[str, ...] = ("queued", "running", "done", "failed", "cancelled")
log = logging.getLogger(__name__)
DEFAULT_CHUNK_FRAMES = 32
DEFAULT_BATCH_SIZE = 16
HEARTBEAT_S = 30.0
#: a job or worker on another host without a heartbeat for this long is taken as dead
STALE_AFTER_S = 10 * HEARTBEAT_S
_JOB = "job:"
_WORKER = "worker:"


@dataclass
class JobRecord:
    """One evaluation job.

    Attributes:
        job_id: hash of (model identity, data set name and hash, device, dtype); 16 hex digits.
        model: the model's registry name (predictions are stored under it).
        spec: the model spec as a dict (:meth:`ModelSpec.to_dict`).
        dataset: data set name.
        dataset_hash: data set content hash at submission.
        device: requested device ('auto', 'cpu', 'cuda', 'cuda:N').
        dtype: 'float32' or 'float64'.
        state: queued / running / done / failed / cancelled.
        frames_done: frames evaluated so far (chunks on disk).
        frames_total: frames in the data set.
        created, started, finished: UNIX times in s (started/finished None until then).
        worker_pid, worker_host, worker_start: the process running it (start = its create time).
        device_used: the device the worker actually used ('cpu', 'cuda:0').
        error: one-line error of a failed job; traceback: its Python traceback.
        attempts: how many times a worker has started it.
        chunk_frames: frames per chunk; batch_size: frames per model call (halved on CUDA OOM).
        seconds: wall time spent evaluating (summed over attempts), in s.
        frames_reused: frames found already done on disk when the latest attempt started.
        frames_failed: frames the model refused (NaN in the stored predictions, with its error in
            the predictions' ``meta['failed_frames']``); a job fails only when every frame does.
        heartbeat: UNIX time of the running worker's latest sign of life (every
            :data:`HEARTBEAT_S` while it runs the job); how a job on another host is found stale.
        frames_cached: frames answered from the per-frame result cache (:mod:`analysis.models.frame_cache`)
            because this model had already evaluated the same structure, in any job.
        integrity_notes: what was found damaged and discarded or recomputed for this job (chunks,
            cached values, a rebuilt database), one line each (:mod:`analysis.jobs.integrity`).
        kind: 'evaluate' (a model on a data set) or 'fit' (a model fitted per element,
            :mod:`analysis.jobs.fit_jobs`; ``fit`` holds its spec and key, progress counts ``unit``).
        fit: a fit job's :class:`analysis.models.fitting.FitSpec` as a dict plus ``key`` and ``element``.
        unit: what ``frames_done``/``frames_total`` count: 'frames', or a fit's 'epochs', 'steps', 'generations'.
    """

    job_id: str
    model: str
    spec: dict[str, Any]
    dataset: str
    dataset_hash: str
    device: str
    dtype: str
    state: str = "queued"
    frames_done: int = 0
    frames_total: int = 0
    created: float = 0.0
    started: float | None = None
    finished: float | None = None
    worker_pid: int | None = None
    worker_host: str | None = None
    worker_start: float | None = None
    device_used: str = ""
    error: str = ""
    traceback: str = ""
    attempts: int = 0
    chunk_frames: int = DEFAULT_CHUNK_FRAMES
    batch_size: int = DEFAULT_BATCH_SIZE
    seconds: float = 0.0
    frames_reused: int = 0
    frames_failed: int = 0
    frames_cached: int = 0
    heartbeat: float | None = None
    integrity_notes: list[str] = field(default_factory=list)
    kind: str = "evaluate"
    fit: dict[str, Any] = field(default_factory=dict)
    unit: str = "frames"

    @property
    def progress(self) -> float:
        """Fraction of frames done, 0..1."""
        return self.frames_done / self.frames_total if self.frames_total else (1.0 if self.state == "done" else 0.0)

    @property
    def finished_ok(self) -> bool:
        return self.state == "done"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> JobRecord:
        data = json.loads(text)
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


# --------------------------------------------------------------------------- storage
def jobs_dir() -> Path:
    """The queue's folder: the diskcache database and the chunk files."""
    path = cache_dir() / "jobs"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def _open(*, check: bool = False) -> Iterator[Any]:
    """The queue database; a damaged one is moved aside and rebuilt from the job folders and the
    stored predictions (:func:`analysis.jobs.integrity.rebuild_records`)."""
    from analysis.core.storage import open_cache

    cache = open_cache(jobs_dir(), timeout=60, check=check, on_damage=_rebuild)
    try:
        yield cache
    finally:
        cache.close()


def _rebuild(aside: Path, reason: str) -> None:
    import diskcache

    from analysis.datasets.store import roots
    from analysis.jobs.integrity import rebuild_records

    metas = []
    for root, _embedded in roots():
        for meta_path in sorted((root / "datasets").glob("*/predictions/*.json")):
            try:
                metas.append((meta_path.parent.parent.name, json.loads(meta_path.read_text())))
            except (OSError, json.JSONDecodeError):
                continue
    records = rebuild_records(jobs_dir() / "chunks", metas)
    names = {f.name for f in fields(JobRecord)}
    with diskcache.Cache(str(jobs_dir()), timeout=60) as cache:
        for data in records:
            rec = JobRecord(**{k: v for k, v in data.items() if k in names})
            rec.frames_done = _chunk_frames_done(rec.job_id) if rec.state == "queued" else rec.frames_done
            _put(cache, rec)
    REPAIRS.append(f"the job queue database was damaged ({reason}): moved aside to {aside}; {len(records)} jobs recovered")


#: what this process found damaged and repaired (printed by the CLI, shown on the Jobs page)
REPAIRS: list[str] = []


def _get(cache: Any, job_id: str) -> JobRecord | None:
    text = cache.get(_JOB + job_id)
    return JobRecord.from_json(text) if text else None


def _put(cache: Any, rec: JobRecord) -> None:
    cache.set(_JOB + rec.job_id, rec.to_json())


def _all(cache: Any) -> list[JobRecord]:
    out = []
    for key in list(cache.iterkeys()):
        if isinstance(key, str) and key.startswith(_JOB):
            text = cache.get(key)
            if text:
                out.append(JobRecord.from_json(text))
    return out


def chunk_dir(job_id: str) -> Path:
    """Folder holding a job's finished chunks."""
    return jobs_dir() / "chunks" / job_id


def job_key(spec: ModelSpec, dataset: str, dataset_hash: str, device: str, dtype: str) -> str:
    """The job id: SHA-256 (16 hex digits) of what determines the result."""
    ident = {
        "model": spec.identity(),
        "dataset": dataset,
        "dataset_hash": dataset_hash,
        "device": device,
        "dtype": dtype,
    }
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- public API
def submit_job(
    model: str | ModelSpec,
    dataset: str,
    device: str = "auto",
    dtype: str = "auto",
    *,
    chunk_frames: int = DEFAULT_CHUNK_FRAMES,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> str:
    """Queue an evaluation of ``model`` on data set ``dataset``; returns the job id.

    The same job submitted again returns the same id without queueing it twice; a finished job
    whose predictions are in the store stays done (answered at once); a failed or cancelled job
    is queued again (its finished chunks are kept and reused).

    Args:
        model: registry name, ``family:PATH`` string or spec.
        dataset: name of a data set in the store.
        device: 'auto' (the worker picks the GPU with most free memory, else CPU), 'cpu',
            'cuda' or 'cuda:N'.
        dtype: 'float32', 'float64' or 'auto' (float64 where the model supports it; CHGNet and
            SevenNet run in float32 only, NEP/DeePMD/EMT in float64 only). The resolved value is
            part of the job.
        chunk_frames: frames per chunk written to disk (the unit of resumption).
        batch_size: frames per model call.

    Raises:
        KeyError: unknown model or data set.
        ModelUnavailableError: the model cannot run here (the message says what to do).
        ValueError: bad device, dtype or sizes.
    """
    if dtype not in ("float32", "float64", "auto"):
        raise ValueError(f"{dtype=} must be 'float32', 'float64' or 'auto'")
    if not (device in ("auto", "cpu", "cuda") or device.startswith("cuda:")):
        raise ValueError(f"{device=} must be 'auto', 'cpu', 'cuda' or 'cuda:N'")
    if chunk_frames < 1 or batch_size < 1:
        raise ValueError(f"{chunk_frames=} and {batch_size=} must be >= 1")
    spec = get_spec(model)
    dtype = resolve_dtype(spec, dtype)
    ok, reason = check_available(spec)
    if not ok:
        raise ModelUnavailableError(reason)
    info = find_dataset(dataset)
    job_id = job_key(spec, dataset, info.content_hash, device, dtype)
    with _open() as cache, cache.transact():
        rec = _get(cache, job_id)
        if rec is not None:
            if rec.state in ("queued", "running"):
                return job_id
            if rec.state == "done" and _stored_result_matches(rec):
                return job_id
            rec.state, rec.error, rec.traceback = "queued", "", ""
            rec.finished = None
            rec.frames_done = _chunk_frames_done(job_id)
            _put(cache, rec)
            return job_id
        rec = JobRecord(
            job_id=job_id,
            model=spec.name,
            spec=spec.to_dict(),
            dataset=dataset,
            dataset_hash=info.content_hash,
            device=device,
            dtype=dtype,
            frames_total=info.n_frames,
            created=time.time(),
            chunk_frames=chunk_frames,
            batch_size=batch_size,
        )
        if _stored_result_matches(rec):
            rec.state, rec.frames_done, rec.finished = "done", rec.frames_total, time.time()
        _put(cache, rec)
    return job_id


def get_job(job_id: str) -> JobRecord:
    """The job's record (stale running jobs are re-queued first). KeyError when unknown."""
    requeue_stale()
    with _open() as cache:
        rec = _get(cache, job_id)
    if rec is None:
        raise KeyError(f"no job {job_id!r}")
    return rec


def list_jobs(*, state: str | None = None) -> list[JobRecord]:
    """All jobs, newest first (optionally only those in ``state``)."""
    if state is not None and state not in STATES:
        raise ValueError(f"{state=} must be one of {STATES}")
    requeue_stale()
    with _open() as cache:
        recs = _all(cache)
    recs.sort(key=lambda r: r.created, reverse=True)
    return [r for r in recs if state is None or r.state == state]


def cancel_job(job_id: str) -> JobRecord:
    """Cancel a queued or running job (a running one stops after its current chunk).

    Returns:
        The updated record (unchanged when the job had already finished).
    """
    with _open() as cache, cache.transact():
        rec = _get(cache, job_id)
        if rec is None:
            raise KeyError(f"no job {job_id!r}")
        if rec.state in ("queued", "running"):
            rec.state = "cancelled"
            rec.finished = time.time()
            _put(cache, rec)
    return rec


def clear_finished(*, states: tuple[str, ...] = ("done", "failed", "cancelled")) -> int:
    """Forget finished job records and their partial chunks (stored predictions stay); returns the count."""
    removed = 0
    with _open() as cache, cache.transact():
        for rec in _all(cache):
            if rec.state in states:
                cache.delete(_JOB + rec.job_id)
                _remove_chunks(rec.job_id)
                removed += 1
    return removed


# --------------------------------------------------------------------------- worker side
def _alive(pid: int | None, host: str | None, start: float | None, beat: float | None = None) -> bool:
    """Whether the process (pid, host, create time) still runs.

    On this host the process table says; on another host (a shared cache folder) the heartbeat
    does: alive while it is younger than :data:`STALE_AFTER_S` (or when there is none to judge by).
    """
    if pid is None:
        return False
    if host != socket.gethostname():
        return beat is None or time.time() - beat < STALE_AFTER_S
    return running_here(pid, start)


def requeue_stale() -> list[str]:
    """Put back in the queue every running job whose worker process is gone; returns their ids."""
    moved: list[str] = []
    with _open() as cache:
        # read first without the write lock: the dashboard calls this on every poll
        if not any(r.state == "running" and not _alive(r.worker_pid, r.worker_host, r.worker_start, r.heartbeat) for r in _all(cache)):
            return moved
    with _open() as cache, cache.transact():
        for rec in _all(cache):
            if rec.state == "running" and not _alive(rec.worker_pid, rec.worker_host, rec.worker_start, rec.heartbeat):
                rec.state = "queued"
                rec.worker_pid = rec.worker_host = rec.worker_start = None
                rec.frames_done = _chunk_frames_done(rec.job_id)
                _put(cache, rec)
                moved.append(rec.job_id)
    return moved


def claim_job(job_id: str | None = None) -> JobRecord | None:
    """Atomically take the oldest queued job (or ``job_id`` when given and queued) for this process."""
    pid = os.getpid()
    with _open() as cache, cache.transact():
        if job_id is not None:
            rec = _get(cache, job_id)
            candidates = [rec] if rec is not None and rec.state == "queued" else []
        else:
            candidates = sorted((r for r in _all(cache) if r.state == "queued"), key=lambda r: r.created)
        if not candidates:
            return None
        rec = candidates[0]
        rec.state = "running"
        rec.worker_pid, rec.worker_host, rec.worker_start = pid, socket.gethostname(), process_start(pid)
        rec.started = rec.heartbeat = time.time()
        rec.attempts += 1
        rec.error = rec.traceback = ""  # from an interrupted earlier attempt
        _put(cache, rec)
        return rec


def _update(job_id: str, pid: int, **changes: Any) -> JobRecord | None:
    """Apply ``changes`` if the job is still running in process ``pid``; return the record."""
    with _open() as cache, cache.transact():
        rec = _get(cache, job_id)
        if rec is None:
            return None
        if rec.state == "running" and rec.worker_pid == pid:
            for key, value in changes.items():
                setattr(rec, key, value)
            _put(cache, rec)
        return rec


def _chunk_files(job_id: str) -> dict[int, Path]:
    folder = chunk_dir(job_id)
    out: dict[int, Path] = {}
    if folder.is_dir():
        for path in folder.glob("*.npz"):
            start = path.stem.split("-")[0]
            if start.isdigit():
                out[int(start)] = path
    return out


def _chunk_frames_done(job_id: str) -> int:
    total = 0
    for path in _chunk_files(job_id).values():
        start, end = (int(x) for x in path.stem.split("-"))
        total += end - start
    return total


def _chunk_frames_failed(job_id: str) -> int:
    total = 0
    from analysis.jobs.integrity import read_chunk

    for path in _chunk_files(job_id).values():
        arrays = read_chunk(path)
        total += len(arrays["failed_index"]) if arrays is not None else 0
    return total


def _write_chunk(
    job_id: str,
    start: int,
    energy: np.ndarray,
    forces: list[np.ndarray],
    seconds: float,
    failed: dict[int, str] | None = None,
) -> None:
    from analysis.jobs.integrity import chunk_checksum

    failed = failed or {}
    arrays: dict[str, Any] = {
        "energy": energy.astype(np.float64),
        "forces": np.concatenate(forces).astype(np.float64) if forces else np.zeros((0, 3)),
        "n_atoms": np.array([len(f) for f in forces], dtype=np.int64),
        "failed_index": np.array(sorted(failed), dtype=np.int64),
        "failed_error": np.array([failed[i] for i in sorted(failed)], dtype=np.str_),
    }
    buffer = io.BytesIO()
    np.savez(buffer, seconds=np.float64(seconds), checksum=np.str_(chunk_checksum(arrays)), **arrays)
    end = start + len(energy)
    atomic_write_bytes(chunk_dir(job_id) / f"{start:07d}-{end:07d}.npz", buffer.getvalue())


def _stored_result_matches(rec: JobRecord) -> bool:
    meta_path = predictions_dir(rec.dataset) / f"{model_slug(rec.model)}.json"
    if not meta_path.is_file() or not meta_path.with_suffix(".npz").is_file():
        return False
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return meta.get("job_id") == rec.job_id and meta.get("dataset_hash") == rec.dataset_hash


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
        with _open() as cache:
            cache.set(
                f"{_WORKER}{socket.gethostname()}:{self.pid}",
                json.dumps({"pid": self.pid, "host": socket.gethostname(), "start": process_start(self.pid), "time": time.time()}),
            )  # no expiry: a busy worker stays registered; a dead one is recognised by its pid

    def _unregister(self) -> None:
        with _open() as cache:
            cache.delete(f"{_WORKER}{socket.gethostname()}:{self.pid}")

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
                _update(job_id, self.pid, state="queued", worker_pid=None, frames_done=_chunk_frames_done(job_id))
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
            while not stop_beating.wait(HEARTBEAT_S):
                _update(rec.job_id, self.pid, heartbeat=time.time())
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
            done = _chunk_files(rec.job_id)
            reused = _chunk_frames_done(rec.job_id)
            self._update_fields(rec, device_used=evaluator.device, frames_total=len(frames), frames_reused=reused)
            n_failed = _chunk_frames_failed(rec.job_id)
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
                res, failed, hits = _predict_chunk(evaluator, chunk, hashes[start : start + rec.chunk_frames], fcache, mkey)
                n_cached += hits
                if len(failed) == len(chunk) and not any_scored and len({_element_of(a) for a in chunk}) > 1:
                    # nothing has worked yet, on several elements: a broken model rather than
                    # refused frames (a model may refuse one element; later chunks still run then)
                    raise RuntimeError(f"{spec.name} failed on every frame of the first chunk; first error: {failed[0]}")
                any_scored = any_scored or len(failed) < len(chunk)
                n_failed += len(failed)
                _write_chunk(rec.job_id, start, res.energy, res.forces, time.perf_counter() - t_chunk, failed)
                updated = _update(
                    rec.job_id, self.pid, frames_done=_chunk_frames_done(rec.job_id), frames_failed=n_failed, frames_cached=n_cached
                )
                if updated is not None and on_progress is not None:
                    on_progress(updated)
            if fcache.discarded or fcache.moved_aside:
                notes = [*rec.integrity_notes, *(f"per-frame cache database moved aside: {m}" for m in fcache.moved_aside)]
                if fcache.discarded:
                    notes.append(f"{fcache.discarded} cached frame result(s) failed their checksum: discarded and computed again")
                rec = _update(rec.job_id, self.pid, integrity_notes=notes) or rec
            pred = self._assemble(rec, spec, ref, evaluator, load_s, hashes)
            current = self._refresh(rec)
            if current is None or current.state != "running" or current.worker_pid != self.pid:
                return current or rec
            save_predictions(pred, rec.dataset)
            final = _update(
                rec.job_id,
                self.pid,
                state="done",
                frames_done=len(frames),
                finished=time.time(),
                seconds=float(pred.meta["timings"]["seconds_evaluating"]),
            )
            _remove_chunks(rec.job_id)
        except BaseException as exc:  # record every failure, including KeyboardInterrupt
            from analysis.core.storage import is_disk_full

            if is_disk_full(exc):  # not the job's fault: back in the queue, the worker waits and retries
                raise DiskFull(rec.job_id, exc) from exc
            state = "failed" if isinstance(exc, Exception) else "queued"
            final = _update(
                rec.job_id,
                self.pid,
                state=state,
                error=f"{type(exc).__name__}: {exc}",
                traceback=traceback.format_exc(),
                finished=time.time() if state == "failed" else None,
                worker_pid=None if state == "queued" else self.pid,
                frames_done=_chunk_frames_done(rec.job_id),
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
        with _open() as cache:
            return _get(cache, rec.job_id)

    def _update_fields(self, rec: JobRecord, **changes: Any) -> None:
        _update(rec.job_id, self.pid, **changes)

    def _assemble(
        self, rec: JobRecord, spec: ModelSpec, ref: Any, evaluator: Any, load_s: float, hashes: list[str]
    ) -> Predictions:
        files = _chunk_files(rec.job_id)
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


def _predict_chunk(
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
    _remove_chunks(rec.job_id)
    return _update(rec.job_id, pid, dataset_hash=current_hash, frames_done=0, frames_failed=0) or rec


def check_chunks(rec: JobRecord, pid: int) -> JobRecord:
    """Discard the job's chunks that fail their checksum (they are computed again), note it in the
    record, and keep the claimed record beside the chunks for a database rebuild."""
    from analysis.jobs.integrity import discard_damaged_chunks, write_job_file

    bad = discard_damaged_chunks(chunk_dir(rec.job_id))
    write_job_file(chunk_dir(rec.job_id), rec.to_json())
    if not bad:
        return rec
    note = f"discarded {len(bad)} damaged chunk(s) ({', '.join(bad[:3])}): unreadable or failing their checksum; computed again"
    return _update(rec.job_id, pid, integrity_notes=[*rec.integrity_notes, note], frames_done=_chunk_frames_done(rec.job_id)) or rec


def _remove_chunks(job_id: str) -> None:
    import shutil

    shutil.rmtree(chunk_dir(job_id), ignore_errors=True)


def live_workers() -> list[dict[str, Any]]:
    """Worker processes that have announced themselves and are still alive."""
    out = []
    with _open() as cache:
        for key in list(cache.iterkeys()):
            if isinstance(key, str) and key.startswith(_WORKER):
                text = cache.get(key)
                if not text:
                    continue
                info = json.loads(text)
                if _alive(info["pid"], info["host"], info.get("start"), info.get("time")):
                    out.append(info)
    return out


def wait_for(job_id: str, *, poll_s: float = 0.5, timeout_s: float | None = None,
             on_progress: Callable[[JobRecord], None] | None = None) -> JobRecord:
    """Poll until the job is done, failed or cancelled (or ``timeout_s`` passes); returns its record."""
    t0 = time.time()
    while True:
        rec = get_job(job_id)
        if on_progress is not None:
            on_progress(rec)
        if rec.state in ("done", "failed", "cancelled"):
            return rec
        if timeout_s is not None and time.time() - t0 > timeout_s:
            return rec
        time.sleep(poll_s)


def run_worker(**kwargs: Any) -> int:
    """Run a :class:`Worker` in this process (see :meth:`Worker.run`); returns jobs run."""
    poll_s = kwargs.pop("poll_s", 1.0)
    return Worker(poll_s=poll_s).run(**kwargs)
