"""Fitting per element as jobs of the queue: real mace_run_train, real deepmd-kit (in .venv-deepmd),
GPUMD's nep where present; EMT-labelled frames (a cheap real calculator)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from analysis.datasets import store
from analysis.datasets.frames import ReferenceSet
from analysis.jobs import queue as q
from analysis.jobs.fit_jobs import read_result, submit_fit
from analysis.models.fitting import (
    FitSpec,
    MaceTrainer,
    deepmd_input,
    fit_available,
    fit_key,
    read_lcurve,
    read_nep_loss,
    split_frames,
    stage_two_start,
    write_nep_inputs,
)
from analysis.models.local_files import ModelUnavailableError
from tests.analysis.helpers import emt_reference

SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "corpus"


def _train_set(name: str = "cu-train", elements: tuple[str, ...] = ("Cu",), n_frames: int = 6) -> ReferenceSet:
    store.save_dataset(emt_reference(elements=elements, temperatures=(300.0, 900.0), n_frames=n_frames), name)
    return store.load_dataset(name)


def test_split_is_per_temperature_disjoint_covering_and_reproducible() -> None:
    ref = emt_reference(elements=("Cu", "Al"), temperatures=(300.0, 900.0), n_frames=8)
    split = split_frames(ref, "Cu", seed=3)
    ids = [i for part in split.values() for i in part]
    assert len(ids) == len(set(ids)) == 16 and all(i.startswith("Cu/") for i in ids)
    for temp in ("300K", "900K"):
        assert all(any(temp in i for i in split[part]) for part in ("train", "valid", "test"))
    assert split == split_frames(ref, "Cu", seed=3) and split != split_frames(ref, "Cu", seed=4)


def test_fit_key_follows_what_determines_the_result(data_env: Path) -> None:
    ref = _train_set(elements=("Cu", "Al"))
    spec = FitSpec("mace", "Cu", schedule={"epochs": 3})
    key = fit_key(spec, ref)
    assert key == fit_key(FitSpec("mace", "Cu", schedule={"epochs": 3}), ref)
    for other in (FitSpec("mace", "Cu", seed=1, schedule={"epochs": 3}), FitSpec("mace", "Cu", schedule={"epochs": 4}),
                  FitSpec("mace", "Cu", schedule={"epochs": 3}, hyperparameters={"r_max": 4.5}),
                  FitSpec("deepmd", "Cu"), FitSpec("mace", "Al", schedule={"epochs": 3})):
        assert fit_key(other, ref) != key
    # frames of another element do not touch Cu's fit; a changed Cu label does
    more = ReferenceSet([*ref.frames, *emt_reference(elements=("Ni",), temperatures=(300.0,), n_frames=3).frames])
    assert fit_key(spec, more) == key
    changed = [a.copy() for a in ref.frames]
    for a, b in zip(changed, ref.frames):
        a.calc = b.calc
    from ase.calculators.singlepoint import SinglePointCalculator

    first = next(i for i, a in enumerate(changed) if a.info["element"] == "Cu")
    res = ref.frames[first].calc.results
    changed[first].calc = SinglePointCalculator(changed[first], energy=res["energy"] + 0.01, forces=res["forces"])
    assert fit_key(spec, ReferenceSet(changed)) != key


def test_mace_runs_its_own_two_stage_recipe_when_the_schedule_allows(tmp_path: Path) -> None:
    """Stage two (energy weight 1000 for the last quarter of the epochs) is passed as mace's own flags,
    and left out, with its weights, when the schedule is too short for mace to run it."""
    (tmp_path / "sizes.json").write_text('{"n_train": 24, "n_valid": 4}')
    trainer = MaceTrainer()
    cmd = trainer.command(tmp_path, FitSpec("mace", "Cu"), resume=False)
    assert "--stage_two" in cmd and "--start_stage_two=36" in cmd and "--stage_two_energy_weight=1000.0" in cmd
    assert "--stage_two=True" not in cmd and "--energy_weight=1.0" in cmd and "--restart_latest" not in cmd
    short = trainer.command(tmp_path, FitSpec("mace", "Cu", schedule={"epochs": 1}), resume=True)
    assert not any(c.startswith("--stage_two") or c.startswith("--start_stage_two") for c in short) and "--restart_latest" in short
    off = trainer.command(tmp_path, FitSpec("mace", "Cu", hyperparameters={"stage_two": False}), resume=False)
    assert not any("stage_two" in c for c in off)
    assert [stage_two_start(n) for n in (1, 2, 3, 4, 40, 50)] == [None, 1, 1, 3, 30, 36]


def test_mace_fit_job_trains_registers_scores_only_test_frames_and_is_not_repeated(data_env: Path) -> None:
    ref = _train_set()
    job_id = submit_fit("mace", "cu-train", "Cu", schedule={"epochs": 3})
    rec = q.get_job(job_id)
    assert (rec.kind, rec.unit, rec.frames_total, rec.state) == ("fit", "epochs", 3, "queued")
    q.Worker().run(job_id=job_id)
    rec = q.get_job(job_id)
    assert rec.state == "done" and rec.frames_done == 3, rec.error
    pred = store.load_predictions("cu-train")["mace-fitted"]
    fit = pred.meta["fits"]["Cu"]
    split = split_frames(ref, "Cu")
    scored = set(pred.frame_id[np.isfinite(pred.energy)].tolist())
    assert scored == set(split["test"]) and not scored & set(split["train"] + split["valid"])
    assert fit["n_train"] == len(split["train"]) == 8 and fit["split"] == split and fit["registered_name"] == "mace-fitted-Cu"
    assert [row["step"] for row in fit["learning_curve"]] == [0, 1, 2]
    assert {"train_loss", "valid_rmse_f"} <= set(fit["learning_curve"][-1]) and fit["resumed_from_checkpoint"] is False
    assert pred.meta["universal"] is False and pred.meta["label"] == "MACE (fitted per element)"
    # its errors are finite and its test-frame predictions differ from the reference (a real model)
    arrays = ref.arrays()
    k = [i for i, f in enumerate(arrays.frame_id.tolist()) if f in scored]
    assert np.all(np.isfinite(pred.energy[k])) and not np.allclose(pred.energy[k], arrays.energy[k])
    # registered like any other model: the registry knows it and can evaluate it
    from analysis.models.evaluate import make_evaluator

    ev = make_evaluator("mace-fitted-Cu", device="cpu", mode="loop")
    try:
        again = ev.predict([ref.frames[k[0]]])
    finally:
        ev.close()
    np.testing.assert_allclose(again.energy[0], pred.energy[k[0]], rtol=0, atol=1e-8)
    # the same fit again is the same job, answered at once; the work folder is gone
    assert submit_fit("mace", "cu-train", "Cu", schedule={"epochs": 3}) == job_id
    assert q.get_job(job_id).state == "done" and q.get_job(job_id).attempts == 1
    assert not q.chunk_dir(job_id).exists()


def test_fit_job_cancelled_mid_training_resumes_from_its_checkpoint(data_env: Path) -> None:
    _train_set()
    job_id = submit_fit("mace", "cu-train", "Cu", schedule={"epochs": 40})

    def cancel_after_two_epochs(rec: q.JobRecord) -> None:
        if rec.state == "running" and rec.frames_done >= 2:
            q.cancel_job(job_id)

    q.Worker().run(job_id=job_id, on_progress=cancel_after_two_epochs)
    rec = q.get_job(job_id)
    assert rec.state == "cancelled" and rec.frames_done < 40
    work = q.chunk_dir(job_id) / "work"
    assert any((work / "checkpoints").glob("*.pt")), "the cancelled training kept its checkpoints"
    assert read_result(q.chunk_dir(job_id)) is None
    assert submit_fit("mace", "cu-train", "Cu", schedule={"epochs": 40}) == job_id
    assert q.get_job(job_id).state == "queued"
    q.Worker().run(job_id=job_id)
    rec = q.get_job(job_id)
    assert rec.state == "done" and rec.attempts == 2, rec.error
    fit = store.load_predictions("cu-train")["mace-fitted"].meta["fits"]["Cu"]
    assert fit["resumed_from_checkpoint"] is True
    assert [row["step"] for row in fit["learning_curve"]] == list(range(40))


def test_two_elements_merge_into_one_set_of_predictions(data_env: Path) -> None:
    ref = _train_set(elements=("Cu", "Al"), n_frames=4)
    ids = [submit_fit("mace", "cu-train", el, schedule={"epochs": 2}) for el in ("Cu", "Al")]
    q.Worker().run(once=True)
    assert [q.get_job(i).state for i in ids] == ["done", "done"]
    pred = store.load_predictions("cu-train")["mace-fitted"]
    assert set(pred.meta["fits"]) == {"Al", "Cu"}
    tests = {i for el in ("Cu", "Al") for i in split_frames(ref, el)["test"]}
    assert set(pred.frame_id[np.isfinite(pred.energy)].tolist()) == tests


def test_submit_refuses_unknown_elements_and_too_few_frames(data_env: Path) -> None:
    _train_set(n_frames=1)
    with pytest.raises(KeyError, match="has no frames of W"):
        submit_fit("mace", "cu-train", "W")
    with pytest.raises(ValueError, match="too few"):
        submit_fit("mace", "cu-train", "Cu")


def test_fit_command_refuses_unknown_elements(data_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from analysis.cli import main

    _train_set(n_frames=3)
    assert main(["fit", "--dataset", "cu-train", "--elements", "Cu,W"]) == 1
    assert "has no frames of W" in capsys.readouterr().err


def test_fit_command_runs_the_jobs_and_prints_the_split(data_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from analysis.cli import main

    _train_set(n_frames=4)
    assert main(["fit", "--dataset", "cu-train", "--elements", "Cu", "--epochs", "2"]) == 0
    out = capsys.readouterr().out
    assert "Cu: done; 4 training, 2 validation, 2 test frames" in out and "model mace-fitted-Cu" in out


# ----------------------------------------------------------------------------- DeePMD (deepmd-kit 3.x, own venv)
def test_deepmd_input_is_si_table_s2() -> None:
    config = deepmd_input(FitSpec("deepmd", "Cu"), n_train=22)
    d, f = config["model"]["descriptor"], config["model"]["fitting_net"]
    assert (d["type"], d["sel"], d["rcut"], d["rcut_smth"], d["neuron"]) == ("se_e2_a", [100], 6.0, 0.5, [25, 50, 100])
    assert f["neuron"] == [200, 200, 200] and d["activation_function"] == f["activation_function"] == "tanh"
    assert d["precision"] == f["precision"] == "float64"
    lr, loss = config["learning_rate"], config["loss"]
    assert (lr["start_lr"], lr["stop_lr"]) == (0.01, 1e-7)
    assert (loss["start_pref_e"], loss["limit_pref_e"], loss["start_pref_f"], loss["limit_pref_f"]) == (100, 10, 100, 10)
    assert config["training"]["numb_steps"] == 50 * 22  # 50 passes, batch 1


def test_lcurve_reader_takes_the_named_columns(tmp_path: Path) -> None:
    path = tmp_path / "lcurve.out"
    path.write_text("#  step      rmse_val    rmse_trn    rmse_e_val  rmse_e_trn    rmse_f_val  rmse_f_trn         lr\n"
                    "# If there is no available reference data, rmse_*_{val,trn} will print nan\n"
                    "      1      4.28e+01    6.33e+01      1.51e+00    2.24e+00      2.17e-01    1.56e-01    1.0e-02\n"
                    "     20      6.97e+00    6.95e+00      7.76e-01    7.75e-01      1.91e-01    1.56e-01    1.8e-07\n")
    rows = read_lcurve(path)
    assert [r["step"] for r in rows] == [1, 20]
    assert rows[1]["valid_rmse_f"] == pytest.approx(0.191) and rows[1]["valid_rmse_e_per_atom"] == pytest.approx(0.776)


@pytest.mark.skipif(not fit_available("deepmd")[0], reason="needs .venv-deepmd (scripts/deepmd_env.sh)")
def test_deepmd_fit_job_end_to_end(data_env: Path) -> None:
    ref = _train_set()
    job_id = submit_fit("deepmd", "cu-train", "Cu", schedule={"passes": 2})
    q.Worker().run(job_id=job_id)
    rec = q.get_job(job_id)
    assert rec.state == "done" and rec.unit == "steps" and rec.frames_done == rec.frames_total == 16, rec.error
    pred = store.load_predictions("cu-train")["deepmd-fitted"]
    fit = pred.meta["fits"]["Cu"]
    assert fit["learning_curve"][-1]["step"] == 16 and fit["registered_name"] == "deepmd-fitted-Cu"
    assert pred.meta["label"] == "DeePMD (fitted per element)"
    scored = pred.frame_id[np.isfinite(pred.energy)].tolist()
    assert sorted(scored) == split_frames(ref, "Cu")["test"]
    forces = pred.forces[np.isfinite(pred.forces[:, 0])]
    assert forces.shape == (16, 3) and np.abs(forces).max() > 0  # a real model's forces


# ----------------------------------------------------------------------------- NEP (GPUMD)
def test_nep_input_is_si_table_s3(tmp_path: Path) -> None:
    ref = emt_reference(elements=("Cu",), temperatures=(300.0,), n_frames=4)
    write_nep_inputs(tmp_path, FitSpec("nep", "Cu"), ref.frames[:3], ref.frames[3:])
    lines = {line.split()[0]: line.split()[1:] for line in (tmp_path / "nep.in").read_text().splitlines() if line.strip()}
    assert lines["type"] == ["1", "Cu"] and lines["cutoff"] == ["6", "4"] and lines["n_max"] == ["4", "4"]
    assert lines["basis_size"] == ["8", "8"] and lines["l_max"] == ["4", "2", "0"] and lines["neuron"] == ["50"]
    assert lines["population"] == ["50"] and lines["generation"] == ["100000"]
    from ase.io import read

    train = read(tmp_path / "train.xyz", index=":")
    assert len(train) == 3 and np.allclose(train[0].get_forces(), ref.frames[0].get_forces())


def test_nep_is_unavailable_without_gpumd_and_says_why(data_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.delenv("MLFF_ATLAS_GPUMD_NEP", raising=False)
    ok, reason = fit_available("nep")
    if ok:
        pytest.skip("GPUMD's nep and a CUDA GPU are present")
    assert "CUDA GPU" in reason
    _train_set(n_frames=3)
    with pytest.raises(ModelUnavailableError, match="CUDA GPU"):
        submit_fit("nep", "cu-train", "Cu")


def test_nep_loss_reader_on_own_and_corpus_files(tmp_path: Path) -> None:
    path = tmp_path / "loss.out"
    path.write_text("100 0.5 0.01 0.02 0.03 0.2 0.0 0.04 0.25 0.0\n200 0.4 0.01 0.02 0.02 0.15 0.0 0.03 0.2 0.0\n")
    rows = read_nep_loss(path)
    assert [r["step"] for r in rows] == [100, 200] and rows[1]["valid_rmse_f"] == 0.2 and rows[0]["train_rmse_e_per_atom"] == 0.03
    corpus = sorted(SHARED.glob("**/loss.out")) if SHARED.is_dir() else []
    if not corpus:
        pytest.skip("no GPUMD loss.out in ../shared/corpus")
    for loss in corpus:
        rows = read_nep_loss(loss)
        assert rows and all(np.isfinite(r["train_rmse_f"]) for r in rows), loss
        assert [r["step"] for r in rows] == sorted(r["step"] for r in rows)


def test_a_training_set_smaller_than_a_batch_still_trains(data_env: Path) -> None:
    """mace drops an incomplete last batch: with 2 training frames and batch 4 nothing would train; the
    batch is capped at the training-set size."""
    _train_set(n_frames=3)  # 1 training frame per temperature
    job_id = submit_fit("mace", "cu-train", "Cu", schedule={"epochs": 2})
    q.Worker().run(job_id=job_id)
    rec = q.get_job(job_id)
    assert rec.state == "done", rec.error
    assert store.load_predictions("cu-train")["mace-fitted"].meta["fits"]["Cu"]["n_train"] == 2


def test_a_fit_result_is_checked_and_repair_leaves_it_alone(data_env: Path) -> None:
    from analysis.jobs.fit_jobs import train_and_score
    from analysis.jobs.integrity import discard_damaged_chunks

    _train_set(n_frames=3)
    job_id = submit_fit("mace", "cu-train", "Cu", schedule={"epochs": 2})
    rec = q.claim_job(job_id)
    first = train_and_score(rec)
    folder = q.chunk_dir(job_id)
    assert discard_damaged_chunks(folder) == [] and (folder / "result.npz").is_file()  # not an evaluation chunk
    again = train_and_score(rec)  # idempotent: read back, not trained again
    assert again["fit_key"] == first["fit_key"] and np.array_equal(again["energy"], first["energy"])
    assert (folder / "work" / "train.log").read_text().count("start:") == 1
    data = bytearray((folder / "result.npz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / "result.npz").write_bytes(bytes(data))
    assert read_result(folder) is None  # a damaged result is not served; the fit is done again (resuming)


def test_stored_fits_carry_over_when_another_elements_frames_are_added(data_env: Path) -> None:
    from analysis.jobs.fit_jobs import refresh_stored

    ref = _train_set(n_frames=3)
    job_id = submit_fit("mace", "cu-train", "Cu", schedule={"epochs": 2})
    q.Worker().run(job_id=job_id)
    before = store.load_predictions("cu-train")["mace-fitted"]
    assert not refresh_stored("cu-train", "mace")  # already current
    grown = ReferenceSet([*ref.frames, *emt_reference(elements=("Al",), temperatures=(300.0,), n_frames=3).frames])
    store.save_dataset(grown, "cu-train")  # keeps the stored predictions
    assert refresh_stored("cu-train", "mace")
    after = store.load_predictions("cu-train")["mace-fitted"]
    assert after.dataset_hash == store.load_dataset("cu-train").content_hash() != before.dataset_hash
    assert set(after.meta["fits"]) == {"Cu"} and len(after.frame_id) == len(before.frame_id) + 3
    keep = {f: e for f, e in zip(before.frame_id.tolist(), before.energy) if np.isfinite(e)}
    now = dict(zip(after.frame_id.tolist(), after.energy))
    assert all(now[f] == e for f, e in keep.items()) and sum(np.isfinite(after.energy)) == len(keep)
    # the fit is still the same job, answered at once: Cu's frames did not change
    assert submit_fit("mace", "cu-train", "Cu", schedule={"epochs": 2}) == job_id and q.get_job(job_id).state == "done"
