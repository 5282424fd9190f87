"""ASE trajectories and databases written here by ASE itself, and the refusals around them."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from ase.io import write

from analysis.core.errors import InputFileError
from analysis.datasets.importers import detect_format, import_reference
from tests.analysis.helpers import emt_reference


@pytest.fixture
def ref():
    return emt_reference(elements=("Cu", "Al"), temperatures=(300.0,), n_frames=2)


@pytest.mark.parametrize(("name", "fmt"), [("run.traj", "ase-traj"), ("frames.db", "ase-db"), ("no_suffix", "ase-traj")])
def test_ase_files_round_trip(tmp_path: Path, ref, name: str, fmt: str) -> None:
    path = tmp_path / name
    write(path, ref.frames, format="traj" if fmt == "ase-traj" else "db")
    assert detect_format(path) == fmt  # by content: a trajectory without its suffix too
    got = import_reference(path, temperature_k=300.0)
    np.testing.assert_allclose(np.sort(got.arrays().energy), np.sort(ref.arrays().energy), atol=1e-10)
    np.testing.assert_allclose(got.arrays().forces, ref.arrays().forces, atol=1e-10)
    assert got.elements == ["Al", "Cu"]


def test_an_sqlite_file_of_another_program_and_a_pickle_trajectory_are_refused(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "other.db") as conn:
        conn.execute("create table measurements (x real)")
    with pytest.raises(InputFileError, match=r"an SQLite database but not ASE's \(no 'systems' table; tables: measurements\)"):
        import_reference(tmp_path / "other.db")
    (tmp_path / "old.traj").write_bytes(b"PickleTrajectory\x80\x03}q\x00.")
    with pytest.raises(InputFileError, match="not an ASE trajectory in the Ulm format .* never unpickled"):
        import_reference(tmp_path / "old.traj")


def test_a_trajectory_without_labels_is_refused(tmp_path: Path, ref) -> None:
    bare = [a.copy() for a in ref.frames]  # no calculator: positions only
    write(tmp_path / "bare.traj", bare, format="traj")
    with pytest.raises(InputFileError, match="frame 0 has no energy"):
        import_reference(tmp_path / "bare.traj")
