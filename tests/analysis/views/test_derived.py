"""Derived tables at a few thousand frames: equal to a brute-force computation, computed once, read by the next process."""
from __future__ import annotations

import math

import numpy as np
import pytest
from ase import Atoms

from analysis import views
from analysis.datasets import store
from analysis.datasets.frames import Predictions, ReferenceSet, make_frame
from analysis.views import common, derived

ELEMENTS = ("Al", "Cu", "Mo", "Na", "W")
TEMPS = (300.0, 1200.0)


def _reference(n_per_group: int = 200, seed: int = 0) -> ReferenceSet:
    rng = np.random.default_rng(seed)
    frames = []
    for element in ELEMENTS:
        for t in TEMPS:
            for _ in range(n_per_group):
                atoms = Atoms(element * 8, scaled_positions=rng.random((8, 3)), cell=np.eye(3) * 5.0, pbc=True)
                frames.append(make_frame(atoms, float(rng.normal(-30, 1)), rng.normal(0, 0.5 + t / 1000, (8, 3)), temperature_k=t))
    return ReferenceSet(frames, {"generator": "test_derived"})


def _predictions(ref: ReferenceSet, model: str, seed: int, shuffle: bool) -> Predictions:
    rng = np.random.default_rng(seed)
    a = ref.arrays()
    from analysis.datasets.columns import from_frames

    hashes = from_frames(ref.frames).structure_hash
    energy = a.energy + rng.normal(0, 0.05, len(a)) * a.n_atoms
    forces = a.forces + rng.normal(0, 0.1, a.forces.shape)
    energy[::97] = np.nan  # refused frames
    order = rng.permutation(len(a)) if shuffle else np.arange(len(a))
    offsets = a.offsets
    forces_in_order = np.concatenate([forces[offsets[i]:offsets[i + 1]] for i in order])
    return Predictions(model, ref.content_hash(), a.frame_id[order], energy[order], forces_in_order, a.n_atoms[order],
                       {"universal": False}, hashes[order])


def _brute_force(ref: ReferenceSet, pred: Predictions) -> dict[tuple[str, str], tuple[float, float, int]]:
    """(element, temperature label) -> (energy RMSE meV/atom, force RMSE meV/Å, frames), frame by frame in Python."""
    by_id = {}
    off = np.concatenate([[0], np.cumsum(pred.n_atoms)])
    for i, fid in enumerate(pred.frame_id):
        by_id[str(fid)] = (pred.energy[i], pred.forces[off[i]:off[i + 1]])
    acc: dict[tuple[str, str], list[float]] = {}
    for atoms in ref.frames:
        e, f = by_id[str(atoms.info["frame_id"])]
        if not math.isfinite(e):
            continue
        de = (e - atoms.get_potential_energy()) / len(atoms)
        df = (f - atoms.get_forces()).ravel()
        for key in ((atoms.info["element"], f"{atoms.info['temperature']:g}"), (atoms.info["element"], "all")):
            sums = acc.setdefault(key, [0.0, 0.0, 0.0, 0.0])
            sums[0] += de * de
            sums[1] += float(df @ df)
            sums[2] += len(df)
            sums[3] += 1
    return {k: (1e3 * math.sqrt(s[0] / s[3]), 1e3 * math.sqrt(s[1] / s[2]), int(s[3])) for k, s in acc.items()}


@pytest.fixture()
def stored() -> tuple[ReferenceSet, Predictions]:
    ref = _reference()
    store.save_dataset(ref, "many")
    pred = _predictions(ref, "noisy", seed=1, shuffle=True)
    store.save_predictions(pred, "many")
    views.clear_caches()
    return ref, pred


def test_metrics_of_shuffled_predictions_equal_the_brute_force_answer(stored) -> None:
    ref, pred = stored
    assert len(ref) == 2000
    table = views.metrics_table("many")
    expected = _brute_force(ref, pred)
    assert len(table) == len(expected) == len(ELEMENTS) * (len(TEMPS) + 1)
    for row in table.itertuples():
        e_rmse, f_rmse, n = expected[(row.element, row.temperature)]
        assert row.n_frames == n and row.energy_rmse_mev_per_atom == pytest.approx(e_rmse, rel=1e-10)
        assert row.force_rmse_mev_per_a == pytest.approx(f_rmse, rel=1e-10)
    assert sum(views.refused_frames("many")["noisy"]["count"] for _ in [0]) == len(range(0, 2000, 97))


def test_a_new_process_reads_the_stored_tables_and_new_predictions_make_them_again(stored, monkeypatch) -> None:
    ref, _ = stored
    first = views.metrics_table("many").copy()
    key = derived.summary_key("many")
    assert (derived.derived_dir("many") / f"summary-{key}.npz").is_file()
    assert (derived.derived_dir("many") / f"aligned-{key}" / "index.json").is_file()
    views.clear_caches()  # as a fresh worker process: nothing in memory

    def computed_again(*_a, **_k):
        raise AssertionError("computed again although the derived tables are on disk")

    with monkeypatch.context() as patched:
        patched.setattr(common, "_compute_summary", computed_again)
        patched.setattr(common, "_match_predictions", computed_again)
        again = views.metrics_table("many")
        assert again.equals(first)
        parity = views.parity_data("many", "Cu", quantity="force")
        assert parity and np.isfinite(parity[0].predicted).all()

    store.save_predictions(_predictions(ref, "other", seed=2, shuffle=False), "many")
    assert derived.summary_key("many") != key
    assert set(views.metrics_table("many")["model"]) == {"noisy", "other"}
    assert len(list(derived.derived_dir("many").glob("summary-*.npz"))) == 1  # the stale table is gone


def test_a_damaged_derived_table_is_computed_again(stored) -> None:
    first = views.metrics_table("many").copy()
    key = derived.summary_key("many")
    (derived.derived_dir("many") / f"summary-{key}.npz").write_bytes(b"not a table")
    views.clear_caches()
    assert views.metrics_table("many").equals(first)
