"""Predictions from extended XYZ files (mace-torch's ``mace_eval_configs``), and the sorted matcher
against a brute-force scan of the same rule (first free reference frame, in the data set's order)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase.io import read, write

from analysis.core.errors import InputFileError
from analysis.datasets.frames import ReferenceSet, make_frame
from analysis.datasets.predictions import import_predictions
from tests.analysis.helpers import emt_reference

ROOT = Path(__file__).resolve().parents[3]


def _mace_convention(ref: ReferenceSet, order: list[int]) -> list:
    """The frames in ``order`` with the reference under MACE's keys (no calculator: mace_eval_configs drops it)."""
    a = ref.arrays()
    out = []
    for k in order:
        atoms = ref.frames[k].copy()
        atoms.info = {"REF_energy": float(a.energy[k]), "config_type": "test"}
        atoms.arrays["REF_forces"] = a.forces[a.offsets[k]:a.offsets[k + 1]].copy()
        out.append(atoms)
    return out


@pytest.fixture
def cu_ref() -> ReferenceSet:
    return emt_reference(elements=("Cu",), temperatures=(300.0, 900.0), n_frames=3)


def test_mace_eval_configs_output_is_matched_to_the_frames(tmp_path: Path, cu_ref: ReferenceSet, small_mace_path: Path) -> None:
    """mace-torch's own evaluation command, run for real on a small MACE built in code, on the frames in another order."""
    from analysis.models.evaluate import make_evaluator

    order = [4, 1, 5, 0, 3, 2]
    write(tmp_path / "configs.xyz", _mace_convention(cu_ref, order), format="extxyz")
    run = subprocess.run([sys.executable, "-m", "mace.cli.eval_configs", "--configs", str(tmp_path / "configs.xyz"),
                          "--model", str(small_mace_path), "--output", str(tmp_path / "evaluated.xyz"), "--device", "cpu"],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    pred = import_predictions(tmp_path / "evaluated.xyz", cu_ref, model="mace-small")
    assert pred.meta["format"] == "extxyz" and pred.meta["prediction_prefix"] == ["MACE_"]
    assert pred.meta["frames_without_prediction"] == 0
    np.testing.assert_array_equal(pred.frame_id, cu_ref.arrays().frame_id)  # stored in the data set's order
    written = read(tmp_path / "evaluated.xyz", index=":")
    for row, k in enumerate(order):
        assert pred.energy[k] == pytest.approx(written[row].info["MACE_energy"], abs=1e-8)
    direct = make_evaluator(f"mace:{small_mace_path}", device="cpu", dtype="float64").predict(cu_ref.frames)
    np.testing.assert_allclose(pred.energy, direct.energy, atol=1e-6)
    np.testing.assert_allclose(pred.forces, np.concatenate(direct.forces), atol=1e-6)


def _with_predictions(ref: ReferenceSet, order: list[int], prefixes: dict[str, float]) -> list:
    frames = _mace_convention(ref, order)
    for atoms in frames:
        for prefix, shift in prefixes.items():
            atoms.info[f"{prefix}energy"] = atoms.info["REF_energy"] + shift * len(atoms)
            atoms.arrays[f"{prefix}forces"] = atoms.arrays["REF_forces"] + shift
    return frames


def test_prefix_detected_chosen_or_refused_when_ambiguous(tmp_path: Path, cu_ref: ReferenceSet) -> None:
    path = tmp_path / "two.xyz"
    write(path, _with_predictions(cu_ref, [2, 0, 1, 5, 4, 3], {"MACE_": 0.01, "NEP_": 0.02}), format="extxyz")
    with pytest.raises(InputFileError, match=r"several models \(MACE_energy, NEP_energy\): choose one with --pred-prefix"):
        import_predictions(path, cu_ref, model="x")
    pred = import_predictions(path, cu_ref, model="nep", pred_prefix="NEP_")
    np.testing.assert_allclose(pred.energy - cu_ref.arrays().energy, 0.02 * cu_ref.arrays().n_atoms, atol=1e-7)
    np.testing.assert_allclose(pred.forces - cu_ref.arrays().forces, 0.02, atol=1e-7)
    with pytest.raises(InputFileError, match=r"frame 0 has no ORB_energy key and ORB_forces column"):
        import_predictions(path, cu_ref, model="orb", pred_prefix="ORB_")


def test_a_file_without_reference_labels_says_why(tmp_path: Path, cu_ref: ReferenceSet) -> None:
    frames = _with_predictions(cu_ref, list(range(6)), {"MACE_": 0.01})
    for atoms in frames:  # what mace_eval_configs leaves of a file whose reference was energy=/forces
        del atoms.info["REF_energy"]
        del atoms.arrays["REF_forces"]
    write(tmp_path / "noref.xyz", frames, format="extxyz")
    with pytest.raises(InputFileError, match=r"frame 0 has no reference energy.*\(it has: config_type\).*REF_energy/REF_forces"):
        import_predictions(tmp_path / "noref.xyz", cu_ref, model="m")


def test_a_named_xyz_without_predictions_lists_its_keys(tmp_path: Path, cu_ref: ReferenceSet) -> None:
    write(tmp_path / "train.xyz", _mace_convention(cu_ref, list(range(6))), format="extxyz")
    with pytest.raises(InputFileError, match=r"holds no predictions.*REF_energy.*--pred-prefix"):
        import_predictions(tmp_path / "train.xyz", cu_ref, model="m")


def test_folder_of_xyz_skips_the_reference_file_and_other_data_is_refused(tmp_path: Path, cu_ref: ReferenceSet) -> None:
    write(tmp_path / "train.xyz", _mace_convention(cu_ref, list(range(6))), format="extxyz")
    write(tmp_path / "train_evaluated.xyz", _with_predictions(cu_ref, [5, 4, 3, 2, 1, 0], {"MACE_": -0.003}), format="extxyz")
    pred = import_predictions(tmp_path, cu_ref, model="m")
    assert [s.split(" ")[0] for s in pred.meta["skipped_files"]] == ["train.xyz"]
    np.testing.assert_allclose(pred.forces - cu_ref.arrays().forces, -0.003, atol=1e-7)
    other = emt_reference(elements=("Cu",), temperatures=(300.0,), n_frames=2, seed=7)
    with pytest.raises(InputFileError, match=r"frame 0 \(reference energy .* 8 atoms\).*belong to other data"):
        import_predictions(tmp_path / "train_evaluated.xyz", other, model="m")


def test_cli_pred_prefix(tmp_path: Path, cu_ref: ReferenceSet) -> None:
    env = {**os.environ, "MLFF_ATLAS_DATA": str(tmp_path / "data")}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "analysis", "import", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120)

    write(tmp_path / "ref.xyz", _mace_convention(cu_ref, list(range(6))), format="extxyz")
    assert cli(str(tmp_path / "ref.xyz"), "--dataset", "cu").returncode == 0
    write(tmp_path / "out.xyz", _with_predictions(cu_ref, [3, 4, 5, 0, 1, 2], {"MACE_": 0.01, "SEVENN_": 0.0}), format="extxyz")
    refused = cli(str(tmp_path / "out.xyz"), "--dataset", "cu", "--predictions", "--model", "m")
    assert refused.returncode == 1 and "--pred-prefix" in refused.stderr
    done = cli(str(tmp_path / "out.xyz"), "--dataset", "cu", "--predictions", "--model", "m", "--pred-prefix", "MACE_")
    assert done.returncode == 0, done.stderr
    assert "for 6 of 6 frames" in done.stdout


