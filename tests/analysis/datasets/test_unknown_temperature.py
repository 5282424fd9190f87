"""Unknown temperature is one group: after a reload, on re-import, and in the metrics."""
from __future__ import annotations

import numpy as np
from ase.build import bulk

from analysis.datasets import store
from analysis.datasets.frames import Predictions, ReferenceSet, make_frame
from analysis.metrics.tables import compute_metrics_table


def _frames(symbol: str, n: int, temperature_k: float) -> list:
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        atoms = bulk(symbol, "fcc", a=4.0, cubic=True)
        atoms.positions += rng.normal(0, 0.05, atoms.positions.shape)
        out.append(make_frame(atoms, -4.0 - 0.01 * i, rng.normal(0, 0.1, (4, 3)), temperature_k=temperature_k, source=f"{symbol}.OUTCAR#{i}"))
    return out


def test_unknown_temperature_is_one_group_after_reload_and_reimport(tmp_path):
    counts = []
    for _ in range(4):
        sets = [ReferenceSet(_frames("Ni", 4, float("nan")))]
        try:
            sets.insert(0, store._load_cached(str(tmp_path / "datasets" / "d"), 0))
        except FileNotFoundError:
            pass
        merged = ReferenceSet.merge(sets) if len(sets) > 1 else sets[0]
        store.save_dataset(merged, "d", root=tmp_path)
        store._load_cached.cache_clear()
        loaded = store._load_cached(str(tmp_path / "datasets" / "d"), 0)
        assert len(loaded.groups()) == 1
        counts.append(len(loaded))
    assert counts == [4, 8, 12, 16]


def test_metrics_when_first_element_has_no_temperature():
    ref = ReferenceSet(_frames("Ag", 3, float("nan")) + _frames("Cu", 2, 300.0))
    arr = ref.arrays()
    pred = Predictions("m", "", arr.frame_id, arr.energy + 0.01, arr.forces, arr.n_atoms)
    table = compute_metrics_table(arr, {"m": pred})
    rows = table[table["temperature"] != "all"]
    assert sorted(zip(rows["element"], rows["temperature"], rows["n_frames"])) == [("Ag", "unknown", 3), ("Cu", "300", 2)]
