"""Figures and tables of the models fitted per element (pure builders, no browser)."""
from __future__ import annotations

import pandas as pd

from components.fitting import fitted_vs_universal_figure, learning_curve_figure, split_table

FITS = {
    "mace-fitted": {"n_train": 24, "n_valid": 4, "n_test": 4, "unit": "epochs", "seconds": 30.0, "resumed_from_checkpoint": True,
                    "split": {"train": ["Cu/300K/0", "Cu/300K/1", "Cu/1630K/0"], "valid": ["Cu/300K/2"], "test": ["Cu/1630K/1"]},
                    "learning_curve": [{"step": 0, "train_loss": 2.0, "valid_loss": 2.5, "valid_rmse_f": 0.30},
                                       {"step": 1, "train_loss": 1.0, "valid_loss": 1.5, "valid_rmse_f": 0.20}]},
    "deepmd-fitted": {"n_train": 24, "n_valid": 4, "n_test": 4, "unit": "steps", "seconds": 120.0,
                      "split": {"train": [], "valid": [], "test": []},
                      "learning_curve": [{"step": 1, "train_loss": 40.0, "valid_loss": 30.0, "valid_rmse_f": 0.5},
                                         {"step": 1200, "train_loss": 5.0, "valid_loss": 6.0, "valid_rmse_f": None}]},
}


def test_learning_curve_has_loss_and_rmse_per_model() -> None:
    fig = learning_curve_figure(FITS, symbol="Cu", labels={"mace-fitted": "MACE (fitted per element)"})
    names = [t.name for t in fig.data]
    assert "MACE (fitted per element): training loss" in names and "deepmd-fitted: validation loss" in names
    rmse = [t for t in fig.data if "force RMSE" in t.name]
    assert len(rmse) == 2 and list(rmse[0].y) in ([500.0, None], [300.0, 200.0])
    assert fig.layout.yaxis.type == "log" and fig.layout.meta["n_rmse_points"] == 3
    assert fig.layout.xaxis.title.text == "epochs / steps"


def test_learning_curve_without_fits_says_so() -> None:
    fig = learning_curve_figure({}, symbol="Cu")
    assert fig.layout.meta["empty"] and "No model has been fitted" in fig.layout.annotations[0].text


def test_split_table_counts_per_temperature() -> None:
    table = split_table(FITS)
    row = table[table["model"] == "mace-fitted"].iloc[0]
    assert row["per temperature (train/valid/test)"] == "1630K: 1/0/1; 300K: 2/1/0"
    assert row["training frames"] == 24 and row["last validation force RMSE (meV/Å)"] == 200.0 and row["resumed"] == "yes"
    assert table[table["model"] == "deepmd-fitted"].iloc[0]["schedule"] == "1200 steps"


def test_fitted_vs_universal_scatter_names_training_frames() -> None:
    pairs = pd.DataFrame({"element": ["Al", "Cu"], "fitted": [50.0, 90.0], "universal": [80.0, 150.0], "n_frames": [4, 4],
                          "n_train": [24, 24]})
    fig = fitted_vs_universal_figure(pairs, fitted="MACE (fitted per element)", universal="chgnet-0.3.0",
                                     metric_label="force RMSE (meV/Å)", rho=1.0)
    assert "training frames" in fig.data[0].hovertemplate and fig.layout.meta["n_elements"] == 2
    assert "Spearman ρ = 1.00 over 2 elements" in fig.layout.title.text
    assert fitted_vs_universal_figure(pairs.iloc[:0], fitted="a", universal="b", metric_label="x").layout.meta["empty"]