# --------------------------------------------------------------------------- the matcher against a brute-force scan
def _brute_force(arrays, ref_e, ref_f, per_atom: bool, tol: float = 1e-3) -> list[int]:
    """The documented rule, as the importer applied it before the sorted search: scan every frame."""
    taken = np.zeros(len(arrays), dtype=bool)
    offsets = arrays.offsets
    out, cursor = [], 0
    for e in ref_e:
        found = -1
        for k in range(len(arrays)):
            n = int(arrays.n_atoms[k])
            ok_e = abs(arrays.energy[k] / n - e) <= tol if per_atom else abs(arrays.energy[k] - e) <= tol * n
            block = ref_f[cursor:cursor + n]
            if not taken[k] and ok_e and len(block) == n and np.abs(block - arrays.forces[offsets[k]:offsets[k + 1]]).max() <= tol:
                found = k
                break
        taken[found] = True
        out.append(found)
        cursor += int(arrays.n_atoms[found])
    return out


def _many_frames(n_frames: int, seed: int = 0) -> ReferenceSet:
    """Frames of 1-4 atoms with energies on a grid of 20 values (many frames share an energy per atom) and
    forces on a coarse grid (many share the first atom's forces; some 1-atom frames carry the same labels,
    where either is right and the rule takes them in the data set's order). The grids' steps are wider
    than twice the tolerance plus the noise, and frames of different sizes differ in their first atom's
    forces, so that the greedy rule has one right answer."""
    from ase import Atoms

    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n_frames):
        n = int(rng.integers(1, 5))
        atoms = Atoms("Cu" * n, positions=rng.uniform(0, 5, (n, 3)), cell=[5, 5, 5], pbc=True)
        e_pa = -3.5 + 0.003 * int(rng.integers(0, 20))
        forces = 0.01 * rng.integers(-3, 4, (n, 3))
        forces[0, 0] += 0.1 * n  # frames of other sizes share energies per atom, never their first atom's forces
        frames.append(make_frame(atoms, e_pa * n, forces, temperature_k=300.0, source=f"s#{i}"))
    return ReferenceSet(frames)


