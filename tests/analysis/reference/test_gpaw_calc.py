"""Tests of analysis.reference.gpaw_calc: Metal-43 structures for all 43 elements, settings, one real GPAW run."""
from __future__ import annotations

import math

import numpy as np
import pytest
import spglib

from analysis.core import elements
from analysis.reference import gpaw_calc

ALL = list(elements.METAL43)


def _space_group_number(atoms) -> int:
    data = spglib.get_symmetry_dataset((atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers), symprec=1e-3)
    return int(data.number)


@pytest.mark.parametrize("symbol", ALL)
def test_structure_has_the_listed_space_group(symbol: str) -> None:
    ph = gpaw_calc.phase(symbol)
    assert ph.listed_space_group == elements.row(symbol).space_group
    if symbol in gpaw_calc.SUBSTITUTES:
        assert ph.space_group != ph.listed_space_group and ph.note
    else:
        assert ph.space_group == ph.listed_space_group and not ph.note
    cell = gpaw_calc.conventional_cell(symbol)
    assert _space_group_number(cell) == gpaw_calc.SPACE_GROUP_NUMBER[ph.space_group]
    prim = gpaw_calc.primitive_cell(symbol)
    assert len(prim) == ph.n_primitive
    assert _space_group_number(prim) == gpaw_calc.SPACE_GROUP_NUMBER[ph.space_group]


@pytest.mark.parametrize("symbol", ALL)
def test_primitive_and_supercell_volume_and_size(symbol: str) -> None:
    v = 1.07 * gpaw_calc.phase(symbol).volume_guess
    prim = gpaw_calc.primitive_cell(symbol, v)
    assert prim.get_volume() / len(prim) == pytest.approx(v, rel=1e-9)
    cell = gpaw_calc.supercell(symbol, v, 8)
    assert 8 <= len(cell) <= 16
    assert cell.get_volume() / len(cell) == pytest.approx(v, rel=1e-9)
    # no two atoms closer than 80 % of a typical metallic bond at this volume
    d = cell.get_all_distances(mic=True)[np.triu_indices(len(cell), 1)]
    assert d.min() > 0.8 * v ** (1 / 3)


def test_hcp_uses_reference_covera_and_hg_is_alpha_hg() -> None:
    zn = gpaw_calc.phase("Zn")
    assert zn.prototype == "hcp" and zn.covera == pytest.approx(1.856)
    hg = gpaw_calc.primitive_cell("Hg", 23.0)
    assert len(hg) == 1 and _space_group_number(hg) == 166
    np.testing.assert_allclose(hg.cell.angles(), 70.45)
    assert gpaw_calc.phase("Hg").space_group == "R-3m" and "hR1" in gpaw_calc.phase("Hg").note


def test_alpha_ga_primitive_is_half_the_conventional_cell() -> None:
    conv = gpaw_calc.conventional_cell("Ga")
    prim = gpaw_calc.primitive_cell("Ga")
    assert len(conv) == 8 and len(prim) == 4
    assert prim.get_volume() * 2 == pytest.approx(conv.get_volume())


def test_supercell_rejects_too_few_atoms() -> None:
    with pytest.raises(ValueError, match="n_atoms=2"):
        gpaw_calc.supercell("Al", 16.5, 2)


def test_kpoint_mesh_scales_with_density() -> None:
    cell = gpaw_calc.supercell("Al", 16.5, 8)
    coarse = gpaw_calc.kpoint_mesh(cell, 1.5)
    fine = gpaw_calc.kpoint_mesh(cell, 3.0)
    assert all(f >= c for f, c in zip(fine, coarse)) and sum(fine) > sum(coarse)
    # 2π |b| density rounded up: an Al 8-atom cell (|a_i| = 5.7 Å) needs 4 points at 2.5/Å
    assert gpaw_calc.kpoint_mesh(cell, 2.5) == (4, 4, 4)


def test_settings_hash_is_canonical() -> None:
    a = {"ecut_ev": 350, "kpt_density": 2.5}
    b = {"kpt_density": 2.5, "ecut_ev": 350}
    assert gpaw_calc.settings_hash(a) == gpaw_calc.settings_hash(b)
    assert gpaw_calc.settings_hash(a) != gpaw_calc.settings_hash({**a, "ecut_ev": 351})


# --------------------------------------------------------------------------- real GPAW
TINY = {
    "mode": "pw",
    "xc": "PBE",
    "ecut_ev": 200,
    "kpts": [2, 2, 2],
    "smearing": "fermi-dirac",
    "width_ev": 0.1,
    "symmetry": "time-reversal",
    "convergence": {"density": 1e-4},
    "spin_polarized": ["Fe", "Co", "Ni"],
    "initial_magmom": {"Fe": 3.0, "Co": 2.0, "Ni": 1.0},
}


