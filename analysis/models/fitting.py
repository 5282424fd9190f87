"""Models fitted per element (the paper's small models): MACE, DeePMD and NEP trained by their own
programs on one element's frames, with one uniform hyper-parameter set per family for every element.

For each element the frames are split per temperature into train / validation / test with a fixed
seed (:func:`split_frames`). A :class:`FitSpec` (family, element, hyper-parameters, schedule, seed)
and the content of the element's frames determine the result; :func:`fit_key` hashes them with
:data:`FIT_CODE_VERSIONS` and the trainer's package version, so the job queue never fits the same
thing twice (:mod:`analysis.jobs.fit_jobs` runs fits as queue jobs).

Each family is a :class:`Trainer`: it writes its program's input into a work folder, gives the
command line (with the restart flag when a checkpoint is there), reads the progress and the
learning curve from the program's own log, and names the model file it produced:

- MACE: ``mace_run_train`` of the main venv (mace-torch); progress in epochs; ``--restart_latest``.
- DeePMD: ``dp --pt train`` of ``.venv-deepmd`` (deepmd-kit 3.x, PyTorch backend; SI Table S2);
  progress in steps from ``lcurve.out``; ``--restart model.ckpt.pt``; frozen with ``dp --pt freeze``.
- NEP: GPUMD's ``nep`` with ``nep.in`` (SI Table S3) written by calorine; needs a CUDA GPU and the
  executable (``MLFF_ATLAS_GPUMD_NEP`` or ``nep`` on PATH), otherwise unavailable with the reason;
  progress in generations from ``loss.out``; GPUMD itself resumes from ``nep.restart``.

:func:`run_training` drives any of them in a subprocess with one thread, polling a stop callback
(cancel) and reporting progress. Only the held-out test frames are ever scored with a fitted model.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from analysis.core.config import DEEPMD_VENV_ENV, deepmd_venv
from analysis.datasets.frames import Predictions, ReferenceSet, frame_content_hash, structure_hash, temperature_key
from analysis.models.fit_inputs import deepmd_input, read_lcurve, read_nep_loss, write_deepmd_system, write_nep_inputs

#: bump a family's entry when a change here changes what its fits produce (enters every fit key)
FIT_CODE_VERSIONS: dict[str, str] = {"mace": "3", "deepmd": "3", "nep": "2"}

#: one hyper-parameter set for every element (recorded with the predictions, like the SI's tables)
MACE_HYPERPARAMETERS: dict[str, Any] = {
    "model": "MACE", "hidden_irreps": "16x0e", "r_max": 5.0, "num_interactions": 2, "correlation": 2, "max_L": 0,
    "batch_size": 4, "valid_batch_size": 4, "E0s": "average", "default_dtype": "float64", "lr": 0.01,
    "energy_weight": 1.0, "forces_weight": 100.0,
    # mace's own two-stage recipe: for the last quarter of the epochs, energy weight 1000 and lr 1e-3;
    # without it the energies carry per-element offsets of up to 0.23 eV/atom (docs/fitting.md)
    "stage_two": True, "stage_two_energy_weight": 1000.0, "stage_two_forces_weight": 100.0, "stage_two_lr": 1e-3,
}
#: SI Table S2 (DeePMD): se_e2_a, sel 100, rcut 6.0, rcut_smth 0.5, embedding 25/50/100, fitting
#: 200/200/200, tanh, float64, Adam, learning rate 0.01 -> 1e-7, energy and force prefactors 100 -> 10
DEEPMD_HYPERPARAMETERS: dict[str, Any] = {
    "descriptor": "se_e2_a", "sel": 100, "rcut": 6.0, "rcut_smth": 0.5, "embedding": [25, 50, 100], "axis_neuron": 16,
    "fitting": [200, 200, 200], "activation": "tanh", "precision": "float64", "optimizer": "Adam",
    "start_lr": 0.01, "stop_lr": 1e-7, "start_pref_e": 100.0, "limit_pref_e": 10.0, "start_pref_f": 100.0,
    "limit_pref_f": 10.0, "batch_size": 1,
}
#: SI Table S3 (NEP): cutoff 6/4, n_max 4/4, basis 8/8, l_max 4/2/0, 50 neurons, population 50
NEP_HYPERPARAMETERS: dict[str, Any] = {
    "version": 4, "cutoff": [6, 4], "n_max": [4, 4], "basis_size": [8, 8], "l_max": [4, 2, 0], "neuron": 50,
    "population": 50, "batch": 1000,
}
DEFAULT_SCHEDULES: dict[str, dict[str, int]] = {
    "mace": {"epochs": 50},
    "deepmd": {"passes": 50},  # passes over the training set (SI: 50)
    "nep": {"generations": 100000},
}
DEFAULT_HYPERPARAMETERS: dict[str, dict[str, Any]] = {
    "mace": MACE_HYPERPARAMETERS, "deepmd": DEEPMD_HYPERPARAMETERS, "nep": NEP_HYPERPARAMETERS,
}
FAMILIES: tuple[str, ...] = ("mace", "deepmd", "nep")
#: the predictions' model name per family (and its label on the dashboard)
FITTED_MODELS: dict[str, str] = {"mace": "mace-fitted", "deepmd": "deepmd-fitted", "nep": "nep-fitted"}
FITTED_LABELS: dict[str, str] = {
    "mace-fitted": "MACE (fitted per element)", "deepmd-fitted": "DeePMD (fitted per element)",
    "nep-fitted": "NEP (fitted per element)",
}
FITTED_MODEL = FITTED_MODELS["mace"]
GPUMD_NEP_ENV = "MLFF_ATLAS_GPUMD_NEP"


class FitUnavailableError(RuntimeError):
    """A family cannot be fitted on this machine (the message says why and what to do)."""


# --------------------------------------------------------------------------- what a fit is
@dataclass
class FitSpec:
    """One element's fit: family, element, seed, hyper-parameters, schedule and split fractions."""

    family: str
    element: str
    seed: int = 0
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    schedule: dict[str, int] = field(default_factory=dict)
    valid: float = 0.15
    test: float = 0.15

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"family {self.family!r} must be one of {', '.join(FAMILIES)}")
        self.hyperparameters = {**DEFAULT_HYPERPARAMETERS[self.family], **self.hyperparameters}
        self.schedule = {**DEFAULT_SCHEDULES[self.family], **self.schedule}
        if any(int(v) < 1 for v in self.schedule.values()):
            raise ValueError(f"schedule {self.schedule} must be positive")

    @property
    def model(self) -> str:
        """The predictions' model name ('mace-fitted', ...)."""
        return FITTED_MODELS[self.family]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FitSpec:
        return cls(**{k: data[k] for k in ("family", "element", "seed", "hyperparameters", "schedule", "valid", "test") if k in data})


