"""Exports round-trip: export, then import, gives the same frames (structure, energy, forces at the
store's 8 decimals), labels and temperatures, in each format; the command's selection and refusals."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase.io import read

from analysis.datasets.export import deepmd_groups, export_frames, parse_temperatures, select
from analysis.datasets.frames import ReferenceSet, make_frame
from analysis.datasets.importers import import_reference
from tests.analysis.helpers import emt_reference

ROOT = Path(__file__).resolve().parents[3]
PRECISION = 1e-8  # the store's 8 decimals


@pytest.fixture
def ref() -> ReferenceSet:
    """Cu and Al at two temperatures, Cu frames of another size, and frames of unknown temperature."""
    from ase.build import bulk
    from ase.calculators.emt import EMT

    base = emt_reference(elements=("Cu", "Al"), temperatures=(300.0, 900.0), n_frames=2)
    extra = []
    for i, temp in enumerate((900.0, float("nan"), float("nan"))):
        atoms = bulk("Cu", "fcc", a=3.61, cubic=True) * (1, 1, 3 if i == 0 else 1)
        atoms.rattle(0.03, seed=10 + i)
        atoms.calc = EMT()
        extra.append(make_frame(atoms, atoms.get_potential_energy(), atoms.get_forces(), temperature_k=temp, source=f"x#{i}"))
    return ReferenceSet([*base.frames, *extra], {})


def _key(atoms):
    return (atoms.info["element"], -1.0 if atoms.info["temperature"] != atoms.info["temperature"] else atoms.info["temperature"])


def _same(got: ReferenceSet, want: list, *, temperatures: bool = True, order: bool = True) -> None:
    assert len(got) == len(want)
    mine = list(got.frames)
    if not order:  # formats that store one group per folder: compare group by group, each in its order
        mine, want = sorted(mine, key=_key), sorted(want, key=_key)
    for a, b in zip(mine, want):
        assert a.get_chemical_symbols() == b.get_chemical_symbols()
        np.testing.assert_allclose(a.positions, b.positions, atol=PRECISION)
        np.testing.assert_allclose(a.cell.array, b.cell.array, atol=PRECISION)
        assert a.get_potential_energy() == pytest.approx(b.get_potential_energy(), abs=PRECISION)
        np.testing.assert_allclose(a.get_forces(), b.get_forces(), atol=PRECISION)
        if temperatures:
            assert a.info["temperature"] == b.info["temperature"] or (a.info["temperature"] != a.info["temperature"]
                                                                      and b.info["temperature"] != b.info["temperature"])


@pytest.mark.parametrize(("fmt", "name"), [("extxyz", "out.xyz"), ("mace", "out.extxyz"), ("ase-db", "out.db")])
def test_file_formats_round_trip_in_order(tmp_path: Path, ref: ReferenceSet, fmt: str, name: str) -> None:
    out = export_frames(ref.frames, fmt, tmp_path / name)
    _same(import_reference(out), ref.frames)


def test_mace_keys_are_what_mace_reads(tmp_path: Path, ref: ReferenceSet) -> None:
    out = export_frames(ref.frames, "mace", tmp_path / "train.xyz")
    frames = read(out, index=":")
    assert all(a.calc is None for a in frames)  # mace_eval_configs drops calculators: the labels are under REF_ keys
    np.testing.assert_allclose([a.info["REF_energy"] for a in frames], ref.arrays().energy, atol=PRECISION)
    np.testing.assert_allclose(np.concatenate([a.arrays["REF_forces"] for a in frames]), ref.arrays().forces, atol=PRECISION)
    assert {a.info["config_type"] for a in frames} == {"Default"}


def test_extxyz_with_named_keys(tmp_path: Path, ref: ReferenceSet) -> None:
    out = export_frames(ref.frames, "extxyz", tmp_path / "dft.xyz", energy_key="DFT_energy", forces_key="DFT_forces")
    assert "DFT_energy=" in out.read_text().split("\n")[1]
    _same(import_reference(out), ref.frames)


def test_deepmd_systems_round_trip_with_temperatures_from_their_names(tmp_path: Path, ref: ReferenceSet) -> None:
    out = export_frames(ref.frames, "deepmd", tmp_path / "dp")
    names = sorted(deepmd_groups(ref.frames))
    assert names == ["Al_300K", "Al_900K", "Cu_300K", "Cu_900K", "Cu_900K-12atoms-1", "Cu_T-unknown"]
    assert (out / "Cu_300K" / "type_map.raw").read_text().split() == ["Cu"]
    _same(import_reference(out), ref.frames, order=False)


def test_an_existing_target_is_refused_and_left_alone(tmp_path: Path, ref: ReferenceSet) -> None:
    (tmp_path / "taken.xyz").write_text("mine\n")
    with pytest.raises(FileExistsError, match="taken.xyz exists"):
        export_frames(ref.frames, "mace", tmp_path / "taken.xyz")
    assert (tmp_path / "taken.xyz").read_text() == "mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.xyz"]


def test_selection(ref: ReferenceSet) -> None:
    assert parse_temperatures("300, 900K,unknown") == [300.0, 900.0, None]
    with pytest.raises(ValueError, match="neither a number"):
        parse_temperatures("hot")
    assert {a.info["element"] for a in select(ref, elements=["Al"])} == {"Al"}
    assert len(select(ref, temperatures=[None])) == 2
    with pytest.raises(ValueError, match=r"no frames of Zr \(it has Al, Cu\)"):
        select(ref, elements=["Zr"])
    with pytest.raises(ValueError, match=r"no frames at 1200 K in the selection \(it has 300, 900\)"):
        select(ref, elements=["Al"], temperatures=[1200.0])


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MLFF_ATLAS_DATA": str(tmp_path / "data")}
    return subprocess.run([sys.executable, "-m", "analysis", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)


def test_export_command_nep_and_selections(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ase.io import write

    monkeypatch.setenv("MLFF_ATLAS_DATA", str(tmp_path / "data"))
    source = emt_reference(elements=("Cu", "Al"), temperatures=(300.0, 900.0), n_frames=4)
    write(tmp_path / "src.xyz", source.frames, format="extxyz")
    assert _cli(tmp_path, "import", str(tmp_path / "src.xyz"), "--dataset", "src").returncode == 0
    done = _cli(tmp_path, "export", "--dataset", "src", "--format", "nep", "--out", str(tmp_path / "nep"))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "nep" / "Cu").iterdir()) == ["nep.in", "test.xyz", "train.xyz"]
    assert "type 1 Cu" in " ".join((tmp_path / "nep" / "Cu" / "nep.in").read_text().split())
    from analysis.datasets import store
    from analysis.models.fitting import split_frames

    stored = store.load_dataset("src")
    for element in ("Cu", "Al"):
        split = split_frames(stored, element)
        back = import_reference(tmp_path / "nep" / element / "train.xyz")
        want = [a for a in stored.frames if a.info["frame_id"] in set(split["train"])]
        want.sort(key=lambda a: split["train"].index(a.info["frame_id"]))
        _same(back, want, temperatures=False)  # nep's train.xyz carries no temperature
        assert len(import_reference(tmp_path / "nep" / element / "test.xyz")) == len(split["valid"])
    chosen = _cli(tmp_path, "export", "--dataset", "src", "--format", "mace", "--out", str(tmp_path / "cu300.xyz"),
                  "--elements", "Cu", "--temperatures", "300")
    assert chosen.returncode == 0 and "exported 4 frames" in chosen.stdout
    assert set(import_reference(tmp_path / "cu300.xyz").arrays().temperature) == {300.0}
    test_split = _cli(tmp_path, "export", "--dataset", "src", "--format", "extxyz", "--out", str(tmp_path / "test.xyz"),
                      "--split", "test")
    assert test_split.returncode == 0, test_split.stderr
    held_out = {fid for element in ("Cu", "Al") for fid in split_frames(stored, element)["test"]}
    assert {a.info["frame_id"] for a in read(tmp_path / "test.xyz", index=":")} == held_out
    again = _cli(tmp_path, "export", "--dataset", "src", "--format", "nep", "--out", str(tmp_path / "nep"))
    assert again.returncode == 1 and "exists" in again.stderr
    missing = _cli(tmp_path, "export", "--dataset", "nothing", "--format", "mace", "--out", str(tmp_path / "x.xyz"))
    assert missing.returncode == 1 and "no data set named 'nothing'" in missing.stderr
