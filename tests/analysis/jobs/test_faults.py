"""Fault injection (issue 14): damaged chunks, cached values, databases and stored predictions, a full
disk, and workers killed at random points. Each case asserts that nothing is lost and nothing wrong
is served: the predictions equal a clean evaluation of the stored frames."""
from __future__ import annotations

import io
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from analysis.datasets.frames import ReferenceSet
from analysis.datasets.store import load_predictions, save_dataset
from analysis.jobs import queue as jobs
from analysis.jobs.cli import repair
from analysis.models.evaluate import make_evaluator
from tests.analysis.conftest import cu_frames

REPO = Path(__file__).resolve().parents[3]


def _clean(ref: ReferenceSet) -> tuple[np.ndarray, np.ndarray]:
    direct = make_evaluator("emt", device="cpu", dtype="float64").predict(ref.frames)
    return np.asarray(direct.energy), np.concatenate(direct.forces)


def _assert_served_right(dataset: str, ref: ReferenceSet) -> None:
    """The served predictions equal a clean evaluation of the stored frames (to 1e-10: the last digits of a sum)."""
    from analysis.datasets.store import load_dataset

    stored = load_dataset(dataset)
    assert len(stored) == len(ref)
    pred = load_predictions(dataset)["emt"].aligned_to(stored.arrays())
    energy, forces = _clean(stored)
    np.testing.assert_allclose(pred.energy, energy, rtol=0, atol=1e-10)  # batching moves the last digits only
    np.testing.assert_allclose(pred.forces, forces, rtol=0, atol=1e-10)


def _chunks_on_disk(job_id: str) -> int:
    """Chunks of the job written so far (the files themselves: the job record may lag a kill by one)."""
    return len(list(jobs.chunk_dir(job_id).glob("*.npz")))


def _run_until_chunks(job_id: str, n_chunks: int) -> None:
    """Run the job in-process and stop it (cancel) once ``n_chunks`` chunks are on disk."""
    worker = jobs.Worker(poll_s=0.05)

    def stop_after(rec: jobs.JobRecord) -> None:
        if _chunks_on_disk(job_id) >= n_chunks:
            raise KeyboardInterrupt  # like a SIGTERM between chunks: the job goes back to the queue

    with pytest.raises(KeyboardInterrupt):
        worker.run(once=True, on_progress=stop_after)


