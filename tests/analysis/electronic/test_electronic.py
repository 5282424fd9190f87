"""analysis.electronic: VASP eigenvalue readers, GPAW protocols, cache and loader."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from analysis import electronic as el
from analysis.core.errors import InputFileError
from analysis.electronic import smearing as sm

# ----------------------------------------------------------------------------- file writers


def _mesh_kpoints(n: int) -> np.ndarray:
    return np.indices((n, n, n)).reshape(3, -1).T / n


def _bands(kpts: np.ndarray, nspin: int) -> np.ndarray:
    """Two cosine bands per spin on fractional k (eV)."""
    c = np.cos(2 * np.pi * kpts).sum(axis=1)
    bands = np.stack([-2.0 + 1.2 * c, 3.0 - 0.8 * c, 8.0 + 0.5 * c], axis=1)
    return np.stack([bands + 0.6 * s for s in range(nspin)])


def write_vasprun(path: Path, eigs: np.ndarray, kpts: np.ndarray, weights: np.ndarray, nelect: float, efermi: float,
                  *, divisions: int | None, truncate: bool = False) -> None:
    """A small vasprun.xml with the blocks pymatgen reads for eigenvalues (one ionic step)."""
    nspin, nk, nb = eigs.shape
    cell = np.eye(3) * 3.0

    def varray(name: str, rows: np.ndarray) -> str:
        body = "\n".join("    <v>" + "".join(f" {x:16.8f}" for x in np.atleast_1d(r)) + " </v>" for r in rows)
        return f'   <varray name="{name}" >\n{body}\n   </varray>'

    structure = (f"  <crystal>\n{varray('basis', cell)}\n   <i name=\"volume\"> 27.0 </i>\n"
                 f"{varray('rec_basis', np.linalg.inv(cell).T)}\n  </crystal>\n{varray('positions', np.zeros((1, 3)))}\n")
    gen = ""
    if divisions:
        gen = (f'  <generation param="Gamma">\n   <v type="int" name="divisions"> {divisions} {divisions} {divisions} </v>\n'
               '   <v name="usershift">0 0 0</v>\n  </generation>\n')
    eig_sets = []
    for s in range(nspin):
        ks = []
        for k in range(nk):
            rows = "\n".join(f"       <r> {eigs[s, k, b]:12.6f} {1.0 if eigs[s, k, b] < efermi else 0.0:8.4f} </r>" for b in range(nb))
            ks.append(f'      <set comment="kpoint {k + 1}">\n{rows}\n      </set>')
        eig_sets.append(f'     <set comment="spin {s + 1}">\n' + "\n".join(ks) + "\n     </set>")
    dos_sets = "\n".join(f'     <set comment="spin {s + 1}">\n       <r> -5.0 0.0 0.0 </r>\n       <r> 5.0 1.0 1.0 </r>\n     </set>'
                         for s in range(nspin))
    text = f"""<?xml version="1.0" encoding="ISO-8859-1"?>
