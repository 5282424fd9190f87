"""Property-based tests of the readers (hypothesis): a written extended XYZ reads back identical, and
any byte mutation of a valid file gives InputFileError or well-formed data, never another exception."""
from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.core.errors import InputFileError
from analysis.datasets.importers import import_reference
from analysis.datasets.predictions import import_predictions
from tests.analysis.helpers import emt_reference

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
_finite = st.floats(min_value=-50, max_value=50, allow_nan=False, allow_infinity=False)


@st.composite
def frames(draw: st.DrawFn) -> list[Atoms]:
    symbol = draw(st.sampled_from(["Cu", "Al", "W", "Na"]))
    out = []
    for _ in range(draw(st.integers(1, 3))):
        n = draw(st.integers(1, 5))
        positions = np.array(draw(st.lists(st.tuples(_finite, _finite, _finite), min_size=n, max_size=n)))
        forces = np.array(draw(st.lists(st.tuples(_finite, _finite, _finite), min_size=n, max_size=n)))
        cell = np.diag(draw(st.tuples(*[st.floats(1, 30)] * 3)))
        atoms = Atoms(symbol * n if len(symbol) == 1 else [symbol] * n, positions=positions, cell=cell, pbc=True)
        energy = draw(st.floats(min_value=-10, max_value=10)) * n
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
        out.append(atoms)
    return out


@SETTINGS
@given(frames())
def test_written_extxyz_reads_back_identical(tmp_path_factory, written: list[Atoms]) -> None:
    path = tmp_path_factory.mktemp("rt") / "frames.xyz"
    write(path, written, format="extxyz")
    got = import_reference(path)
    assert len(got) == len(written)
    for mine, theirs in zip(got.frames, written):
        assert mine.get_chemical_symbols() == theirs.get_chemical_symbols()
        np.testing.assert_allclose(mine.positions, theirs.positions, atol=1e-8)
        np.testing.assert_allclose(mine.cell.array, theirs.cell.array, atol=1e-8)
        np.testing.assert_allclose(mine.get_forces(), theirs.get_forces(), atol=1e-8)
        assert math.isclose(mine.get_potential_energy(), theirs.get_potential_energy(), abs_tol=1e-8)


_REF = emt_reference(elements=("Cu",), temperatures=(300.0,), n_frames=2)
_BUFFER = io.StringIO()
write(_BUFFER, _REF.frames, format="extxyz")
VALID_XYZ = _BUFFER.getvalue().encode()


def _well_formed(path: Path) -> None:
    try:
        got = import_reference(path)
    except InputFileError:
        return
    arrays = got.arrays()
    assert len(arrays.energy) >= 1 and np.isfinite(arrays.energy).all() and np.isfinite(arrays.forces).all()
    assert arrays.forces.shape == (int(arrays.n_atoms.sum()), 3)


@SETTINGS
@given(st.integers(0, len(VALID_XYZ) - 1), st.integers(0, 255), st.sampled_from(["replace", "delete", "insert"]))
def test_any_byte_mutation_of_an_extxyz_is_an_input_error_or_well_formed(tmp_path_factory, at: int, byte: int, how: str) -> None:
    data = bytearray(VALID_XYZ)
    if how == "replace":
        data[at] = byte
    elif how == "delete":
        del data[at]
    else:
        data.insert(at, byte)
    path = tmp_path_factory.mktemp("mut") / "frames.xyz"
    path.write_bytes(bytes(data))
    _well_formed(path)


def _nep_text() -> tuple[bytes, bytes]:
    a = _REF.arrays()
    e = "".join(f"{x + 0.001:.8f} {x:.8f}\n" for x in a.energy / a.n_atoms)
    f = "".join(" ".join(f"{v:.8f}" for v in (*row, *row)) + "\n" for row in a.forces)
    return e.encode(), f.encode()


@SETTINGS
@given(st.booleans(), st.data())
def test_any_byte_mutation_of_nep_outputs_is_an_input_error_or_matched(tmp_path_factory, energy_file: bool, data: st.DataObject) -> None:
    e, f = _nep_text()
    target = bytearray(e if energy_file else f)
    at = data.draw(st.integers(0, len(target) - 1))
    target[at] = data.draw(st.integers(0, 255))
    folder = tmp_path_factory.mktemp("nep")
    (folder / "energy_test.out").write_bytes(bytes(target) if energy_file else e)
    (folder / "force_test.out").write_bytes(f if energy_file else bytes(target))
    try:
        pred = import_predictions(folder, _REF, model="nep")
    except InputFileError:
        return
    assert pred.forces.shape == _REF.arrays().forces.shape and pred.energy.shape == (len(_REF),)
