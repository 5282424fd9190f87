"""The columnar store: exact round trips, the derived per-frame columns, the older layout read and migrated, damage found."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from ase import Atoms
from ase.io import write

from analysis.core.errors import InputFileError
from analysis.datasets import columns as col
from analysis.datasets import store
from analysis.datasets.frames import ReferenceSet, frame_content_hash, make_frame, structure_hash
from analysis.metrics.tables import compute_metrics_table
from analysis.reference.contacts import shortest_distance
from tests.analysis.helpers import emt_reference, noisy_predictions


def _old_layout(ref: ReferenceSet, folder, predictions=()) -> None:
    """A data set as the store wrote it before the columns: one extended XYZ file per group."""
    (folder / "frames").mkdir(parents=True)
    groups = []
    for (element, temp), frames in ref.groups().items():
        name = f"frames/{element}_{temp:g}K.extxyz"
        write(folder / name, frames, format="extxyz")
        groups.append({"element": element, "temperature": temp, "file": name, "n_frames": len(frames),
                       "n_atoms": int(sum(len(a) for a in frames))})
    manifest = {"name": folder.name, "created": "2026-01-01T00:00:00Z", "units": {"energy": "eV"}, "content_hash": ref.content_hash(),
                "provenance": ref.provenance, "dft_settings": {"xc": "PBE"}, "groups": groups}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    for pred in predictions:
        store.save_predictions(pred, folder.name, root=folder.parent.parent)


def test_round_trip_is_exact_and_builds_no_atoms_for_the_arrays(tmp_path):
    ref = emt_reference(n_frames=4)
    ref.frames[0].info.update(kpts="5x5x5", scf_iterations=11, magmom=0.5)
    path = store.save_dataset(ref, "cols", root=tmp_path)
    cols = col.read_h5(path / "frames.h5")
    assert isinstance(cols.positions, np.memmap) and isinstance(cols.forces, np.memmap)  # mapped, not read
    arrays = cols.arrays()
    expected = ref.arrays()
    for name in ("frame_id", "element", "temperature", "n_atoms", "energy", "forces"):
        assert np.array_equal(getattr(arrays, name), getattr(expected, name)), name
    back = cols.reference_set(ref.provenance)
    assert ReferenceSet(back.frames, {}).content_hash() == ref.content_hash()
    for a, b in zip(ref.frames, back.frames):
        assert a.info == b.info and np.array_equal(a.positions, b.positions) and np.array_equal(a.cell.array, b.cell.array)
    assert cols.structure_hash.tolist() == [structure_hash(a) for a in ref.frames]
    assert cols.content_hash.tolist() == [frame_content_hash(a) for a in ref.frames]
    assert cols.frame_info(0)["kpts"] == "5x5x5" and cols.frame_info(0)["magmom"] == 0.5


def test_shortest_distances_equal_the_neighbour_list_in_any_cell():
    """Cubic, skewed, tiny (1-2 atoms, self-images) and non-periodic frames: the vectorised
    minimum image agrees with ASE's neighbour list (analysis.reference.contacts) on every frame."""
    rng = np.random.default_rng(7)
    frames = []
    for i in range(400):
        n = int(rng.choice([1, 2, 3, 8, 16]))
        cell = np.diag(rng.uniform(2.0, 9.0, 3)) + rng.uniform(-2.5, 2.5, (3, 3)) * (i % 3 == 0)
        pbc = True if i % 17 else False
        atoms = Atoms("Cu" * n, scaled_positions=rng.random((n, 3)), cell=cell, pbc=pbc)
        frames.append(make_frame(atoms, 0.0, np.zeros((n, 3)), temperature_k=300.0))
    ref = ReferenceSet(frames)
    cols = col.from_frames(ref.frames)
    expected = np.array([shortest_distance(a) for a in ref.frames])
    finite = np.isfinite(expected)
    assert np.array_equal(finite, np.isfinite(cols.d_min))
    np.testing.assert_allclose(cols.d_min[finite], expected[finite], rtol=1e-12, atol=1e-12)


def test_older_layout_is_read_and_migrated_without_loss(tmp_path):
    ref = emt_reference()
    pred = noisy_predictions(ref, "noisy", energy_noise=0.01, force_noise=0.05)
    folder = tmp_path / "datasets" / "old"
    _old_layout(ref, folder, [pred])
    read_old = store.read_dataset(folder)
    table_old = compute_metrics_table(read_old.arrays(), {"noisy": pred})
    assert store.read_columns(folder).frame_id.tolist() == read_old.arrays().frame_id.tolist()

    assert store.migrate_dataset(folder) is True
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["frames_file"] == "frames.h5" and not (folder / "frames").exists()
    assert manifest["content_hash"] == ref.content_hash() and manifest["created"] == "2026-01-01T00:00:00Z"
    assert manifest["dft_settings"] == {"xc": "PBE"}
    assert (folder / "predictions" / "noisy.npz").is_file()
    migrated = store.read_dataset(folder)
    assert ReferenceSet(migrated.frames, {}).content_hash() == ref.content_hash()
    table_new = compute_metrics_table(store.read_columns(folder).arrays(), {"noisy": pred})
    pd.testing.assert_frame_equal(table_new, table_old, check_exact=False, rtol=1e-12)
    assert store.migrate_dataset(folder) is False  # already columns


def test_migrate_refuses_frames_that_do_not_match_their_manifest(tmp_path):
    folder = tmp_path / "datasets" / "bad"
    _old_layout(emt_reference(), folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**manifest, "content_hash": "0" * 16}))
    before = sorted(p.name for p in (folder / "frames").iterdir())
    with pytest.raises(InputFileError, match="not migrated"):
        store.migrate_dataset(folder)
    assert sorted(p.name for p in (folder / "frames").iterdir()) == before


@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_a_damaged_frames_file_is_named_never_served(tmp_path, where):
    path = store.save_dataset(emt_reference(), "dmg", root=tmp_path) / "frames.h5"
    data = bytearray(path.read_bytes())
    cols = col.read_h5(path)
    # flip one byte inside the forces (start, middle or end of the array)
    import h5py

    with h5py.File(path, "r") as h5:
        offset = h5["forces"].id.get_offset()
    n = cols.forces.nbytes
    position = offset + {"start": 0, "middle": n // 2, "end": n - 1}[where]
    data[position] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(InputFileError, match=r"frames.h5.*checksum"):
        col.read_h5(path)


def test_migrate_command_and_embedded_sets_are_columns(tmp_path):
    import subprocess
    import sys

    folder = tmp_path / "datasets" / "viacli"
    _old_layout(emt_reference(), folder)
    out = subprocess.run([sys.executable, "-m", "analysis", "migrate", "--root", str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "viacli: migrated to columns" in out.stdout
    from analysis.core.config import default_data_dir

    for name in ("metal43-gpaw", "metal43-gpaw-train"):
        assert json.loads((default_data_dir() / "datasets" / name / "manifest.json").read_text())["frames_file"] == "frames.h5"
    shutil.rmtree(folder)
