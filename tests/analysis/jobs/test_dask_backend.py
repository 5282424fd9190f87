"""The Dask backend on a real two-process LocalCluster (EMT on Cu; 127.0.0.1 only)."""
from __future__ import annotations

from pathlib import Path

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
