"""The per-frame result cache: structure hashes, model keys and the byte format, on real diskcache."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from ase.build import bulk
from ase.io import read, write

from analysis.datasets.frames import structure_hash
from analysis.models.frame_cache import FrameCache, model_key


def test_structure_hash_survives_extxyz_and_ignores_labels(tmp_path: Path) -> None:
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True)
    atoms.positions += np.random.default_rng(0).normal(0, 0.05, atoms.positions.shape)
    atoms.info["frame_id"] = "a"
    write(tmp_path / "a.extxyz", atoms)
    back = read(tmp_path / "a.extxyz")
    back.info["frame_id"] = "other id, same structure"
    assert structure_hash(back) == structure_hash(atoms)
    moved = atoms.copy()
    moved.positions[0, 0] += 1e-4
    assert structure_hash(moved) != structure_hash(atoms)
    other = atoms.copy()
    other.numbers[0] = 28
    assert structure_hash(other) != structure_hash(atoms)
    flat = atoms.copy()
    flat.pbc = (True, True, False)
    assert structure_hash(flat) != structure_hash(atoms)


def test_model_key_separates_dtype_device_kind_and_versions() -> None:
    ident = {"family": "mace", "source": "x", "options": []}
    base = model_key(ident, {"torch": "2.13.0"}, "float64", "cpu")
    assert base == model_key(ident, {"torch": "2.13.0"}, "float64", "cpu")
    assert model_key(ident, {"torch": "2.13.0"}, "float64", "cuda:0") == model_key(ident, {"torch": "2.13.0"}, "float64", "cuda:1")
    assert len({base,
                model_key(ident, {"torch": "2.13.0"}, "float32", "cpu"),
                model_key(ident, {"torch": "2.13.0"}, "float64", "cuda:0"),
                model_key(ident, {"torch": "2.14.0"}, "float64", "cpu"),
                model_key({**ident, "source": "y"}, {"torch": "2.13.0"}, "float64", "cpu")}) == 5


def test_round_trip_and_persistence(tmp_path: Path) -> None:
    forces = [np.arange(12.0).reshape(4, 3), np.full((2, 3), -0.5)]
    with FrameCache(tmp_path / "fc") as cache:
        cache.put_many("m", ["h0", "h1", "h2"], np.array([-1.5, 2.25, np.nan]), [*forces, np.full((3, 3), np.nan)], {2: "ValueError: no"})
    with FrameCache(tmp_path / "fc") as cache:  # a new process would see the same
        got = cache.get_many("m", ["h0", "h1", "h2", "h3"], [4, 2, 3, 1])
        assert sorted(got) == [0, 1, 2]
        assert got[0][0] == -1.5 and np.array_equal(got[0][1], forces[0]) and got[0][2] is None
        assert got[1][0] == 2.25 and np.array_equal(got[1][1], forces[1])
        assert np.isnan(got[2][0]) and got[2][1].shape == (3, 3) and got[2][2] == "ValueError: no"
        # an entry that does not fit the frame's atom count is a miss, never a wrong answer
        assert cache.get_many("m", ["h0"], [5]) == {}
        assert cache.get_many("other-model", ["h0"], [4]) == {}


def test_cache_command_reports_and_clears(tmp_path: Path, monkeypatch, capsys) -> None:
    from analysis.jobs.cli import jobs_main

    monkeypatch.setenv("MLFF_ATLAS_CACHE", str(tmp_path / "cache"))
    with FrameCache() as cache:
        cache.put_many("m", ["a", "b"], np.array([1.0, 2.0]), [np.zeros((1, 3)), np.zeros((1, 3))], {})
    assert jobs_main(["--cache"]) == 0
    assert capsys.readouterr().out.startswith("2 frame results")
    assert jobs_main(["--clear-cache"]) == 0
    out = capsys.readouterr().out
    assert "removed 2 stored frame results" in out and "\n0 frame results" in out
