"""The Dask backend on a real two-process LocalCluster (EMT on Cu; 127.0.0.1 only)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from analysis.datasets.frames import ReferenceSet
from analysis.datasets.store import load_predictions, save_dataset
from analysis.jobs import dask_backend
from analysis.jobs import queue as jobs
from tests.analysis.conftest import cu_frames

distributed = pytest.importorskip("distributed")


def test_gpu_work_asks_for_a_gpu_resource() -> None:
    assert dask_backend.task_resources("cuda") == {"GPU": 1}
    assert dask_backend.task_resources("cuda:1") == {"GPU": 1}
    assert dask_backend.task_resources("cpu") is None


def test_job_split_over_two_workers_matches_the_local_worker(data_env: Path) -> None:
    save_dataset(ReferenceSet(cu_frames(8)), "cu")
    local_id = jobs.submit_job("emt", "cu", device="cpu", chunk_frames=2)
    jobs.run_worker(once=True)
    local = load_predictions("cu")["emt"]
    jobs.clear_finished()
    (data_env / "data").rename(data_env / "data-local")
    save_dataset(ReferenceSet(cu_frames(8)), "cu")
    from analysis.models.frame_cache import FrameCache

    with FrameCache() as fc:
        fc.clear()  # the Dask workers must compute, not read the local run's results
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        job_id = jobs.submit_job("emt", "cu", device="cpu", chunk_frames=2)
        assert job_id == local_id
        rec = dask_backend.run_job(job_id, client)
    assert rec.state == "done" and rec.frames_done == 8, rec.error
    pred = load_predictions("cu")["emt"]
    np.testing.assert_allclose(pred.energy, local.energy, rtol=0, atol=1e-12)  # last-digit float noise seen
    np.testing.assert_allclose(pred.forces, local.forces, rtol=0, atol=1e-12)
    assert pred.meta["job_id"] == job_id and rec.frames_cached == 0


# ----------------------------------------------------------------------------- faults on a real cluster
REPO = Path(__file__).resolve().parents[3]


def _chunk_mtimes(job_id: str) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in jobs.chunk_dir(job_id).glob("*.npz")}


def _start_job_and_wait_for_two_chunks(client: Any) -> tuple[str, threading.Thread, dict[str, Any], dict[str, int]]:
    """Submit EMT on 'cu12' (chunks of 2 frames, each task pausing 1.5 s) and run it on ``client`` in a
    thread; return once two chunks are on disk: (job id, the thread, its result holder, chunk mtimes)."""
    job_id = jobs.submit_job("emt", "cu12", device="cpu", chunk_frames=2)
    result: dict[str, Any] = {}
    runner = threading.Thread(target=lambda: result.update(rec=dask_backend.run_job(job_id, client, pause_s=1.5)))
    runner.start()
    return job_id, runner, result, _wait_for_chunks(job_id, 2)


def _wait_for_chunks(job_id: str, n: int, timeout_s: float = 120.0) -> dict[str, int]:
    deadline = time.time() + timeout_s
    while time.time() < deadline and len(_chunk_mtimes(job_id)) < n:
        time.sleep(0.02)
    return _chunk_mtimes(job_id)


def test_worker_killed_mid_job_the_other_finishes_it_nothing_lost_nothing_twice(data_env: Path) -> None:
    from analysis.models.frame_cache import FrameCache

    ref = ReferenceSet(cu_frames(12))
    save_dataset(ref, "cu12")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        job_id, runner, result, before = _start_job_and_wait_for_two_chunks(client)
        assert 2 <= len(before) < 6, "the kill must come mid-job"
        # a worker is now in the pause of its next chunk: kill -9 it (the nanny starts a fresh one)
        pids = list(client.run(os.getpid).values())
        os.kill(pids[0], signal.SIGKILL)
        runner.join(timeout=180)
        assert not runner.is_alive()
    rec = result["rec"]
    assert rec.state == "done" and rec.frames_done == 12, rec.error
    pred = load_predictions("cu12")["emt"].aligned_to(ref.arrays())
    direct = jobs_evaluate_direct(ref)
    np.testing.assert_allclose(pred.energy, direct[0], rtol=0, atol=1e-10)
    np.testing.assert_allclose(pred.forces, direct[1], rtol=0, atol=1e-10)
    # nothing twice: each structure was evaluated and cached once, none was answered from the cache
    with FrameCache() as cache:
        assert len(cache) == 12
    assert rec.frames_cached == 0


def jobs_evaluate_direct(ref: ReferenceSet) -> tuple[np.ndarray, np.ndarray]:
    """EMT energies (F,) and forces (A, 3) of the stored frames, evaluated straight through ASE (no queue, no Dask)."""
    from ase.calculators.emt import EMT

    from analysis.datasets.store import load_dataset

    energy, forces = [], []
    stored = load_dataset("cu12")
    assert stored.content_hash() == ReferenceSet(ref.frames).content_hash()
    for atoms in stored.frames:
        a = atoms.copy()
        a.calc = EMT()
        energy.append(a.get_potential_energy())
        forces.append(a.get_forces())
    return np.array(energy), np.concatenate(forces)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_cluster(port: int) -> list[subprocess.Popen[bytes]]:
    """A real ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1:``port``."""
    dask = str(Path(sys.executable).with_name("dask"))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    sched = subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                             cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers = [subprocess.Popen([dask, "worker", f"tcp://127.0.0.1:{port}", "--nthreads", "1", "--no-dashboard",
                                 "--no-nanny", "--death-timeout", "20"],
                                cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(2)]
    return [sched, *workers]


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait(timeout=30)


def _client(port: int) -> Any:
    client = distributed.Client(f"tcp://127.0.0.1:{port}", timeout=60)
    client.wait_for_workers(2, timeout=60)
    return client


def test_scheduler_restart_the_job_waits_then_resumes_from_what_is_stored(data_env: Path) -> None:
    ref = ReferenceSet(cu_frames(12))
    save_dataset(ref, "cu12")
    port = _free_port()
    procs = _start_cluster(port)
    try:
        client = _client(port)
        job_id, runner, result, before = _start_job_and_wait_for_two_chunks(client)
        assert 2 <= len(before) < 6, "the scheduler must go mid-job"
        procs[0].kill()  # the scheduler dies
        runner.join(timeout=120)
        assert not runner.is_alive()
        client.close(timeout=5)
    finally:
        _stop(procs)
    waiting = jobs.get_job(job_id)
    assert result["rec"].state == "queued" and waiting.state == "queued", waiting
    assert "scheduler lost" in waiting.error
    kept = _chunk_mtimes(job_id)
    assert set(before) <= set(kept)

    procs = _start_cluster(port)  # a new scheduler at the same address
    try:
        with _client(port) as client:
            assert dask_backend.serve(client, once=True) == 1
    finally:
        _stop(procs)
    rec = jobs.get_job(job_id)
    assert rec.state == "done" and rec.attempts == 2, rec.error
    assert rec.frames_reused == 2 * len(kept)  # the second attempt started from the chunks on disk
    pred = load_predictions("cu12")["emt"].aligned_to(ref.arrays())
    energy, forces = jobs_evaluate_direct(ref)
    np.testing.assert_allclose(pred.energy, energy, rtol=0, atol=1e-10)
    np.testing.assert_allclose(pred.forces, forces, rtol=0, atol=1e-10)


def test_no_scheduler_is_one_clear_error(data_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from analysis.jobs.cli import worker_main

    port = _free_port()
    assert worker_main(["--backend", "dask", "--scheduler", f"tcp://127.0.0.1:{port}", "--scheduler-timeout", "3",
                        "--once"]) == 1
    err = capsys.readouterr().err
    assert "no Dask scheduler answers at tcp://127.0.0.1:" in err and "Traceback" not in err


# ----------------------------------------------------------------------------- fits as Dask tasks
def test_fits_run_one_task_per_element_and_survive_a_killed_worker(data_env: Path) -> None:
    """Two elements' MACE fits as two tasks; the worker training Cu is killed with -9 after two
    epochs: the task is retried and resumes from Cu's checkpoint; both fits land, nothing twice."""
    from analysis.jobs.fit_jobs import submit_fit
    from tests.analysis.helpers import emt_reference

    save_dataset(emt_reference(elements=("Cu", "Al"), temperatures=(300.0, 900.0), n_frames=4), "fit2")
    cu = submit_fit("mace", "fit2", "Cu", schedule={"epochs": 40})
    al = submit_fit("mace", "fit2", "Al", schedule={"epochs": 3})
    killed: dict[str, Any] = {}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:

        def kill_cu_worker(rec: jobs.JobRecord) -> None:
            if killed or rec.job_id != cu or rec.frames_done < 2:
                return
            for address, keys in client.processing().items():
                if any(cu in str(k) for k in keys):
                    killed["pid"] = client.run(os.getpid, workers=[address])[address]
                    os.kill(killed["pid"], signal.SIGKILL)

        records = dask_backend.run_fit_jobs([cu, al], client, on_progress=kill_cu_worker)
    assert [r.state for r in records] == ["done", "done"], [r.error for r in records]
    assert killed.get("pid"), "the Cu task's worker was found and killed"
    pred = load_predictions("fit2")["mace-fitted"]
    assert set(pred.meta["fits"]) == {"Cu", "Al"}
    cu_fit = pred.meta["fits"]["Cu"]
    assert cu_fit["resumed_from_checkpoint"] is True  # the retried task continued the killed one's training
    assert [row["step"] for row in cu_fit["learning_curve"]] == list(range(40))
    assert jobs.get_job(cu).device_used == "dask:cpu"
