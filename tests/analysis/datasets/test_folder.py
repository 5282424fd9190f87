"""A folder of reference files imports (issue 26): recursively, temperatures and elements from the
frames or the names, the same modes and checks as files; each file keeps its frame order."""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from ase.io import write

from analysis.core.errors import InputFileError
from analysis.datasets.archive import element_from_path, import_archive
from analysis.datasets.importers import detect_format, import_reference
from tests.analysis.helpers import emt_reference
from tests.analysis.vasp_writers import write_outcar

ROOT = Path(__file__).resolve().parents[3]


def _no_temperature(frames):
    out = []
    for atoms in frames:
        copy = atoms.copy()
        copy.calc = atoms.calc
        copy.info = {}
        out.append(copy)
    return out


def _tree(root: Path) -> dict:
    """Cu at 1358 K named by the file, Al at 900 K named by the folder, Cu at 300 K by the frames' own key,
    an OUTCAR two folders down, NEP outputs and notes that are not reference data."""
    cu_hot = emt_reference(elements=("Cu",), temperatures=(1358.0,), n_frames=3, seed=1)
    al = emt_reference(elements=("Al",), temperatures=(900.0,), n_frames=2, seed=2)
    cu_cold = emt_reference(elements=("Cu",), temperatures=(300.0,), n_frames=2, seed=3)
    outcar = emt_reference(elements=("Cu",), temperatures=(600.0,), n_frames=2, seed=4)
    root.mkdir(parents=True)
    write(root / "Cu_1358K.xyz", _no_temperature(cu_hot.frames), format="extxyz")
    (root / "Al_900K").mkdir()
    write(root / "Al_900K" / "run.extxyz", _no_temperature(al.frames), format="extxyz")
    write(root / "more_cu.xyz", cu_cold.frames, format="extxyz")  # temperature=300 on each frame
    (root / "deep" / "T=600K").mkdir(parents=True)
    a = outcar.arrays()
    write_outcar(root / "deep" / "T=600K" / "OUTCAR", list(outcar.frames), list(a.energy),
                 [a.forces[s:e] for s, e in zip(a.offsets[:-1], a.offsets[1:])])
    (root / "nep").mkdir()
    (root / "nep" / "energy_train.out").write_text("1 1\n")
    (root / "notes.txt").write_text("how these were made\n")
    (root / ".hidden.xyz").write_text("junk")
    return {1358.0: cu_hot, 900.0: al, 300.0: cu_cold, 600.0: outcar}


def test_folder_imports_recursively_with_temperatures_from_names_and_frames(tmp_path: Path) -> None:
    sets = _tree(tmp_path / "runs")
    assert detect_format(tmp_path / "runs") == "folder"
    ref = import_reference(tmp_path / "runs")
    a = ref.arrays()
    assert len(ref) == 9
    for temp, want in sets.items():
        got = a.energy[a.temperature == temp]
        np.testing.assert_allclose(got, want.arrays().energy, atol=1e-6)  # in file order within each group
    assert ref.provenance["format"] == "folder"
    assert ref.provenance["source_files"] == ["runs/Al_900K/run.extxyz", "runs/Cu_1358K.xyz", "runs/deep/T=600K/OUTCAR",
                                              "runs/more_cu.xyz"]
    assert sorted(ref.provenance["skipped_files"]) == ["runs/nep/energy_train.out (a prediction file)",
                                                       "runs/notes.txt (not reference data)"]
    assert {a.info["source"] for a in ref.frames if a.info["temperature"] == 1358.0} == {f"runs/Cu_1358K.xyz#{i}" for i in range(3)}
    assert set(import_reference(tmp_path / "runs", temperature_k=500.0).arrays().temperature) == {500.0}


def test_an_archive_of_the_folder_imports_the_same(tmp_path: Path) -> None:
    _tree(tmp_path / "runs")
    archive = tmp_path / "runs.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted((tmp_path / "runs").rglob("*")):
            zf.write(path, path.relative_to(tmp_path).as_posix())
    folder, zipped = import_reference(tmp_path / "runs"), import_archive(archive)
    np.testing.assert_array_equal(folder.arrays().energy, zipped.arrays().energy)
    np.testing.assert_array_equal(folder.arrays().temperature, zipped.arrays().temperature)
    assert [s.split(":", 1)[1] for s in zipped.provenance["source_files"]] == folder.provenance["source_files"]


