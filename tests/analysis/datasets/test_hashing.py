"""The vectorised hashes of the columns equal the per-frame definitions they stand in for."""
from __future__ import annotations

import numpy as np
from ase import Atoms

from analysis.datasets import hashing
from analysis.datasets.frames import ReferenceSet, _fixed_text, frame_content_hash, make_frame, structure_hash


def _awkward_values(rng: np.random.Generator) -> np.ndarray:
    ties = (np.arange(-50, 50) + 0.5) / 1e8  # exactly representable? mostly not: near ties either way
    return np.concatenate([
        rng.normal(0, 1, 5000), rng.normal(0, 1e-8, 500), rng.normal(0, 300, 500), rng.uniform(-1e6, 1e6, 200),
        ties, [0.0, -0.0, -1e-12, 1e-12, -4.9e-9, 5e-9, -5e-9, 0.125, -0.125, 1.000000005, -2.000000015, 123456.78901234],
        np.array([0.5, 1.5, 2.5, -0.5]) / 1e8, rng.uniform(-5e7, 5e7, 50),
    ])


def test_fixed_text_buffer_is_python_formatting():
    values = _awkward_values(np.random.default_rng(3))
    buf, offsets = hashing.fixed_text_buffer(values)
    assert hashing._text_of(buf, offsets, 0, len(values)) == _fixed_text(values)
    for i in range(0, len(values), 97):
        assert hashing._text_of(buf, offsets, i, i + 1) == _fixed_text(values[i : i + 1])


def test_frame_hashes_and_the_set_hash_equal_the_per_frame_code():
    rng = np.random.default_rng(5)
    frames = []
    for i in range(60):
        n = int(rng.integers(1, 9))
        atoms = Atoms(numbers=rng.integers(1, 80, n), positions=rng.normal(0, 3, (n, 3)), cell=np.eye(3) * 5 + rng.normal(0, 0.1, (3, 3)),
                      pbc=bool(i % 2))
        forces = rng.normal(0, 1, (n, 3))
        forces[0, 0] = -0.0
        frames.append(make_frame(atoms, float(rng.normal(-100, 50)), forces, temperature_k=float(rng.choice([300.0, np.nan])),
                                 element=f"X{i % 3}"))
    ref = ReferenceSet(frames)
    from analysis.datasets.columns import from_frames

    cols = from_frames(ref.frames)
    assert cols.structure_hash.tolist() == [structure_hash(a) for a in ref.frames]
    assert cols.content_hash.tolist() == [frame_content_hash(a) for a in ref.frames]
    got = hashing.set_content_hash(cols.frame_id, cols.element, cols.temperature, cols.numbers, cols.positions, cols.cell,
                                   cols.energy, cols.forces, cols.offsets)
    assert got == ref.content_hash()
