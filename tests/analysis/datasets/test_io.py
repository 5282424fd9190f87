"""Importers on files written here in each real format, and every bad-input case."""
from __future__ import annotations

import numpy as np
import pytest
from ase.io import write

from analysis.core.errors import InputFileError
from analysis.datasets.importers import detect_format, import_reference
from analysis.datasets.predictions import import_predictions
from tests.analysis.helpers import emt_reference
from tests.analysis.vasp_writers import write_outcar, write_vasprun


@pytest.fixture
def ref():
    return emt_reference(elements=("Cu",), temperatures=(300.0,), n_frames=3)


def _labels(ref):
    a = ref.arrays()
    return [f for f in ref.frames], list(a.energy), [a.forces[s:e] for s, e in zip(a.offsets[:-1], a.offsets[1:])]


def test_extxyz_roundtrip(tmp_path, ref):
    write(tmp_path / "cu.extxyz", ref.frames, format="extxyz")
    got = import_reference(tmp_path / "cu.extxyz", temperature_k=600)
    np.testing.assert_allclose(got.arrays().energy, ref.arrays().energy, atol=1e-7)
    np.testing.assert_allclose(got.arrays().forces, ref.arrays().forces, atol=1e-7)
    assert set(got.arrays().temperature) == {600.0}
    assert got.frames[0].info["source"] == "cu.extxyz#0"


def test_nep_train_xyz_with_lowercase_keys(tmp_path, ref):
    lines = []
    for atoms, energy, forces in zip(*_labels(ref)):
        cell = " ".join(f"{x:.8f}" for x in atoms.cell.array.ravel())
        lines += [str(len(atoms)), f'energy={energy:.8f} lattice="{cell}" properties=species:S:1:pos:R:3:force:R:3']
        for s, p, f in zip(atoms.get_chemical_symbols(), atoms.positions, forces):
            lines.append(f"{s} {p[0]:.8f} {p[1]:.8f} {p[2]:.8f} {f[0]:.8f} {f[1]:.8f} {f[2]:.8f}")
    (tmp_path / "train.xyz").write_text("\n".join(lines) + "\n")
    assert detect_format(tmp_path / "train.xyz") == "extxyz"  # one reader for both, keys in any case
    got = import_reference(tmp_path / "train.xyz", element="Cu", temperature_k=300)
    np.testing.assert_allclose(got.arrays().forces, ref.arrays().forces, atol=1e-7)
    np.testing.assert_allclose(got.arrays().energy, ref.arrays().energy, atol=1e-7)


@pytest.mark.parametrize("name", ["OUTCAR", "vasprun.xml"])
def test_vasp_all_ionic_steps(tmp_path, ref, name):
    frames, energies, forces = _labels(ref)
    (write_outcar if name == "OUTCAR" else write_vasprun)(tmp_path / name, frames, energies, forces)
    got = import_reference(tmp_path / name, temperature_k=300)
    assert len(got) == 3
    np.testing.assert_allclose(got.arrays().energy, energies, atol=1e-6)
    np.testing.assert_allclose(got.arrays().forces, np.concatenate(forces), atol=1e-6)


def test_deepmd_npy_and_raw(tmp_path, ref):
    import dpdata

    system = dpdata.LabeledSystem(ref.frames[0], fmt="ase/structure")
    for atoms in ref.frames[1:]:
        system.append(dpdata.LabeledSystem(atoms, fmt="ase/structure"))
    system.to("deepmd/npy", str(tmp_path / "npy"))
    system.to("deepmd/raw", str(tmp_path / "raw"))
    for folder in ("npy", "raw"):
        got = import_reference(tmp_path / folder, temperature_k=300)
        assert len(got) == 3
        np.testing.assert_allclose(np.sort(got.arrays().energy), np.sort(ref.arrays().energy), atol=1e-6)


def _write_nep_outputs(folder, ref, *, drop_frame=False, drop_atom=False):
    a = ref.arrays()
    e_pa = a.energy / a.n_atoms
    e_rows = [f"{p:.8f} {r:.8f}" for p, r in zip(e_pa + 0.002, e_pa)]
    f_rows = [" ".join(f"{x:.8f}" for x in (*(f + 0.01), *f)) for f in a.forces]
    if drop_frame:
        e_rows = e_rows[:-1]
    if drop_atom:
        f_rows = f_rows[:-1]
    (folder / "energy_test.out").write_text("\n".join(e_rows) + "\n")
    (folder / "force_test.out").write_text("\n".join(f_rows) + "\n")


def test_nep_predictions_matched(tmp_path, ref):
    _write_nep_outputs(tmp_path, ref)
    pred = import_predictions(tmp_path / "energy_test.out", ref, model="nep")
    a = ref.arrays()
    np.testing.assert_allclose(pred.energy / a.n_atoms - a.energy / a.n_atoms, 0.002, atol=1e-7)
    np.testing.assert_allclose(pred.forces - a.forces, 0.01, atol=1e-7)


def test_deepmd_predictions_matched(tmp_path, ref):
    a = ref.arrays()
    e = np.column_stack([a.energy, a.energy + 0.1])
    f = np.column_stack([a.forces, a.forces - 0.02])
    np.savetxt(tmp_path / "dp.e.out", e, header="data_e pred_e")
    np.savetxt(tmp_path / "dp.f.out", f, header="data_fx data_fy data_fz pred_fx pred_fy pred_fz")
    pred = import_predictions(tmp_path / "dp.f.out", ref, model="dp")
    np.testing.assert_allclose(pred.energy - a.energy, 0.1, atol=1e-7)
    np.testing.assert_allclose(pred.forces - a.forces, -0.02, atol=1e-7)


