"""Configurations to label: Langevin MD with CHGNet at the tier's temperatures."""
from __future__ import annotations

from typing import Any

import numpy as np
from ase import Atoms, units

from analysis.core import elements as el


# --------------------------------------------------------------------------- sampling
def sampler_name(sampler: dict[str, Any]) -> str:
    """Label recorded in each frame's info['sampler'] (model and version)."""
    if sampler["kind"] != "chgnet-langevin":
        raise ValueError(f"unknown sampler {sampler['kind']!r}")
    from importlib.metadata import version

    return f"chgnet-{version('chgnet')} (default weights) langevin"


def sample_configurations(
    symbol: str, temperature_k: float, n_frames: int, start: Atoms, sampler: dict[str, Any]
) -> list[Atoms]:
    """Configurations of ``start`` at ``temperature_k`` from Langevin MD with CHGNet (NVT).

    Velocities start from a Maxwell-Boltzmann distribution at ``temperature_k``; after
    ``steps_equilibrate`` steps a configuration is taken every ``steps_between`` steps. The time
    step is ``timestep_fs`` (``timestep_fs_light`` for atoms lighter than ``light_mass_amu``).
    CHGNet runs offline on the CPU with one thread. CHGNet is then one of the evaluated models
    and is biased on its own samples: each frame records the sampler in info['sampler'].

    Returns:
        ``n_frames`` Atoms (positions only) with info 'md_step' and 'sampler'.
    """
    import torch
    from ase.constraints import FixCom
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
    from chgnet.model import CHGNet
    from chgnet.model.dynamics import CHGNetCalculator

    torch.set_num_threads(1)
    seed = int(sampler["seed"]) + 1000 * int(el.atomic_number(symbol)) + int(temperature_k)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    atoms = start.copy()
    model = CHGNet.load(verbose=False)
    atoms.calc = CHGNetCalculator(model=model, use_device="cpu")
    mass = float(atoms.get_masses()[0])
    dt = float(sampler["timestep_fs_light"] if mass < float(sampler["light_mass_amu"]) else sampler["timestep_fs"])
    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_k, rng=rng)
    Stationary(atoms)
    # Langevin's own fixcm=True samples NVT incorrectly for small cells (ASE >= 3.28 warns);
    # the centre of mass is fixed by a constraint instead.
    atoms.set_constraint(FixCom())
    dyn = Langevin(
        atoms,
        timestep=dt * units.fs,
        temperature_K=temperature_k,
        friction=float(sampler["friction_per_fs"]) / units.fs,
        fixcm=False,
        rng=rng,
    )
    name = sampler_name(sampler).replace("default weights", f"weights {getattr(model, 'version', '?')}")
    frames: list[Atoms] = []
    dyn.run(int(sampler["steps_equilibrate"]))
    for _ in range(n_frames):
        dyn.run(int(sampler["steps_between"]))
        snap = Atoms(atoms.get_chemical_symbols(), positions=atoms.get_positions(wrap=True), cell=atoms.cell, pbc=True)
        snap.info.update(
            {"md_step": int(dyn.nsteps), "timestep_fs": dt, "sampler": name, "md_temperature_K": float(atoms.get_temperature())}
        )
        frames.append(snap)
    return frames
