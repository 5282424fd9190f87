"""The malformed inputs of issue 29.5 that went in before: units checked against the stored data on
append and on predictions, force units, cut VASP files, encodings, damaged npy and archives."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from analysis.core.errors import InputFileError
from analysis.datasets.importers import import_reference
from analysis.datasets.predictions import import_predictions
from analysis.datasets.writing import write_frames
from tests.analysis.helpers import emt_reference
from tests.analysis.vasp_writers import write_outcar, write_vasprun

CORPUS = Path(__file__).resolve().parents[3].parent / "shared" / "corpus"
BOHR = 0.529177210903


def _scaled(ref, *, energy: float = 1.0, forces: float = 1.0):
    out = []
    for atoms in ref.frames:
        copy = atoms.copy()
        copy.info = {"temperature": atoms.info["temperature"]}
        copy.calc = SinglePointCalculator(copy, energy=atoms.get_potential_energy() * energy, forces=atoms.get_forces() * forces)
        out.append(copy)
    return out


def _store_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and ".lock" not in p.name}


@pytest.fixture
def stored(tmp_path: Path):
    """Data set 'cu' with 4 Cu frames at 300 K (EMT energies shifted to a DFT-like -3.7 eV/atom)."""
    ref = emt_reference(elements=("Cu",), temperatures=(300.0,), n_frames=4)
    frames = []
    for atoms in ref.frames:
        copy = atoms.copy()
        copy.info = {"temperature": 300.0}
        copy.calc = SinglePointCalculator(copy, energy=atoms.get_potential_energy() - 3.7 * len(atoms), forces=atoms.get_forces())
        frames.append(copy)
    write(tmp_path / "cu.xyz", frames, format="extxyz")
    write_frames(import_reference(tmp_path / "cu.xyz"), "cu", root=tmp_path / "data")
    return tmp_path / "data"


def _more(seed: int, temperature: float = 300.0, *, energy: float = 1.0, forces: float = 1.0, tmp: Path, name: str) -> Path:
    ref = emt_reference(elements=("Cu",), temperatures=(temperature,), n_frames=4, seed=seed)
    frames = []
    for atoms in ref.frames:
        copy = atoms.copy()
        copy.info = {"temperature": temperature}
        copy.calc = SinglePointCalculator(copy, energy=(atoms.get_potential_energy() - 3.7 * len(atoms)) * energy,
                                          forces=atoms.get_forces() * forces)
        frames.append(copy)
    write(tmp / name, frames, format="extxyz")
    return tmp / name


@pytest.mark.parametrize(("kw", "temperature", "match"), [
    ({"energy": 96.485}, 300.0, r"with the frames data set 'cu' holds, the per-atom energies of Cu at 300 K spread over"),  # kJ/mol
    ({"energy": 23.06}, 900.0, r"the new Cu frames' per-atom energies .* lie .* from those data set 'cu' holds"),  # kcal/mol, new T
    ({"forces": BOHR}, 300.0, r"have forces 0\.5\d* times \(RMS\) those of the 4 frames .*eV/bohr"),  # eV/bohr read as eV/Å
    ({"forces": BOHR / 27.211}, 300.0, r"have forces 0\.0[12]\d* times"),  # Ha/bohr
])
def test_appending_another_unit_is_refused_and_the_store_is_unchanged(tmp_path: Path, stored: Path, kw, temperature, match) -> None:
    before = _store_bytes(stored)
    path = _more(5, temperature, tmp=tmp_path, name="more.xyz", **kw)
    incoming = import_reference(path)  # the file alone passes the checks of an import
    with pytest.raises(InputFileError, match=match) as info:
        write_frames(incoming, "cu", mode="append", root=stored)
    assert "more.xyz" in str(info.value) and "--energy-unit" in str(info.value)
    assert _store_bytes(stored) == before


def test_the_same_unit_appends_and_force_units_convert(tmp_path: Path, stored: Path) -> None:
    outcome = write_frames(import_reference(_more(5, tmp=tmp_path, name="ok.xyz")), "cu", mode="append", root=stored)
    assert outcome.added == 4 and outcome.total == 8
    bohr = _more(9, tmp=tmp_path, name="bohr.xyz", forces=BOHR)  # eV/bohr, declared
    converted = import_reference(bohr, force_unit="eV/bohr")
    plain = import_reference(_more(9, tmp=tmp_path, name="plain.xyz"))
    np.testing.assert_allclose(converted.arrays().forces, plain.arrays().forces, atol=1e-7)
    assert converted.provenance["force_unit_in_file"] == "eV/bohr"
    assert write_frames(converted, "cu", mode="append", root=stored).added == 4
    ha = import_reference(_more(9, tmp=tmp_path, name="ha.xyz", energy=1 / 27.211386245988, forces=BOHR / 27.211386245988),
                          energy_unit="Ha", force_unit="Ha/bohr")
    # the file's 8 decimals of Ha/bohr are 2.6e-7 eV/Å after the conversion
    np.testing.assert_allclose(ha.arrays().forces, plain.arrays().forces, atol=1e-6)
    np.testing.assert_allclose(ha.arrays().energy, plain.arrays().energy, atol=1e-5)
    with pytest.raises(InputFileError, match="unknown force unit 'N'"):
        import_reference(bohr, force_unit="N")


@pytest.mark.parametrize(("energy_scale", "force_scale", "match"), [
    (1000.0, 1.0, r"energy_test.out: the predicted per-atom energies of Cu spread over .* another unit \(meV"),
    (96.485, 1.0, r"spread over .* times the .* of the reference"),
    (1.0, 1000.0, r"force_test.out: a predicted force component of .* beyond the 100 eV/Å"),
])
def test_predictions_in_another_unit_are_refused(tmp_path: Path, energy_scale: float, force_scale: float, match: str) -> None:
    ref = emt_reference(elements=("Cu",), temperatures=(300.0, 900.0), n_frames=3)
    a = ref.arrays()
    e_pa = a.energy / a.n_atoms - 3.7
    shifted = []
    for atoms, e in zip(ref.frames, e_pa):
        atoms.calc.results["energy"] = float(e * len(atoms))
        shifted.append(atoms)
    np.savetxt(tmp_path / "energy_test.out", np.column_stack([(e_pa + 0.003) * energy_scale, e_pa]), fmt="%.8f")
    np.savetxt(tmp_path / "force_test.out", np.column_stack([(a.forces + 0.02) * force_scale, a.forces]), fmt="%.8f")
    from analysis.datasets.frames import ReferenceSet

    ref = ReferenceSet(shifted, {})
    with pytest.raises(InputFileError, match=match):
        import_predictions(tmp_path, ref, model="nep")
    np.savetxt(tmp_path / "energy_test.out", np.column_stack([e_pa + 0.003, e_pa]), fmt="%.8f")
    np.savetxt(tmp_path / "force_test.out", np.column_stack([a.forces + 0.02, a.forces]), fmt="%.8f")
    assert import_predictions(tmp_path, ref, model="nep").meta["frames_without_prediction"] == 0


def _vasp(tmp_path: Path, n: int):
    ref = emt_reference(elements=("Cu",), temperatures=(300.0,), n_frames=n)
    a = ref.arrays()
    return list(ref.frames), list(a.energy), [a.forces[s:e] for s, e in zip(a.offsets[:-1], a.offsets[1:])]


def test_a_vasprun_cut_and_closed_again_warns(tmp_path: Path) -> None:
    frames, energies, forces = _vasp(tmp_path, 3)
    write_vasprun(tmp_path / "vasprun.xml", frames, energies, forces)
    text = (tmp_path / "vasprun.xml").read_text()
    second = text.index("<calculation>", text.index("</calculation>"))
    (tmp_path / "vasprun.xml").write_text(text[: second + 300] + "\n</modeling>\n")  # cut inside step 2, the closing tag restored
    got = import_reference(tmp_path / "vasprun.xml")
    assert len(got) == 1 and "dropped 1 cut step" in got.provenance["warnings"][0]


def test_an_outcar_cut_inside_an_energy_block_keeps_the_complete_steps(tmp_path: Path) -> None:
    frames, energies, forces = _vasp(tmp_path, 4)
    write_outcar(tmp_path / "OUTCAR.full", frames, energies, forces)
    text = (tmp_path / "OUTCAR.full").read_text()
    (tmp_path / "OUTCAR").write_text(text[: text.index("energy  without entropy", text.index("Iteration    2"))])
    got = import_reference(tmp_path / "OUTCAR")
    assert len(got) == 1 and "imported the 1 complete steps" in got.provenance["warnings"][0]
    assert got.frames[0].get_potential_energy() == pytest.approx(energies[0], abs=1e-6)


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"the real-file corpus {CORPUS} is absent (it lives beside the project)")
@pytest.mark.parametrize("fraction", [0.25, 0.5, 0.75])
def test_a_real_outcar_cut_anywhere_keeps_its_complete_steps(tmp_path: Path, fraction: float) -> None:
    text = (CORPUS / "vasp_Li_relax" / "OUTCAR").read_text()
    (tmp_path / "OUTCAR").write_text(text[: int(len(text) * fraction)])
    full = import_reference(CORPUS / "vasp_Li_relax" / "OUTCAR")
    got = import_reference(tmp_path / "OUTCAR")
    assert 1 <= len(got) < 10 and "complete steps" in got.provenance["warnings"][0]
    np.testing.assert_allclose(got.arrays().energy, full.arrays().energy[: len(got)], atol=1e-8)


def test_encodings_are_named(tmp_path: Path) -> None:
    ref = emt_reference(elements=("Cu",), temperatures=(300.0,), n_frames=2)
    buffer = io.StringIO()
    write(buffer, ref.frames, format="extxyz")
    (tmp_path / "bom.xyz").write_bytes(b"\xef\xbb\xbf" + buffer.getvalue().encode())
    assert len(import_reference(tmp_path / "bom.xyz")) == 2  # a UTF-8 byte-order mark is read through
    (tmp_path / "u16.xyz").write_bytes(buffer.getvalue().encode("utf-16"))
    with pytest.raises(InputFileError, match=r"u16.xyz: is UTF-16 text .*iconv"):
        import_reference(tmp_path / "u16.xyz")
    frames, energies, forces = _vasp(tmp_path, 1)
    write_outcar(tmp_path / "OUTCAR", frames, energies, forces)
    (tmp_path / "OUTCAR.16").write_bytes((tmp_path / "OUTCAR").read_text().encode("utf-16-le"))
    with pytest.raises(InputFileError, match="looks like UTF-16 text without a byte-order mark"):
        import_reference(tmp_path / "OUTCAR.16")
    (tmp_path / "OUTCAR.rand").write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(InputFileError, match=r"OUTCAR.rand: holds binary data .* not text"):
        import_reference(tmp_path / "OUTCAR.rand")


def test_damaged_npy_and_archives_get_one_line(tmp_path: Path) -> None:
    import dpdata

    ref = emt_reference(elements=("Cu",), temperatures=(300.0,), n_frames=2)
    system = dpdata.LabeledSystem(ref.frames[0], fmt="ase/structure")
    system.append(dpdata.LabeledSystem(ref.frames[1], fmt="ase/structure"))
    system.to("deepmd/npy", str(tmp_path / "dp"))
    good = (tmp_path / "dp" / "set.000" / "energy.npy").read_bytes()
    (tmp_path / "dp" / "set.000" / "energy.npy").write_bytes(b"not numpy at all" * 8)
    with pytest.raises(InputFileError, match=r"energy.npy: is not a numpy .npy array file"):
        import_reference(tmp_path / "dp")
    np.save(tmp_path / "dp" / "set.000" / "energy.npy", np.array([{"a": 1}, 2], dtype=object), allow_pickle=True)
    with pytest.raises(InputFileError, match=r"energy.npy: holds Python objects .* never loaded") as info:
        import_reference(tmp_path / "dp")
    assert "trust" not in str(info.value)
    (tmp_path / "dp" / "set.000" / "energy.npy").write_bytes(good[: len(good) - 4])
    with pytest.raises(InputFileError, match="energy.npy: is cut short"):
        import_reference(tmp_path / "dp")
    (tmp_path / "junk.tar.gz").write_bytes(b"garbage" * 50)
    with pytest.raises(InputFileError) as info:
        import_reference(tmp_path / "junk.tar.gz")
    assert "\n" not in str(info.value) and "none of gzip, bzip2, xz or plain tar reads it" in str(info.value)


def test_a_zip_of_newlines_is_refused(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "nl.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("a.xyz", "w") as handle:
            for _ in range(20):
                handle.write(b"\n" * (1 << 20))
    with pytest.raises(InputFileError, match="nl.zip: member a.xyz: no frames found"):
        import_reference(tmp_path / "nl.zip")
    text = "\n" * 5000 + "1\nProperties=species:S:1:pos:R:3:forces:R:3 energy=-1 pbc=\"F F F\"\nCu 0 0 0 0 0 0\n\n\n" + "\n" * 3 + "oops\n"
    (tmp_path / "late.xyz").write_text(text)
    with pytest.raises(InputFileError, match="line 5009 should give frame 1's atom count"):  # line numbers survive the skipping
        import_reference(tmp_path / "late.xyz")
