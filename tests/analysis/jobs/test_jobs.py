"""Job queue semantics with real workers (in-process and as killed/restarted subprocesses)."""
from __future__ import annotations

import os
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
from analysis.models.evaluate import make_evaluator
from tests.analysis.conftest import cu_frames

REPO = Path(__file__).resolve().parents[3]


def _worker_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "analysis", "worker", "--poll", "0.1", *args]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_submit_twice_is_one_job_and_runs_once(data_env: Path, cu_set: ReferenceSet) -> None:
    save_dataset(cu_set, "cu")
    a = jobs.submit_job("emt", "cu", device="cpu")
    b = jobs.submit_job("emt", "cu", device="cpu")
    assert a == b
    assert [r.job_id for r in jobs.list_jobs()] == [a]
    assert jobs.get_job(a).state == "queued"
    assert jobs.run_worker(once=True) == 1
    rec = jobs.get_job(a)
    assert rec.state == "done" and rec.frames_done == rec.frames_total == len(cu_set)
    # stored beside the data set, equal to the frames' own EMT labels
    pred = load_predictions("cu")["emt"]
    np.testing.assert_allclose(pred.aligned_to(cu_set.arrays()).energy, cu_set.arrays().energy, atol=1e-9)
    assert pred.meta["universal"] is False and pred.meta["job_id"] == a and pred.meta["device"] == "cpu"
    # a finished job submitted again is answered at once and not run again
    assert jobs.submit_job("emt", "cu", device="cpu") == a
    assert jobs.get_job(a).state == "done"
    assert jobs.run_worker(once=True) == 0


def test_finished_job_is_answered_from_the_store(data_env: Path, cu_set: ReferenceSet) -> None:
    save_dataset(cu_set, "cu")
    job_id = jobs.submit_job("emt", "cu", device="cpu", dtype="float64")
    jobs.run_worker(once=True)
    assert jobs.clear_finished() == 1
    assert jobs.list_jobs() == []
    assert jobs.submit_job("emt", "cu", device="cpu", dtype="float64") == job_id
    assert jobs.get_job(job_id).state == "done"
    # another device is another job
    other = jobs.submit_job("emt", "cu", device="auto", dtype="float64")
    assert other != job_id and jobs.get_job(other).state == "queued"


def test_dtype_is_resolved_per_model_never_silently_changed(data_env: Path, cu_set: ReferenceSet) -> None:
    save_dataset(cu_set, "cu")
    assert jobs.get_job(jobs.submit_job("chgnet-0.3.0", "cu")).dtype == "float32"
    assert jobs.get_job(jobs.submit_job("emt", "cu")).dtype == "float64"
    with pytest.raises(ValueError, match="float32 only"):
        jobs.submit_job("chgnet-0.3.0", "cu", dtype="float64")


def test_cancel_and_resubmit(data_env: Path, cu_set: ReferenceSet) -> None:
    save_dataset(cu_set, "cu")
    job_id = jobs.submit_job("emt", "cu", device="cpu")
    assert jobs.cancel_job(job_id).state == "cancelled"
    assert jobs.run_worker(once=True) == 0
    assert jobs.get_job(job_id).state == "cancelled"
    assert "emt" not in load_predictions("cu")
    jobs.submit_job("emt", "cu", device="cpu")
    assert jobs.get_job(job_id).state == "queued"


def test_failed_job_keeps_error_and_traceback(data_env: Path, cu_set: ReferenceSet, _model_dir: Path) -> None:
    save_dataset(cu_set, "cu")
    bad = _model_dir / "broken.model"
    bad.write_bytes(b"this is not a torch file")
    job_id = jobs.submit_job(f"mace:{bad}", "cu", device="cpu")
    jobs.run_worker(once=True)
    rec = jobs.get_job(job_id)
    assert rec.state == "failed"
    assert "could not be loaded (UnpicklingError" in rec.error  # the type; never the file's bytes
    assert "Traceback" in rec.traceback and "not a torch file" not in rec.error + rec.traceback


