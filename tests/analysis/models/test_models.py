"""Model registry: names, weights lookup, clear errors, safe loading and the SevenNet subprocess."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from analysis.models import registry as models
from analysis.models.evaluate import make_evaluator
from analysis.models.registry import ModelSpec, ModelUnavailableError, available_models, get_spec, weights_path
from tests.analysis.conftest import cu_frames, write_random_nep


def test_orb_names_match_the_installed_pretrained_table() -> None:
    from orb_models.forcefield.pretrained import ORB_PRETRAINED_MODELS

    deprecated = {n for n in ORB_PRETRAINED_MODELS if n.endswith("v1") or "-v1-" in n}
    assert set(models.ORB_PRETRAINED_URLS) == set(ORB_PRETRAINED_MODELS) - deprecated
    for name, url in models.ORB_PRETRAINED_URLS.items():
        import inspect

        default = inspect.signature(ORB_PRETRAINED_MODELS[name]).parameters["weights_path"].default
        assert default == url, name


def test_mace_mp_names_match_mace() -> None:
    import mace  # noqa: F401
    from mace.calculators.foundations_models import mace_mp_urls

    for key, url in models.MACE_MP_URLS.items():
        assert mace_mp_urls[key] == url
    assert "mace-mp-large" in models.registry()


def test_available_models_reports_missing_weights(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MLFF_ATLAS_MODEL_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("CACHED_PATH_CACHE_ROOT", str(tmp_path / "cp"))
    by_name = {s.name: s for s in available_models()}
    assert by_name["chgnet-0.3.0"].available and by_name["chgnet-0.3.0"].reason == ""
    large = by_name["mace-mp-large"]
    assert not large.available
    assert "MACE_MPtrj_2022.9.model" in large.reason and "MLFF_ATLAS_MODEL_DIR" in large.reason
    assert str(tmp_path / "weights" / "MACE_MPtrj_2022.9.model") in large.reason
    with pytest.raises(ModelUnavailableError, match="orb-v3-conservative-inf-omat-20250404.ckpt"):
        make_evaluator("orb-v3-conservative-inf-omat", device="cpu")


def test_weights_found_in_model_dir_and_in_package_caches(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MLFF_ATLAS_MODEL_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("CACHED_PATH_CACHE_ROOT", str(tmp_path / "cp"))
    # placed by hand under the URL's file name
    placed = tmp_path / "weights" / "MACE_MPtrj_2022.9.model"
    placed.parent.mkdir()
    placed.write_bytes(b"x")
    assert weights_path(get_spec("mace-mp-large")) == placed
    # mace's own download cache (what mace_mp would have written)
    cached = tmp_path / "xdg" / "mace" / "20231203mace128L1_epoch199model"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"x")
    assert weights_path(get_spec("mace-mp-medium")) == cached
    import mace  # noqa: F401
    from mace.calculators.foundations_models import download_mace_mp_checkpoint

    assert Path(download_mace_mp_checkpoint("medium")) == cached  # mace finds the same file, offline
    # orb's cached_path cache: the same file cached_path itself would find offline
    from cached_path import find_latest_cached

    url = models.ORB_PRETRAINED_URLS["orb-v3-direct-20-omat"]
    (tmp_path / "cp").mkdir()
    orb_file = tmp_path / "cp" / (hashlib.sha256(url.encode()).hexdigest() + ".abc")
    orb_file.write_bytes(b"x")
    assert find_latest_cached(url, tmp_path / "cp") == orb_file
    assert weights_path(get_spec("orb-v3-direct-20-omat")) == orb_file


def test_placed_foundation_file_is_loaded_under_its_registry_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, small_mace_path: Path
) -> None:
    import shutil

    monkeypatch.setenv("MLFF_ATLAS_MODEL_DIR", str(tmp_path))
    shutil.copy(small_mace_path, tmp_path / "MACE_MPtrj_2022.9.model")  # stands in for the downloaded file
    assert models.check_available(get_spec("mace-mp-large")) == (True, "")
    frames = cu_frames(2)
    by_name = make_evaluator("mace-mp-large", device="cpu").predict(frames)
    shutil.copy(small_mace_path, tmp_path / "small.model")
    by_path = make_evaluator(f"mace:{tmp_path / 'small.model'}", device="cpu").predict(frames)
    np.testing.assert_array_equal(by_name.energy, by_path.energy)


def test_local_specs_and_identity(tmp_path: Path) -> None:
    path = tmp_path / "my.model"
    path.write_bytes(b"one")
    spec = get_spec(f"mace:{path}")
    assert (spec.name, spec.family, spec.universal, spec.is_local()) == ("mace-my", "mace", True, True)
    assert ModelSpec.from_dict(spec.to_dict()) == spec
    first = spec.identity()
    path.write_bytes(b"two")
    assert spec.identity()["file_sha256"] != first["file_sha256"]
    nep = get_spec(f"nep:{tmp_path / 'nep.txt'}", name="NEP-Cu")
    assert (nep.name, nep.universal) == ("NEP-Cu", False)
    with pytest.raises(KeyError, match="unknown model"):
        get_spec("gpt-5")


def test_nep_through_the_job_queue(data_env: Path, _model_dir: Path) -> None:
    from calorine.calculators import CPUNEP

    from analysis.datasets.frames import ReferenceSet
    from analysis.datasets.store import load_predictions, save_dataset
    from analysis.jobs import queue as jobs

    nep = write_random_nep(_model_dir / "nep.txt")
    ref = ReferenceSet(cu_frames(4))
    save_dataset(ref, "cu")
    job_id = jobs.submit_job(f"nep:{nep}", "cu", device="cpu")
    assert jobs.run_worker(once=True) == 1
    assert jobs.get_job(job_id).state == "done"
    pred = load_predictions("cu")["nep-nep"].aligned_to(ref.arrays())
    assert pred.meta["universal"] is False and "calorine" in pred.meta["versions"]
    direct = []
    for atoms in ref.frames:
        work = atoms.copy()
        work.calc = CPUNEP(str(nep))
        direct.append(work.get_potential_energy())
    np.testing.assert_allclose(pred.energy, direct, atol=1e-10)


def test_deepmd_without_its_environment_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFF_ATLAS_MODEL_DIR", str(tmp_path))
    monkeypatch.setenv("MLFF_ATLAS_DEEPMD_VENV", str(tmp_path / "no-such-venv"))
    graph = tmp_path / "graph.pth"
    graph.write_bytes(b"x")
    spec = get_spec(f"deepmd:{graph}")
    ok, reason = models.check_available(spec)
    try:
        import deepmd  # noqa: F401
    except ImportError:
        assert not ok and "scripts/deepmd_env.sh" in reason and "no-such-venv" in reason
        with pytest.raises(ModelUnavailableError, match="deepmd_env.sh"):
            make_evaluator(spec, device="cpu")
    else:
        pytest.skip("deepmd-kit is importable in this environment")


def test_chgnet_loads_with_weights_only() -> None:
    # the checkpoint is read with torch.load(weights_only=True) and gives finite predictions
    model = models.load_torch_model(get_spec("chgnet-0.3.0"), device="cpu", dtype="float32")
    assert model.version == "0.3.0"


@pytest.mark.skipif(not models.sevenn_python().is_file(), reason="needs .venv-sevenn (scripts/sevenn_env.sh)")
def test_sevennet_runs_in_its_own_environment() -> None:
    frames = cu_frames(2)
    ev = make_evaluator("sevennet-0", device="cpu")
    try:
        res = ev.predict(frames)
        again = ev.predict(frames[:1])  # the driver stays up between calls
    finally:
        ev.close()
    assert ev.versions["sevenn"] == "0.13.0" and ev.versions["e3nn"].startswith("0.")
    per_atom = res.energy / 4
    assert np.all((per_atom < -3.0) & (per_atom > -5.0))  # Cu cohesive energy scale, eV/atom
    assert res.forces[0].shape == (4, 3)
    np.testing.assert_allclose(again.energy[0], res.energy[0], atol=1e-5)


@pytest.mark.skipif(not models.sevenn_python().is_file(), reason="needs .venv-sevenn (scripts/sevenn_env.sh)")
@pytest.mark.parametrize("name", ["sevennet-l3i5", "sevennet-mf-0-pbe"])
def test_every_registered_sevennet_checkpoint_loads_offline(name: str) -> None:
    from analysis.models.registry import SEVENN_MODELS

    assert name in SEVENN_MODELS
    frames = cu_frames(1)
    ev = make_evaluator(name, device="cpu")
    try:
        res = ev.predict(frames)
    finally:
        ev.close()
    per_atom = res.energy / 4
    assert np.all((per_atom < -3.0) & (per_atom > -5.0))  # Cu cohesive energy scale, eV/atom
    assert np.all(np.isfinite(res.forces[0])) and res.forces[0].shape == (4, 3)

