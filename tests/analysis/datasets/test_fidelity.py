"""Import fidelity (issue 13): detection by content, keys in any case, compressed files, predictions
matched by their reference columns in any order, DeePMD mixed types and type maps, element labels,
write modes, concurrent imports, bounded resources, units, truncated VASP runs."""
from __future__ import annotations

import bz2
import gzip
import json
import multiprocessing as mp
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.io import write

from analysis.core.errors import InputFileError
from analysis.datasets import store
from analysis.datasets.frames import ReferenceSet, make_frame
from analysis.datasets.importers import detect_format, import_reference
from analysis.datasets.predictions import import_predictions
from analysis.datasets.writing import DatasetExistsError, write_frames
from tests.analysis.helpers import emt_reference
from tests.analysis.vasp_writers import write_outcar, write_vasprun


def _nep_xyz(frames: list, *, energy_key: str = "energy", extra: str = "") -> str:
    """NEP train.xyz text of labelled frames (key spelling as given)."""
    lines = []
    for atoms in frames:
        cell = " ".join(f"{x:.8f}" for x in atoms.cell.array.ravel())
        lines += [str(len(atoms)), f'{energy_key}={atoms.get_potential_energy():.8f} Lattice="{cell}" {extra}'
                  "Properties=species:S:1:pos:R:3:force:R:3"]
        for s, p, f in zip(atoms.get_chemical_symbols(), atoms.positions, atoms.get_forces()):
            lines.append(f"{s} {p[0]:.8f} {p[1]:.8f} {p[2]:.8f} {f[0]:.8f} {f[1]:.8f} {f[2]:.8f}")
    return "\n".join(lines) + "\n"


def _nep_outputs(folder: Path, tag: str, frames: list, *, de: float = 0.002, df: float = 0.01) -> None:
    """GPUMD's energy_TAG.out and force_TAG.out for ``frames`` in their order: predicted = reference + offsets."""
    e_rows, f_rows = [], []
    for atoms in frames:
        e = atoms.get_potential_energy() / len(atoms)
        e_rows.append(f"{e + de:.8f} {e:.8f}")
        f_rows += [" ".join(f"{x:.8f}" for x in (*(f + df), *f)) for f in atoms.get_forces()]
    (folder / f"energy_{tag}.out").write_text("\n".join(e_rows) + "\n")
    (folder / f"force_{tag}.out").write_text("\n".join(f_rows) + "\n")


def _dp_outputs(folder: Path, prefix: str, systems: list[list], *, de: float = 0.1, df: float = -0.02) -> None:
    """``dp test`` detail files for several systems one after another (one header per system)."""
    e_rows, f_rows = [], []
    for i, frames in enumerate(systems):
        e_rows.append(f"# sys{i}: data_e pred_e")
        f_rows.append(f"# sys{i}: data_fx data_fy data_fz pred_fx pred_fy pred_fz")
        for atoms in frames:
            e = atoms.get_potential_energy()
            e_rows.append(f"{e:.10e} {e + de:.10e}")
            f_rows += [" ".join(f"{x:.10e}" for x in (*f, *(f + df))) for f in atoms.get_forces()]
    (folder / f"{prefix}.e.out").write_text("\n".join(e_rows) + "\n")
    (folder / f"{prefix}.f.out").write_text("\n".join(f_rows) + "\n")


def _alloy(n: int, seed: int, symbols: tuple[str, ...] = ("Cu", "Ni")) -> list:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        atoms = bulk("Cu", "fcc", a=3.58, cubic=True)
        atoms.symbols = [symbols[j] for j in rng.integers(0, len(symbols), len(atoms))]
        atoms.rattle(0.05, seed=seed + i)
        atoms.calc = EMT()
        atoms.get_potential_energy()
        out.append(atoms)
    return out


def _check_matched(pred, ref: ReferenceSet, de: float, df: float, per_atom: bool = True) -> None:
    a = ref.arrays()
    assert pred.meta["frames_without_prediction"] == 0
    diff = pred.energy / a.n_atoms - a.energy / a.n_atoms if per_atom else pred.energy - a.energy
    np.testing.assert_allclose(diff, de, atol=1e-6)
    np.testing.assert_allclose(pred.forces - a.forces, df, atol=1e-6)