def split_frames(ref: ReferenceSet, element: str, *, seed: int = 0, valid: float = 0.15, test: float = 0.15) -> dict[str, list[str]]:
    """Frame ids of ``element`` split into 'train', 'valid' and 'test', per temperature, with a fixed seed.

    Every temperature keeps at least one training frame; with three or more frames it also gives
    one validation and one test frame at least. The same set, seed and fractions give the same split.
    """
    groups: dict[float | None, list[str]] = {}
    for atoms in ref.frames:
        if atoms.info["element"] == element:
            groups.setdefault(temperature_key(atoms.info["temperature"]), []).append(str(atoms.info["frame_id"]))
    out: dict[str, list[str]] = {"train": [], "valid": [], "test": []}
    for temp, ids in sorted(groups.items(), key=lambda kv: (kv[0] is None, kv[0] or 0.0)):
        ids = sorted(ids)
        order = np.random.default_rng([seed, int(temp) if temp is not None else 0]).permutation(len(ids))
        n_test = max(1, round(test * len(ids))) if len(ids) >= 3 else 0
        n_valid = max(1, round(valid * len(ids))) if len(ids) >= 3 else (1 if len(ids) == 2 else 0)
        picked = [ids[i] for i in order]
        out["test"] += picked[:n_test]
        out["valid"] += picked[n_test:n_test + n_valid]
        out["train"] += picked[n_test + n_valid:]
    return {k: sorted(v) for k, v in out.items()}