@pytest.mark.parametrize(("kw", "match"), [({"drop_frame": True}, "has 24 atom rows but the 2 matched frames hold 16 atoms"),
                                           # a force file cut short names the force file, not the energy file (issue 29.5)
                                           ({"drop_atom": True}, r"force_test.out: has 23 atom rows, which end before frame 3 of the 3")])
def test_prediction_count_mismatch_names_file_and_counts(tmp_path, ref, kw, match):
    _write_nep_outputs(tmp_path, ref, **kw)
    with pytest.raises(InputFileError, match=match) as info:
        import_predictions(tmp_path, ref, model="nep")
    assert info.value.path.endswith(".out")


def test_predictions_of_other_data_rejected(tmp_path, ref):
    other = emt_reference(elements=("Cu",), temperatures=(300.0,), n_frames=3, seed=42)
    _write_nep_outputs(tmp_path, other)
    with pytest.raises(InputFileError, match="belong to other data"):
        import_predictions(tmp_path, ref, model="nep")


# ----------------------------------------------------------------------------- bad input
def _xyz_text(ref):
    atoms = ref.frames[0]
    cell = " ".join(f"{x:.6f}" for x in atoms.cell.array.ravel())
    head = f'Lattice="{cell}" Properties=species:S:1:pos:R:3:forces:R:3 energy={{E}} pbc="T T T"'
    rows = [f"Cu {p[0]:.6f} {p[1]:.6f} {p[2]:.6f} {{F}} 0.0 0.0" for p in atoms.positions]
    return str(len(atoms)), head, rows


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("", "file is empty"),
        ("8\nLattice=\"4 0 0 0 4 0 0 0 4\" Properties=species:S:1:pos:R:3:forces:R:3 energy=-1\nCu 0 0 0 0 0 0\n", "frame 0 declares 8 atoms but only 15 bytes follow \\(at least 8 per atom line\\)"),
        ("NaN", "line 1 should give frame 0's atom count"),
    ],
)
def test_bad_xyz_files(tmp_path, content, match):
    path = tmp_path / "bad.xyz"
    path.write_text(content)
    with pytest.raises(InputFileError, match=match) as info:
        import_reference(path)
    assert info.value.path == str(path)


def test_missing_energy_missing_forces_nan_and_units(tmp_path, ref):
    n, head, rows = _xyz_text(ref)
    cases = {
        "no_energy.xyz": ("\n".join([n, head.replace(" energy={E}", ""), *[r.format(F="0.1") for r in rows]]), "has no energy"),
        "no_forces.xyz": ("\n".join([n, head.replace(":forces:R:3", "").format(E="-30"), *[r.format(F="").rsplit(" ", 2)[0] for r in rows]]), "has no forces"),
        "nan.xyz": ("\n".join([n, head.format(E="-30"), *[r.format(F="nan") for r in rows]]), "NaN"),
        "nan_energy.xyz": ("\n".join([n, head.format(E="nan"), *[r.format(F="0.1") for r in rows]]), "energy is nan"),
        "mev.xyz": ("\n".join([n, head.format(E="-30000000000"), *[r.format(F="0.1") for r in rows]]), "no total energy: wrong unit"),
    }
    for name, (text, match) in cases.items():
        (tmp_path / name).write_text(text + "\n")
        with pytest.raises(InputFileError, match=match):
            import_reference(tmp_path / name)


def test_unknown_format_and_unit(tmp_path, ref):
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InputFileError, match="unknown format"):
        import_reference(tmp_path / "data.csv")
    write(tmp_path / "ok.xyz", ref.frames, format="extxyz")
    with pytest.raises(InputFileError, match="unknown energy unit 'furlongs'"):
        import_reference(tmp_path / "ok.xyz", energy_unit="furlongs")
    got = import_reference(tmp_path / "ok.xyz", energy_unit="meV")
    np.testing.assert_allclose(got.arrays().energy, ref.arrays().energy * 1e-3, atol=1e-9)


def test_truncated_vasp_files_keep_their_complete_steps_with_a_warning(tmp_path, ref):
    frames, energies, forces = _labels(ref)
    write_vasprun(tmp_path / "vasprun.xml", frames, energies, forces)
    text = (tmp_path / "vasprun.xml").read_text()
    second = text.index("<calculation>", text.index("</calculation>"))
    (tmp_path / "vasprun.xml").write_text(text[: second + 300])  # a killed run: cut inside step 2
    got = import_reference(tmp_path / "vasprun.xml")
    assert len(got) == 1
    np.testing.assert_allclose(got.arrays().energy, energies[:1], atol=1e-6)
    assert "dropped 1 cut step" in got.provenance["warnings"][0]
    write_outcar(tmp_path / "OUTCAR", frames, energies, forces)
    text = (tmp_path / "OUTCAR").read_text()
    (tmp_path / "OUTCAR").write_text(text[: text.index("POSITION") + 200])  # inside the first step's forces
    with pytest.raises(InputFileError, match="no complete ionic step"):
        import_reference(tmp_path / "OUTCAR")


def test_bad_prediction_files(tmp_path, ref):
    (tmp_path / "energy_test.out").write_text("")
    (tmp_path / "force_test.out").write_text("0 0 0 0 0 0\n")
    with pytest.raises(InputFileError, match="file is empty"):
        import_predictions(tmp_path, ref, model="nep")
    (tmp_path / "energy_test.out").write_text("1.0\n")
    with pytest.raises(InputFileError, match="line 1 has 1 columns, expected 2"):
        import_predictions(tmp_path, ref, model="nep")
    (tmp_path / "energy_test.out").write_text("nan 1\n1 1\n1 1\n")
    with pytest.raises(InputFileError, match="NaN"):
        import_predictions(tmp_path, ref, model="nep")
    with pytest.raises(InputFileError, match="no such file"):
        import_predictions(tmp_path / "missing.out", ref, model="nep")