# --------------------------------------------------------------------------- detection and keys
@pytest.mark.parametrize("key", ["energy", "Energy", "ENERGY"])
def test_extxyz_keys_in_any_case(tmp_path: Path, key: str) -> None:
    ref = emt_reference(elements=("Cu",), temperatures=(300.0,), n_frames=2)
    text = _nep_xyz(ref.frames, energy_key=key, extra="Config_type=bulk Weight=2.5 Virial=\"0 0 0 0 0 0 0 0 0\" ")
    (tmp_path / "train.xyz").write_text(text)
    got = import_reference(tmp_path / "train.xyz")
    np.testing.assert_allclose(got.arrays().energy, ref.arrays().energy, atol=1e-7)
    assert got.frames[0].info["config_type"] == "bulk" and got.frames[0].info["weight"] == 2.5


@pytest.mark.parametrize("name", ["Ni.OUTCAR", "outcar", "run1-OUTCAR", "OUTCAR_300K", "data.txt"])
def test_outcar_detected_by_content_whatever_its_name(tmp_path: Path, name: str) -> None:
    ref = emt_reference(elements=("Cu",), temperatures=(300.0,), n_frames=2)
    frames = [a for a in ref.frames]
    write_outcar(tmp_path / name, frames, [a.get_potential_energy() for a in frames], [a.get_forces() for a in frames])
    assert detect_format(tmp_path / name) == "outcar"
    assert len(import_reference(tmp_path / name)) == 2


@pytest.mark.parametrize(("name", "opener"), [("vasprun.xml.gz", gzip.open), ("OUTCAR.bz2", bz2.open), ("train.xyz.gz", gzip.open)])
def test_gzip_and_bzip2_inputs(tmp_path: Path, name: str, opener) -> None:
    ref = emt_reference(elements=("Cu",), temperatures=(300.0,), n_frames=3)
    frames = list(ref.frames)
    plain = tmp_path / "plain"
    if name.startswith("vasprun"):
        write_vasprun(plain, frames, [a.get_potential_energy() for a in frames], [a.get_forces() for a in frames])
    elif name.startswith("OUTCAR"):
        write_outcar(plain, frames, [a.get_potential_energy() for a in frames], [a.get_forces() for a in frames])
    else:
        plain.write_text(_nep_xyz(frames))
    with opener(tmp_path / name, "wb") as handle:
        handle.write(plain.read_bytes())
    got = import_reference(tmp_path / name)
    np.testing.assert_allclose(got.arrays().energy, ref.arrays().energy, atol=1e-6)
    broken = tmp_path / f"broken-{name}"
    broken.write_bytes((tmp_path / name).read_bytes()[:60])
    with pytest.raises(InputFileError, match=f"broken-{name}: damaged"):
        import_reference(broken)


def test_non_numeric_energy_is_named_and_the_cli_prints_no_traceback(tmp_path: Path) -> None:
    ref = emt_reference(elements=("Cu",), temperatures=(300.0,), n_frames=1)
    text = _nep_xyz(ref.frames).replace(f"energy={ref.frames[0].get_potential_energy():.8f}", "energy=abc")
    (tmp_path / "bad.xyz").write_text(text)
    with pytest.raises(InputFileError, match="frame 0: energy='abc' is not a number"):
        import_reference(tmp_path / "bad.xyz")
    run = subprocess.run([sys.executable, "-m", "analysis", "import", str(tmp_path / "bad.xyz"), "--dataset", "x"],
                         capture_output=True, text=True, env={"MLFF_ATLAS_DATA": str(tmp_path / "d"), "PATH": "/usr/bin:/bin"})
    assert run.returncode == 1 and "Traceback" not in run.stderr and "is not a number" in run.stderr


