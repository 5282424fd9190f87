from __future__ import annotations

import pytest

from analysis.core import elements


def test_table_has_43_metals_matching_the_transcription():
    assert len(elements.METAL43) == 43
    assert elements.METAL43[0] == "Li" and elements.METAL43[-1] == "Tl"


@pytest.mark.parametrize(
    ("symbol", "temps"),
    [("Al", [300.0, 467.0, 933.0, 1120.0]), ("K", [300.0, 403.0]), ("Hg", [300.0]), ("Li", [300.0, 454.0, 548.0])],
)
def test_temperatures_drop_gaps(symbol, temps):
    assert elements.temperatures(symbol) == temps


def test_row_fields_and_labels():
    ti = elements.row("Ti")
    assert ti.mp_id == "mp-72" and ti.space_group == "P6/mmm" and ti.potcar == "Ti_pv"
    assert elements.row("Rb").mp_id is None
    assert elements.row("Al").temperature_labels[1120.0] == "1.2 Tc"
    with pytest.raises(KeyError, match="not in the Metal-43 table"):
        elements.row("O")
    assert elements.temperatures("O") == []


@pytest.mark.parametrize(
    ("symbol", "pos"),
    [("H", (1, 1)), ("He", (1, 18)), ("B", (2, 13)), ("Al", (3, 13)), ("Fe", (4, 8)), ("Hf", (6, 4)),
     ("Hg", (6, 12)), ("Tl", (6, 13)), ("La", (9, 3)), ("Lu", (9, 17)), ("Ac", (10, 3)), ("Og", (7, 18))],
)
def test_ptable_positions(symbol, pos):
    assert elements.ptable_position(symbol) == pos


def test_positions_unique_for_all_elements():
    cells = [elements.ptable_position(s) for s in elements.all_symbols(118 if False else 103)]
    assert len(set(cells)) == len(cells)
    with pytest.raises(ValueError, match="unknown element"):
        elements.ptable_position("Xx")
