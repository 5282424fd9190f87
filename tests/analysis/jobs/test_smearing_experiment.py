"""The smearing experiment end to end on a tiny case: real GPAW labels at two widths, real MACE fits, the summary."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from analysis import reference
from analysis.core.config import data_dir
from analysis.datasets import store
from analysis.jobs import smearing

pytestmark = pytest.mark.slow

CHEAP = {"ecut_ev": 200, "kpt_density": 1.0, "convergence": {"density": 1e-4}, "electronic_temperature": "fixed"}


def _settings(tmp_path: Path) -> Path:
    raw = json.loads(reference.SETTINGS_PATH.read_text())
    raw["tiers"] = {
        "train": {"dataset": "exp-train", "elements": ["Al"], "temperatures": "highest", "n_frames": 3, "n_atoms": 4, "dft": CHEAP,
                  "eos": {"kpt_density": 1.5, "n_points": 5}, "sampler": {"steps_equilibrate": 20, "steps_between": 10}},
        "smear0.4": {"dataset": "exp-smear", "relabel_of": "train", "elements": ["Al"], "temperatures": "highest", "n_frames": 3,
                     "n_atoms": 4, "dft": {**CHEAP, "width_ev": 0.4}},
    }
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(raw))
    return path


def test_relabel_refit_and_summarise_two_widths(tmp_path: Path) -> None:
    settings, eos = _settings(tmp_path), tmp_path / "eos.json"
    out = data_dir()
    where = ["--settings", str(settings), "--out", str(out), "--eos", str(eos), "--jobs", "1"]
    assert reference.main(["--tier", "train", *where]) == 0
    with pytest.raises(ValueError, match="no tier labels the training frames at 0.7 eV"):
        smearing.arms([0.1, 0.7], settings_path=settings)
    result = smearing.run(["Al"], [0.1, 0.4], [0], label=True, out=out, settings_path=settings, eos_path=eos, epochs=2, log=lambda *_: None)

    base, wide = store.load_dataset("exp-train"), store.load_dataset("exp-smear")
    assert [a.info["frame_id"] for a in base.frames] == [a.info["frame_id"] for a in wide.frames]
    for a, b in zip(base.frames, wide.frames):  # the same positions, labelled again with the wider smearing only
        np.testing.assert_array_equal(a.positions, b.positions)
        assert a.info["smearing_width_ev"] == 0.1 and b.info["smearing_width_ev"] == 0.4
        assert abs(a.get_potential_energy() - b.get_potential_energy()) > 1e-4
    recorded = json.loads((out / "datasets" / "exp-smear" / "manifest.json").read_text())["provenance"]["settings"]["relabel_of"]
    assert recorded["changed_dft"] == {"width_ev": [0.1, 0.4]}

    assert result["ready"] == ["Al"] and not result["pending"]
    fitted = [r for r in result["rows"] if r["model"] == "mace-fitted"]
    assert sorted(r["sigma_ev"] for r in fitted) == [0.1, 0.4]
    assert fitted[0]["test_ids"] == fitted[1]["test_ids"]  # the same split at both widths
    for r in fitted:
        assert r["force_rmse_mev_per_a"] > 0 and r["relative"] == pytest.approx(r["force_rmse_mev_per_a"] / r["ref_force_std_mev_per_a"])
    row = result["summary"][0]
    assert row["element"] == "Al" and row["ratio_low"] <= row["ratio"] <= row["ratio_high"]
    assert row["ratio"] == pytest.approx(row["relative_high_sigma"] / row["relative_low_sigma"])
    assert "Al" in result["statement"] and "no early transition metal" in result["statement"]