# --------------------------------------------------------------------------- predictions matched by their reference columns
def test_nep_train_and_test_folder_on_a_set_of_several_compositions_and_temperatures(tmp_path: Path) -> None:
    """train.xyz with several compositions and temperatures + test.xyz, their two output pairs in one folder."""
    train = _alloy(5, 1) + emt_reference(elements=("Cu",), temperatures=(300.0, 900.0), n_frames=2).frames
    for i, atoms in enumerate(train):
        atoms.info["temperature"] = (300.0, 900.0, 1200.0)[i % 3]
    test = _alloy(3, 50)
    (tmp_path / "train.xyz").write_text(_nep_xyz(train))
    (tmp_path / "test.xyz").write_text(_nep_xyz(test))
    ref = ReferenceSet.merge([import_reference(tmp_path / "train.xyz"), import_reference(tmp_path / "test.xyz")])
    out = tmp_path / "out"
    out.mkdir()
    _nep_outputs(out, "train", train)
    _nep_outputs(out, "test", test)
    (out / "loss.out").write_text("0 1 2 3\n")
    (out / "charge_train.out").write_text("0.1\n0.2\n")  # qNEP writes charges beside the rest
    pred = import_predictions(out, ref, model="nep")
    _check_matched(pred, ref, 0.002, 0.01)
    assert sorted(s.split(" ")[0] for s in pred.meta["skipped_files"]) == ["charge_train.out", "loss.out"]


def test_dp_test_over_several_systems_in_either_order(tmp_path: Path) -> None:
    a = emt_reference(elements=("Cu",), temperatures=(300.0,), n_frames=3, seed=1).frames
    b = emt_reference(elements=("Ni",), temperatures=(600.0,), n_frames=2, seed=2).frames
    ref = ReferenceSet([*a, *b])
    for order, folder in (((a, b), "ab"), ((b, a), "ba")):
        (tmp_path / folder).mkdir()
        _dp_outputs(tmp_path / folder, "multi", list(order))
        (tmp_path / folder / "dp_test.log").write_text("DEEPMD INFO testing system\n")
        pred = import_predictions(tmp_path / folder, ref, model="dp")
        _check_matched(pred, ref, 0.1, -0.02, per_atom=False)
        assert pred.meta["skipped_files"][0].startswith("dp_test.log")


def test_shuffled_predictions_and_partial_coverage(tmp_path: Path) -> None:
    ref = emt_reference(elements=("Al", "Cu"), temperatures=(300.0, 900.0), n_frames=2)
    frames = list(ref.frames)
    shuffled = [frames[i] for i in np.random.default_rng(3).permutation(len(frames))]
    _nep_outputs(tmp_path, "test", shuffled)
    _check_matched(import_predictions(tmp_path, ref, model="nep"), ref, 0.002, 0.01)
    _nep_outputs(tmp_path, "test", shuffled[:3])
    pred = import_predictions(tmp_path, ref, model="nep")
    assert pred.meta["frames_without_prediction"] == len(frames) - 3
    assert int(np.isfinite(pred.energy).sum()) == 3


def test_frames_that_match_nothing_are_listed(tmp_path: Path) -> None:
    ref = emt_reference(elements=("Cu",), temperatures=(300.0,), n_frames=3)
    other = emt_reference(elements=("Cu",), temperatures=(300.0,), n_frames=2, seed=40).frames
    _nep_outputs(tmp_path, "test", [ref.frames[0], *other])
    with pytest.raises(InputFileError, match=r"energy_test.out: .*match no reference frame.*row 2 .*row 3 "):
        import_predictions(tmp_path, ref, model="nep")


def test_predictions_in_mev_get_a_units_hint(tmp_path: Path) -> None:
    ref = emt_reference(elements=("Cu",), temperatures=(300.0,), n_frames=2)
    rows_e, rows_f = [], []
    for atoms in ref.frames:
        e = 1000 * atoms.get_potential_energy() / len(atoms)
        rows_e.append(f"{e:.4f} {e:.4f}")
        rows_f += [" ".join(f"{1000 * x:.4f}" for x in (*f, *f)) for f in atoms.get_forces()]
    (tmp_path / "energy_test.out").write_text("\n".join(rows_e) + "\n")
    (tmp_path / "force_test.out").write_text("\n".join(rows_f) + "\n")
    with pytest.raises(InputFileError, match="about 1000 times the data set's"):
        import_predictions(tmp_path, ref, model="nep")


def test_no_prediction_pair_names_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "energy_test.out").write_text("1 1\n")
    (tmp_path / "notes.log").write_text("x\n")
    with pytest.raises(InputFileError, match="no complete pair of prediction files"):
        import_predictions(tmp_path, emt_reference(n_frames=1), model="nep")


