"""Shared fixtures: small real data sets for the dashboard tests, and the browser options.

The data sets are real, only small: bulk cells from ``ase.build.bulk`` rattled with a fixed seed,
labelled by ASE's EMT potential as the "reference", and scored by two real calculators standing
in as "models": EMT with ASAP's cutoff convention (``emt-asap-cutoff``, small errors) and a
Lennard-Jones potential sized to each element's lattice (``lj-nn``, large errors, flagged
universal so the per-element energy shift is applied). No number on any page is invented.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import Calculator
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones

from analysis.core import elements
from analysis.datasets import store
from analysis.datasets.frames import Predictions, ReferenceSet, make_frame

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
    provenance: dict | None = None,
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
            distance), 'lj-nn+2%' / 'lj-nn-3%' (LJ 2 % too large / 3 % too small).
        seed: random seed of the rattles.
        provenance: extra provenance entries for the manifest.
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
    ref = ReferenceSet(frames, {"source": f"tests/conftest.py build_dataset ({reference} reference)", "seed": seed, **(provenance or {})})
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
    if model == "lj-nn-3%":
        return lj_for(atoms, scale=0.97)
    raise ValueError(f"unknown test model {model!r}")


@pytest.fixture(scope="session")
def atlas_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store root holding the small EMT data set (built once per session; treat it as read-only)."""
    root = tmp_path_factory.mktemp("atlas-test-data")
    build_dataset(root)
    return root


@pytest.fixture
def atlas_data(atlas_root: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the user data directory at the shared EMT data set and the embedded default at an empty folder.

    Runs after the root conftest's autouse fixture (which gives every test an empty data folder),
    so this test sees the EMT data set; the real embedded default never leaks into tests.
    """
    monkeypatch.setenv("MLFF_ATLAS_DATA", str(atlas_root))
    monkeypatch.setenv("MLFF_ATLAS_DEFAULT_DATA", str(tmp_path_factory.mktemp("atlas-empty-default")))
    return atlas_root


@pytest.fixture
def own_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy-free EMT data set for a test that writes (uploads, job results)."""
    root = tmp_path / "own-data"
    build_dataset(root)
    monkeypatch.setenv("MLFF_ATLAS_DATA", str(root))
    monkeypatch.setenv("MLFF_ATLAS_DEFAULT_DATA", str(tmp_path / "empty-default"))
    return root


@pytest.fixture
def empty_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Empty user data and embedded default folders (the 'no data yet' state)."""
    monkeypatch.setenv("MLFF_ATLAS_DATA", str(tmp_path / "user"))
    monkeypatch.setenv("MLFF_ATLAS_DEFAULT_DATA", str(tmp_path / "default"))
    return tmp_path


@pytest.fixture(scope="session")
def dash_app():
    """The dashboard app, imported once (pages register themselves on import)."""
    import app as app_module

    return app_module.app


def write_tight_binding_curves(root: Path, element: str, *, n_k: int = 8, t_perp: float = 0.6) -> Path:
    """Write real eigenvalue-sum curves of a tight-binding model where ``load_curves`` looks.

    The eigenvalues are not GPAW's: they are those of a two-atom tight-binding chain (hoppings
    t0 (1 +- alpha delta) along x, displaced atom 0) with inter-chain hopping in y and z, on a
    full n_k^3 mesh (``t_perp`` sets the inter-chain hopping in eV, so elements can differ); they go through the project's real curve code
    (:func:`analysis.electronic.curves_from_eigenvalues`, every smearing method including the
    tetrahedron method), so the page shows genuine curves of a genuine (model) band structure.
    """
    import json

    from analysis.electronic.eigenvalues import Eigenvalues
    from analysis.electronic.protocols import SETTINGS, curves_from_eigenvalues

    k = 2 * np.pi * (np.arange(n_k) + 0.5) / n_k - np.pi
    kx, ky, kz = np.meshgrid(k, k, k, indexing="ij")
    t0, alpha, onsite = 1.0, 2.0, -3.0
    steps = []
    for delta in SETTINGS["deltas_a"]:
        t1, t2 = t0 * (1 + alpha * delta), t0 * (1 - alpha * delta)
        split = np.abs(t1 + t2 * np.exp(1j * kx)).ravel()
        perp = (-2 * t_perp * (np.cos(ky) + np.cos(kz))).ravel() + onsite
        eigs = np.stack([perp - split, perp + split], axis=-1)[None]  # (spin, k, band)
        ev = Eigenvalues(eigs, np.full(n_k**3, 1.0 / n_k**3), 2.0, None, "tight-binding chain (tests/conftest.py)",
                         mesh=(n_k, n_k, n_k), bz_to_ibz=np.arange(n_k**3), reciprocal_cell=np.eye(3) / 3.0)
        steps.append((float(delta), ev, {"energy_ev": float(2 * np.sort(eigs.ravel())[: n_k**3].sum() / n_k**3), "n_atoms": 2}))
    curves = curves_from_eigenvalues(steps, SETTINGS)
    curves.update({"element": element, "source": "tight-binding model (tests/conftest.py), not DFT"})
    path = root / "electronic" / f"curves_{element}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(curves, default=float))
    return path


def write_fitted_predictions(root: Path) -> None:
    """A real data set with 3 frames per temperature and 'mace-fitted' predictions on its test frames
    (noisy reference values standing in for a trained model: the pages are under test here, the
    training has its own tests) plus a universal model's predictions."""
    from analysis.datasets import store
    from analysis.models.fitting import FitSpec, merge_fit, split_frames
    from tests.analysis.helpers import noisy_predictions

    ref = build_dataset(root, frames_per_temperature=3)
    ref = store.load_dataset(TEST_DATASET)
    arrays = ref.arrays()
    pred = None
    for k, element in enumerate(ref.elements):
        split = split_frames(ref, element)
        noisy = noisy_predictions(ref, "x", energy_noise=0.001, force_noise=0.01 * (k + 1), seed=k)
        rows = [i for i, f in enumerate(arrays.frame_id.tolist()) if f in split["test"]]
        meta = {"n_train": len(split["train"]), "n_valid": len(split["valid"]), "n_test": len(split["test"]), "split": split,
                "unit": "epochs", "seconds": 2.0,
                "learning_curve": [{"step": 0, "train_loss": 1.0, "valid_rmse_f": 0.2}, {"step": 1, "train_loss": 0.5, "valid_rmse_f": 0.1}]}
        pred = merge_fit(pred, ref, FitSpec("mace", element), split["test"], noisy.energy[rows],
                         [noisy.forces[arrays.offsets[i]:arrays.offsets[i + 1]] for i in rows], meta)
    store.save_predictions(pred, TEST_DATASET)
    store.save_predictions(noisy_predictions(ref, "universal-x", energy_noise=0.002, force_noise=0.05, universal=True), TEST_DATASET)