def _plus_one_ev(path: Path, *, compressed: bool = False) -> None:
    """Rewrite an npz (a chunk, stored predictions) as a valid file whose energies are 1 eV higher,
    its checksum left as it was."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["energy"] = arrays["energy"] + 1.0
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    path.write_bytes(buffer.getvalue())


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize("damage", [_plus_one_ev, _flip_byte, _truncate], ids=["plus-1-eV", "flipped-byte", "truncated"])
def test_a_damaged_chunk_is_discarded_recomputed_and_said(data_env: Path, damage) -> None:
    ref = ReferenceSet(cu_frames(12))
    save_dataset(ref, "cu")
    job_id = jobs.submit_job("emt", "cu", device="cpu", chunk_frames=3)
    _run_until_chunks(job_id, 2)
    first = sorted(jobs.chunk_dir(job_id).glob("*.npz"))[0]
    damage(first)
    jobs.Worker(poll_s=0.05).run(once=True)
    rec = jobs.get_job(job_id)
    assert rec.state == "done", rec.error
    assert any("discarded 1 damaged chunk" in n and first.stem in n for n in rec.integrity_notes), rec.integrity_notes
    _assert_served_right("cu", ref)


def _flip_cached_value_in_the_database(folder: Path) -> int:
    """Flip one byte inside one stored value, in the SQLite file itself (SQLite has no checksums)."""
    import sqlite3

    with sqlite3.connect(folder / "cache.db") as conn:
        (value,) = conn.execute("SELECT value FROM Cache WHERE value IS NOT NULL LIMIT 1").fetchone()
    data = bytearray((folder / "cache.db").read_bytes())
    at = data.find(bytes(value)[20:40])
    assert at > 0
    data[at + 3] ^= 0x40  # a high bit of one float of the forces: a large, plausible-looking error
    (folder / "cache.db").write_bytes(bytes(data))
    return at


def test_a_flipped_byte_in_the_per_frame_cache_is_discarded_and_recomputed(data_env: Path) -> None:
    ref = ReferenceSet(cu_frames(8))
    save_dataset(ref, "cu")
    jobs.submit_job("emt", "cu", device="cpu")
    jobs.Worker(poll_s=0.05).run(once=True)
    _flip_cached_value_in_the_database(Path(os.environ["MLFF_ATLAS_CACHE"]) / "frame-results")
    again = jobs.submit_job("emt", "cu", device="auto")  # another job: answered from the cache
    jobs.Worker(poll_s=0.05).run(once=True)
    rec = jobs.get_job(again)
    assert rec.state == "done" and rec.frames_cached == 7
    assert any("1 cached frame result(s) failed their checksum" in n for n in rec.integrity_notes)
    _assert_served_right("cu", ref)


def test_garbage_in_the_cache_database_is_moved_aside(data_env: Path) -> None:
    ref = ReferenceSet(cu_frames(6))
    save_dataset(ref, "cu")
    folder = Path(os.environ["MLFF_ATLAS_CACHE"]) / "frame-results"
    folder.mkdir(parents=True)
    (folder / "cache.db").write_bytes(os.urandom(8192))
    run = subprocess.run([sys.executable, "-m", "analysis", "jobs", "--clear-cache"], cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
    assert any((folder / "damaged").iterdir())
    (folder / "cache.db").write_bytes(os.urandom(8192))
    job_id = jobs.submit_job("emt", "cu", device="cpu")
    jobs.Worker(poll_s=0.05).run(once=True)
    assert jobs.get_job(job_id).state == "done"
    _assert_served_right("cu", ref)


def test_garbage_in_the_jobs_database_is_rebuilt_from_chunks_and_predictions(data_env: Path) -> None:
    done_ref, open_ref = ReferenceSet(cu_frames(6)), ReferenceSet(cu_frames(9, seed=5))
    save_dataset(done_ref, "done")
    save_dataset(open_ref, "open")
    finished = jobs.submit_job("emt", "done", device="cpu")
    jobs.Worker(poll_s=0.05).run(once=True)
    unfinished = jobs.submit_job("emt", "open", device="cpu", chunk_frames=3)
    _run_until_chunks(unfinished, 1)
    db = jobs.jobs_dir() / "cache.db"
    db.write_bytes(os.urandom(db.stat().st_size or 4096))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    listing = subprocess.run([sys.executable, "-m", "analysis", "jobs"], cwd=REPO, capture_output=True, text=True, env=env)
    assert listing.returncode == 0 and "Traceback" not in listing.stderr, listing.stderr
    assert "moved aside" in listing.stdout and "2 jobs recovered" in listing.stdout, listing.stdout
    states = {r.job_id: r.state for r in jobs.list_jobs()}
    assert states == {finished: "done", unfinished: "queued"}
    worker = subprocess.run([sys.executable, "-m", "analysis", "worker", "--once", "--poll", "0.05"], cwd=REPO,
                            capture_output=True, text=True, env=env, timeout=300)
    assert worker.returncode == 0 and "Traceback" not in worker.stderr, worker.stderr[-2000:]
    rec = jobs.get_job(unfinished)
    assert rec.state == "done" and rec.frames_reused == 3  # resumed from its chunk
    _assert_served_right("open", open_ref)
    _assert_served_right("done", done_ref)


def test_damaged_stored_predictions_are_not_served_and_repair_moves_them_aside(data_env: Path) -> None:
    ref = ReferenceSet(cu_frames(6))
    save_dataset(ref, "cu")
    jobs.submit_job("emt", "cu", device="cpu")
    jobs.Worker(poll_s=0.05).run(once=True)
    npz = next((Path(os.environ["MLFF_ATLAS_DATA"]) / "datasets" / "cu" / "predictions").glob("*.npz"))
    _plus_one_ev(npz, compressed=True)
    assert "emt" not in load_predictions("cu")  # wrong numbers are never served
    lines = repair()
    assert any("1 damaged moved aside" in line and "fail the checksum" in line for line in lines), lines
    assert (npz.parent / "damaged" / npz.name).is_file()
    job_id = jobs.submit_job("emt", "cu", device="cpu")
    jobs.Worker(poll_s=0.05).run(once=True)
    assert jobs.get_job(job_id).frames_cached == 6
    _assert_served_right("cu", ref)


# --------------------------------------------------------------------------- killed at random points
def test_workers_killed_at_random_points_lose_nothing(data_env: Path, small_mace_path: Path) -> None:
    """Five kills -9 of one job (seeded): one before the model loads, four mid-job at random points of its
    progress. The finished predictions equal one clean run.

    The mid-job kills are placed by the job's stored progress (frames on disk), not by wall time, so a
    fast machine that finishes the job in a second still sees every kill land while it runs.
    """
    ref = ReferenceSet(cu_frames(40))
    save_dataset(ref, "cu40")
    chunk = 2
    job_id = jobs.submit_job(f"mace:{small_mace_path}", "cu40", device="cpu", chunk_frames=chunk, batch_size=chunk)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    rng = random.Random(14)
    targets = sorted(rng.sample(range(1, 16), 4))  # chunks on disk at which to kill (frames 2-30): at least 5 remain
    kills_mid_job = 0

    worker = [sys.executable, "-m", "analysis", "worker", "--once", "--poll", "0.05"]

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(worker, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    early = start()
    time.sleep(rng.uniform(0.1, 0.6))  # before the model has loaded
    early.send_signal(signal.SIGKILL)
    early.wait(timeout=30)
    for target in targets:
        goal = max(target, _chunks_on_disk(job_id) + 1)  # this worker writes at least one chunk before it dies
        proc = start()
        deadline = time.monotonic() + 240
        while proc.poll() is None and _chunks_on_disk(job_id) < goal and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.05))  # somewhere inside the next chunk
        if proc.poll() is None and jobs.get_job(job_id).state != "done":
            proc.send_signal(signal.SIGKILL)
            kills_mid_job += 1
        proc.wait(timeout=30)
    assert jobs.get_job(job_id).state != "done", "the job finished before the last kill: the kills did not land mid-job"
    final = subprocess.run(worker, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr[-2000:]
    rec = jobs.get_job(job_id)
    assert rec.state == "done" and kills_mid_job == len(targets), (rec.state, kills_mid_job)
    assert rec.frames_reused >= chunk * targets[-1], rec.frames_reused  # the last attempt resumed from the chunks on disk
    from analysis.datasets.store import load_dataset

    stored = load_dataset("cu40")
    pred = load_predictions("cu40")[f"mace-{small_mace_path.stem}"].aligned_to(stored.arrays())
    direct = make_evaluator(f"mace:{small_mace_path}", device="cpu", dtype="float64").predict(stored.frames)
    np.testing.assert_allclose(pred.energy, direct.energy, atol=1e-10)
    np.testing.assert_allclose(pred.forces, np.concatenate(direct.forces), atol=1e-10)


# --------------------------------------------------------------------------- a full disk
def _tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True).returncode == 0


@pytest.fixture
def small_disk(tmp_path: Path):
    disk = tmp_path / "disk"
    if not _tmpfs(disk, "4m"):
        pytest.skip("needs root and tmpfs mounts to make a real full disk (runs as root in CI and on the dev machine)")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_full_disk_keeps_the_store_and_names_the_folder(small_disk: Path, tmp_path: Path) -> None:
    from ase.io import write

    data = small_disk / "data"
    env = {**os.environ, "MLFF_ATLAS_DATA": str(data), "PYTHONPATH": str(REPO)}
    write(tmp_path / "small.xyz", cu_frames(2), format="extxyz")
    write(tmp_path / "big.xyz", cu_frames(1500, repeat=(3, 3, 3)), format="extxyz")  # about 8 MB of columns in the store: more than the disk
    assert subprocess.run([sys.executable, "-m", "analysis", "import", str(tmp_path / "small.xyz"), "--dataset", "cu"],
                          cwd=REPO, env=env, capture_output=True).returncode == 0
    before = {p: p.read_bytes() for p in data.rglob("*") if p.is_file() and not p.name.endswith(".lock")}
    run = subprocess.run([sys.executable, "-m", "analysis", "import", str(tmp_path / "big.xyz"), "--dataset", "cu", "--mode", "append"],
                         cwd=REPO, env=env, capture_output=True, text=True)
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr[-2000:]
    assert f"no space left in {data / 'datasets'}: about" in run.stderr and "MB needed" in run.stderr, run.stderr
    after = {p: p.read_bytes() for p in data.rglob("*") if p.is_file() and not p.name.endswith(".lock")}
    assert after == before  # the store is byte-identical, no temporary folder left behind


def test_a_worker_waits_for_space_and_finishes(small_disk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFF_ATLAS_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("MLFF_ATLAS_CACHE", str(small_disk / "cache"))
    monkeypatch.setenv("MLFF_ATLAS_DEFAULT_DATA", str(tmp_path / "default"))
    monkeypatch.setattr(jobs, "DISK_FULL_WAIT_S", 0.2)
    ref = ReferenceSet(cu_frames(60, repeat=(2, 2, 2)))
    save_dataset(ref, "cu")
    job_id = jobs.submit_job("emt", "cu", device="cpu", chunk_frames=5)
    filler = small_disk / "filler"
    with open(filler, "wb") as handle:  # fill the disk but for a little room
        try:
            while True:
                handle.write(b"\0" * 65536)
        except OSError:
            pass
    worker = jobs.Worker(poll_s=0.05)
    freed = []

    def free_space_after_first_wait(self: jobs.Worker, job: str | None, cause: BaseException, original=jobs.Worker._wait_for_space) -> None:
        original(self, job, cause)
        if filler.exists():
            filler.unlink()
            freed.append(str(cause))

    monkeypatch.setattr(jobs.Worker, "_wait_for_space", free_space_after_first_wait)
    worker.run(max_jobs=1)
    assert freed and worker.disk_full_waits >= 1, "the disk never filled up"
    assert jobs.get_job(job_id).state == "done"
    _assert_served_right("cu", ref)