# --------------------------------------------------------------------------- DeePMD
def test_deepmd_mixed_type_reads_real_types(tmp_path: Path) -> None:
    import dpdata

    frames = _alloy(6, 7)
    systems = [dpdata.LabeledSystem(a, fmt="ase/structure") for a in frames]
    multi = dpdata.MultiSystems(*systems, type_map=["Cu", "Ni"])
    multi.to_deepmd_npy_mixed(str(tmp_path / "mixed"))
    folder = next(p.parent for p in (tmp_path / "mixed").rglob("type.raw"))
    assert any(folder.glob("set.*/real_atom_types.npy"))
    got = import_reference(folder)
    want = {tuple(sorted(a.get_chemical_symbols())): a.get_potential_energy() for a in frames}
    seen = {tuple(sorted(a.get_chemical_symbols())): a.get_potential_energy() for a in got.frames}
    assert len(got) == 6 and set(seen) == set(want) and len(set(seen)) > 1
    for key, energy in seen.items():
        assert energy == pytest.approx(want[key], abs=1e-6)


def test_deepmd_without_type_map_asks_for_one(tmp_path: Path) -> None:
    import dpdata

    frames = emt_reference(elements=("Cu",), temperatures=(300.0,), n_frames=2).frames
    system = dpdata.LabeledSystem(frames[0], fmt="ase/structure")
    system.append(dpdata.LabeledSystem(frames[1], fmt="ase/structure"))
    system.to("deepmd/raw", str(tmp_path / "sys"))
    (tmp_path / "sys" / "type_map.raw").unlink()
    with pytest.raises(InputFileError, match=r"sys: the DeePMD system has no type_map.raw.*--type-map"):
        import_reference(tmp_path / "sys")
    got = import_reference(tmp_path / "sys", type_map=["Cu"])
    assert got.elements == ["Cu"]
    with pytest.raises(InputFileError, match="'Xx' is not a chemical element"):
        import_reference(tmp_path / "sys", type_map=["Xx"])


# --------------------------------------------------------------------------- labels
def test_element_label_is_checked_against_the_atoms(tmp_path: Path) -> None:
    ni = emt_reference(elements=("Ni",), temperatures=(300.0,), n_frames=2).frames
    write(tmp_path / "ni.xyz", ni, format="extxyz")
    with pytest.raises(InputFileError, match="frame 0 holds Ni atoms but the element label given is 'Cu'"):
        import_reference(tmp_path / "ni.xyz", element="Cu")
    alloy = _alloy(2, 3)
    write(tmp_path / "alloy.xyz", alloy, format="extxyz")
    with pytest.raises(InputFileError, match="is a compound"):
        import_reference(tmp_path / "alloy.xyz", element="Cu")
    ref = import_reference(tmp_path / "alloy.xyz")
    write_frames(ref, "alloy", root=tmp_path)
    manifest = json.loads((tmp_path / "datasets" / "alloy" / "manifest.json").read_text())
    assert all(g["elemental"] is False for g in manifest["groups"])


# --------------------------------------------------------------------------- write modes and concurrency
def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_write_modes_refuse_append_replace(tmp_path: Path) -> None:
    first = emt_reference(elements=("Cu",), temperatures=(300.0,), n_frames=3)
    second = emt_reference(elements=("Cu",), temperatures=(300.0,), n_frames=5)  # its first 3 frames are the same as ``first``
    write_frames(first, "cu", root=tmp_path)
    before = _snapshot(tmp_path / "datasets" / "cu")
    with pytest.raises(DatasetExistsError, match="exists \\(3 frames\\): choose a mode: append .* replace"):
        write_frames(second, "cu", root=tmp_path)
    assert _snapshot(tmp_path / "datasets" / "cu") == before
    outcome = write_frames(second, "cu", mode="append", root=tmp_path)
    assert (outcome.added, outcome.skipped_duplicates, outcome.total) == (2, 3, 5)
    again = write_frames(second, "cu", mode="append", root=tmp_path)
    assert (again.added, again.skipped_duplicates, again.total) == (0, 5, 5)
    replaced = write_frames(emt_reference(elements=("Al",), temperatures=(300.0,), n_frames=1), "cu", mode="replace", root=tmp_path)
    assert replaced.total == 1 and replaced.elements == ["Al"]


