"""DFT labelling on a real two-process Dask LocalCluster (127.0.0.1): the ci tier's Al cell, one task per
frame, resumable, and the same labels as the local pipeline."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from ase.io import read

from analysis import reference
from analysis.reference.dask_build import build_reference as build_on_dask

distributed = pytest.importorskip("distributed")
pytestmark = pytest.mark.slow


def test_labels_on_two_workers_resume_and_equal_the_local_pipeline(tmp_path: Path) -> None:
    pytest.importorskip("gpaw")
    pytest.importorskip("chgnet")
    settings = dataclasses.replace(reference.load_settings("ci", elements=["Al"]), n_frames=3)
    out, eos_path = tmp_path / "store", tmp_path / "eos.json"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        folder, records = build_on_dask(settings, out=out, eos_path=eos_path, client=client)
        assert sorted(r["index"] for r in records) == [0, 1, 2] and sum(r["computed"] for r in records) == 3
        build = reference.build_dir(out, settings)
        files = [reference.frame_path(build, "Al", 1120.0, i) for i in range(3)]
        mtimes = [f.stat().st_mtime_ns for f in files]
        # a rerun finds everything on disk: no task computes anything
        _, again = build_on_dask(settings, out=out, eos_path=eos_path, client=client)
        assert sum(r["computed"] for r in again) == 0 and [f.stat().st_mtime_ns for f in files] == mtimes
    from analysis.datasets import store

    stored = store.read_dataset(folder).frames
    assert len(stored) == 3
    # the local pipeline labels the same sample to the same energy and forces
    dask_frame = read(files[1], format="extxyz")
    files[1].unlink()
    assert reference.run_element("Al", settings, out, eos_path) == 1
    local_frame = read(files[1], format="extxyz")
    assert local_frame.get_potential_energy() == pytest.approx(dask_frame.get_potential_energy(), abs=1e-8)
    assert abs(local_frame.get_forces() - dask_frame.get_forces()).max() < 1e-6
