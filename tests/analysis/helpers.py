"""Small real data for analysis tests: EMT-labelled frames (a cheap real calculator)."""
from __future__ import annotations

import numpy as np
from ase.build import bulk
from ase.calculators.emt import EMT

from analysis.datasets.frames import Predictions, ReferenceSet, make_frame

LATTICE = {"Al": 4.05, "Cu": 3.61, "Ni": 3.52, "Pt": 3.92}


def emt_reference(elements=("Al", "Cu"), temperatures=(300.0, 900.0), n_frames: int = 3, seed: int = 0) -> ReferenceSet:
    """Rattled fcc cells of each element labelled with EMT energies and forces."""
    frames = []
    for el in elements:
        for t in temperatures:
            for i in range(n_frames):
                atoms = bulk(el, "fcc", a=LATTICE[el], cubic=True).repeat((2, 1, 1))
                atoms.rattle(0.02 * np.sqrt(t / 300.0), seed=seed + i + int(t))
                atoms.calc = EMT()
                frames.append(make_frame(atoms, atoms.get_potential_energy(), atoms.get_forces(), temperature_k=t, source="emt"))
    return ReferenceSet(frames, {"generator": "tests.analysis.helpers.emt_reference"})


def noisy_predictions(ref: ReferenceSet, model: str, *, energy_noise: float, force_noise: float, offset: float = 0.0, seed: int = 1, universal: bool = False) -> Predictions:
    """Reference labels plus seeded Gaussian noise (eV/atom, eV/Å) and a constant per-atom offset."""
    rng = np.random.default_rng(seed)
    a = ref.arrays()
    energy = a.energy + (rng.normal(0, energy_noise, len(a)) + offset) * a.n_atoms
    forces = a.forces + rng.normal(0, force_noise, a.forces.shape)
    return Predictions(model, ref.content_hash(), a.frame_id.copy(), energy, forces, a.n_atoms.copy(), {"universal": universal})
