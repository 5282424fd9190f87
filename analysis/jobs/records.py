"""The job queue's database and its transactions (diskcache under ``cache_dir()/jobs``).

The records (:class:`JobRecord`, stored as JSON strings), every transaction on them (submit,
claim, update, cancel, requeue, list), the worker register, and the chunks of finished frames on
disk (``cache_dir()/jobs/chunks/<job id>/``). Each change to a record happens inside one diskcache
transaction (an SQLite ``BEGIN IMMEDIATE``), so two workers never take the same job. The crash-safety
argument is in :mod:`analysis.jobs.queue`; the worker that runs the jobs is :mod:`analysis.jobs.worker`.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np

from analysis.core.config import cache_dir
from analysis.core.procs import process_start, running_here
from analysis.datasets.store import atomic_write_bytes, find_dataset, model_slug, predictions_dir
from analysis.models.registry import ModelSpec, ModelUnavailableError, check_available, get_spec, resolve_dtype

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
def open_db(*, check: bool = False) -> Iterator[Any]:
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
            rec.frames_done = chunk_frames_done(rec.job_id) if rec.state == "queued" else rec.frames_done
            put_record(cache, rec)
    REPAIRS.append(f"the job queue database was damaged ({reason}): moved aside to {aside}; {len(records)} jobs recovered")


#: what this process found damaged and repaired (printed by the CLI, shown on the Jobs page)
REPAIRS: list[str] = []


def get_record(cache: Any, job_id: str) -> JobRecord | None:
    text = cache.get(_JOB + job_id)
    return JobRecord.from_json(text) if text else None


def put_record(cache: Any, rec: JobRecord) -> None:
    cache.set(_JOB + rec.job_id, rec.to_json())


def all_records(cache: Any) -> list[JobRecord]:
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
    with open_db() as cache, cache.transact():
        rec = get_record(cache, job_id)
        if rec is not None:
            if rec.state in ("queued", "running"):
                return job_id
            if rec.state == "done" and stored_result_matches(rec):
                return job_id
            rec.state, rec.error, rec.traceback = "queued", "", ""
            rec.finished = None
            rec.frames_done = chunk_frames_done(job_id)
            put_record(cache, rec)
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
        if stored_result_matches(rec):
            rec.state, rec.frames_done, rec.finished = "done", rec.frames_total, time.time()
        put_record(cache, rec)
    return job_id


def get_job(job_id: str) -> JobRecord:
    """The job's record (stale running jobs are re-queued first). KeyError when unknown."""
    requeue_stale()
    with open_db() as cache:
        rec = get_record(cache, job_id)
    if rec is None:
        raise KeyError(f"no job {job_id!r}")
    return rec


def list_jobs(*, state: str | None = None) -> list[JobRecord]:
    """All jobs, newest first (optionally only those in ``state``)."""
    if state is not None and state not in STATES:
        raise ValueError(f"{state=} must be one of {STATES}")
    requeue_stale()
    with open_db() as cache:
        recs = all_records(cache)
    recs.sort(key=lambda r: r.created, reverse=True)
    return [r for r in recs if state is None or r.state == state]


def cancel_job(job_id: str) -> JobRecord:
    """Cancel a queued or running job (a running one stops after its current chunk).

    Returns:
        The updated record (unchanged when the job had already finished).
    """
    with open_db() as cache, cache.transact():
        rec = get_record(cache, job_id)
        if rec is None:
            raise KeyError(f"no job {job_id!r}")
        if rec.state in ("queued", "running"):
            rec.state = "cancelled"
            rec.finished = time.time()
            put_record(cache, rec)
    return rec


def clear_finished(*, states: tuple[str, ...] = ("done", "failed", "cancelled")) -> int:
    """Forget finished job records and their partial chunks (stored predictions stay); returns the count."""
    removed = 0
    with open_db() as cache, cache.transact():
        for rec in all_records(cache):
            if rec.state in states:
                cache.delete(_JOB + rec.job_id)
                remove_chunks(rec.job_id)
                removed += 1
    return removed


