"""Shared fixtures for the model-evaluation tests: small real models built in code."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from analysis.datasets.frames import ReferenceSet, make_frame

SMALL_ORB_OPTIONS = {
    "architecture": "orb_v3_conservative_architecture",
    "latent_dim": 32,
    "base_mlp_hidden_dim": 64,
    "head_mlp_hidden_dim": 32,
    "num_message_passing_steps": 2,
    "max_num_neighbors": 20,
}


def cu_frames(n: int, *, repeat: tuple[int, int, int] = (1, 1, 1), seed: int = 0) -> list[Atoms]:
    """``n`` rattled fcc Cu cells (4 atoms per repeat) labelled with EMT energies and forces."""
    from ase.calculators.emt import EMT

    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n):
        atoms = bulk("Cu", "fcc", a=3.61, cubic=True) * repeat
        atoms.positions += rng.normal(0.0, 0.08, atoms.positions.shape)
        atoms.calc = EMT()
        frames.append(
            make_frame(atoms, atoms.get_potential_energy(), atoms.get_forces(), temperature_k=300.0 if i % 2 else 1000.0, source="emt")
        )
    return frames


@pytest.fixture(scope="session")
def session_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The model directory of these tests: local model files load only from inside it."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(autouse=True)
def _model_dir(session_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MLFF_ATLAS_MODEL_DIR", str(session_model_dir))
    return session_model_dir


@pytest.fixture(scope="session")
def small_mace_path(session_model_dir: Path) -> Path:
    """A randomly initialised ScaleShiftMACE saved as a .model file (in the model directory)."""
    from analysis.models.registry import build_small_mace

    return build_small_mace(session_model_dir / "small.model", atomic_numbers=(29,))


@pytest.fixture(scope="session")
def small_orb_path(session_model_dir: Path) -> Path:
    """An un-pretrained ORB v3 conservative model (random weights) saved as a state-dict checkpoint."""
    import torch
    from orb_models.forcefield import pretrained
    from orb_models.forcefield.atomic_system import SystemConfig

    torch.manual_seed(0)
    opts = {k: v for k, v in SMALL_ORB_OPTIONS.items() if k not in ("architecture", "max_num_neighbors")}
    model = pretrained.orb_v3_conservative_architecture(
        device="cpu", system_config=SystemConfig(radius=6.0, max_num_neighbors=20), **opts
    )
    path = session_model_dir / "small-orb.ckpt"
    torch.save(model.state_dict(), path)
    return path


def write_random_nep(path: Path, *, seed: int = 0) -> Path:
    """A NEP4 potential for Cu with random weights, in the nep.txt format that calorine reads.

    Sizes: n_max 4/4, basis 8/8, l_max 4/2/0 -> 5 radial + 25 angular descriptors; 8 neurons.
    Parameters: ANN 30*8 + 8 + 8 + 1 = 257, descriptor 5*9 + 5*9 = 90, then 30 q-scalers.
    """
    rng = np.random.default_rng(seed)
    header = "nep4 1 Cu\ncutoff 5 4 100 100\nn_max 4 4\nbasis_size 8 8\nl_max 4 2 0\nANN 8 0\n"
    values = list(rng.uniform(-0.5, 0.5, 257 + 90)) + [1.0] * 30
    path.write_text(header + "".join(f"{v:.8f}\n" for v in values))
    return path


@pytest.fixture()
def cu_set() -> ReferenceSet:
    """Six 4-atom Cu frames at two temperatures."""
    return ReferenceSet(cu_frames(6))


@pytest.fixture()
def data_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data directory and cache for the store and the job queue."""
    monkeypatch.setenv("MLFF_ATLAS_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("MLFF_ATLAS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MLFF_ATLAS_DEFAULT_DATA", str(tmp_path / "default"))
    return tmp_path