@pytest.mark.parametrize("per_atom", [True, False])
def test_sorted_matcher_equals_the_brute_force_scan(tmp_path: Path, per_atom: bool) -> None:
    ref = _many_frames(1500)
    a = ref.arrays()
    rng = np.random.default_rng(3)
    order = rng.permutation(len(a))[:1200]  # part of the data set, in another order
    blocks = [a.forces[a.offsets[k]:a.offsets[k + 1]] for k in order]
    # file values rounded as the programs print them: within the 1 meV tolerance, not equal
    ref_f = np.round(np.concatenate(blocks), 6) + rng.uniform(-4e-4, 4e-4, (sum(map(len, blocks)), 3))
    ref_e = (a.energy / a.n_atoms)[order] if per_atom else a.energy[order]
    ref_e = ref_e + rng.uniform(-4e-4, 4e-4, len(order)) * (1 if per_atom else a.n_atoms[order])
    pred_e = ref_e + 0.01
    pred_f = ref_f - 0.02
    if per_atom:
        np.savetxt(tmp_path / "energy_test.out", np.column_stack([pred_e, ref_e]), fmt="%.9f")
        np.savetxt(tmp_path / "force_test.out", np.column_stack([pred_f, ref_f]), fmt="%.9f")
    else:
        np.savetxt(tmp_path / "sys.e.out", np.column_stack([ref_e, pred_e]), fmt="%.9f")
        np.savetxt(tmp_path / "sys.f.out", np.column_stack([ref_f, pred_f]), fmt="%.9f")
    e_file = np.loadtxt(tmp_path / ("energy_test.out" if per_atom else "sys.e.out"))
    f_file = np.loadtxt(tmp_path / ("force_test.out" if per_atom else "sys.f.out"))
    expected = _brute_force(a, e_file[:, 1 if per_atom else 0], f_file[:, 3:6] if per_atom else f_file[:, 0:3], per_atom)
    assert len(set(expected)) == len(order) and -1 not in expected
    pred = import_predictions(tmp_path, ref, model="m")
    matched = np.flatnonzero(np.isfinite(pred.energy))
    assert sorted(matched) == sorted(expected)
    for row, k in enumerate(expected):
        want = e_file[row, 0] * a.n_atoms[k] if per_atom else e_file[row, 1]
        assert pred.energy[k] == pytest.approx(want, abs=1e-8)
    assert pred.meta["frames_without_prediction"] == len(a) - len(order)
