"""Integrity of the job queue's storage: checksummed chunks, a rebuilt database, ``jobs --repair``.

Each chunk file (``<jobs>/chunks/<job id>/<start>-<end>.npz``) holds a ``checksum`` of its arrays
(:func:`analysis.core.storage.array_digest`). :func:`read_chunk` returns the arrays only when the
file loads and the checksum matches; :func:`discard_damaged_chunks` deletes the others, so the job
computes those frames again instead of failing forever on a bad file. Each job's folder also keeps
``job.json``, the record as it was claimed: when the queue database is damaged and moved aside,
:func:`rebuild_records` makes the records again from those files (queued, resuming from their
chunks) and from the stored predictions (done).
"""
from __future__ import annotations

import json
import logging
import shutil
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from analysis.core.storage import array_digest

log = logging.getLogger(__name__)
CHUNK_KEYS = ("energy", "forces", "n_atoms", "failed_index", "failed_error")
JOB_FILE = "job.json"


def chunk_checksum(arrays: dict[str, Any]) -> str:
    """The checksum a chunk stores: over its energies, forces, atom counts and refusals."""
    return array_digest(arrays[k] for k in CHUNK_KEYS)


def read_chunk(path: Path) -> dict[str, Any] | None:
    """The arrays of a chunk file, or None when it cannot be read or fails its checksum."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        log.warning("chunk %s cannot be read: %s", path, exc)
        return None
    if "checksum" not in arrays or any(k not in arrays for k in CHUNK_KEYS):
        return None
    if str(arrays["checksum"]) != chunk_checksum(arrays):
        log.warning("chunk %s fails its checksum", path)
        return None
    return arrays


def discard_damaged_chunks(folder: Path) -> list[str]:
    """Delete the chunk files in ``folder`` that fail :func:`read_chunk`; returns their names.

    Only evaluation chunks (``0000000-0000032.npz``) are judged: a fit job's ``result.npz`` carries
    its own checksum (:func:`analysis.jobs.fit_jobs.read_result`) and is left alone.
    """
    import re

    bad = []
    for path in sorted(folder.glob("*.npz")) if folder.is_dir() else []:
        if not re.fullmatch(r"\d+-\d+", path.stem):
            continue
        if read_chunk(path) is None:
            path.unlink(missing_ok=True)
            bad.append(path.stem)
    return bad


def write_job_file(folder: Path, record_json: str) -> None:
    """Keep the claimed record beside the chunks (what a rebuilt database starts from)."""
    from analysis.datasets.store import atomic_write_bytes

    atomic_write_bytes(folder / JOB_FILE, record_json.encode())


def rebuild_records(chunks_root: Path, predictions: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Job records recovered after the database was lost.

    Args:
        chunks_root: ``<jobs>/chunks``; each job folder with a ``job.json`` becomes a queued job.
        predictions: (data set name, stored predictions' metadata) pairs; those written by a job
            (with ``job_id`` and ``spec``) become done jobs.

    Returns:
        Record dictionaries (the fields of :class:`analysis.jobs.queue.JobRecord`).
    """
    out: dict[str, dict[str, Any]] = {}
    for dataset, meta in predictions:
        if not meta.get("job_id") or not isinstance(meta.get("spec"), dict):
            continue
        out[meta["job_id"]] = {
            "job_id": meta["job_id"], "model": meta.get("model") or meta["spec"].get("name", ""), "spec": meta["spec"],
            "dataset": dataset, "dataset_hash": meta.get("dataset_hash", ""), "device": meta.get("requested_device", meta.get("device", "auto")),
            "dtype": meta.get("dtype", "float64"), "state": "done", "device_used": meta.get("device", ""),
            "integrity_notes": ["recovered from the stored predictions after the queue database was damaged"],
        }
    for job_file in sorted(chunks_root.glob(f"*/{JOB_FILE}")) if chunks_root.is_dir() else []:
        try:
            record = json.loads(job_file.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if not isinstance(record, dict) or record.get("job_id") in out:
            continue
        record.update(state="queued", worker_pid=None, worker_host=None, worker_start=None, heartbeat=None, error="", traceback="")
        record["integrity_notes"] = [*record.get("integrity_notes", []),
                                     "recovered from its chunks after the queue database was damaged"]
        out[str(record["job_id"])] = record
    return list(out.values())


def move_predictions_aside(npz: Path, reason: str) -> Path:
    """Move damaged stored predictions (npz + json) into ``predictions/damaged/``."""
    target = npz.parent / "damaged"
    target.mkdir(parents=True, exist_ok=True)
    for path in (npz, npz.with_suffix(".json")):
        if path.exists():
            shutil.move(str(path), str(target / path.name))
    (target / f"{npz.stem}.REASON.txt").write_text(reason + "\n")
    return target