def test_every_metal43_element_has_a_pbe_setup() -> None:
    pytest.importorskip("gpaw")
    counts = {s: gpaw_calc.valence_electrons(s) for s in ALL}
    assert counts["Al"] == 3 and counts["Tc"] == 15  # Tc: the generated semicore setup
    assert all(0 < n <= 20 for n in counts.values())


def test_single_point_tiny_al_cell_is_consistent() -> None:
    pytest.importorskip("gpaw")
    atoms = gpaw_calc.supercell("Al", 16.5, 4)
    atoms.positions += np.random.default_rng(0).normal(0.0, 0.05, atoms.positions.shape)
    res = gpaw_calc.single_point(atoms, TINY)
    assert res.kpts == (2, 2, 2) and res.iterations > 0 and res.magmom == 0.0
    assert math.isfinite(res.energy_ev) and res.energy_ev < 0
    assert res.forces_ev_per_a.shape == (4, 3)
    # momentum conservation: the forces of a periodic cell sum to ~0
    np.testing.assert_allclose(res.forces_ev_per_a.sum(axis=0), 0.0, atol=5e-3)
    assert np.abs(res.forces_ev_per_a).max() > 0.05  # the rattle produces real forces
    # keeping only time-reversal symmetry gives the same energy as no symmetry at all
    nosym = gpaw_calc.single_point(atoms, {**TINY, "symmetry": "off"}, forces=False)
    assert nosym.energy_ev == pytest.approx(res.energy_ev, abs=2e-3)


def test_spin_polarised_element_gets_initial_moments() -> None:
    pytest.importorskip("gpaw")
    atoms = gpaw_calc.primitive_cell("Fe")
    calc = gpaw_calc.make_calculator(atoms, TINY)
    assert calc is not None
    np.testing.assert_allclose(atoms.get_initial_magnetic_moments(), [3.0])
    al = gpaw_calc.primitive_cell("Al")
    gpaw_calc.make_calculator(al, TINY)
    assert not al.get_initial_magnetic_moments().any()
    with pytest.raises(ValueError, match="unknown smearing"):
        gpaw_calc.make_calculator(al, {**TINY, "smearing": "cold-ish"})


def test_unknown_symmetry_is_rejected() -> None:
    pytest.importorskip("gpaw")
    with pytest.raises(ValueError, match="unknown symmetry"):
        gpaw_calc.make_calculator(gpaw_calc.primitive_cell("Al"), {**TINY, "symmetry": "some"})


def test_named_setup_per_element() -> None:
    """``setups`` picks gpaw-data's reduced-valence Ni.10 for Ni only; other elements keep the default."""
    pytest.importorskip("gpaw")
    assert gpaw_calc.valence_electrons("Ni") == 16 and gpaw_calc.valence_electrons("Ni", setup="10") == 10
    assert gpaw_calc.valence_electrons("Ni", setup="default") == 16
    ni = gpaw_calc.make_calculator(gpaw_calc.primitive_cell("Ni"), {**TINY, "setups": {"Ni": "10", "Fe": "7"}})
    assert ni.parameters.setups == {"Ni": "10"}  # only the atoms' own elements are passed on
    al = gpaw_calc.make_calculator(gpaw_calc.primitive_cell("Al"), {**TINY, "setups": {"Ni": "10"}})
    assert al.parameters.setups != {"Ni": "10"}


def test_mixer_settings_reach_gpaw() -> None:
    """An optional ``mixer`` dict is handed to GPAW as is; without one GPAW keeps its default."""
    pytest.importorskip("gpaw")
    mixer = {"backend": "pulay", "beta": 0.02, "nmaxold": 5, "weight": 50}
    mixed = gpaw_calc.make_calculator(gpaw_calc.primitive_cell("Fe"), {**TINY, "mixer": mixer})
    assert repr(mixed.parameters.mixer).startswith("Pulay(name='pulay', nmaxold=5, beta=0.02, weight=50")
    plain = gpaw_calc.make_calculator(gpaw_calc.primitive_cell("Fe"), TINY)
    assert "beta=0.02" not in repr(plain.parameters.mixer)  # GPAW's own default (MSR1 in GPAW 26.7)


def test_per_element_mixer_applies_to_that_elements_cells_only() -> None:
    pulay = {"backend": "pulay", "beta": 0.05, "nmaxold": 5, "weight": 50}
    settings = {"mixers": {"Co": pulay}}
    assert gpaw_calc.mixer_for({"Co"}, settings) == pulay
    assert gpaw_calc.mixer_for({"Fe"}, settings) is None and gpaw_calc.mixer_for({"Co", "Fe"}, settings) is None
    assert gpaw_calc.mixer_for({"Co"}, {**settings, "mixer": {"beta": 0.1}}) == {"beta": 0.1}  # one for every cell wins
