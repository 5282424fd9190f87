"""What the element page says its electronic curves were computed on."""
from __future__ import annotations

import json

from analysis.core.config import PACKAGE_DATA_DIR
from analysis.electronic.protocols import load_curves
from analysis.views.element import computed_as

STAGED = PACKAGE_DATA_DIR / "reference-state"


def test_reference_state_curves_state_structure_volume_cell_spin_setup_and_mesh() -> None:
    curves = load_curves("Ni", root=STAGED)
    assert curves is not None, "Ni's reference-state curves are committed"
    rows = dict(computed_as("Ni", curves))
    assert rows["structure"] == "Fm-3m (fcc)"
    state = json.loads((STAGED / "electronic" / "curves_Ni.json").read_text())["reference_state"]
    assert f"{state['volume_per_atom_a3']:.3f} Å³/atom" in rows["volume"]
    assert rows["spin"] == "spin-polarised"
    assert "Ni.10" in rows["DFT"] and "350 eV" in rows["DFT"]
    assert rows["displacement"].startswith("atom 0 along (1, 2, 3)")
    assert "×" in rows["k-mesh"] and "tetrahedron" in rows["DOS at E_F"]


def test_substitute_phases_name_the_table_entry_beside_the_built_one() -> None:
    fake = {"reference_state": {"space_group": "R-3m", "listed_space_group": "P6/mmm", "prototype": "alpha-Hg"},
            "settings": {}, "volume_per_atom_a3": 27.79}
    assert dict(computed_as("Hg", fake))["structure"] == "R-3m (alpha-Hg); the Metal-43 table lists P6/mmm"
    old = {"settings": {"ecut_ev": 300}, "volume_per_atom_a3": 22.98}
    assert "not recorded" in dict(computed_as("Hg", old))["structure"]
    assert computed_as("Hg", None) == []