def _import_into(args: tuple[str, str, int, str]) -> int:
    data, name, seed, barrier_file = args
    import os

    os.environ["MLFF_ATLAS_DATA"] = data
    ref = emt_reference(elements=("Cu",), temperatures=(300.0,), n_frames=20, seed=seed)
    while not Path(barrier_file).exists():
        time.sleep(0.005)
    return write_frames(ref, name, mode="append").added


def test_concurrent_imports_into_one_data_set_both_land(tmp_path: Path) -> None:
    barrier = tmp_path / "go"
    ctx = mp.get_context("spawn")
    with ctx.Pool(2) as pool:
        result = pool.map_async(_import_into, [(str(tmp_path / "d"), "cu", seed, str(barrier)) for seed in (100, 500)])
        time.sleep(1.0)
        barrier.touch()
        added = result.get(timeout=120)
    assert added == [20, 20]
    assert len(store.read_dataset(tmp_path / "d" / "datasets" / "cu")) == 40


def test_a_job_on_a_data_set_that_grew_evaluates_the_new_content(data_env: Path) -> None:
    from analysis.jobs import queue as jobs

    write_frames(emt_reference(elements=("Cu",), temperatures=(300.0,), n_frames=3), "cu", mode="refuse")
    job = jobs.submit_job("emt", "cu", device="cpu")
    write_frames(emt_reference(elements=("Cu",), temperatures=(300.0,), n_frames=5), "cu", mode="append")  # 2 new frames
    jobs.Worker(poll_s=0.1).run(once=True)
    rec = jobs.get_job(job)
    assert rec.state == "done", rec.error
    pred = store.load_predictions("cu")["emt"]
    assert len(pred.frame_id) == 5 and np.isfinite(pred.energy).all()
    # the first 3 frames evaluated before? run once more after another append: only the new frames reach the model
    write_frames(emt_reference(elements=("Cu",), temperatures=(300.0,), n_frames=6), "cu", mode="append")
    again = jobs.submit_job("emt", "cu", device="cpu")
    jobs.Worker(poll_s=0.1).run(once=True)
    assert jobs.get_job(again).frames_cached == 5


# --------------------------------------------------------------------------- bounded resources
def test_a_header_declaring_a_billion_atoms_is_refused_at_once(tmp_path: Path) -> None:
    path = tmp_path / "huge.xyz"
    path.write_text("999999999\nProperties=species:S:1:pos:R:3:forces:R:3 energy=-1\n" + "Cu 0 0 0 0 0 0\n" * 48)
    assert path.stat().st_size < 800
    start = time.perf_counter()
    with pytest.raises(InputFileError, match="frame 0 declares 999999999 atoms but only"):
        import_reference(path)
    assert time.perf_counter() - start < 5


def test_a_line_over_the_limit_names_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFF_ATLAS_MAX_LINE_MB", "0.01")
    path = tmp_path / "long.xyz"
    path.write_text("1\n" + "x" * 20000 + "\nCu 0 0 0\n")
    with pytest.raises(InputFileError, match="line 2 is longer than 0.01 MB, the limit set by MLFF_ATLAS_MAX_LINE_MB"):
        import_reference(path)


def test_a_gzip_bomb_stops_at_the_unpacked_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFF_ATLAS_MAX_UNPACKED_MB", "1")
    with gzip.open(tmp_path / "bomb.xyz.gz", "wb") as handle:
        handle.write(b"0" * (8 * 2**20))
    with pytest.raises(InputFileError, match="unpacks to more than 1 MB, the limit set by MLFF_ATLAS_MAX_UNPACKED_MB"):
        import_reference(tmp_path / "bomb.xyz.gz")


