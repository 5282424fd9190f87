"""Close-contact screening of sampled frames."""
from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from analysis import load_dataset
from analysis.reference.contacts import CONTACT_RATIO, crystal_nn_distance, screen, screen_many, shortest_distance


def test_shortest_distance_sees_periodic_images_and_the_atoms_own_image() -> None:
    pair = Atoms("Cu2", positions=[[0, 0, 0], [2.9, 0, 0]], cell=[3.0, 10, 10], pbc=True)
    assert shortest_distance(pair) == pytest.approx(0.1)  # through the boundary
    single = Atoms("Cu", positions=[[0, 0, 0]], cell=[2.5, 10, 10], pbc=True)
    assert shortest_distance(single) == pytest.approx(2.5)  # to its own image


def test_nn_distance_of_the_perfect_crystal_and_invariance_under_repetition() -> None:
    fcc = bulk("Cu", "fcc", a=3.6)
    assert crystal_nn_distance("Cu", fcc.get_volume()) == pytest.approx(3.6 / np.sqrt(2))
    rattled = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    rattled.rattle(0.05, seed=1)
    assert shortest_distance(rattled.repeat((2, 1, 1))) == pytest.approx(shortest_distance(rattled))


def test_a_pushed_pair_is_flagged_and_the_crystal_is_not() -> None:
    crystal = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    assert not screen(crystal).flagged and screen(crystal).ratio == pytest.approx(1.0)
    pushed = crystal.copy()
    d = pushed.positions[1] - pushed.positions[0]
    pushed.positions[1] -= 0.25 * d  # 0.75 of the neighbour distance
    rec = screen(pushed)
    assert rec.flagged and rec.ratio == pytest.approx(0.75, abs=1e-6) and rec.ratio < CONTACT_RATIO
    with pytest.raises(ValueError, match="elemental"):
        screen(Atoms("CuNi", positions=[[0, 0, 0], [1.8, 1.8, 0]], cell=[3.6] * 3, pbc=True))


def test_default_set_flags_the_os_contact_that_dominated_its_force_rmse() -> None:
    ds = load_dataset("metal43-gpaw")
    records = dict(zip((a.info["frame_id"] for a in ds.frames), screen_many(ds.frames)))
    os_frame = records["Os/3967K/0000"]
    assert os_frame is not None and os_frame.flagged and os_frame.d_min_a == pytest.approx(2.084, abs=1e-3)
    flagged = [k for k, r in records.items() if r is not None and r.flagged]
    assert 0 < len(flagged) <= 0.06 * len(records)


def test_screening_the_stored_columns_equals_the_neighbour_list_frame_by_frame() -> None:
    """Frames at a volume each (as NPT would give), hcp and bcc too, a compound and a pushed pair:
    the ratios from the stored shortest distances equal screen_many's neighbour-list answer."""
    from analysis.datasets.columns import from_frames
    from analysis.datasets.frames import ReferenceSet, make_frame
    from analysis.reference.contacts import screen_columns
    from analysis.reference.gpaw_calc import supercell

    rng = np.random.default_rng(11)
    frames = []
    for symbol, v0 in (("Cu", 11.8), ("Mg", 23.0), ("W", 16.2), ("Ga", 19.6)):
        for k in range(6):
            atoms = supercell(symbol, v0 * rng.uniform(0.9, 1.1), 8)
            atoms.rattle(0.05 + 0.1 * (k == 0), seed=k)
            if k == 1:
                atoms.positions[1] = atoms.positions[0] + [0.8, 0.0, 0.0]  # far into the wall
            frames.append(make_frame(atoms, 0.0, np.zeros((len(atoms), 3)), temperature_k=300.0 + k))
    mixed = bulk("Cu", "fcc", a=3.6, cubic=True)
    mixed.symbols[0] = "Au"
    frames.append(make_frame(mixed, 0.0, np.zeros((4, 3)), temperature_k=300.0))
    ref = ReferenceSet(frames)
    ratios, flags = screen_columns(from_frames(ref.frames))
    expected = screen_many(ref.frames)
    compound = [i for i, a in enumerate(ref.frames) if len(set(a.numbers)) > 1]
    assert len(compound) == 1 and expected[compound[0]] is None and np.isnan(ratios[compound[0]]) and not flags[compound[0]]
    keep = [i for i in range(len(ref.frames)) if i not in compound]
    # screen_many takes the crystal at the volume rounded to 1e-6 Å^3: agreement to that rounding
    np.testing.assert_allclose(ratios[keep], [expected[i].ratio for i in keep], rtol=1e-7)
    assert flags[keep].tolist() == [expected[i].flagged for i in keep] and flags.sum() >= 4
