"""The electronic protocols on a real two-process Dask LocalCluster (127.0.0.1): one task per SCF, the
same curves as the local run, and a rerun that computes nothing."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from analysis.electronic import protocols as el
from analysis.electronic.dask_protocols import run_electronic

distributed = pytest.importorskip("distributed")
pytestmark = pytest.mark.slow

SMALL = {**el.SETTINGS, "ecut_ev": 150.0, "kpts": [2, 3, 3], "convergence": {"density": 1e-4}, "deltas_a": [0.0, 0.05, 0.1],
         "fermi_shifts_ev": [-0.5, -0.25, 0.0, 0.25, 0.5], "dos_kpt_densities": None}


def test_one_task_per_scf_gives_the_local_curves(tmp_path: Path) -> None:
    pytest.importorskip("gpaw")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        out = run_electronic(["Al"], root=tmp_path / "dask", client=client, settings=SMALL)
        assert "error" not in out["Al"], out["Al"]
        assert len(out["Al"]["scf"]) == 3 and not any(r["cached"] for r in out["Al"]["scf"])
        assert out["Al"]["curves"]["cached"] == 3 and out["Al"]["curves"]["computed"] == 0
        again = run_electronic(["Al"], root=tmp_path / "dask", client=client, settings=SMALL)
        assert all(r["cached"] for r in again["Al"]["scf"])
    local = el.run_element("Al", root=tmp_path / "local", settings=SMALL)
    assert local.computed == 3
    on_dask = el.load_curves("Al", root=tmp_path / "dask")
    assert on_dask is not None
    for method, c in local.curves["displacement"]["methods"].items():
        np.testing.assert_allclose(on_dask["displacement"]["methods"][method]["e_band_ev"], c["e_band_ev"], atol=1e-6)
    np.testing.assert_allclose(on_dask["displacement"]["total_energy_ev"], local.curves["displacement"]["total_energy_ev"], atol=1e-6)
