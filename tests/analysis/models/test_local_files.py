"""Model files: loaded only from inside the model directory, registered by name on the server side."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from analysis.models import cli
from analysis.models.evaluate import make_evaluator
from analysis.models.local_files import ModelUnavailableError, contained_file, registered_files
from analysis.models.registry import check_available, get_spec, registry
from tests.analysis.conftest import cu_frames, write_random_nep


@pytest.fixture()
def model_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    monkeypatch.setenv("MLFF_ATLAS_MODEL_DIR", str(folder))
    return folder


def test_files_outside_the_model_dir_are_refused_without_saying_whether_they_exist(model_dir: Path, tmp_path: Path,
                                                                                   small_mace_path: Path) -> None:
    outside = tmp_path / "elsewhere" / "small.model"
    outside.parent.mkdir()
    shutil.copy(small_mace_path, outside)
    messages = set()
    for path in (outside, tmp_path / "elsewhere" / "missing.model", Path("/etc/passwd")):
        for family in ("mace", "nep"):
            ok, reason = check_available(get_spec(f"{family}:{path}"))
            assert not ok and "only from the model directory" in reason
            messages.add(reason.split(": ", 1)[1])  # after the model's name
            with pytest.raises(ModelUnavailableError, match="only from the model directory"):
                make_evaluator(f"{family}:{path}", device="cpu")
    assert len(messages) == 1  # the same words for a file that exists, one that does not, and /etc/passwd
    assert "root:" not in next(iter(messages))  # no line of /etc/passwd


def test_a_symlink_out_of_the_model_dir_is_refused(model_dir: Path, tmp_path: Path, small_mace_path: Path) -> None:
    target = tmp_path / "outside.model"
    shutil.copy(small_mace_path, target)
    (model_dir / "link.model").symlink_to(target)
    with pytest.raises(ModelUnavailableError, match="only from the model directory"):
        contained_file("link.model", name="x")
    (model_dir / "dir-link").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(ModelUnavailableError, match="only from the model directory"):
        contained_file(model_dir / "dir-link" / "outside.model", name="x")
    with pytest.raises(ModelUnavailableError, match="only from the model directory"):
        contained_file(model_dir / ".." / "outside.model", name="x")
    inside = shutil.copy(small_mace_path, model_dir / "real.model")
    (model_dir / "alias.model").symlink_to(inside)  # a link that stays inside is fine
    assert contained_file("alias.model", name="x") == Path(inside).resolve()


def test_a_registered_file_appears_by_name_and_predicts_like_the_file(model_dir: Path, tmp_path: Path,
                                                                      small_mace_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    outside = tmp_path / "my.model"
    shutil.copy(small_mace_path, outside)
    # without --copy a file outside the model directory is refused and nothing is registered
    assert cli.models_main(["register", "my-mace", "--family", "mace", "--file", str(outside)]) == 2
    assert "only from the model directory" in capsys.readouterr().err and registered_files() == ()
    assert cli.models_main(["register", "my-mace", "--family", "mace", "--file", str(outside), "--copy"]) == 0
    assert (model_dir / "my.model").read_bytes() == outside.read_bytes()
    spec = registry()["my-mace"]
    assert (spec.family, spec.universal, Path(spec.source)) == ("mace", True, (model_dir / "my.model").resolve())
    assert check_available(spec) == (True, "")
    frames = cu_frames(2)
    by_name = make_evaluator("my-mace", device="cpu", dtype="float64").predict(frames)
    by_path = make_evaluator(f"mace:{model_dir / 'my.model'}", device="cpu", dtype="float64").predict(frames)
    np.testing.assert_array_equal(by_name.energy, by_path.energy)
    assert cli.models_main([]) == 0 and "my-mace" in capsys.readouterr().out
    # names: not a built-in, not twice, no ':' or ','
    assert cli.models_main(["register", "emt", "--family", "mace", "--file", "my.model"]) == 2
    assert cli.models_main(["register", "my-mace", "--family", "mace", "--file", "my.model"]) == 2
    assert cli.models_main(["register", "a:b", "--family", "mace", "--file", "my.model"]) == 2
    assert cli.models_main(["unregister", "my-mace"]) == 0
    assert "my-mace" not in registry() and (model_dir / "my.model").is_file()


def test_a_damaged_models_json_leaves_the_builtin_names(model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (model_dir / "models.json").write_text('{"models": [{"name": "x", "family": "mace", "file": "secret line"')
    assert "emt" in registry() and "x" not in registry()
    assert cli.models_main([]) == 1
    err = capsys.readouterr().err
    assert "models.json" in err and "not valid JSON" in err and "secret line" not in err
    (model_dir / "models.json").write_text(json.dumps({"models": [{"name": "x", "family": "pickle", "file": "a"}]}))
    assert cli.models_main([]) == 1 and "family 'pickle'" in capsys.readouterr().err


def test_loader_errors_never_quote_the_file(model_dir: Path, data_env: Path) -> None:
    from analysis.datasets.frames import ReferenceSet
    from analysis.datasets.store import save_dataset
    from analysis.jobs import queue as jobs

    nep = write_random_nep(model_dir / "nep.txt")
    nep.write_text(nep.read_text().replace("ANN 8 0", "ANN secret-token-in-file 0"))
    (model_dir / "models.json").write_text(json.dumps({"models": [{"name": "bad-nep", "family": "nep", "file": "nep.txt"}]}))
    save_dataset(ReferenceSet(cu_frames(2)), "cu")
    job_id = jobs.submit_job("bad-nep", "cu", device="cpu")
    jobs.run_worker(once=True)
    rec = jobs.get_job(job_id)
    assert rec.state == "failed" and "bad-nep: its model file could not be loaded" in rec.error
    assert "secret-token-in-file" not in rec.error + rec.traceback

