"""Archives of reference data (DeePMD folders, OUTCARs, XYZ) unpacked safely and imported."""
from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from ase.io import write

from analysis.core.errors import InputFileError
from analysis.datasets.archive import extract_archive, import_archive, reference_sources, temperature_from_path
from analysis.datasets.importers import import_reference
from tests.analysis.helpers import emt_reference
from tests.analysis.vasp_writers import write_outcar


def _labels(ref):
    a = ref.arrays()
    return list(ref.frames), list(a.energy), [a.forces[s:e] for s, e in zip(a.offsets[:-1], a.offsets[1:])]


def _tree(root: Path) -> dict[str, object]:
    """A Metal-43-like tree: a DeePMD system at 300 K, an OUTCAR at 1200 K, an XYZ, and macOS junk."""
    import dpdata

    cu_cold = emt_reference(elements=("Cu",), temperatures=(300.0,), n_frames=3, seed=1)
    cu_hot = emt_reference(elements=("Cu",), temperatures=(1200.0,), n_frames=2, seed=2)
    al = emt_reference(elements=("Al",), temperatures=(900.0,), n_frames=2, seed=3)
    system = dpdata.LabeledSystem(cu_cold.frames[0], fmt="ase/structure")
    for atoms in cu_cold.frames[1:]:
        system.append(dpdata.LabeledSystem(atoms, fmt="ase/structure"))
    system.to("deepmd/npy", str(root / "Cu" / "Cu_300K" / "system"))
    (root / "Cu" / "T=1200K").mkdir(parents=True)
    write_outcar(root / "Cu" / "T=1200K" / "OUTCAR", *_labels(cu_hot))
    write(root / "al.extxyz", al.frames, format="extxyz")  # carries temperature=900 in its info
    (root / "__MACOSX").mkdir()
    (root / "__MACOSX" / "._al.extxyz").write_bytes(b"\x00\x05\x16\x07 not xyz")
    (root / "README.txt").write_text("how these were made")
    return {"cold": cu_cold, "hot": cu_hot, "al": al}


def _zip(folder: Path, out: Path) -> Path:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            zf.write(path, path.relative_to(folder).as_posix())
    return out


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_tree_of_sources_imports_with_temperatures_from_paths(tmp_path: Path, kind: str) -> None:
    tree = tmp_path / "tree"
    sets = _tree(tree)
    if kind == "zip":
        archive = _zip(tree, tmp_path / "metal.zip")
    else:
        archive = tmp_path / "metal.tar.gz"
        with tarfile.open(archive, "w:gz") as tf:
            tf.add(tree, arcname="metal")
    ref = import_reference(archive)  # dispatched by the name
    arrays = ref.arrays()
    assert len(ref) == 7
    by_temp = {t: int((arrays.temperature == t).sum()) for t in np.unique(arrays.temperature)}
    assert by_temp == {300.0: 3, 900.0: 2, 1200.0: 2}
    for key, temp in (("cold", 300.0), ("hot", 1200.0), ("al", 900.0)):
        want = sets[key].arrays()
        got = np.sort(arrays.energy[arrays.temperature == temp])
        np.testing.assert_allclose(got, np.sort(want.energy), atol=1e-6)
    assert len(set(arrays.frame_id)) == 7
    sources = ref.provenance["source_files"]
    assert len(sources) == 3 and all(s.startswith(archive.name + ":") for s in sources)
    assert any("OUTCAR" in str(a.info["source"]) for a in ref.frames)
    # a temperature given by the user wins over the paths
    assert set(import_archive(archive, temperature_k=500.0).arrays().temperature) == {500.0}


def test_temperature_from_path() -> None:
    assert temperature_from_path(Path("Cu_1200K/OUTCAR")) == 1200.0
    assert temperature_from_path(Path("runs/T=900K/vasprun.xml")) == 900.0
    assert temperature_from_path(Path("Fe/300 K/x.xyz")) == 300.0
    assert temperature_from_path(Path("K/bcc/OUTCAR")) is None  # potassium is not a temperature
    assert temperature_from_path(Path("Cu/1200Kelvin_notes/OUTCAR")) is None


def test_sources_skip_deepmd_internals_and_junk(tmp_path: Path) -> None:
    _tree(tmp_path)
    rel = [p.relative_to(tmp_path).as_posix() for p in reference_sources(tmp_path)]
    assert rel == ["Cu/Cu_300K/system", "Cu/T=1200K/OUTCAR", "al.extxyz"]


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize("name, match", [("../evil.xyz", r"outside the archive"), ("/etc/evil.xyz", "absolute path"),
                                         ("a/../../evil.xyz", r"outside the archive")])
def test_unsafe_zip_members_are_refused_and_nothing_escapes(tmp_path: Path, name: str, match: str) -> None:
    archive = tmp_path / "bad.zip"
    archive.write_bytes(_zip_bytes({"ok.txt": b"fine", name: b"1\n\nCu 0 0 0\n"}))
    dest = tmp_path / "out" / "inner"
    with pytest.raises(InputFileError, match=match) as err:
        extract_archive(archive, dest, max_bytes=10**6)
    assert "bad.zip" in str(err.value)
    assert not (tmp_path / "evil.xyz").exists() and not (tmp_path / "out" / "evil.xyz").exists()


def test_links_in_tar_are_refused(tmp_path: Path) -> None:
    archive = tmp_path / "link.tar"
    with tarfile.open(archive, "w") as tf:
        info = tarfile.TarInfo("data/OUTCAR")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tf.addfile(info)
    with pytest.raises(InputFileError, match="link or special file"):
        import_archive(archive)
    import stat

    zipped = tmp_path / "link.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        info = zipfile.ZipInfo("data/OUTCAR")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(InputFileError, match="link or special file"):
        import_archive(zipped)


def test_zip_bomb_stops_at_the_cap(tmp_path: Path) -> None:
    archive = tmp_path / "bomb.zip"
    archive.write_bytes(_zip_bytes({"big.xyz": b"0" * (20 * 2**20)}))
    assert archive.stat().st_size < 100_000
    with pytest.raises(InputFileError, match="declares 20 MB unpacked, over the 1 MB limit set by MLFF_ATLAS_MAX_UNPACKED_MB"):
        extract_archive(archive, tmp_path / "x", max_bytes=2**20)
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").rglob("*"))  # refused before anything was written


def test_bad_archives_name_the_archive_and_member(tmp_path: Path) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"this is not a zip file")
    with pytest.raises(InputFileError, match="junk.zip: not a readable archive"):
        import_reference(junk)
    empty = tmp_path / "notes.zip"
    empty.write_bytes(_zip_bytes({"notes.txt": b"nothing here"}))
    with pytest.raises(InputFileError, match="holds no reference data"):
        import_reference(empty)
    broken = tmp_path / "broken.tar.gz"
    with tarfile.open(broken, "w:gz") as tf:
        data = b"2\nLattice=\"3 0 0 0 3 0 0 0 3\" Properties=species:S:1:pos:R:3\nCu 0 0 0\n"  # one atom line of two, no labels
        info = tarfile.TarInfo("Cu_300K/cu.extxyz")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    with pytest.raises(InputFileError, match=r"broken.tar.gz: member Cu_300K/cu.extxyz: "):
        import_reference(broken)
