"""Shared fixtures: small real data sets for the dashboard tests, and the browser options.

The data sets are real, only small: bulk cells from ``ase.build.bulk`` rattled with a fixed seed,
labelled by ASE's EMT potential as the "reference", and scored by two real calculators standing
in as "models": EMT with ASAP's cutoff convention (``emt-asap-cutoff``, small errors) and a
Lennard-Jones potential sized to each element's lattice (``lj-nn``, large errors, flagged
universal so the per-element energy shift is applied). No number on any page is invented.
"""
from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import Calculator
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones

from analysis import elements, store
from analysis.dataset import Predictions, ReferenceSet, make_frame

EMT_METALS = ("Al", "Cu", "Ag", "Au", "Ni", "Pd", "Pt")
TEST_DATASET = "test-emt"


def pytest_setup_options():
    """Headless Debian Chromium for dash[testing]'s ``dash_duo``."""
    from selenium.webdriver.chrome.options import Options

    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--window-size=1400,1000"):
        options.add_argument(arg)
    return options


def _structure(symbol: str, *, rng: np.random.Generator, rattle_a: float) -> Atoms:
    """A small rattled fcc supercell (4-8 atoms); ASE's reference lattice where it is fcc."""
    try:
        atoms = bulk(symbol, "fcc", cubic=True)
    except (ValueError, KeyError):
        from ase.data import atomic_numbers, covalent_radii

        atoms = bulk(symbol, "fcc", a=2 * math.sqrt(2) * covalent_radii[atomic_numbers[symbol]], cubic=True)
    atoms = atoms.repeat((2, 1, 1))
    atoms.positions += rng.normal(0.0, rattle_a, atoms.positions.shape)
    return atoms


def lj_for(atoms: Atoms, *, scale: float = 1.0) -> LennardJones:
    """Lennard-Jones sized so that its minimum sits at the cell's nearest-neighbour distance (times ``scale``)."""
    nn = atoms.cell.lengths()[1] / math.sqrt(2)  # fcc conventional cell: a / sqrt(2)
    sigma = scale * nn / 2 ** (1 / 6)
    return LennardJones(sigma=sigma, epsilon=0.05, rc=2.5 * sigma, smooth=True)


def build_dataset(
    root: Path,
    name: str = TEST_DATASET,
    symbols: Sequence[str] = ("Al", "Cu", "Ni"),
    *,
    frames_per_temperature: int = 2,
    max_temperatures: int = 2,
    reference: str = "emt",
    models: Sequence[str] = ("emt-asap-cutoff", "lj-nn"),
    seed: int = 0,
) -> ReferenceSet:
    """Write a small real data set with predictions under ``root`` and return its reference set.

    Args:
        root: store root (``<root>/datasets/<name>``).
        name: data set name.
        symbols: elements (EMT needs Al, Cu, Ag, Au, Ni, Pd or Pt; other elements need
            ``reference='lj'``).
        frames_per_temperature: frames per element and temperature.
        max_temperatures: the highest this many Metal-43 temperatures of each element (300 K
            for elements outside the table); the rattle amplitude grows with temperature.
        reference: 'emt' or 'lj' (Lennard-Jones sized to the lattice) for the reference labels.
        models: any of 'emt-asap-cutoff', 'lj-nn' (LJ at the lattice's nearest-neighbour
            distance), 'lj-nn+2%' (LJ 2 % too large).
        seed: random seed of the rattles.
    """
    rng = np.random.default_rng(seed)
    frames, structures = [], []
    for symbol in symbols:
        temps = elements.temperatures(symbol)[-max_temperatures:] or [300.0]
        for temp in temps:
            for _ in range(frames_per_temperature):
                atoms = _structure(symbol, rng=rng, rattle_a=0.02 + 0.05 * temp / 2000)
                atoms.calc = EMT() if reference == "emt" else lj_for(atoms)
                frames.append(make_frame(atoms, atoms.get_potential_energy(), atoms.get_forces(), temperature_k=temp,
                                         source=f"test: {reference} on a rattled fcc cell"))
                structures.append(atoms)
    ref = ReferenceSet(frames, {"source": f"tests/conftest.py build_dataset ({reference} reference)", "seed": seed})
    store.save_dataset(ref, name, root=root)
    arrays = ref.arrays()
    for model in models:
        energies, forces = [], []
        for frame in ref.frames:
            atoms = Atoms(frame.numbers, positions=frame.positions, cell=frame.cell, pbc=True)
            atoms.calc = _model_calculator(model, atoms)
            energies.append(atoms.get_potential_energy())
            forces.append(atoms.get_forces())
        pred = Predictions(model, ref.content_hash(), arrays.frame_id, np.array(energies), np.concatenate(forces),
                           arrays.n_atoms, {"universal": model.startswith("lj"), "calculator": model})
        store.save_predictions(pred, name, root=root)
    return ref


def _model_calculator(model: str, atoms: Atoms) -> Calculator:
    if model == "emt-asap-cutoff":
        return EMT(asap_cutoff=True)
    if model == "lj-nn":
        return lj_for(atoms)
    if model == "lj-nn+2%":
        return lj_for(atoms, scale=1.02)
    raise ValueError(f"unknown test model {model!r}")


@pytest.fixture(scope="session")
def atlas_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A user data directory holding the small EMT data set; the embedded default points at an empty folder.

    Set before the app is imported (app.py reads the cache directory at import), restored after.
    """
    root = tmp_path_factory.mktemp("atlas-data")
    empty_default = tmp_path_factory.mktemp("atlas-default")
    build_dataset(root)
    saved = {k: os.environ.get(k) for k in ("MLFF_ATLAS_DATA", "MLFF_ATLAS_DEFAULT_DATA", "MLFF_ATLAS_CACHE")}
    os.environ["MLFF_ATLAS_DATA"] = str(root)
    os.environ["MLFF_ATLAS_DEFAULT_DATA"] = str(empty_default)
    os.environ["MLFF_ATLAS_CACHE"] = str(tmp_path_factory.mktemp("atlas-cache"))
    yield root
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def dash_app(atlas_root: Path):
    """The dashboard app (imported once, after the data environment is set)."""
    import app as app_module

    return app_module.app


@pytest.fixture
def empty_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dash_app) -> Path:
    """Point the store at empty folders for one test (the 'no data yet' state)."""
    monkeypatch.setenv("MLFF_ATLAS_DATA", str(tmp_path / "user"))
    monkeypatch.setenv("MLFF_ATLAS_DEFAULT_DATA", str(tmp_path / "default"))
    return tmp_path
