"""MACE fitted per element with mace-torch's own training program (a few epochs on EMT-labelled frames)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from analysis.datasets import store
from analysis.models.fitting import fit_per_element, split_frames
from tests.analysis.helpers import emt_reference


def test_split_is_per_temperature_disjoint_covering_and_reproducible() -> None:
    ref = emt_reference(elements=("Cu", "Al"), temperatures=(300.0, 900.0), n_frames=8)
    split = split_frames(ref, "Cu", seed=3)
    ids = [i for part in split.values() for i in part]
    assert len(ids) == len(set(ids)) == 16 and all(i.startswith("Cu/") for i in ids)
    for temp in ("300K", "900K"):
        assert all(any(temp in i for i in split[part]) for part in ("train", "valid", "test"))
    assert split == split_frames(ref, "Cu", seed=3) and split != split_frames(ref, "Cu", seed=4)


def test_fit_per_element_scores_only_held_out_frames(data_env: Path, tmp_path: Path) -> None:
    ref = emt_reference(elements=("Cu",), temperatures=(300.0, 900.0), n_frames=6)
    store.save_dataset(ref, "cu-train")
    stored = store.load_dataset("cu-train")
    from analysis.models.registry import model_dir

    # fitted files load only from inside the configured model directory, like any model file
    pred, results = fit_per_element(stored, ["Cu"], work=tmp_path / "work", model_dir=model_dir() / "fitted", epochs=3)
    (result,) = results
    assert result.model_path.is_file() and len(result.learning_curve) == 3
    assert {"train_loss", "valid_rmse_f"} <= set(result.learning_curve[-1])
    scored = set(pred.frame_id[np.isfinite(pred.energy)].tolist())
    assert scored == set(result.split["test"]) and not scored & set(result.split["train"])  # never scored on training frames
    assert pred.meta["fits"]["Cu"]["n_train"] == len(result.split["train"]) and pred.meta["universal"] is False
    store.save_predictions(pred, "cu-train")
    from analysis.metrics.tables import compute_metrics_table

    row = compute_metrics_table(stored.arrays(), {"mace-fitted": pred}).query("temperature == 'all'").iloc[0]
    assert row["n_frames_unscored"] == len(result.split["train"]) + len(result.split["valid"])
    assert np.isfinite(row["force_rmse_mev_per_a"]) and row["force_rmse_mev_per_a"] > 0


def test_fit_command_refuses_unknown_elements(data_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from analysis.cli import main

    store.save_dataset(emt_reference(elements=("Cu",), temperatures=(300.0,), n_frames=3), "cu-train")
    assert main(["fit", "--dataset", "cu-train", "--elements", "Cu,W"]) == 1
    assert "has no frames of W" in capsys.readouterr().err
