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