<modeling>
 <generator>
  <i name="program" type="string">vasp </i>
  <i name="version" type="string">6.4.2 </i>
 </generator>
 <incar>
  <i name="ISPIN" type="int"> {nspin} </i>
 </incar>
 <kpoints>
{gen}{varray('kpointlist', kpts)}
{varray('weights', weights)}
 </kpoints>
 <parameters>
  <separator name="electronic" >
   <i name="NELECT">     {nelect:.8f}</i>
   <i type="int" name="ISPIN">     {nspin}</i>
   <i type="int" name="NELM">     60</i>
   <i name="EDIFF">      0.00000100</i>
  </separator>
  <separator name="ionic" >
   <i type="int" name="NSW">      0</i>
   <i type="int" name="IBRION">     -1</i>
   <i name="EDIFFG">      -0.01000000</i>
  </separator>
 </parameters>
 <atominfo>
  <atoms>       1 </atoms>
  <types>       1 </types>
  <array name="atoms" >
   <dimension dim="1">ion</dimension>
   <field type="string">element</field>
   <field type="int">atomtype</field>
   <set>
    <rc><c>Al</c><c>   1</c></rc>
   </set>
  </array>
  <array name="atomtypes" >
   <dimension dim="1">type</dimension>
   <field type="int">atomspertype</field>
   <field type="string">element</field>
   <field>mass</field>
   <field>valence</field>
   <field type="string">pseudopotential</field>
   <set>
    <rc><c>   1</c><c>Al</c><c>     26.98200000</c><c>      3.00000000</c><c>  PAW_PBE Al 04Jan2001</c></rc>
   </set>
  </array>
 </atominfo>
 <structure name="initialpos" >
{structure} </structure>
 <calculation>
  <structure>
{structure}  </structure>
  <energy>
   <i name="e_fr_energy">     -3.70000000 </i>
   <i name="e_wo_entrp">     -3.70000000 </i>
   <i name="e_0_energy">     -3.70000000 </i>
  </energy>
  <eigenvalues>
   <array>
    <dimension dim="1">band</dimension>
    <dimension dim="2">kpoint</dimension>
    <dimension dim="3">spin</dimension>
    <field>eigene</field>
    <field>occ</field>
    <set>
{chr(10).join(eig_sets)}
    </set>
   </array>
  </eigenvalues>
  <dos>
   <i name="efermi">     {efermi:.8f} </i>
   <total>
    <array>
     <dimension dim="1">gridpoints</dimension>
     <dimension dim="2">spin</dimension>
     <field>energy</field>
     <field>total</field>
     <field>integrated</field>
     <set>
{dos_sets}
     </set>
    </array>
   </total>
  </dos>
 </calculation>
 <structure name="finalpos" >
{structure} </structure>
</modeling>
"""
    if truncate:
        text = text[: int(len(text) * 0.6)]
    path.write_text(text)


def write_eigenval(path: Path, eigs: np.ndarray, kpts: np.ndarray, weights: np.ndarray, nelect: int,
                   *, truncate: bool = False) -> None:
    """EIGENVAL in VASP 5/6 layout."""
    nspin, nk, nb = eigs.shape
    lines = [f"    1    1    1    {nspin}", "  0.2700000E+02  0.3000000E-09  0.3000000E-09  0.3000000E-09  0.5000000E-15",
             "  1.000000000000000E-004", "  CAR", " Al test", f"     {nelect}    {nk}    {nb}"]
    for k in range(nk):
        lines += ["", "  " + "  ".join(f"{x:.7E}" for x in (*kpts[k], weights[k]))]
        for b in range(nb):
            vals = [eigs[s, k, b] for s in range(nspin)]
            occ = [1.0] * nspin
            lines.append(f"    {b + 1}  " + "  ".join(f"{v:11.6f}" for v in vals) + "  " + "  ".join(f"{o:8.6f}" for o in occ))
    if truncate:
        lines = lines[: len(lines) - nb // 2 - 2]
    path.write_text("\n".join(lines) + "\n")


# ----------------------------------------------------------------------------- VASP readers


@pytest.mark.parametrize("nspin", [1, 2])
def test_read_vasprun_full_mesh(tmp_path, nspin):
    n = 4
    kpts = _mesh_kpoints(n)
    eigs = _bands(kpts, nspin)
    weights = np.full(len(kpts), 1.0 / len(kpts))
    path = tmp_path / "vasprun.xml"
    write_vasprun(path, eigs, kpts, weights, 3.0, 1.5, divisions=n)
    ev = el.read_vasprun(path)
    assert ev.eigs.shape == (nspin, n**3, 3)
    np.testing.assert_allclose(ev.eigs, eigs, atol=1e-6)
    np.testing.assert_allclose(ev.weights, weights)
    assert ev.n_electrons == 3.0
    assert ev.efermi == pytest.approx(1.5)
    assert ev.mesh == (n, n, n)
    np.testing.assert_array_equal(ev.bz_to_ibz, np.arange(n**3))
    # every method works on the file's eigenvalues, and the count is right
    rows = el.smearing_table(ev, sigma_ev=0.1)
    assert [r["method"] for r in rows] == list(sm.METHODS)
    f, _ = sm.occupations(ev.eigs, ev.weights, 3.0, method="gaussian", sigma_ev=0.1)
    deg = 2.0 if nspin == 1 else 1.0
    assert deg * float((ev.weights[None, :, None] * f).sum()) == pytest.approx(3.0, abs=1e-9)
    assert el.read_vasp(tmp_path).eigs.shape == ev.eigs.shape


def test_read_vasprun_time_reversal_reduced_mesh(tmp_path):
    """A k-list halved by k -> -k still maps back onto the full mesh for tetrahedra."""
    n = 4
    full = _mesh_kpoints(n)
    eigs_full = _bands(full, 1)
    idx = np.indices((n, n, n)).reshape(3, -1).T
    minus = ((-idx) % n) @ np.array([n * n, n, 1])
    rep = np.minimum(np.arange(n**3), minus)
    ibz, counts = np.unique(rep, return_counts=True)
    kpts = np.where(full[ibz] > 0.5, full[ibz] - 1.0, full[ibz])
    path = tmp_path / "vasprun.xml"
    write_vasprun(path, eigs_full[:, ibz], kpts, counts / counts.sum(), 3.0, 1.5, divisions=n)
    ev = el.read_vasprun(path)
    assert ev.mesh == (n, n, n)
    ef_full = sm.fermi_level(eigs_full, None, 3.0, method="tetrahedron", mesh=(n, n, n))
    assert ev.band_energy("tetrahedron").fermi_level_ev == pytest.approx(ef_full, abs=1e-5)
    # smearing methods: IBZ weights give the same answer as the full mesh
    a = ev.band_energy("gaussian", 0.2)
    b = sm.band_energy(eigs_full, None, 3.0, method="gaussian", sigma_ev=0.2)
    assert a.e_band_ev == pytest.approx(b.e_band_ev, abs=1e-5)


def test_read_vasprun_bad_files(tmp_path):
    kpts = _mesh_kpoints(2)
    eigs = _bands(kpts, 1)
    w = np.full(8, 1 / 8)
    cut = tmp_path / "cut.xml"
    write_vasprun(cut, eigs, kpts, w, 3.0, 1.5, divisions=2, truncate=True)
    with pytest.raises(InputFileError, match="truncated") as info:
        el.read_vasprun(cut)
    assert info.value.path == str(cut)
    with pytest.raises(InputFileError, match="not found"):
        el.read_vasprun(tmp_path / "missing.xml")
    junk = tmp_path / "junk.xml"
    junk.write_text("<modeling><kpoints><varray name='kpointlist'><v>1 2</v></varray></kpoints>\n</modeling>")
    with pytest.raises(InputFileError):
        el.read_vasprun(junk)
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    with pytest.raises(InputFileError, match="neither"):
        el.read_vasp(empty)


@pytest.mark.parametrize("nspin", [1, 2])
def test_read_eigenval_and_outcar(tmp_path, nspin):
    kpts = _mesh_kpoints(3)
    eigs = _bands(kpts, nspin)
    w = np.full(27, 1 / 27)
    write_eigenval(tmp_path / "EIGENVAL", eigs, kpts, w, 3)
    (tmp_path / "OUTCAR").write_text(" vasp.6.4.2\n\n E-fermi :   1.2345     XC(G=0):  -9.4553     alpha+bet : -8.3562\n")
    ev = el.read_vasp(tmp_path)
    assert ev.eigs.shape == (nspin, 27, 3)
    np.testing.assert_allclose(ev.eigs, eigs, atol=1e-5)
    assert ev.n_electrons == 3 and ev.efermi == pytest.approx(1.2345)
    assert ev.mesh is None  # EIGENVAL carries no mesh: no tetrahedra
    with pytest.raises(ValueError, match="full k-mesh"):
        ev.band_energy("tetrahedron")
    bad = tmp_path / "bad"
    bad.mkdir()
    write_eigenval(bad / "EIGENVAL", eigs, kpts, w, 3, truncate=True)
    with pytest.raises(InputFileError, match="truncated"):
        el.read_eigenval(bad / "EIGENVAL")
    (bad / "OUTCAR").write_text("nothing useful\n")
    write_eigenval(bad / "EIGENVAL", eigs, kpts, w, 3)
    with pytest.raises(InputFileError, match="OUTCAR|E-fermi"):
        el.read_eigenval(bad / "EIGENVAL", bad / "OUTCAR")


# ----------------------------------------------------------------------------- structures and cache keys


def test_protocol_cell_and_hash():
    for symbol, n in (("Al", 2), ("Fe", 2), ("Mg", 2), ("Ti", 3), ("Ga", 4)):
        atoms = el.protocol_cell(symbol)
        assert len(atoms) == n
    base = el.protocol_cell("Al")
    moved = el.displaced(base, 0.1, el.SETTINGS)
    d = moved.positions - base.positions
    assert np.linalg.norm(d[0]) == pytest.approx(0.1)
    assert np.allclose(d[1:], 0)
    h0 = el.structure_hash("Al", base, el.SETTINGS)
    assert h0 != el.structure_hash("Al", moved, el.SETTINGS)
    assert h0 == el.structure_hash("Al", base.copy(), el.SETTINGS)
    # analysis-only settings do not change an SCF key; SCF settings do
    assert h0 == el.structure_hash("Al", base, {**el.SETTINGS, "analysis_sigma_ev": 0.2})
    assert h0 != el.structure_hash("Al", base, {**el.SETTINGS, "ecut_ev": 400})


# ----------------------------------------------------------------------------- a real GPAW run

TINY = {**el.SETTINGS, "ecut_ev": 150.0, "kpts": [2, 3, 3], "convergence": {"density": 1e-4},
        "deltas_a": [0.0, 0.05, 0.1], "fermi_shifts_ev": [-0.5, -0.25, 0.0, 0.25, 0.5]}


def test_gpaw_protocol_end_to_end(tmp_path):
    pytest.importorskip("gpaw")
    res = el.run_element("Al", root=tmp_path, settings=TINY)
    assert res.computed == 3 and res.cached == 0
    curves = el.load_curves("Al", root=tmp_path)
    assert curves is not None
    disp = curves["displacement"]
    np.testing.assert_allclose(disp["deltas_a"], [0.0, 0.05, 0.1])
    assert set(disp["methods"]) == set(sm.METHODS)
    for c in disp["methods"].values():
        assert c["e_band_ev"].shape == (3,) and np.all(np.isfinite(c["e_band_ev"]))
    # the displacement raises the total energy (equilibrium at delta = 0)
    assert disp["total_energy_ev"][2] > disp["total_energy_ev"][0]
    # the cached eigenvalues reproduce the curves and GPAW's own Fermi level (same FD width)
    ev = el.load_scf(tmp_path / "electronic", curves["scf_keys"][0])
    assert ev is not None and ev.mesh == (2, 3, 3)
    assert ev.eigs.shape[1] < 18  # time-reversal-reduced k-points
    fd = ev.band_energy("fermi-dirac", 0.1)
    assert fd.fermi_level_ev == pytest.approx(ev.efermi, abs=1e-4)  # float32 eigenvalues
    assert disp["methods"]["fermi-dirac"]["e_band_ev"][0] == pytest.approx(fd.e_band_ev, abs=1e-10)
    # tetrahedra through GPAW's own k-point map agree with GPAW's improved tetrahedron method
    from gpaw.occupations import create_occ_calc

    occ = create_occ_calc({"name": "improved-tetrahedron-method"}, rcell=ev.reciprocal_cell,
                          monkhorst_pack_size=ev.mesh, bz2ibzmap=ev.bz_to_ibz)
    f_gpaw, (ef_gpaw,), _ = occ.calculate(ev.n_electrons / 2, ev.eigs[0], ev.weights)
    tet = ev.band_energy("tetrahedron")
    assert tet.fermi_level_ev == pytest.approx(ef_gpaw, abs=1e-5)
    assert tet.e_band_ev == pytest.approx(2 * float((f_gpaw * ev.weights[:, None] * ev.eigs[0]).sum()), abs=1e-6)
    ours, _ = sm.occupations(ev.eigs, ev.weights, ev.n_electrons, method="tetrahedron", mesh=ev.mesh,
                             reciprocal_cell=ev.reciprocal_cell, bz_to_ibz=ev.bz_to_ibz)
    per_ibz = np.zeros(ev.eigs.shape[1:])
    np.add.at(per_ibz, ev.bz_to_ibz, ours[0])
    np.testing.assert_allclose(per_ibz, f_gpaw * ev.weights[:, None] * np.prod(ev.mesh), atol=1e-8)
    fs = curves["fermi_shift"]
    for method, c in fs["methods"].items():
        assert np.all(np.diff(c["n_electrons"]) > 0) or method in ("methfessel-paxton", "marzari-vanderbilt")
        assert c["n_electrons"][2] == pytest.approx(ev.n_electrons, abs=1e-8)
    # long-form tables for the dashboard
    df = el.curves_frame(curves, "displacement")
    assert len(df) == 3 * len(sm.METHODS)
    assert np.allclose(df[df.delta_a == 0].d_e_band_mev, 0.0)
    fs_df = el.curves_frame(curves, "fermi_shift")
    assert set(fs_df.columns) >= {"method", "shift_ev", "eigenvalue_sum_ev", "n_electrons"}
    assert len(fs_df) == 5 * len(sm.METHODS)
    with pytest.raises(ValueError, match="kind"):
        el.curves_frame(curves, "bands")  # type: ignore[arg-type]
    # a rerun computes nothing
    again = el.run_element("Al", root=tmp_path, settings=TINY)
    assert again.computed == 0 and again.cached == 3
    assert json.loads((tmp_path / "electronic" / "curves_Al.json").read_text())["element"] == "Al"
    assert el.available_elements(tmp_path) == ["Al"]
    assert el.load_curves("Cu", root=tmp_path) is None


def test_cli_resumes_from_cache(tmp_path, capsys):
    pytest.importorskip("gpaw")
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({k: TINY[k] for k in ("ecut_ev", "kpts", "convergence", "deltas_a", "fermi_shifts_ev")}))
    el.run_element("Al", root=tmp_path, settings=TINY)  # fill the cache as an interrupted run would
    from analysis.cli import main

    assert main(["electronic", "--elements", "Al", "--root", str(tmp_path), "--settings", str(settings)]) == 0
    out = capsys.readouterr().out
    assert "0 computed, 3 cached" in out
    assert (tmp_path / "electronic" / "progress.log").read_text().count("cached") >= 3
    with pytest.raises(SystemExit):
        main(["electronic", "--elements", "Xx", "--root", str(tmp_path)])


def test_load_curves_missing_and_bad(tmp_path):
    assert el.load_curves("Al", root=tmp_path) is None
    (tmp_path / "electronic").mkdir()
    (tmp_path / "electronic" / "curves_Al.json").write_text("{not json")
    with pytest.raises(InputFileError, match="JSON"):
        el.load_curves("Al", root=tmp_path)


def test_shipped_scfs_seed_a_new_data_dir(tmp_path):
    """A run into an empty data directory reuses the embedded default SCFs instead of recomputing."""
    from analysis.core.config import default_data_dir

    shipped = el.load_curves("Al", root=default_data_dir())
    if shipped is None or not all((default_data_dir() / "electronic" / f"{k}.npz").is_file() for k in shipped["scf_keys"]):
        pytest.skip("no shipped Al SCFs")
    # the shipped curves' own settings and volume: every SCF is in the shipped data
    res = el.run_element("Al", root=tmp_path, settings={**shipped["settings"], "dos_kpt_densities": []},
                         volume_per_atom=float(shipped["volume_per_atom_a3"]))
    assert res.computed == 0 and res.cached == len(shipped["settings"]["deltas_a"])
    mine = el.load_curves("Al", root=tmp_path)
    np.testing.assert_allclose(mine["displacement"]["methods"]["gaussian"]["e_band_ev"],
                               shipped["displacement"]["methods"]["gaussian"]["e_band_ev"], rtol=0, atol=1e-12)


def test_gpaw_spin_polarised_nickel(tmp_path):
    pytest.importorskip("gpaw")
    # no dense DOS meshes: at this test's 150 eV the Ni.10 overlap matrix of the non-SCF step is not
    # positive definite (production uses 350 eV); that failure path has its own test below
    settings = {**TINY, "kpts": [2, 2, 2], "deltas_a": [0.0, 0.1], "dos_kpt_densities": None}
    res = el.run_element("Ni", root=tmp_path, settings=settings)
    curves = res.curves
    assert curves["spin_polarized"] is True  # two spin channels (at 150 eV the moment may collapse)
    ev = el.load_scf(tmp_path / "electronic", curves["scf_keys"][0])
    assert ev.eigs.shape[0] == 2
    assert curves["bands_cover_shifts"]
    for method in sm.METHODS:
        f, _ = sm.occupations(ev.eigs, ev.weights, ev.n_electrons, method=method, sigma_ev=0.1, mesh=ev.mesh,
                              reciprocal_cell=ev.reciprocal_cell, bz_to_ibz=ev.bz_to_ibz)
        w = np.full(f.shape[1], 1.0 / f.shape[1]) if method == "tetrahedron" else ev.weights
        assert float((w[None, :, None] * f).sum()) == pytest.approx(ev.n_electrons, abs=1e-8)
    assert ev.band_energy("fermi-dirac", 0.1).fermi_level_ev == pytest.approx(ev.efermi, abs=1e-4)


def test_failed_dos_meshes_leave_the_curves_written(tmp_path, monkeypatch):
    pytest.importorskip("gpaw")
    from analysis.electronic import dos_meshes

    def singular(*args, **kwargs):
        raise np.linalg.LinAlgError("The leading minor of order 24 of B is not positive definite.")

    monkeypatch.setattr(dos_meshes, "_non_scf_mesh", singular)
    settings = {**TINY, "deltas_a": [0.0, 0.05], "dos_kpt_densities": [2.0]}
    res = el.run_element("Al", root=tmp_path, settings=settings)
    assert res.computed == 2
    curves = el.load_curves("Al", root=tmp_path)
    assert curves is not None and curves["dos_at_fermi"] is None
    assert curves["dos_at_fermi_error"].startswith("LinAlgError: The leading minor")
    assert len(curves["displacement"]["deltas_a"]) == 2


def test_shipped_iron_is_ferromagnetic():
    from analysis.core.config import default_data_dir

    curves = el.load_curves("Fe", root=default_data_dir())
    if curves is None:
        pytest.skip("no shipped Fe curves")
    assert curves["spin_polarized"] is True
    per_atom = np.asarray(curves["displacement"]["magmom"]) / curves["n_atoms"]
    assert np.all((per_atom > 2.0) & (per_atom < 2.6))  # PBE bcc Fe: about 2.2-2.3 per atom
    assert curves["bands_cover_shifts"]


def test_descriptors_do_not_depend_on_which_equivalent_atom_is_displaced(tmp_path):
    """A permutation of the atoms (displacing atom 1 of the two equivalent atoms instead of atom 0) is
    the same physics: a real GPAW run of each gives the same descriptors."""
    pytest.importorskip("gpaw")
    from analysis.electronic.descriptors import DESCRIPTORS, descriptors_from_curves

    out = []
    for atom in (0, 1):
        settings = {**TINY, "displaced_atom": atom, "dos_kpt_densities": None}
        res = el.run_element("Al", root=tmp_path / f"atom{atom}", settings=settings)
        assert res.computed == len(TINY["deltas_a"])  # different structures: nothing shared from a cache
        out.append(descriptors_from_curves(res.curves))
    finite = [name for name in DESCRIPTORS if np.isfinite(out[0][name])]
    # the tetrahedron DOS is NaN here only because this tiny run has neither dense DOS meshes nor eigenvalues passed in
    assert set(DESCRIPTORS) - set(finite) <= {"dos_ef_tetra_per_atom"}
    for name in DESCRIPTORS:
        np.testing.assert_allclose(out[1][name], out[0][name], rtol=2e-3, atol=2e-3, equal_nan=True, err_msg=name)
