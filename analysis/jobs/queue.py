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

The queue is two modules below this one: :mod:`analysis.jobs.records` (the database, its records and
every transaction on them, the worker register, the chunks on disk) and :mod:`analysis.jobs.worker`
(the :class:`Worker` that claims and runs jobs). This module is where the argument above is written
down, and the place to import from: it re-exports both.

Public API (used by the dashboard): :func:`submit_job`, :func:`list_jobs`, :func:`get_job`,
:func:`cancel_job`, and :func:`analysis.models.available_models`.
"""
from __future__ import annotations

from analysis.jobs.records import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_CHUNK_FRAMES,
    HEARTBEAT_S,
    REPAIRS,
    STALE_AFTER_S,
    STATES,
    JobRecord,
    State,
    all_records,
    announce_worker,
    cancel_job,
    chunk_dir,
    chunk_files,
    chunk_frames_done,
    chunk_frames_failed,
    claim_job,
    clear_finished,
    get_job,
    get_record,
    job_key,
    jobs_dir,
    list_jobs,
    live_workers,
    open_db,
    put_record,
    remove_chunks,
    requeue_stale,
    stored_result_matches,
    submit_job,
    update_running,
    wait_for,
    withdraw_worker,
    write_chunk,
)
from analysis.jobs.worker import (
    DISK_FULL_WAIT_S,
    DiskFull,
    Worker,
    check_chunks,
    follow_content,
    predict_chunk,
    run_worker,
)

__all__ = [
    "State",
    "STATES",
    "DEFAULT_CHUNK_FRAMES",
    "DEFAULT_BATCH_SIZE",
    "HEARTBEAT_S",
    "STALE_AFTER_S",
    "REPAIRS",
    "JobRecord",
    "jobs_dir",
    "open_db",
    "get_record",
    "put_record",
    "all_records",
    "chunk_dir",
    "job_key",
    "submit_job",
    "get_job",
    "list_jobs",
    "cancel_job",
    "clear_finished",
    "requeue_stale",
    "claim_job",
    "update_running",
    "chunk_files",
    "chunk_frames_done",
    "chunk_frames_failed",
    "write_chunk",
    "stored_result_matches",
    "remove_chunks",
    "announce_worker",
    "withdraw_worker",
    "live_workers",
    "wait_for",
    "DiskFull",
    "DISK_FULL_WAIT_S",
    "Worker",
    "predict_chunk",
    "follow_content",
    "check_chunks",
    "run_worker",
]