def test_unknown_inputs_are_refused(data_env: Path, cu_set: ReferenceSet) -> None:
    save_dataset(cu_set, "cu")
    with pytest.raises(KeyError, match="no data set named"):
        jobs.submit_job("emt", "nope")
    with pytest.raises(KeyError, match="unknown model"):
        jobs.submit_job("not-a-model", "cu")
    with pytest.raises(ValueError, match="dtype"):
        jobs.submit_job("emt", "cu", dtype="float16")
    with pytest.raises(RuntimeError, match="MLFF_ATLAS_MODEL_DIR"):
        jobs.submit_job("mace-mp-large", "cu")


def test_killed_worker_resumes_without_recomputing(data_env: Path, small_mace_path: Path) -> None:
    ref = ReferenceSet(cu_frames(30))
    save_dataset(ref, "cu30")
    job_id = jobs.submit_job(f"mace:{small_mace_path}", "cu30", device="cpu", chunk_frames=2, batch_size=2)
    proc = subprocess.Popen(_worker_cmd(), cwd=REPO, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and len(list(jobs.chunk_dir(job_id).glob("*.npz"))) < 3:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    written = {p.name: p.stat().st_mtime_ns for p in jobs.chunk_dir(job_id).glob("*.npz")}
    assert 3 <= len(written) < 15, "the worker must be killed mid-job"
    # the dead worker's job goes back to the queue
    rec = jobs.get_job(job_id)
    assert rec.state == "queued" and rec.frames_done == 2 * len(written)

    restarted = subprocess.run(_worker_cmd("--once"), cwd=REPO, env=_env(), capture_output=True, text=True, timeout=300)
    assert restarted.returncode == 0, restarted.stderr[-2000:]
    rec = jobs.get_job(job_id)
    assert rec.state == "done" and rec.attempts == 2
    assert rec.frames_reused == 2 * len(written)  # the second attempt started from the chunks on disk
    pred = load_predictions("cu30")[f"mace-{small_mace_path.stem}"].aligned_to(ref.arrays())
    # the resumed result equals one uninterrupted evaluation
    direct = make_evaluator(f"mace:{small_mace_path}", device="cpu", dtype="float64").predict(ref.frames)
    np.testing.assert_allclose(pred.energy, direct.energy, atol=1e-8)
    np.testing.assert_allclose(pred.forces, np.concatenate(direct.forces), atol=1e-8)


def test_two_workers_never_share_a_job(data_env: Path) -> None:
    ids = []
    for i in range(8):
        save_dataset(ReferenceSet(cu_frames(20, seed=i)), f"cu{i}")
        ids.append(jobs.submit_job("emt", f"cu{i}", device="cpu", chunk_frames=1))
    procs = [
        subprocess.Popen(_worker_cmd("--once"), cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    done_by = [{line.split()[0] for line in out.splitlines() if " done " in line} for out, _ in outs]
    print("jobs per worker:", [len(d) for d in done_by])
    assert done_by[0].isdisjoint(done_by[1])
    assert done_by[0] | done_by[1] == set(ids)
    assert all(jobs.get_job(j).attempts == 1 and jobs.get_job(j).state == "done" for j in ids)


def test_evaluate_command_runs_in_process_without_worker(data_env: Path, cu_set: ReferenceSet, capsys: pytest.CaptureFixture[str]) -> None:
    from analysis.cli import main

    save_dataset(cu_set, "cu")
    assert main(["evaluate", "--model", "emt", "--dataset", "cu", "--device", "cpu"]) == 0
    assert "done: emt on cu" in capsys.readouterr().out
    assert main(["jobs"]) == 0
    listing = capsys.readouterr().out
    assert "done" in listing and "emt" in listing


def test_sigterm_puts_the_job_back_at_once(data_env: Path) -> None:
    save_dataset(ReferenceSet(cu_frames(300)), "cu300")
    job_id = jobs.submit_job("emt", "cu300", device="cpu", chunk_frames=1)
    proc = subprocess.Popen(_worker_cmd(), cwd=REPO, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not list(jobs.chunk_dir(job_id).glob("*.npz")):
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
    rec = jobs.get_job(job_id)
    assert rec.state == "queued" and rec.worker_pid is None and "SystemExit" in rec.error
    assert 0 < rec.frames_done < 300
    assert jobs.live_workers() == []


def _li_frames(n: int, element: str = "Li", a: float = 3.44) -> list:
    """bcc cells (Li by default) labelled with ASE's Lennard-Jones (EMT has no Li or Ba parameters and refuses them)."""
    from ase.build import bulk
    from ase.calculators.lj import LennardJones

    from analysis.datasets.frames import make_frame

    rng = np.random.default_rng(7)
    frames = []
    for _ in range(n):
        atoms = bulk(element, "bcc", a=a, cubic=True)
        atoms.positions += rng.normal(0.0, 0.05, atoms.positions.shape)
        atoms.calc = LennardJones(sigma=2.7, epsilon=0.1, rc=6.0)
        frames.append(make_frame(atoms, atoms.get_potential_energy(), atoms.get_forces(), temperature_k=300.0, source="lj"))
    return frames


def test_frames_a_model_refuses_are_recorded_and_the_rest_scored(data_env: Path) -> None:
    from analysis.metrics.tables import compute_metrics_table

    ref = ReferenceSet([*cu_frames(6), *_li_frames(3)])
    save_dataset(ref, "mix")
    # chunks of 4 with batches of 4: the Li frames share batches with Cu frames and must be split out
    job_id = jobs.submit_job("emt", "mix", device="cpu", chunk_frames=4, batch_size=4)
    jobs.run_worker(once=True)
    rec = jobs.get_job(job_id)
    assert rec.state == "done" and rec.frames_done == 9 and rec.frames_failed == 3
    pred = load_predictions("mix")["emt"]
    arrays = ref.arrays()
    aligned = pred.aligned_to(arrays)
    is_li = arrays.element == "Li"
    np.testing.assert_array_equal(aligned.scored(), ~is_li)
    assert sorted(pred.failed_frames) == sorted(arrays.frame_id[is_li].tolist())
    assert all("EMT" in msg or "Li" in msg for msg in pred.failed_frames.values()), pred.failed_frames
    # the Cu frames are EMT's own labels, so they are scored exactly; Li has no row at all
    np.testing.assert_allclose(aligned.energy[~is_li], arrays.energy[~is_li], atol=1e-9)
    table = compute_metrics_table(arrays, {"emt": pred})
    assert set(table.element) == {"Cu"}
    assert table["energy_rmse_mev_per_atom"].max() < 1e-4  # stored labels are rounded to ~1e-9 eV


def test_a_model_that_refuses_every_frame_fails_the_job(data_env: Path) -> None:
    save_dataset(ReferenceSet(_li_frames(3)), "li")
    job_id = jobs.submit_job("emt", "li", device="cpu")
    jobs.run_worker(once=True)
    rec = jobs.get_job(job_id)
    assert rec.state == "failed"
    assert "failed on every frame" in rec.error and "Li" in rec.error
    assert "emt" not in load_predictions("li")


def test_frames_already_evaluated_are_never_evaluated_again(data_env: Path, small_mace_path: Path) -> None:
    """Growing a data set makes a new job, but only its new structures reach the model."""
    from analysis.models.frame_cache import FrameCache

    first = ReferenceSet(cu_frames(6))
    save_dataset(first, "grow")
    job_a = jobs.submit_job("emt", "grow", device="cpu", chunk_frames=4)
    jobs.run_worker(once=True)
    assert jobs.get_job(job_a).frames_cached == 0
    with FrameCache() as cache:
        assert len(cache) == 6
    # the same six structures plus three new ones (another seed), relabelled: a new data set hash
    grown = ReferenceSet([*cu_frames(6), *cu_frames(3, seed=5)])
    save_dataset(grown, "grow")
    job_b = jobs.submit_job("emt", "grow", device="cpu", chunk_frames=4)
    assert job_b != job_a
    jobs.run_worker(once=True)
    rec = jobs.get_job(job_b)
    assert rec.state == "done" and rec.frames_cached == 6
    with FrameCache() as cache:
        assert len(cache) == 9  # only the three new structures were evaluated and stored
    pred = load_predictions("grow")["emt"].aligned_to(grown.arrays())
    np.testing.assert_allclose(pred.energy, grown.arrays().energy, atol=1e-6)
    np.testing.assert_allclose(pred.forces, grown.arrays().forces, atol=1e-6)
    # 'auto' resolves to the CPU here: another job id, the same model as run, so all is reused
    job_c = jobs.submit_job("emt", "grow", device="auto")
    assert job_c != job_b
    jobs.run_worker(once=True)
    assert jobs.get_job(job_c).frames_cached == 9
    # another model on the same structures reuses nothing
    job_d = jobs.submit_job(f"mace:{small_mace_path}", "grow", device="cpu", dtype="float64")
    jobs.run_worker(once=True)
    assert jobs.get_job(job_d).state == "done" and jobs.get_job(job_d).frames_cached == 0


def test_refused_frames_are_cached_with_their_error(data_env: Path) -> None:
    save_dataset(ReferenceSet([*cu_frames(2), *_li_frames(2)]), "mix2")
    jobs.submit_job("emt", "mix2", device="cpu")
    jobs.run_worker(once=True)
    save_dataset(ReferenceSet([*cu_frames(3), *_li_frames(2)]), "mix2")
    job_id = jobs.submit_job("emt", "mix2", device="cpu")
    jobs.run_worker(once=True)
    rec = jobs.get_job(job_id)
    assert rec.state == "done" and rec.frames_cached == 4 and rec.frames_failed == 2
    assert all("No EMT-potential for Li" in m for m in load_predictions("mix2")["emt"].failed_frames.values())


def test_job_of_a_silent_worker_on_another_host_is_requeued(data_env: Path, cu_set: ReferenceSet, monkeypatch: pytest.MonkeyPatch) -> None:
    """A shared cache folder: a worker elsewhere cannot be looked up by pid, only by its heartbeat."""
    import time as _time

    save_dataset(cu_set, "cu")
    job_id = jobs.submit_job("emt", "cu", device="cpu")
    rec = jobs.claim_job(job_id)
    assert rec is not None and rec.heartbeat is not None
    with jobs.open_db() as cache:
        rec.worker_host, rec.worker_pid = "another-host", 12345
        rec.heartbeat = _time.time() - 0.5 * jobs.STALE_AFTER_S  # beating recently: leave it alone
        jobs.put_record(cache, rec)
    assert jobs.requeue_stale() == [] and jobs.get_job(job_id).state == "running"
    with jobs.open_db() as cache:
        rec.heartbeat = _time.time() - 2 * jobs.STALE_AFTER_S  # silent for too long: dead
        jobs.put_record(cache, rec)
    assert jobs.requeue_stale() == [job_id] and jobs.get_job(job_id).state == "queued"


def test_a_running_job_keeps_beating(data_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The heartbeat thread refreshes the record while a long job runs (here: beats every 50 ms)."""
    from analysis.jobs import records

    monkeypatch.setattr(records, "HEARTBEAT_S", 0.05)  # the worker reads it from the records module
    save_dataset(ReferenceSet(cu_frames(40, repeat=(3, 3, 3))), "cu-big")
    job_id = jobs.submit_job("emt", "cu-big", device="cpu", chunk_frames=4)
    beats: list[float] = []
    jobs.Worker(poll_s=0.1).run(once=True, on_progress=lambda r: beats.append(r.heartbeat or 0.0))
    rec = jobs.get_job(job_id)
    assert rec.state == "done"
    assert len(set(beats)) > 1 and max(beats) > rec.started, beats


def test_a_first_chunk_of_one_refused_element_does_not_fail_the_job(data_env: Path) -> None:
    """Refused frames that happen to fill the first chunk (one element) are not taken for a broken model."""
    ref = ReferenceSet([*_li_frames(4, "Ba", 5.0), *cu_frames(4)])
    save_dataset(ref, "ba-first")
    assert ref.arrays().element.tolist()[:4] == ["Ba"] * 4  # in the order given: the refused ones come first
    job_id = jobs.submit_job("emt", "ba-first", device="cpu", chunk_frames=4)
    jobs.run_worker(once=True)
    rec = jobs.get_job(job_id)
    assert rec.state == "done" and rec.frames_failed == 4
