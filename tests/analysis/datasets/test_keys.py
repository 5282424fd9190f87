"""Label keys of extended XYZ files: MACE's REF_ convention, DFT_, free_energy, named keys, ambiguity."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase.io import write

from analysis.core.errors import InputFileError
from analysis.datasets.importers import import_reference
from tests.analysis.helpers import emt_reference

ROOT = Path(__file__).resolve().parents[3]


def _plain(ref):
    """Copies of the frames without a calculator (labels go under the keys a test chooses)."""
    out = []
    for atoms in ref.frames:
        copy = atoms.copy()
        copy.info = {}
        out.append(copy)
    return out


def _with_keys(ref, energy_key: str | None, forces_key: str | None, *, shift: float = 0.0):
    frames = _plain(ref)
    a = ref.arrays()
    for k, atoms in enumerate(frames):
        if energy_key:
            atoms.info[energy_key] = float(a.energy[k]) + shift
        if forces_key:
            atoms.arrays[forces_key] = a.forces[a.offsets[k]:a.offsets[k + 1]] + shift
    return frames


@pytest.fixture
def ref():
    return emt_reference(elements=("Cu",), temperatures=(300.0,), n_frames=3)


@pytest.mark.parametrize(("energy_key", "forces_key"), [
    ("REF_energy", "REF_forces"), ("DFT_energy", "DFT_forces"), ("Energy", "force"), ("free_energy", "forces"),
    ("ref_ENERGY", "Ref_Forces")])
def test_common_conventions_are_detected(tmp_path, ref, energy_key, forces_key):
    path = tmp_path / "train.extxyz"
    write(path, _with_keys(ref, energy_key, forces_key), format="extxyz")
    got = import_reference(path)
    np.testing.assert_allclose(got.arrays().energy, ref.arrays().energy, atol=1e-7)
    np.testing.assert_allclose(got.arrays().forces, ref.arrays().forces, atol=1e-7)


def test_ase_pair_energy_and_free_energy_takes_energy(tmp_path, ref):
    frames = _with_keys(ref, "energy", "forces")
    for atoms in frames:
        atoms.info["free_energy"] = atoms.info["energy"] - 0.5
    path = tmp_path / "ase.xyz"
    write(path, frames, format="extxyz")
    got = import_reference(path)
    np.testing.assert_allclose(got.arrays().energy, ref.arrays().energy, atol=1e-7)


def test_two_reference_energies_are_refused_naming_both_and_the_option(tmp_path, ref):
    frames = _with_keys(ref, "REF_energy", "REF_forces")
    for atoms in frames:
        atoms.info["DFT_energy"] = atoms.info["REF_energy"] + 1.0
    path = tmp_path / "two.xyz"
    write(path, frames, format="extxyz")
    with pytest.raises(InputFileError, match=r"frame 0 has REF_energy and DFT_energy: several energy keys.*--energy-key"):
        import_reference(path)
    got = import_reference(path, energy_key="DFT_energy")
    np.testing.assert_allclose(got.arrays().energy, ref.arrays().energy + 1.0, atol=1e-7)
    got = import_reference(path, energy_key="ref_energy")  # any case
    np.testing.assert_allclose(got.arrays().energy, ref.arrays().energy, atol=1e-7)


def test_two_force_columns_are_refused(tmp_path, ref):
    frames = _with_keys(ref, "REF_energy", "REF_forces")
    for atoms in frames:
        atoms.arrays["DFT_forces"] = atoms.arrays["REF_forces"] * 2
    path = tmp_path / "two.xyz"
    write(path, frames, format="extxyz")
    with pytest.raises(InputFileError, match=r"REF_forces and DFT_forces.*--forces-key"):
        import_reference(path)
    got = import_reference(path, forces_key="DFT_forces")
    np.testing.assert_allclose(got.arrays().forces, ref.arrays().forces * 2, atol=1e-7)


def test_no_energy_lists_the_keys_the_file_has(tmp_path, ref):
    path = tmp_path / "odd.xyz"
    write(path, _with_keys(ref, "total_E", "F_dft"), format="extxyz")
    with pytest.raises(InputFileError) as info:
        import_reference(path)
    message = info.value.reason
    assert message.startswith("frame 0 has no energy")
    assert "total_E" in message and "REF_energy" in message and "--energy-key" in message
    with pytest.raises(InputFileError, match=r"frame 0 has no forces.*F_dft.*--forces-key"):
        import_reference(path, energy_key="total_E")
    got = import_reference(path, energy_key="total_E", forces_key="F_dft")
    np.testing.assert_allclose(got.arrays().energy, ref.arrays().energy, atol=1e-7)
    np.testing.assert_allclose(got.arrays().forces, ref.arrays().forces, atol=1e-7)


def test_a_named_key_that_is_absent_lists_what_there_is(tmp_path, ref):
    path = tmp_path / "mace.xyz"
    write(path, _with_keys(ref, "REF_energy", "REF_forces"), format="extxyz")
    with pytest.raises(InputFileError, match=r"frame 0 has no energy 'DFT_energy' \(comment line has: REF_energy"):
        import_reference(path, energy_key="DFT_energy")
    with pytest.raises(InputFileError, match=r"frame 0 has no forces 'forces' \(Properties has: REF_forces\)"):
        import_reference(path, forces_key="forces")


def test_cli_energy_and_forces_keys(tmp_path, ref):
    path = tmp_path / "odd.xyz"
    write(path, _with_keys(ref, "total_E", "F_dft"), format="extxyz")
    env = {**os.environ, "MLFF_ATLAS_DATA": str(tmp_path / "data")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "analysis", "import", str(path), "--dataset", "keys", *args],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)

    refused = run()
    assert refused.returncode == 1 and "has no energy" in refused.stderr and "total_E" in refused.stderr
    done = run("--energy-key", "total_E", "--forces-key", "F_dft")
    assert done.returncode == 0, done.stderr
    assert "3 frames added" in done.stdout
