"""Conformance on the real DFT/MD outputs of ``../shared/corpus/formats`` (see its README.md): every
frame equal to what dpdata 1.1.0 or ASE reads from the same file. Skipped, with the reason, when
the corpus is absent (a clone outside this team has no ``../shared``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from analysis.datasets.importers import detect_format, import_reference

FORMATS = Path(__file__).resolve().parents[3].parent / "shared" / "corpus" / "formats"
pytestmark = pytest.mark.skipif(not FORMATS.is_dir(), reason=f"the real-file corpus {FORMATS} is absent (it lives beside the project)")


@pytest.mark.parametrize("path", ["mace_xyz_Si_rss_autoplex/train.extxyz", "mace_xyz_Si_rss_autoplex/test.extxyz",
                                  "mace_xyz_Si_bulk_autoplex/test_Si.extxyz"])
def test_mace_convention_extxyz_equals_ase(path: str) -> None:
    from ase.io import read

    file = FORMATS / path
    assert detect_format(file) == "extxyz"
    theirs = read(file, index=":")
    got = import_reference(file)
    assert len(got) == len(theirs)
    sources = sorted(got.frames, key=lambda a: int(a.info["source"].rsplit("#", 1)[1]))
    for mine, atoms in zip(sources, theirs):
        assert mine.get_potential_energy() == pytest.approx(atoms.info["REF_energy"], abs=1e-8)
        np.testing.assert_allclose(mine.get_forces(), atoms.arrays["REF_forces"], atol=1e-8)
        np.testing.assert_allclose(mine.positions, atoms.positions, atol=1e-8)
        np.testing.assert_allclose(mine.cell.array, atoms.cell.array, atol=1e-8)


DPDATA_CASES = [  # (path under formats/, dpdata fmt, what dpdata is given, frames)
    ("pwmat_movement_Cu_PWMLFF/0_300_MOVEMENT", "pwmat/movement", "0_300_MOVEMENT", 100),
    ("pwmat_movement_Cu_dpdata/MOVEMENT_1", "pwmat/movement", "MOVEMENT_1", 2),
    ("abacus_md_Sn_dpdata", "abacus/md", ".", 11),
    ("abacus_md_Si_dpdata", "abacus/md", ".", 4),
    ("abacus_scf_Fe_dpdata", "abacus/scf", ".", 1),
    ("abacus_scf_CH4_dpdata", "abacus/scf", ".", 1),
    ("abacus_relax_GaAs_dpdata", "abacus/relax", ".", 3),
    ("abacus_relax_Si_dpdata", "abacus/relax", ".", 4),
    ("qe_pw_scf_Al_dpdata/Al.out", "qe/pw/scf", "Al.out", 1),
    ("qe_pw_scf_Na_dpdata/na.out", "qe/pw/scf", "na.out", 1),
    ("qe_cp_traj_Si_dpdata", "qe/cp/traj", "si", 2),
    ("qe_cp_traj_OH_dpdata", "qe/cp/traj", "oh-md", 2),
    ("cp2k_aimd_CH4_dpdata", "cp2k/aimd_output", ".", 1),
    ("cp2k_aimd_Ag13O2_cp2kdata", "cp2k/aimd_output", ".", 3),
    ("cp2k_output_Fe2O3_dpdata/cp2k_output", "cp2k/output", "cp2k_output", 1),
    ("cp2k_output_H2_dpdata/cp2k_2025_output", "cp2k/output", "cp2k_2025_output", 1),
    ("siesta_aimd_Si_dpdata/output", "siesta/aimd_output", "output", 5),
]


def _dpdata(case: str, fmt: str, given: str):
    import dpdata

    folder = FORMATS / case if (FORMATS / case).is_dir() else (FORMATS / case).parent
    return dpdata.LabeledSystem(str(folder / given) if given != "." else str(folder), fmt=fmt)


def _element(name: str) -> str:
    return "".join(c for c in str(name) if c.isalpha())  # CP2K kinds: 'Fe1' -> 'Fe'


@pytest.mark.parametrize(("case", "fmt", "given", "n_frames"), DPDATA_CASES, ids=[c[0].split("/")[0] for c in DPDATA_CASES])
def test_dpdata_formats_equal_dpdata_frame_by_frame(case: str, fmt: str, given: str, n_frames: int) -> None:
    path = FORMATS / case
    system = _dpdata(case, fmt, given)
    got = import_reference(path)
    assert len(got) == len(system) == n_frames
    frames = sorted(got.frames, key=lambda a: int(a.info["source"].rsplit("#", 1)[1]))
    symbols = [_element(system["atom_names"][t]) for t in system["atom_types"]]
    for i, mine in enumerate(frames):
        assert mine.get_chemical_symbols() == symbols
        assert mine.get_potential_energy() == pytest.approx(float(system["energies"][i]), abs=1e-8)
        np.testing.assert_allclose(mine.get_forces(), system["forces"][i], atol=1e-8)
        np.testing.assert_allclose(mine.positions, system["coords"][i], atol=1e-8)
        np.testing.assert_allclose(mine.cell.array, system["cells"][i], atol=1e-8)
    assert got.provenance["format"] == detect_format(path)


def test_fhi_aims_reads_as_dpdata_and_its_167_ev_per_a_forces_are_refused() -> None:
    """dpdata's FHI-aims test file has forces up to 167 eV/Å (a B-N geometry far from any metal's AIMD)."""
    from analysis.core.errors import InputFileError
    from analysis.datasets.importers import READERS, ReadOptions

    path = FORMATS / "fhi_aims_md_BN2_dpdata" / "out_md"
    assert detect_format(path) == "fhi-aims"
    system = _dpdata("fhi_aims_md_BN2_dpdata/out_md", "fhi_aims/md", "out_md")
    raw = READERS["fhi-aims"](path, ReadOptions([]))
    assert len(raw) == len(system) == 3
    for i, (atoms, energy, forces) in enumerate(raw):
        assert energy == pytest.approx(float(system["energies"][i]), abs=1e-8)
        np.testing.assert_allclose(forces, system["forces"][i], atol=1e-8)
        np.testing.assert_allclose(atoms.positions, system["coords"][i], atol=1e-8)
    with pytest.raises(InputFileError, match=r"frame 0: a force component of 167.5 eV/Å, beyond the 100 eV/Å"):
        import_reference(path)


@pytest.mark.parametrize("path", ["ase_traj_MoS2_dpdata/MoS2.traj", "ase_traj_IrRe_fairchem/27998_all.traj",
                                  "ase_db_oxides_fairchem/oxides.db"])
def test_ase_trajectories_and_databases_equal_ase(path: str) -> None:
    from ase.io import read

    file = FORMATS / path
    theirs = read(file, index=":")
    got = import_reference(file)
    assert len(got) == len(theirs)
    frames = sorted(got.frames, key=lambda a: int(a.info["source"].rsplit("#", 1)[1]))
    for mine, atoms in zip(frames, theirs):
        assert mine.get_chemical_symbols() == atoms.get_chemical_symbols()
        assert mine.get_potential_energy() == pytest.approx(atoms.get_potential_energy(), abs=1e-8)
        np.testing.assert_allclose(mine.get_forces(), atoms.get_forces(), atol=1e-8)
        np.testing.assert_allclose(mine.positions, atoms.positions, atol=1e-8)
        np.testing.assert_allclose(mine.cell.array, atoms.cell.array, atol=1e-8)


def test_ase_db_agrees_with_dpdata_multisystems() -> None:
    import dpdata

    file = FORMATS / "ase_db_oxides_fairchem" / "oxides.db"
    systems = dpdata.MultiSystems.from_file(str(file), fmt="ase/structure", ase_fmt="db")
    got = import_reference(file)
    assert len(got) == sum(len(s) for s in systems) == 295
    mine = np.sort(got.arrays().energy)
    theirs = np.sort(np.concatenate([s["energies"] for s in systems]))
    np.testing.assert_allclose(mine, theirs, atol=1e-8)


def test_a_pw_output_without_its_input_and_a_cut_movement_say_so(tmp_path: Path) -> None:
    from analysis.core.errors import InputFileError

    (tmp_path / "Al.out").write_bytes((FORMATS / "qe_pw_scf_Al_dpdata" / "Al.out").read_bytes())
    with pytest.raises(InputFileError, match=r"a pw.x output is read with its input .* as Al.in"):
        import_reference(tmp_path / "Al.out")
    text = (FORMATS / "pwmat_movement_Cu_dpdata" / "MOVEMENT_1").read_text()
    (tmp_path / "MOVEMENT").write_text(text[: len(text) * 3 // 4])  # a killed run: cut inside frame 2
    got = import_reference(tmp_path / "MOVEMENT")
    assert len(got) == 1 and "stops inside frame 2" in got.provenance["warnings"][0]
    full = import_reference(FORMATS / "pwmat_movement_Cu_dpdata" / "MOVEMENT_1")
    assert got.frames[0].get_potential_energy() == full.frames[0].get_potential_energy()
    (tmp_path / "MOVEMENT").write_text(text[:2000])
    with pytest.raises(InputFileError, match="stops inside its first frame"):
        import_reference(tmp_path / "MOVEMENT")
