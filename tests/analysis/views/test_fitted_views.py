"""The fitted-per-element loaders: fit records, and the fitted-vs-universal rank correlation computed
on the same held-out frames (synthetic predictions with known errors; the view code is real)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from analysis import views
from analysis.datasets import store
from analysis.models.fitting import FitSpec, merge_fit, split_frames
from tests.analysis.helpers import LATTICE, emt_reference, noisy_predictions

ELEMENTS = ("Al", "Cu", "Ni", "Pt")


def _clear() -> None:
    from analysis import views

    views.clear_caches()


@pytest.fixture()
def fitted_set(data_env: Path) -> dict[str, float]:
    """Four elements; a 'fitted' model (test frames only) with force noise growing by element and a
    universal model with the same order of noise, plus huge errors on the fitted model's training frames."""
    assert set(ELEMENTS) <= set(LATTICE)
    ref = emt_reference(elements=ELEMENTS, temperatures=(300.0, 900.0), n_frames=5)
    store.save_dataset(ref, "fit4")
    ref = store.load_dataset("fit4")
    noise = {"Al": 0.01, "Cu": 0.03, "Ni": 0.05, "Pt": 0.09}
    arrays = ref.arrays()
    previous = None
    for k, element in enumerate(ELEMENTS):
        spec = FitSpec("mace", element, schedule={"epochs": 1})
        split = split_frames(ref, element)
        model = noisy_predictions(ref, "x", energy_noise=0.001, force_noise=noise[element], seed=k)
        rows = [i for i, f in enumerate(arrays.frame_id.tolist()) if f in split["test"]]
        forces = [model.forces[arrays.offsets[i]:arrays.offsets[i + 1]] for i in rows]
        meta = {"n_train": len(split["train"]), "n_valid": len(split["valid"]), "n_test": len(split["test"]), "split": split,
                "learning_curve": [{"step": 0, "train_loss": 1.0, "valid_rmse_f": 0.2}], "unit": "epochs", "seconds": 1.0}
        previous = merge_fit(previous, ref, spec, split["test"], model.energy[rows], forces, meta)
    store.save_predictions(previous, "fit4")
    universal = noisy_predictions(ref, "uni", energy_noise=0.002, force_noise=0.0, universal=True, seed=9)
    forces = universal.forces.copy()
    test_frames = set(np.asarray(previous.frame_id)[np.isfinite(previous.energy)].tolist())
    rng = np.random.default_rng(3)
    for i, (fid, el) in enumerate(zip(arrays.frame_id.tolist(), arrays.element.tolist())):
        scale = 2 * noise[el] if fid in test_frames else 5.0  # off the test frames: errors that must not count
        forces[arrays.offsets[i]:arrays.offsets[i + 1]] += rng.normal(0, scale, (arrays.offsets[i + 1] - arrays.offsets[i], 3))
    store.save_predictions(replace(universal, forces=forces), "fit4")
    _clear()
    return noise


def test_fit_records_and_labels(fitted_set: dict[str, float]) -> None:
    assert list(views.fitted_models("fit4")) == ["mace-fitted"]
    assert views.model_label("fit4", "mace-fitted") == "MACE (fitted per element)" and views.model_label("fit4", "uni") == "uni"
    assert views.training_frames("fit4", "mace-fitted") == {el: 6 for el in ELEMENTS}
    assert views.training_frames("fit4", "uni") == {}
    assert set(views.fits_for_element("fit4", "Cu")) == {"mace-fitted"}
    table = views.element_table("fit4", "Cu")
    assert set(table.loc[table["model"] == "mace-fitted", "n_train"]) == {6}
    assert table.loc[table["model"] == "uni", "n_train"].isna().all()
    values = views.element_values("fit4", model="mace-fitted")
    assert (values["n_train"] == 6).all() and (values["n_frames"] == 2).all()  # scored on the 2 test frames only


def test_rank_correlation_is_on_the_fitted_models_test_frames(fitted_set: dict[str, float]) -> None:
    pairs = views.paired_errors("fit4", "mace-fitted", "uni")
    assert list(pairs["element"]) == list(ELEMENTS) and (pairs["n_frames"] == 2).all() and (pairs["n_train"] == 6).all()
    # the universal model's 5 eV/Å errors on the other frames do not enter: its values follow 2x the noise
    assert pairs["universal"].max() < 1000 * 5.0 / 4
    for el, value in zip(pairs["element"], pairs["universal"]):
        assert value == pytest.approx(2000 * fitted_set[el], rel=0.5)
    table = views.fitted_vs_universal("fit4")
    (row,) = table.itertuples()
    assert (row.fitted, row.universal, row.n_elements) == ("mace-fitted", "uni", 4)
    rho, p = spearmanr(pairs["fitted"], pairs["universal"])
    assert row.spearman == pytest.approx(rho) and row.p_value == pytest.approx(p)
    assert row.spearman == pytest.approx(1.0)  # noise ordered alike in both