# --------------------------------------------------------------------------- units
def test_wrong_units_are_refused_with_the_option_that_fixes_them(tmp_path: Path) -> None:
    ref = emt_reference(elements=("Cu",), temperatures=(1200.0,), n_frames=4)
    frames = list(ref.frames)
    mev_forces = [make_frame(a, a.get_potential_energy(), a.get_forces() * 1000 + 60, temperature_k=1200) for a in frames]
    write(tmp_path / "mev_forces.xyz", mev_forces, format="extxyz")
    with pytest.raises(InputFileError, match="beyond the 100 eV/Å .*--energy-unit"):
        import_reference(tmp_path / "mev_forces.xyz")
    kj = [make_frame(a, a.get_potential_energy() * 96.485 + 40 * i, a.get_forces() * 96.485 / 100, temperature_k=1200)
          for i, a in enumerate(frames)]
    write(tmp_path / "kj.xyz", kj, format="extxyz")
    with pytest.raises(InputFileError, match="Cu at 1200 K spread over .* beyond the 2 eV/atom .*--energy-unit"):
        import_reference(tmp_path / "kj.xyz")


# --------------------------------------------------------------------------- truncated VASP runs
def test_an_outcar_cut_mid_step_keeps_its_complete_steps(tmp_path: Path) -> None:
    frames = emt_reference(elements=("Cu",), temperatures=(300.0,), n_frames=4).frames
    write_outcar(tmp_path / "OUTCAR", frames, [a.get_potential_energy() for a in frames], [a.get_forces() for a in frames])
    text = (tmp_path / "OUTCAR").read_text()
    last = text.rindex("POSITION")
    (tmp_path / "OUTCAR").write_text(text[: last + 150])  # killed while writing step 4's forces
    got = import_reference(tmp_path / "OUTCAR")
    assert len(got) == 3
    np.testing.assert_allclose(got.arrays().energy, [a.get_potential_energy() for a in frames[:3]], atol=1e-6)
    assert "imported the 3 complete steps" in got.provenance["warnings"][0]


def test_an_outcar_with_forces_for_only_some_steps_is_refused(tmp_path: Path) -> None:
    frames = emt_reference(elements=("Cu",), temperatures=(300.0,), n_frames=3).frames
    write_outcar(tmp_path / "OUTCAR", frames, [a.get_potential_energy() for a in frames], [a.get_forces() for a in frames])
    text = (tmp_path / "OUTCAR").read_text()
    first = text.index(" POSITION")
    end = text.index("total drift", first)
    (tmp_path / "OUTCAR").write_text(text[:first] + text[end:])  # step 1 without its force block, as NWRITE=0 writes
    with pytest.raises(InputFileError, match="3 ionic steps have energies but only 2 have forces.*vasprun.xml"):
        import_reference(tmp_path / "OUTCAR")


def test_cli_import_modes_and_warnings(tmp_path: Path) -> None:
    frames = emt_reference(elements=("Cu",), temperatures=(300.0,), n_frames=3).frames
    write(tmp_path / "cu.xyz", frames, format="extxyz")
    env = {"MLFF_ATLAS_DATA": str(tmp_path / "d"), "PATH": "/usr/bin:/bin"}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "analysis", "import", *args], capture_output=True, text=True, env=env)

    assert run(str(tmp_path / "cu.xyz"), "--dataset", "cu").returncode == 0
    refused = run(str(tmp_path / "cu.xyz"), "--dataset", "cu")
    assert refused.returncode == 1 and "--mode" not in refused.stderr and "append" in refused.stderr
    appended = run(str(tmp_path / "cu.xyz"), "--dataset", "cu", "--mode", "append")
    assert appended.returncode == 0 and "0 frames added, 3 identical frames skipped; 3 frames" in appended.stdout


def test_each_frame_keeps_its_source_index_and_content_hash_through_the_store(tmp_path: Path) -> None:
    from analysis.datasets.frames import frame_content_hash

    frames = emt_reference(elements=("Cu",), temperatures=(300.0, 900.0), n_frames=2).frames
    write(tmp_path / "mixed.xyz", frames, format="extxyz")
    ref = import_reference(tmp_path / "mixed.xyz")
    assert sorted(a.info["source"] for a in ref.frames) == [f"mixed.xyz#{i}" for i in range(4)]
    write_frames(ref, "ids", root=tmp_path)
    stored = store.read_dataset(tmp_path / "datasets" / "ids")
    by_source = {a.info["source"]: a for a in stored.frames}
    for i, original in enumerate(frames):
        again = by_source[f"mixed.xyz#{i}"]
        assert again.info["content_hash"] == frame_content_hash(again) == frame_content_hash(original)
        assert again.info["temperature"] == original.info["temperature"]