# --------------------------------------------------------------------------- claims, heartbeats and chunks (the worker's side)
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
    with open_db() as cache:
        # read first without the write lock: the dashboard calls this on every poll
        if not any(r.state == "running" and not _alive(r.worker_pid, r.worker_host, r.worker_start, r.heartbeat) for r in all_records(cache)):
            return moved
    with open_db() as cache, cache.transact():
        for rec in all_records(cache):
            if rec.state == "running" and not _alive(rec.worker_pid, rec.worker_host, rec.worker_start, rec.heartbeat):
                rec.state = "queued"
                rec.worker_pid = rec.worker_host = rec.worker_start = None
                rec.frames_done = chunk_frames_done(rec.job_id)
                put_record(cache, rec)
                moved.append(rec.job_id)
    return moved


def claim_job(job_id: str | None = None) -> JobRecord | None:
    """Atomically take the oldest queued job (or ``job_id`` when given and queued) for this process."""
    pid = os.getpid()
    with open_db() as cache, cache.transact():
        if job_id is not None:
            rec = get_record(cache, job_id)
            candidates = [rec] if rec is not None and rec.state == "queued" else []
        else:
            candidates = sorted((r for r in all_records(cache) if r.state == "queued"), key=lambda r: r.created)
        if not candidates:
            return None
        rec = candidates[0]
        rec.state = "running"
        rec.worker_pid, rec.worker_host, rec.worker_start = pid, socket.gethostname(), process_start(pid)
        rec.started = rec.heartbeat = time.time()
        rec.attempts += 1
        rec.error = rec.traceback = ""  # from an interrupted earlier attempt
        put_record(cache, rec)
        return rec


def update_running(job_id: str, pid: int, **changes: Any) -> JobRecord | None:
    """Apply ``changes`` if the job is still running in process ``pid``; return the record."""
    with open_db() as cache, cache.transact():
        rec = get_record(cache, job_id)
        if rec is None:
            return None
        if rec.state == "running" and rec.worker_pid == pid:
            for key, value in changes.items():
                setattr(rec, key, value)
            put_record(cache, rec)
        return rec


def chunk_files(job_id: str) -> dict[int, Path]:
    folder = chunk_dir(job_id)
    out: dict[int, Path] = {}
    if folder.is_dir():
        for path in folder.glob("*.npz"):
            start = path.stem.split("-")[0]
            if start.isdigit():
                out[int(start)] = path
    return out


def chunk_frames_done(job_id: str) -> int:
    total = 0
    for path in chunk_files(job_id).values():
        start, end = (int(x) for x in path.stem.split("-"))
        total += end - start
    return total


def chunk_frames_failed(job_id: str) -> int:
    total = 0
    from analysis.jobs.integrity import read_chunk

    for path in chunk_files(job_id).values():
        arrays = read_chunk(path)
        total += len(arrays["failed_index"]) if arrays is not None else 0
    return total


def write_chunk(
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


def stored_result_matches(rec: JobRecord) -> bool:
    meta_path = predictions_dir(rec.dataset) / f"{model_slug(rec.model)}.json"
    if not meta_path.is_file() or not meta_path.with_suffix(".npz").is_file():
        return False
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return meta.get("job_id") == rec.job_id and meta.get("dataset_hash") == rec.dataset_hash


def remove_chunks(job_id: str) -> None:
    import shutil

    shutil.rmtree(chunk_dir(job_id), ignore_errors=True)


def announce_worker(pid: int) -> None:
    """Register worker process ``pid`` of this host (so ``evaluate`` can tell whether a worker runs)."""
    with open_db() as cache:
        cache.set(
            f"{_WORKER}{socket.gethostname()}:{pid}",
            json.dumps({"pid": pid, "host": socket.gethostname(), "start": process_start(pid), "time": time.time()}),
        )  # no expiry: a busy worker stays registered; a dead one is recognised by its pid


def withdraw_worker(pid: int) -> None:
    """Remove worker process ``pid`` of this host from the register."""
    with open_db() as cache:
        cache.delete(f"{_WORKER}{socket.gethostname()}:{pid}")


def live_workers() -> list[dict[str, Any]]:
    """Worker processes that have announced themselves and are still alive."""
    out = []
    with open_db() as cache:
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


