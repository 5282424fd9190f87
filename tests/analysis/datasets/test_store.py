from __future__ import annotations

import json
import os

import numpy as np
import pytest

from analysis.datasets import store
from analysis.datasets.frames import ReferenceSet
from tests.analysis.helpers import emt_reference, noisy_predictions


def test_dataset_roundtrip_keeps_hash_groups_and_labels():
    ref = emt_reference()
    path = store.save_dataset(ref, "emt")
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["content_hash"] == ref.content_hash()
    assert manifest["units"]["forces"] == "eV/Å"
    assert manifest["frames_file"] == "frames.h5" and (path / "frames.h5").is_file()
    assert {(g["element"], g["temperature"], g["n_frames"]) for g in manifest["groups"]} == {
        ("Al", 300.0, 3), ("Al", 900.0, 3), ("Cu", 300.0, 3), ("Cu", 900.0, 3)}
    back = store.load_dataset("emt")
    assert ReferenceSet(back.frames, {}).content_hash() == ref.content_hash()  # hashed again from the stored frames
    np.testing.assert_allclose(back.arrays().forces, ref.arrays().forces, atol=1e-7)
    assert [s.name for s in store.list_datasets() if not s.embedded] == ["emt"]


def test_saving_an_unchanged_data_set_again_writes_the_same_manifest(monkeypatch):
    """A resumed build re-assembles the same frames: the manifest stays byte-identical (no spurious commit)."""
    ref = emt_reference()
    path = store.save_dataset(ref, "emt")
    first = (path / "manifest.json").read_bytes()
    stamps = iter(["2030-01-01T00:00:00Z", "2030-01-02T00:00:00Z"])
    monkeypatch.setattr(store.time, "strftime", lambda *a: next(stamps))
    assert store.save_dataset(ref, "emt").joinpath("manifest.json").read_bytes() == first
    changed = ReferenceSet(ref.frames, {**ref.provenance, "frames_done": 99})
    assert json.loads(store.save_dataset(changed, "emt").joinpath("manifest.json").read_text())["created"] == "2030-01-01T00:00:00Z"


def test_interrupted_save_leaves_previous_version(monkeypatch):
    ref = emt_reference()
    store.save_dataset(ref, "emt")
    bigger = ReferenceSet.merge([ref, emt_reference(elements=("Ni",))])

    import analysis.datasets.store as st

    def boom(*args, **kwargs):
        raise KeyboardInterrupt("killed mid-write")

    with monkeypatch.context() as patch:
        patch.setattr(st, "_swap_in", boom)
        with pytest.raises(KeyboardInterrupt):
            store.save_dataset(bigger, "emt")
    assert store.load_dataset("emt").content_hash() == ref.content_hash()
    leftovers = [p for p in (store.roots()[0][0] / "datasets").iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_predictions_roundtrip_and_saving_dataset_again_keeps_them():
    ref = emt_reference()
    store.save_dataset(ref, "emt")
    pred = noisy_predictions(ref, "toy-model", energy_noise=0.01, force_noise=0.05, universal=True)
    store.save_predictions(pred, "emt")
    store.save_dataset(ref, "emt")
    loaded = store.load_predictions("emt")["toy-model"]
    np.testing.assert_array_equal(loaded.frame_id, pred.frame_id)
    np.testing.assert_allclose(loaded.forces, pred.forces)
    assert loaded.meta["universal"] is True
    assert not any(p.suffix == ".tmp" for p in store.predictions_dir("emt").iterdir())


def test_embedded_root_is_searched_after_user_root(tmp_path, monkeypatch):
    embedded = tmp_path / "embedded"
    monkeypatch.setenv("MLFF_ATLAS_DEFAULT_DATA", str(embedded))
    store.save_dataset(emt_reference(elements=("Pt",)), "shipped", root=embedded)
    infos = {i.name: i for i in store.list_datasets()}
    assert infos["shipped"].embedded and infos["shipped"].elements == ["Pt"]
    with pytest.raises(KeyError, match="no data set named 'nope'"):
        store.load_dataset("nope")


@pytest.mark.parametrize("name", ["../evil", "", "a/b", ".hidden"])
def test_bad_names_rejected(name):
    with pytest.raises(ValueError, match="invalid data set name"):
        store.check_name(name)


def test_corrupt_predictions_file_named_in_error():
    ref = emt_reference()
    store.save_dataset(ref, "emt")
    pred = noisy_predictions(ref, "m", energy_noise=0.01, force_noise=0.05)
    path = store.save_predictions(pred, "emt")
    path.write_bytes(b"not an npz")
    from analysis.core.errors import InputFileError

    assert "m" not in store.load_predictions("emt")  # a damaged file is never served
    (bad, reason), = store.damaged_predictions(store.data_dir())
    assert bad == path and "cannot read stored predictions" in reason
    with pytest.raises(InputFileError, match=os.path.basename(path)):
        store._read_predictions(path, path.with_suffix(".json"))


def test_an_empty_info_value_does_not_swallow_the_next_key(tmp_path):
    """ASE writes ``source=`` for an empty string and its reader takes the next pair as the value."""
    from ase.build import bulk
    from ase.calculators.emt import EMT

    from analysis.datasets.frames import ReferenceSet, make_frame

    atoms = bulk("Cu", cubic=True)
    atoms.calc = EMT()
    ref = ReferenceSet([make_frame(atoms, atoms.get_potential_energy(), atoms.get_forces(), temperature_k=300.0, source="")])
    store.save_dataset(ref, "empty-source", root=tmp_path)
    again = store.read_dataset(tmp_path / "datasets" / "empty-source")
    assert again.frames[0].info["frame_id"] == "Cu/300K/0000" and again.content_hash() == ref.content_hash()
    assert ref.frames[0].info["source"] == ""  # the frame itself is left as it was
