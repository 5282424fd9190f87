"""Conformance on real files written by GPUMD, deepmd-kit, VASP and FitSNAP (``../shared/corpus``).

Frame counts and values are checked against what ASE, dpdata and the files' own reference columns
say; RMSEs of imported predictions against GPUMD's ``loss.out`` and the ``dp test`` log. The corpus
lives beside the project, not in it: without it these tests skip with the reason.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from analysis.core.errors import InputFileError
from analysis.datasets.frames import ReferenceSet
from analysis.datasets.importers import detect_format, import_reference
from analysis.datasets.predictions import import_predictions
from analysis.metrics.tables import compute_metrics_table

CORPUS = Path(__file__).resolve().parents[3].parent / "shared" / "corpus"
pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"the real-file corpus {CORPUS} is absent (it lives beside the project)")


def _ase_frames(path: Path, fmt: str) -> list:
    from ase.io import read

    return read(path, index=":", format=fmt)


def _ase_labels(atoms, *, vasp: bool = False) -> tuple[float, np.ndarray]:
    results = atoms.calc.results if atoms.calc is not None else {}
    energy = results.get("free_energy" if vasp else "energy", results.get("energy", atoms.info.get("energy")))
    forces = results.get("forces", atoms.arrays.get("forces", atoms.arrays.get("force")))
    return float(energy), np.asarray(forces)


def _same_as_ase(got: ReferenceSet, frames: list, *, vasp: bool = False) -> None:
    assert len(got) == len(frames)
    for mine, theirs in zip(got.frames, frames):
        energy, forces = _ase_labels(theirs, vasp=vasp)
        assert mine.get_potential_energy() == pytest.approx(energy, abs=1e-8)
        np.testing.assert_allclose(mine.get_forces(), forces, atol=1e-8)
        np.testing.assert_allclose(mine.positions, theirs.positions, atol=1e-8)
        np.testing.assert_allclose(mine.cell.array, theirs.cell.array, atol=1e-8)
        assert mine.get_chemical_symbols() == theirs.get_chemical_symbols()


@pytest.mark.parametrize("name", ["Displaced_FCC.xyz", "GSF_110.xyz", "Liquid.xyz", "Volume_BCC.xyz"])
def test_fitsnap_tantalum_extxyz(name: str) -> None:
    path = CORPUS / "extxyz_Ta_fitsnap" / name
    got = import_reference(path)
    _same_as_ase(got, _ase_frames(path, "extxyz"))
    assert got.elements == ["Ta"]


def test_gpumd_pytest_train_xyz() -> None:
    path = CORPUS / "gpumd_pytest_train.xyz"
    got = import_reference(path)
    _same_as_ase(got, _ase_frames(path, "extxyz"))
    assert len(got) == 4


@pytest.mark.parametrize("folder", ["nep_gpumd_train_PbTe", "nep_gpumd_prediction_PbTe"])
def test_nep_pbte_predictions_reproduce_loss_out(folder: str) -> None:
    ref = import_reference(CORPUS / folder / "train.xyz")
    assert len(ref) == 25 and set(ref.arrays().n_atoms) == {250}
    pred = import_predictions(CORPUS / folder, ref, model="nep")
    assert pred.meta["frames_without_prediction"] == 0
    assert {s.split(" ")[0] for s in pred.meta["skipped_files"]} >= {"train.xyz", "nep.in"}
    row = compute_metrics_table(ref.arrays(), {"nep": pred}).query("temperature == 'all'").iloc[0]
    last = np.loadtxt(CORPUS / "nep_gpumd_train_PbTe" / "loss.out")[-1]  # step, L, L1, L2, E_train, F_train, ...
    assert row["energy_rmse_mev_per_atom"] == pytest.approx(1000 * last[4], abs=0.06)  # loss.out has 5 decimals
    assert row["force_rmse_mev_per_a"] == pytest.approx(1000 * last[5], rel=0.01)


def test_nep_pbte_predictions_in_reverse_order_match_the_same_frames() -> None:
    """GPUMD keeps the file order; reversed outputs (another order) must give the same predictions."""
    import tempfile

    folder = CORPUS / "nep_gpumd_train_PbTe"
    ref = import_reference(folder / "train.xyz")
    forward = import_predictions(folder, ref, model="nep")
    e = np.loadtxt(folder / "energy_train.out")
    f = np.loadtxt(folder / "force_train.out")
    n = ref.arrays().n_atoms
    blocks = np.split(f, np.cumsum(n)[:-1])
    with tempfile.TemporaryDirectory() as tmp:
        np.savetxt(Path(tmp) / "energy_train.out", e[::-1], fmt="%.5f")
        np.savetxt(Path(tmp) / "force_train.out", np.concatenate(blocks[::-1]), fmt="%.5f")
        backward = import_predictions(tmp, ref, model="nep")
    np.testing.assert_allclose(backward.energy, forward.energy, atol=250 * 1e-5)
    np.testing.assert_allclose(backward.forces, forward.forces, atol=1e-5)


@pytest.mark.parametrize(("path", "fmt", "steps"), [
    ("vasp_Al_single/OUTCAR", "outcar", 1), ("vasp_Li_relax/OUTCAR", "outcar", 10), ("OUTCAR.h2o.md", "outcar", 3),
    ("vasp_Ti_aimd_nwrite0/vasprun.xml", "vasprun", 10), ("vasprun.h2o.md.10.xml", "vasprun", 10)])
def test_vasp_outputs_equal_ase(path: str, fmt: str, steps: int) -> None:
    file = CORPUS / path
    assert detect_format(file) == fmt
    got = import_reference(file)
    assert len(got) == steps
    _same_as_ase(got, _ase_frames(file, {"outcar": "vasp-out", "vasprun": "vasp-xml"}[fmt]), vasp=True)


def test_nwrite0_outcar_is_refused_with_the_vasprun_hint() -> None:
    with pytest.raises(InputFileError, match="10 ionic steps have energies but only 2 have forces.*vasprun.xml"):
        import_reference(CORPUS / "vasp_Ti_aimd_nwrite0" / "OUTCAR")


@pytest.mark.parametrize("name", ["deepmd_water_data_0", "deepmd_water_data_1", "deepmd_Fe16_npy", "deepmd_Fe16_raw"])
def test_deepmd_systems_equal_dpdata(name: str) -> None:
    import dpdata

    folder = CORPUS / name
    fmt = "deepmd/npy" if any(folder.glob("set.*")) else "deepmd/raw"
    system = dpdata.LabeledSystem(str(folder), fmt=fmt)
    got = import_reference(folder)
    assert len(got) == len(system)
    np.testing.assert_allclose(got.arrays().energy, system["energies"], atol=1e-8)
    np.testing.assert_allclose(got.arrays().forces, system["forces"].reshape(-1, 3), atol=1e-8)
    names = [system["atom_names"][t] for t in system["atom_types"]]
    assert got.frames[0].get_chemical_symbols() == names


def test_deepmd_without_type_map() -> None:
    import dpdata

    folder = CORPUS / "deepmd_h2o_raw_no_type_map"
    with pytest.raises(InputFileError, match="deepmd_h2o_raw_no_type_map: the DeePMD system has no type_map.raw.*--type-map"):
        import_reference(folder)
    got = import_reference(folder, type_map=["O", "H"])
    system = dpdata.LabeledSystem(str(folder), fmt="deepmd/raw", type_map=["O", "H"])
    np.testing.assert_allclose(got.arrays().energy, system["energies"], atol=1e-8)
    assert got.frames[0].get_chemical_symbols() == [system["atom_names"][t] for t in system["atom_types"]]
    assert set(got.frames[0].get_chemical_symbols()) == {"O", "H"}


def _dp_log_rmse(log: Path) -> tuple[float, float]:
    """The weighted-average energy RMSE/Natoms (eV) and force RMSE (eV/Å) of a ``dp test`` log."""
    text = log.read_text().split("weighted average of errors")[1]
    energy = float(re.search(r"Energy RMSE/Natoms\s*:\s*(\S+)", text)[1])
    force = float(re.search(r"Force\s+RMSE\s*:\s*(\S+)", text)[1])
    return energy, force


def test_dp_test_over_two_systems_reproduces_its_log() -> None:
    base = CORPUS / "dptest_multi"
    ref = ReferenceSet.merge([import_reference(base / "multi" / "data_0"), import_reference(base / "multi" / "data_1")])
    pred = import_predictions(base / "out_multi", ref, model="dp")
    assert pred.meta["frames_without_prediction"] == 0 and len(ref) == 240
    row = compute_metrics_table(ref.arrays(), {"dp": pred}).query("temperature == 'all'").iloc[0]
    energy, force = _dp_log_rmse(base / "multi_dptest.log")
    assert row["energy_rmse_mev_per_atom"] == pytest.approx(1000 * energy, rel=1e-5)
    assert row["force_rmse_mev_per_a"] == pytest.approx(1000 * force, rel=1e-5)