def element_content_hash(ref: ReferenceSet, element: str) -> str:
    """Hash of the element's frames (ids and content; not the other elements'): adding frames of
    another element to the data set leaves an element's fit valid."""
    digest = hashlib.sha256()
    for atoms in sorted((a for a in ref.frames if a.info["element"] == element), key=lambda a: str(a.info["frame_id"])):
        digest.update(f"{atoms.info['frame_id']}:{atoms.info.get('temperature')}:{frame_content_hash(atoms)};".encode())
    return digest.hexdigest()[:16]


def fit_identity(spec: FitSpec, ref: ReferenceSet) -> dict[str, Any]:
    """What determines a fit's result: the element's data, the split, the spec, code and trainer versions."""
    split = split_frames(ref, spec.element, seed=spec.seed, valid=spec.valid, test=spec.test)
    return {"kind": "fit", "spec": spec.to_dict(), "element_data": element_content_hash(ref, spec.element), "split": split,
            "code": FIT_CODE_VERSIONS[spec.family], "trainer": TRAINERS[spec.family].version()}


def fit_key(spec: FitSpec, ref: ReferenceSet) -> str:
    """SHA-256 (16 hex digits) of :func:`fit_identity`."""
    return hashlib.sha256(json.dumps(fit_identity(spec, ref), sort_keys=True).encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- trainers
def _package_version(name: str, python: Path | None = None) -> str:
    from importlib.metadata import PackageNotFoundError, version

    if python is None:
        try:
            return version(name)
        except PackageNotFoundError:
            return ""
    if not python.is_file():
        return ""
    run = subprocess.run([str(python), "-c", f"from importlib.metadata import version; print(version({name!r}))"],
                         capture_output=True, text=True)
    return run.stdout.strip() if run.returncode == 0 else ""


def write_labelled_extxyz(frames: Sequence[Any], path: Path, *, energy_key: str = "REF_energy", forces_key: str = "REF_forces") -> None:
    """The frames with their DFT energy and forces under the given keys (nothing else of the source)."""
    from ase import Atoms
    from ase.io import write

    out = []
    for atoms in frames:
        copy = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
        copy.info = {energy_key: float(atoms.calc.results["energy"])}
        copy.arrays[forces_key] = np.asarray(atoms.calc.results["forces"], dtype=np.float64)
        out.append(copy)
    write(path, out, format="extxyz")


@dataclass
class Progress:
    """How far a training run is: ``done`` of ``total`` in ``unit`` (epochs, steps, generations)."""

    done: int
    total: int
    unit: str


class Trainer:
    """A family's training program (see the module docstring); subclasses fill in the methods."""

    family = ""
    unit = ""

    def version(self) -> str:
        raise NotImplementedError

    def available(self) -> tuple[bool, str]:
        raise NotImplementedError

    def prepare(self, work: Path, spec: FitSpec, train: Sequence[Any], valid: Sequence[Any]) -> int:
        """Write the program's input into ``work``; returns the total of the schedule in :attr:`unit`."""
        raise NotImplementedError

    def command(self, work: Path, spec: FitSpec, resume: bool) -> list[str]:
        raise NotImplementedError

    def can_resume(self, work: Path) -> bool:
        raise NotImplementedError

    def progress(self, work: Path) -> int:
        raise NotImplementedError

    def curve(self, work: Path) -> list[dict[str, Any]]:
        """Per logged step: ``step`` (in :attr:`unit`), ``train_loss``, ``valid_loss`` and, where the
        program logs them, ``valid_rmse_e_per_atom`` (eV/atom) and ``valid_rmse_f`` (eV/Å)."""
        raise NotImplementedError

    def finish(self, work: Path, spec: FitSpec) -> Path:
        """The model file the run produced (frozen first where the program needs it)."""
        raise NotImplementedError

    def model_family(self) -> str:
        """The registry family that evaluates the model file."""
        return self.family


def stage_two_start(epochs: int) -> int | None:
    """The epoch MACE's stage two starts at (mace's own default, three quarters of the epochs), or
    None when the schedule is too short to have one (mace then skips it)."""
    start = max(1, epochs // 4 * 3)
    return start if start < epochs else None


def mace_options(hyper: dict[str, Any]) -> list[str]:
    """``mace_run_train`` options from hyper-parameters: a true flag as ``--name``, a false one left out."""
    out: list[str] = []
    for key, value in hyper.items():
        if isinstance(value, bool):
            out += [f"--{key}"] if value else []
        else:
            out.append(f"--{key}={value}")
    return out


class MaceTrainer(Trainer):
    family, unit = "mace", "epochs"

    def version(self) -> str:
        return _package_version("mace-torch")

    def available(self) -> tuple[bool, str]:
        if not self._program().is_file():
            return False, "mace-torch's mace_run_train is not installed in this environment (make install)"
        return True, ""

    def _program(self) -> Path:
        return Path(sys.executable).with_name("mace_run_train")

    def prepare(self, work: Path, spec: FitSpec, train: Sequence[Any], valid: Sequence[Any]) -> int:
        write_labelled_extxyz(train, work / "train.xyz")
        write_labelled_extxyz(valid or train[:1], work / "valid.xyz")
        (work / "sizes.json").write_text(json.dumps({"n_train": len(train), "n_valid": len(valid or train[:1])}))
        return int(spec.schedule["epochs"])

    def _name(self, spec: FitSpec) -> str:
        return f"{spec.element}-mace-fitted"

    def command(self, work: Path, spec: FitSpec, resume: bool) -> list[str]:
        cmd = [str(self._program()), "--name", self._name(spec), "--train_file", "train.xyz", "--valid_file", "valid.xyz",
               "--energy_key", "REF_energy", "--forces_key", "REF_forces", "--device", "cpu",
               "--max_num_epochs", str(spec.schedule["epochs"]), "--seed", str(spec.seed), "--results_dir", "results",
               "--checkpoints_dir", "checkpoints", "--model_dir", ".", "--log_dir", "logs",
               *mace_options(self._effective(work, spec))]
        return cmd + (["--restart_latest"] if resume else [])

    def _effective(self, work: Path, spec: FitSpec) -> dict[str, Any]:
        """The hyper-parameters as run: mace drops a last incomplete batch, so a batch larger than the
        training set would leave nothing to train on; it is capped at the number of frames."""
        sizes = json.loads((work / "sizes.json").read_text())
        hyper = dict(spec.hyperparameters)
        hyper["batch_size"] = max(1, min(int(hyper["batch_size"]), sizes["n_train"]))
        hyper["valid_batch_size"] = max(1, min(int(hyper["valid_batch_size"]), sizes["n_valid"]))
        start = stage_two_start(int(spec.schedule["epochs"]))
        if hyper.get("stage_two") and start is not None:
            hyper["start_stage_two"] = start
        else:
            hyper = {k: v for k, v in hyper.items() if not k.startswith("stage_two")}
        return hyper

    def can_resume(self, work: Path) -> bool:
        return any((work / "checkpoints").glob("*.pt"))

    def progress(self, work: Path) -> int:
        curve = self.curve(work)
        return max((row["step"] + 1 for row in curve if "train_loss" in row), default=0)

    def curve(self, work: Path) -> list[dict[str, Any]]:
        rows: dict[int, dict[str, Any]] = {}
        for path in sorted((work / "results").glob("*_train.txt")):
            for line in path.read_text().splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if row.get("epoch") is None:
                    continue
                entry = rows.setdefault(int(row["epoch"]), {"step": int(row["epoch"])})
                if row.get("mode") == "opt":
                    entry["train_loss"] = float(row["loss"])
                elif row.get("mode") == "eval":
                    entry.update(valid_loss=float(row["loss"]), valid_rmse_e_per_atom=row.get("rmse_e_per_atom"),
                                 valid_rmse_f=row.get("rmse_f"))
        return [rows[k] for k in sorted(rows)]

    def finish(self, work: Path, spec: FitSpec) -> Path:
        staged = "start_stage_two" in self._effective(work, spec)
        model = work / f"{self._name(spec)}{'_stagetwo' if staged else ''}.model"
        if not model.is_file():
            raise RuntimeError(f"mace_run_train wrote no model for {spec.element}")
        return model


class DeepmdTrainer(Trainer):
    family, unit = "deepmd", "steps"

    def version(self) -> str:
        return _package_version("deepmd-kit", deepmd_venv() / "bin" / "python")

    def available(self) -> tuple[bool, str]:
        if not (deepmd_venv() / "bin" / "dp").is_file():
            return False, (f"DeePMD trains in its own environment: run scripts/deepmd_env.sh to create {deepmd_venv()} "
                           f"(or set {DEEPMD_VENV_ENV})")
        return True, ""

    def prepare(self, work: Path, spec: FitSpec, train: Sequence[Any], valid: Sequence[Any]) -> int:
        write_deepmd_system(train, work / "train", spec.element)
        write_deepmd_system(valid or train[:1], work / "valid", spec.element)
        config = deepmd_input(spec, n_train=len(train), n_valid=len(valid or train[:1]))
        (work / "input.json").write_text(json.dumps(config, indent=1))
        return int(config["training"]["numb_steps"])

    def command(self, work: Path, spec: FitSpec, resume: bool) -> list[str]:
        cmd = [str(deepmd_venv() / "bin" / "dp"), "--pt", "train", "input.json", "--skip-neighbor-stat"]
        return cmd + (["--restart", "model.ckpt.pt"] if resume else [])

    def can_resume(self, work: Path) -> bool:
        return (work / "model.ckpt.pt").exists()

    def progress(self, work: Path) -> int:
        curve = self.curve(work)
        return curve[-1]["step"] if curve else 0

    def curve(self, work: Path) -> list[dict[str, Any]]:
        return read_lcurve(work / "lcurve.out")

    def finish(self, work: Path, spec: FitSpec) -> Path:
        out = work / "frozen_model.pth"
        run = subprocess.run([str(deepmd_venv() / "bin" / "dp"), "--pt", "freeze", "-o", out.name], cwd=work,
                             capture_output=True, text=True, env=_training_env())
        if run.returncode != 0 or not out.is_file():
            raise RuntimeError(f"dp --pt freeze failed for {spec.element}: {_tail(run)}")
        return out


class NepTrainer(Trainer):
    family, unit = "nep", "generations"

    def version(self) -> str:
        return _package_version("calorine") + "+gpumd"

    def executable(self) -> str | None:
        return os.environ.get(GPUMD_NEP_ENV) or shutil.which("nep")

    def available(self) -> tuple[bool, str]:
        exe = self.executable()
        if exe is None or not Path(exe).is_file():
            return False, (f"NEP is fitted by GPUMD's nep program, which needs a CUDA GPU: no nep executable here "
                           f"(set {GPUMD_NEP_ENV} or put nep on PATH); nep.in is still written by `python -m analysis fit --family nep --write-only`")
        if shutil.which("nvidia-smi") is None:
            return False, "NEP is fitted by GPUMD's nep program, which needs a CUDA GPU: none found (no nvidia-smi)"
        return True, ""

    def prepare(self, work: Path, spec: FitSpec, train: Sequence[Any], valid: Sequence[Any]) -> int:
        write_nep_inputs(work, spec, train, valid)
        return int(spec.schedule["generations"])

    def command(self, work: Path, spec: FitSpec, resume: bool) -> list[str]:
        return [str(self.executable())]  # GPUMD resumes from nep.restart in the folder by itself

    def can_resume(self, work: Path) -> bool:
        return (work / "nep.restart").is_file()

    def progress(self, work: Path) -> int:
        curve = self.curve(work)
        return curve[-1]["step"] if curve else 0

    def curve(self, work: Path) -> list[dict[str, Any]]:
        return read_nep_loss(work / "loss.out")

    def finish(self, work: Path, spec: FitSpec) -> Path:
        model = work / "nep.txt"
        if not model.is_file():
            raise RuntimeError(f"GPUMD's nep wrote no nep.txt for {spec.element}")
        return model


TRAINERS: dict[str, Trainer] = {"mace": MaceTrainer(), "deepmd": DeepmdTrainer(), "nep": NepTrainer()}


def fit_available(family: str) -> tuple[bool, str]:
    """Whether ``family`` can be fitted here, and if not why."""
    return TRAINERS[family].available()


# --------------------------------------------------------------------------- running a program
def _training_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "DP_INTRA_OP_PARALLELISM_THREADS": "1",
            "DP_INTER_OP_PARALLELISM_THREADS": "1", "TORCH_NUM_THREADS": "1"}


def _tail(run: Any, n: int = 6) -> str:
    text = (run.stderr or "") + (run.stdout or "") if isinstance(run, subprocess.CompletedProcess) else str(run)
    return "\n".join(text.strip().splitlines()[-n:])


def _die_with_parent() -> None:
    """In the training program's process: be killed when the process that started it dies (a worker
    killed with -9 must not leave a training writing into the folder its retried task resumes from)."""
    import ctypes
    import signal

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except OSError:  # not Linux: the orphan finishes by itself; its checkpoints are only newer
        pass


class FitCancelled(Exception):
    """The stop callback asked the training to stop (its checkpoints are kept)."""


def run_training(spec: FitSpec, work: Path, train: Sequence[Any], valid: Sequence[Any], *,
                 should_stop: Callable[[], bool] = lambda: False, on_progress: Callable[[Progress], None] | None = None,
                 poll_s: float = 2.0) -> tuple[Path, list[dict[str, Any]], float, bool]:
    """Train ``spec`` in ``work`` (resuming from a checkpoint there); returns (model file, learning
    curve, seconds of this attempt, whether it resumed from a checkpoint).

    Raises:
        FitUnavailableError: the family's program is not here.
        FitCancelled: ``should_stop`` returned true (the program was stopped; checkpoints stay).
        RuntimeError: the program failed (its last lines in the message).
    """
    trainer = TRAINERS[spec.family]
    ok, reason = trainer.available()
    if not ok:
        raise FitUnavailableError(reason)
    work.mkdir(parents=True, exist_ok=True)
    resume = trainer.can_resume(work)
    total = trainer.prepare(work, spec, train, valid)
    cmd = trainer.command(work, spec, resume)
    start = time.perf_counter()
    with open(work / "train.log", "a") as log:
        log.write(f"# {time.strftime('%Y-%m-%d %H:%M:%S')} {'resume' if resume else 'start'}: {' '.join(cmd)}\n")
        log.flush()
        proc = subprocess.Popen(cmd, cwd=work, stdout=log, stderr=subprocess.STDOUT, env=_training_env(),
                                preexec_fn=_die_with_parent)
        try:
            while proc.poll() is None:
                time.sleep(poll_s)
                if on_progress is not None:
                    on_progress(Progress(min(trainer.progress(work), total), total, trainer.unit))
                if should_stop():
                    proc.terminate()
                    try:
                        proc.wait(timeout=20)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                    raise FitCancelled(f"{spec.family} fit of {spec.element} stopped")
        except BaseException:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            raise
    if proc.returncode != 0:
        lines = (work / "train.log").read_text(errors="replace").strip().splitlines()
        raise RuntimeError(f"{spec.family} training of {spec.element} failed (exit {proc.returncode}): " + "\n".join(lines[-6:]))
    model = trainer.finish(work, spec)
    if on_progress is not None:
        on_progress(Progress(total, total, trainer.unit))
    return model, trainer.curve(work), time.perf_counter() - start, resume


# --------------------------------------------------------------------------- scoring and merging
def fit_frames(ref: ReferenceSet, spec: FitSpec) -> tuple[dict[str, list[str]], dict[str, Any]]:
    """The split of ``spec.element`` and frame id -> frame."""
    split = split_frames(ref, spec.element, seed=spec.seed, valid=spec.valid, test=spec.test)
    return split, {str(a.info["frame_id"]): a for a in ref.frames}


def _carry_over(previous: Predictions | None, ref: ReferenceSet, skip: str | None = None
                ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """The per-frame arrays on ``ref`` and the fit records of ``previous`` (a family's stored
    predictions), every element but ``skip`` kept whose frames are unchanged (by their content hash)."""
    arrays = ref.arrays()
    offsets = arrays.offsets
    index = {fid: k for k, fid in enumerate(arrays.frame_id.tolist())}
    e_all = np.full(len(arrays), np.nan)
    f_all = np.full((int(offsets[-1]), 3), np.nan)
    fits: dict[str, Any] = {}
    if previous is None:
        return e_all, f_all, fits
    old_index = {fid: k for k, fid in enumerate(previous.frame_id.tolist())}
    old_off = np.concatenate([[0], np.cumsum(previous.n_atoms)])
    same_data = previous.dataset_hash == ref.content_hash()
    for element, meta in previous.meta.get("fits", {}).items():
        if element == skip or (not same_data and meta.get("element_data") != element_content_hash(ref, element)):
            continue  # refitted now, or its frames changed: its old test predictions do not describe them
        test = meta["split"]["test"]
        if any(fid not in index or fid not in old_index for fid in test):
            continue
        for fid in test:
            k, j = index[fid], old_index[fid]
            e_all[k] = previous.energy[j]
            f_all[offsets[k]:offsets[k + 1]] = previous.forces[old_off[j]:old_off[j + 1]]
        fits[element] = meta
    return e_all, f_all, fits


def _fitted_predictions(ref: ReferenceSet, spec: FitSpec, e_all: np.ndarray, f_all: np.ndarray, fits: dict[str, Any]) -> Predictions:
    arrays = ref.arrays()
    meta = {"universal": False, "kind": "fitted per element", "family": spec.family, "label": FITTED_LABELS[spec.model],
            "hyperparameters": dict(spec.hyperparameters), "schedule": dict(spec.schedule), "seed": spec.seed,
            "code_version": FIT_CODE_VERSIONS[spec.family], "fits": dict(sorted(fits.items()))}
    return Predictions(spec.model, ref.content_hash(), arrays.frame_id.copy(), e_all, f_all, arrays.n_atoms.copy(), meta,
                       np.array([structure_hash(a) for a in ref.frames], dtype=str))


def merge_fit(previous: Predictions | None, ref: ReferenceSet, spec: FitSpec, test_ids: Sequence[str], energy: np.ndarray,
              forces: Sequence[np.ndarray], fit_meta: dict[str, Any]) -> Predictions:
    """The family's predictions on ``ref`` with ``spec.element``'s test frames set (its other frames
    unscored); the other elements' fits in ``previous`` kept where their frames are unchanged."""
    e_all, f_all, fits = _carry_over(previous, ref, skip=spec.element)
    arrays = ref.arrays()
    offsets = arrays.offsets
    index = {fid: k for k, fid in enumerate(arrays.frame_id.tolist())}
    for fid, e, f in zip(test_ids, energy, forces):
        k = index[fid]
        e_all[k] = e
        f_all[offsets[k]:offsets[k + 1]] = f
    fits[spec.element] = fit_meta
    return _fitted_predictions(ref, spec, e_all, f_all, fits)


def refresh_fitted(previous: Predictions, ref: ReferenceSet) -> Predictions | None:
    """A family's stored predictions moved onto the current data set ``ref`` (frames were added since):
    the fits whose element's frames are unchanged are kept; None when ``previous`` is already current."""
    if previous.dataset_hash == ref.content_hash():
        return None
    e_all, f_all, fits = _carry_over(previous, ref)
    family = str(previous.meta.get("family", ""))
    spec = FitSpec(family, next(iter(fits), ref.elements[0]), seed=int(previous.meta.get("seed", 0)),
                   hyperparameters=dict(previous.meta.get("hyperparameters") or {}), schedule=dict(previous.meta.get("schedule") or {}))
    return _fitted_predictions(ref, spec, e_all, f_all, fits)


def fit_summary(meta: dict[str, Any], element: str) -> dict[str, Any] | None:
    """A fitted model's record for one element (split sizes, learning curve, seconds), or None."""
    fit = (meta.get("fits") or {}).get(element)
    return dict(fit) if isinstance(fit, dict) else None
