"""The command line, run as a real subprocess: import files, then print metrics."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from ase.io import write

from tests.analysis.helpers import emt_reference

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "analysis", *args], cwd=ROOT, env=os.environ.copy(),
                          capture_output=True, text=True, timeout=120)


def test_import_then_predictions_then_metrics_csv(tmp_path):
    ref = emt_reference(elements=("Cu",), temperatures=(300.0,), n_frames=3)
    write(tmp_path / "cu.extxyz", ref.frames, format="extxyz")
    out = _cli("import", str(tmp_path / "cu.extxyz"), "--temperature", "300", "--dataset", "cli-test")
    assert out.returncode == 0, out.stderr
    assert "3 frames" in out.stdout
    a = ref.arrays()
    np.savetxt(tmp_path / "dp.e.out", np.column_stack([a.energy, a.energy + 0.004 * a.n_atoms]))
    np.savetxt(tmp_path / "dp.f.out", np.column_stack([a.forces, a.forces + 0.05]))
    out = _cli("import", str(tmp_path / "dp.f.out"), "--dataset", "cli-test", "--predictions", "--model", "dp")
    assert out.returncode == 0, out.stderr
    out = _cli("metrics", "--dataset", "cli-test", "--csv", "--temperature", "300")
    assert out.returncode == 0, out.stderr
    header, row = out.stdout.strip().splitlines()
    values = dict(zip(header.split(","), row.split(",")))
    assert values["element"] == "Cu" and values["model"] == "dp"
    assert abs(float(values["energy_rmse_mev_per_atom"]) - 4.0) < 1e-3
    assert abs(float(values["force_rmse_mev_per_a"]) - 50.0) < 1e-3
    listing = _cli("datasets")
    assert "cli-test" in listing.stdout and "['dp']" in listing.stdout


def test_bad_file_gives_clear_error_and_keeps_store(tmp_path):
    ref = emt_reference(elements=("Cu",), temperatures=(300.0,), n_frames=2)
    write(tmp_path / "cu.extxyz", ref.frames, format="extxyz")
    assert _cli("import", str(tmp_path / "cu.extxyz"), "--dataset", "keep").returncode == 0
    (tmp_path / "broken.xyz").write_text("8\nnot a header\nCu 0 0\n")
    out = _cli("import", str(tmp_path / "broken.xyz"), "--dataset", "keep")
    assert out.returncode == 1
    assert "broken.xyz" in out.stderr and "error:" in out.stderr
    assert "2 frames" in _cli("datasets").stdout


def test_embed_predictions_copies_only_matching_hash(tmp_path, monkeypatch):
    from analysis.core.config import data_dir
    from analysis.datasets import store
    from tests.analysis.helpers import noisy_predictions

    embedded = tmp_path / "embedded"
    monkeypatch.setenv("MLFF_ATLAS_DEFAULT_DATA", str(embedded))
    ref = emt_reference(elements=("Cu",), temperatures=(300.0,), n_frames=2)
    store.save_dataset(ref, "shipped", root=embedded)
    store.save_predictions(noisy_predictions(ref, "good", energy_noise=0.01, force_noise=0.1), "shipped", root=data_dir())
    stale = noisy_predictions(ref, "stale", energy_noise=0.01, force_noise=0.1)
    store.save_predictions(type(stale)(**{**stale.__dict__, "dataset_hash": "0000"}), "shipped", root=data_dir())
    out = _cli("embed-predictions", "--dataset", "shipped")
    assert out.returncode == 0, out.stderr
    assert "skip stale" in out.stdout
    assert sorted(p.name for p in (embedded / "datasets/shipped/predictions").iterdir()) == ["good.json", "good.npz"]