def test_a_path_and_a_frame_that_disagree_are_refused(tmp_path: Path) -> None:
    cu = emt_reference(elements=("Cu",), temperatures=(900.0,), n_frames=2)
    (tmp_path / "d" / "Cu_300K").mkdir(parents=True)
    write(tmp_path / "d" / "Cu_300K" / "a.xyz", cu.frames, format="extxyz")  # temperature=900 on the frames
    with pytest.raises(InputFileError, match=r"d: file Cu_300K/a.xyz: .*frame 0 says temperature=900 K but its path names 300 K"):
        import_reference(tmp_path / "d")
    assert set(import_reference(tmp_path / "d", temperature_k=900.0).arrays().temperature) == {900.0}
    (tmp_path / "e").mkdir()
    write(tmp_path / "e" / "Cu_300K.xyz", _no_temperature(emt_reference(elements=("Ni",), temperatures=(300.0,), n_frames=1).frames),
          format="extxyz")
    with pytest.raises(InputFileError, match=r"e: file Cu_300K.xyz: .*frame 0 holds Ni atoms but its path names Cu"):
        import_reference(tmp_path / "e")
    assert element_from_path(Path("Cu_1358K/x.xyz")) == "Cu" and element_from_path(Path("run_300K.xyz")) is None
    assert element_from_path(Path("Fe-300K.xyz")) == "Fe" and element_from_path(Path("K/bcc/OUTCAR")) is None


def test_a_bad_file_in_a_folder_is_named_and_nothing_is_kept(tmp_path: Path) -> None:
    _tree(tmp_path / "runs")
    (tmp_path / "runs" / "Al_900K" / "broken.xyz").write_text("2\nProperties=species:S:1:pos:R:3 energy=-1\nAl 0 0 0\n")
    with pytest.raises(InputFileError, match=r"runs: file Al_900K/broken.xyz: frame 0 declares 2 atoms"):
        import_reference(tmp_path / "runs")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("nothing\n")
    with pytest.raises(InputFileError, match="folder holds no reference data"):
        import_reference(tmp_path / "empty")


def test_the_spread_bound_of_a_named_temperature_applies(tmp_path: Path) -> None:
    cu = _no_temperature(emt_reference(elements=("Cu",), temperatures=(300.0,), n_frames=2).frames)
    from ase.calculators.singlepoint import SinglePointCalculator

    cu[1].calc = SinglePointCalculator(cu[1], energy=cu[1].get_potential_energy() + 3.0 * len(cu[1]), forces=cu[1].get_forces())
    (tmp_path / "d").mkdir()
    write(tmp_path / "d" / "Cu_300K.xyz", cu, format="extxyz")
    with pytest.raises(InputFileError, match=r"Cu at 300 K spread over .* beyond the 2 eV/atom"):
        import_reference(tmp_path / "d")


def test_cli_folder_with_the_modes(tmp_path: Path) -> None:
    _tree(tmp_path / "runs")
    env = {**os.environ, "MLFF_ATLAS_DATA": str(tmp_path / "data")}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "analysis", "import", str(tmp_path / "runs"), "--dataset", "runs", *args],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)

    first = cli()
    assert first.returncode == 0, first.stderr
    assert "9 frames added" in first.stdout and "skipped runs/notes.txt (not reference data)" in first.stderr
    refused = cli()
    assert refused.returncode == 1 and "exists (9 frames)" in refused.stderr
    again = cli("--mode", "append")
    assert again.returncode == 0 and "0 frames added, 9 identical frames skipped" in again.stdout


def _several_compositions(path: Path) -> list:
    """Four frames whose compositions alternate (as GPUMD's NEP-dataset.xyz does): Cu, CuAu, Cu, Au."""
    from ase.build import bulk
    from ase.calculators.emt import EMT

    frames = []
    for i, symbols in enumerate(["Cu4", "Cu2Au2", "Cu4", "Au4"]):
        atoms = bulk("Cu", "fcc", a=3.8, cubic=True)
        atoms.symbols = symbols
        atoms.rattle(0.05, seed=i)
        atoms.calc = EMT()
        atoms.get_potential_energy()
        frames.append(atoms)
    write(path, frames, format="extxyz")
    return frames


def test_a_file_of_several_compositions_keeps_its_order(tmp_path: Path) -> None:
    frames = _several_compositions(tmp_path / "mixed.xyz")
    ref = import_reference(tmp_path / "mixed.xyz")
    assert [a.info["source"] for a in ref.frames] == [f"mixed.xyz#{i}" for i in range(4)]
    np.testing.assert_allclose(ref.arrays().energy, [a.get_potential_energy() for a in frames], atol=1e-8)
    from analysis.datasets import store

    store.save_dataset(ref, "mixed-order")
    assert [a.info["source"] for a in store.load_dataset("mixed-order").frames] == [f"mixed.xyz#{i}" for i in range(4)]
