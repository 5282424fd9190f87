"""Evaluate a model on frames: batched through each framework's own batching, or the ASE loop.

Two paths give the same numbers (tested to 1e-5 eV/atom and 1e-4 eV/Å in float64):

* batched: MACE graphs batched by mace's torch_geometric ``DataLoader`` collation, ORB graphs by
  ``orb_models.forcefield.base.batch_graphs``, CHGNet graphs by ``CHGNet.predict_graph``. The
  graphs (neighbour lists) of the next batch are built in a background thread while the model
  runs on the current one, and a CUDA out-of-memory error halves the batch and retries.
* loop: one ASE ``Calculator.get_potential_energy`` / ``get_forces`` call per frame. This is the
  reference path, and the path for any ASE calculator (EMT, calorine's NEP, DeePMD's DP).

Energies are in eV (total per frame), forces in eV/Å.
"""
from __future__ import annotations

import json
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from ase import Atoms
from numpy.typing import NDArray

from analysis.core.errors import one_line
from analysis.models.local_files import content_hidden
from analysis.models.registry import (
    ModelSpec,
    ModelUnavailableError,
    check_available,
    deepmd_python,
    default_torch_dtype,
    get_spec,
    load_torch_model,
    resolve_dtype,
    sevenn_python,
    weights_path,
)

Mode = Literal["batched", "loop"]
DRIVER = Path(__file__).resolve().parent / "sevenn_driver.py"
DEEPMD_DRIVER = Path(__file__).resolve().parent / "deepmd_driver.py"


@dataclass
class FrameResults:
    """Predictions on a list of frames.

    Attributes:
        energy: (F,) total energies in eV.
        forces: list of F arrays (n_atoms_i, 3) in eV/Å.
    """

    energy: NDArray[np.float64]
    forces: list[NDArray[np.float64]]

    @staticmethod
    def concat(parts: Sequence[FrameResults]) -> FrameResults:
        if not parts:
            return FrameResults(np.zeros(0), [])
        return FrameResults(np.concatenate([p.energy for p in parts]), [f for p in parts for f in p.forces])


def _bare(atoms: Atoms) -> Atoms:
    """A copy of the structure without its (DFT) calculator, so no result can leak through."""
    return Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)


# --------------------------------------------------------------------------- devices
def resolve_device(device: str = "auto") -> str:
    """'auto' -> the CUDA GPU with most free memory ('cuda:N'), else 'cpu'; 'cuda' -> likewise a GPU.

    Raises:
        ValueError: CUDA asked for but not available.
    """
    if device == "cpu":
        return "cpu"
    import torch

    if not torch.cuda.is_available():
        if device == "auto":
            return "cpu"
        raise ValueError(f"{device=} asked for but CUDA is not available here")
    if device.startswith("cuda:"):
        return device
    free = [torch.cuda.mem_get_info(i)[0] for i in range(torch.cuda.device_count())]
    return f"cuda:{int(np.argmax(free))}"


def _is_oom(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()


# --------------------------------------------------------------------------- evaluators
class Evaluator:
    """Base class: ``predict(frames)`` returns :class:`FrameResults`."""

    mode: Mode = "loop"
    device: str = "cpu"
    dtype: str = "float64"

    def predict(self, frames: Sequence[Atoms]) -> FrameResults:
        raise NotImplementedError

    def close(self) -> None:
        """Release external resources (subprocesses)."""


class LoopEvaluator(Evaluator):
    """The reference path: one ASE calculator call per frame (any ASE calculator)."""

    mode: Mode = "loop"

    def __init__(self, calculator: Any, *, dtype: str = "float64", device: str = "cpu") -> None:
        self.calculator = calculator
        self.dtype = dtype
        self.device = device

    def predict(self, frames: Sequence[Atoms]) -> FrameResults:
        energies, forces = [], []
        ctx = default_torch_dtype(self.dtype) if _torch_loaded() else _nullcontext()
        with ctx:
            for atoms in frames:
                work = _bare(atoms)
                work.calc = self.calculator
                try:
                    energies.append(float(work.get_potential_energy()))
                    forces.append(np.array(work.get_forces(), dtype=np.float64))
                except Exception:
                    # a calculator that raised half-way through its set-up (EMT on an element it
                    # has no parameters for) keeps that state: clear it so the next call starts clean
                    reset = getattr(self.calculator, "reset", None)
                    if callable(reset):
                        reset()
                    raise
        return FrameResults(np.array(energies, dtype=np.float64), forces)


class _nullcontext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


def _torch_loaded() -> bool:
    import sys

    return "torch" in sys.modules


class BatchedEvaluator(Evaluator):
    """Template for batched evaluation: ``prepare`` (graphs, CPU) overlaps ``compute`` (model).

    Subclasses implement :meth:`prepare` (frames -> model input) and :meth:`compute`
    (model input -> FrameResults).
    """

    mode: Mode = "batched"

    def __init__(self, *, device: str, dtype: str, batch_size: int = 16, prefetch: bool = True) -> None:
        if batch_size < 1:
            raise ValueError(f"{batch_size=} must be >= 1")
        self.device = device
        self.dtype = dtype
        self.batch_size = batch_size
        self.prefetch = prefetch
        self.oom_retries = 0

    def prepare(self, frames: Sequence[Atoms]) -> Any:
        raise NotImplementedError

    def compute(self, prepared: Any, frames: Sequence[Atoms]) -> FrameResults:
        raise NotImplementedError

    def _batches(self, frames: Sequence[Atoms]) -> Iterator[Sequence[Atoms]]:
        for start in range(0, len(frames), self.batch_size):
            yield frames[start : start + self.batch_size]

    def predict(self, frames: Sequence[Atoms]) -> FrameResults:
        frames = list(frames)
        parts: list[FrameResults] = []
        with default_torch_dtype(self.dtype):
            batches = list(self._batches(frames))
            if not self.prefetch or len(batches) < 2:
                for batch in batches:
                    parts.append(self._compute_with_retry(self.prepare(batch), batch))
                return FrameResults.concat(parts)
            dtype_ctx = self.dtype

            def prep(batch: Sequence[Atoms]) -> Any:
                # harmless when torch's default dtype is process-wide; needed if it is per thread
                with default_torch_dtype(dtype_ctx):
                    return self.prepare(batch)

            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prepare") as pool:
                pending: Future[Any] = pool.submit(prep, batches[0])
                for i, batch in enumerate(batches):
                    prepared = pending.result()
                    if i + 1 < len(batches):
                        pending = pool.submit(prep, batches[i + 1])
                    parts.append(self._compute_with_retry(prepared, batch))
        return FrameResults.concat(parts)

    def _compute_with_retry(self, prepared: Any, batch: Sequence[Atoms]) -> FrameResults:
        try:
            return self.compute(prepared, batch)
        except RuntimeError as exc:
            if not self.device.startswith("cuda") or not _is_oom(exc) or len(batch) == 1:
                raise
        # CUDA out of memory: halve the batch (for the rest of the run too) and retry
        import torch

        del prepared
        torch.cuda.empty_cache()
        self.oom_retries += 1
        self.batch_size = max(1, len(batch) // 2)
        half = len(batch) // 2
        return FrameResults.concat(
            [self._compute_with_retry(self.prepare(part), part) for part in (batch[:half], batch[half:])]
        )


class MaceBatched(BatchedEvaluator):
    """MACE: ``AtomicData`` graphs collated by mace's torch_geometric loader, one forward per batch."""

    def __init__(self, model: Any, *, device: str, dtype: str, batch_size: int = 16, prefetch: bool = True) -> None:
        super().__init__(device=device, dtype=dtype, batch_size=batch_size, prefetch=prefetch)
        from mace.tools import utils as mace_utils

        self.model = model
        self.z_table = mace_utils.AtomicNumberTable([int(z) for z in model.atomic_numbers])
        self.r_max = float(model.r_max)
        self.heads = list(getattr(model, "heads", ["Default"]))

    def prepare(self, frames: Sequence[Atoms]) -> Any:
        from mace import data as mace_data
        from mace.tools import torch_geometric

        graphs = [
            mace_data.AtomicData.from_config(
                mace_data.config_from_atoms(_bare(a), head_name=self.heads[0]),
                z_table=self.z_table,
                cutoff=self.r_max,
                heads=self.heads,
            )
            for a in frames
        ]
        batch = torch_geometric.batch.Batch.from_data_list(graphs)
        return batch.to(self.device)

    def compute(self, prepared: Any, frames: Sequence[Atoms]) -> FrameResults:
        out = self.model(prepared.to_dict(), training=False, compute_force=True, compute_stress=False)
        energy = out["energy"].detach().cpu().numpy().astype(np.float64)
        forces = out["forces"].detach().cpu().numpy().astype(np.float64)
        ptr = prepared.ptr.cpu().numpy()
        return FrameResults(energy, [forces[ptr[i] : ptr[i + 1]] for i in range(len(frames))])


class OrbBatched(BatchedEvaluator):
    """ORB: ``AtomGraphs`` batched by ``batch_graphs``; conservative models give gradient forces."""

    def __init__(self, model: Any, *, device: str, dtype: str, batch_size: int = 16, prefetch: bool = True) -> None:
        super().__init__(device=device, dtype=dtype, batch_size=batch_size, prefetch=prefetch)
        self.model = model
        self.conservative = hasattr(model, "grad_forces_name")

    def prepare(self, frames: Sequence[Atoms]) -> Any:
        from orb_models.forcefield.atomic_system import ase_atoms_to_atom_graphs
        from orb_models.forcefield.base import batch_graphs

        graphs = [
            ase_atoms_to_atom_graphs(_bare(a), system_config=self.model.system_config, device=self.device)
            for a in frames
        ]
        return batch_graphs(graphs).to(self.device)

    def compute(self, prepared: Any, frames: Sequence[Atoms]) -> FrameResults:
        out = self.model.predict(prepared)
        key = self.model.grad_forces_name if self.conservative else "forces"
        energy = out["energy"].detach().cpu().numpy().astype(np.float64).reshape(-1)
        forces = out[key].detach().cpu().numpy().astype(np.float64)
        ptr = np.concatenate([[0], np.cumsum(prepared.n_node.cpu().numpy())])
        return FrameResults(energy, [forces[ptr[i] : ptr[i + 1]] for i in range(len(frames))])


class ChgnetBatched(BatchedEvaluator):
    """CHGNet: crystal graphs from its own converter, batched by ``CHGNet.predict_graph``."""

    def __init__(self, model: Any, *, device: str, dtype: str, batch_size: int = 16, prefetch: bool = True) -> None:
        super().__init__(device=device, dtype=dtype, batch_size=batch_size, prefetch=prefetch)
        self.model = model

    def prepare(self, frames: Sequence[Atoms]) -> Any:
        from pymatgen.io.ase import AseAtomsAdaptor

        return [self.model.graph_converter(AseAtomsAdaptor.get_structure(_bare(a))) for a in frames]

    def compute(self, prepared: Any, frames: Sequence[Atoms]) -> FrameResults:
        preds = self.model.predict_graph(prepared, task="ef", batch_size=len(prepared))
        if isinstance(preds, dict):
            preds = [preds]
        # CHGNet predicts energy per atom
        energy = np.array([float(p["e"]) * len(a) for p, a in zip(preds, frames)], dtype=np.float64)
        return FrameResults(energy, [np.asarray(p["f"], dtype=np.float64) for p in preds])


class SevennSubprocess(Evaluator):
    """SevenNet run by ``analysis/models/sevenn_driver.py`` in the separate ``.venv-sevenn``.

    The driver stays alive between calls (the model loads once); each call writes the frames as
    extended XYZ, the driver answers with an ``.npz`` of energies and forces. No pickle crosses
    the process boundary.
    """

    mode: Mode = "loop"
    label = "SevenNet"

    def __init__(self, model_key: str, *, device: str, dtype: str, python: Path | None = None, driver: Path = DRIVER) -> None:
        self.model_key = model_key
        self.device = device
        self.dtype = dtype
        self.driver = driver
        self.python = Path(python or sevenn_python())
        if not self.python.is_file():
            raise ModelUnavailableError(f"{self.label} environment missing (looked for {self.python}): "
                                        f"run scripts/{'sevenn' if self.label == 'SevenNet' else 'deepmd'}_env.sh")
        self._tmp = tempfile.TemporaryDirectory(prefix=f"{self.label.lower()}-")
        self._proc: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()
        self.versions: dict[str, str] = {}

    def _start(self) -> subprocess.Popen[str]:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                [str(self.python), str(self.driver), "--model", self.model_key, "--device", self.device, "--dtype", self.dtype],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            hello = self._readline(self._proc)
            self.versions = hello.get("versions", {})
        return self._proc

    def _readline(self, proc: subprocess.Popen[str]) -> dict[str, Any]:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            err = proc.stderr.read() if proc.stderr else ""
            raise RuntimeError(f"{self.label} driver exited: {err[-2000:]}")
        reply = json.loads(line)
        if not reply.get("ok", False):
            raise RuntimeError(f"{self.label} driver error: {reply.get('error')}\n{reply.get('traceback', '')}")
        return reply

    def predict(self, frames: Sequence[Atoms]) -> FrameResults:
        from ase.io import write

        with self._lock:
            proc = self._start()
            stamp = time.time_ns()
            src = Path(self._tmp.name) / f"in-{stamp}.extxyz"
            dst = Path(self._tmp.name) / f"out-{stamp}.npz"
            write(src, [_bare(a) for a in frames], format="extxyz")
            assert proc.stdin is not None
            proc.stdin.write(json.dumps({"input": str(src), "output": str(dst)}) + "\n")
            proc.stdin.flush()
            self._readline(proc)
            with np.load(dst, allow_pickle=False) as npz:
                energy, forces, n_atoms = npz["energy"], npz["forces"], npz["n_atoms"]
            src.unlink(missing_ok=True)
            dst.unlink(missing_ok=True)
        offsets = np.concatenate([[0], np.cumsum(n_atoms)])
        return FrameResults(energy.astype(np.float64), [forces[offsets[i] : offsets[i + 1]] for i in range(len(frames))])

    def close(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        self._tmp.cleanup()


class DeepmdSubprocess(SevennSubprocess):
    """A frozen DeePMD model run by ``analysis/models/deepmd_driver.py`` in ``.venv-deepmd``
    (the same file protocol as SevenNet's driver)."""

    label = "DeePMD"


# --------------------------------------------------------------------------- factory
def make_evaluator(
    model: str | ModelSpec,
    *,
    device: str = "auto",
    dtype: str = "auto",
    mode: Mode = "batched",
    batch_size: int = 16,
    prefetch: bool = True,
) -> Evaluator:
    """An evaluator for a registry model.

    Args:
        model: registry name, ``family:PATH`` string or spec.
        device: 'auto', 'cpu', 'cuda' or 'cuda:N'.
        dtype: 'float32', 'float64' or 'auto' (the model's preferred precision); a precision the
            model cannot run in raises ValueError.
        mode: 'batched' (framework batching) or 'loop' (the ASE calculator, one frame at a time).
            Families without a batched path here (NEP, DeePMD, SevenNet) always loop.
        batch_size: frames per batch (halved on CUDA out-of-memory).
        prefetch: build the next batch's graphs while the model runs.

    Raises:
        ModelUnavailableError: weights or package missing (the message says what to do).
    """
    spec = get_spec(model)
    ok, reason = check_available(spec)
    if not ok:
        raise ModelUnavailableError(reason)
    dtype = resolve_dtype(spec, dtype)
    dev = resolve_device(device)
    if spec.family == "sevenn":
        return SevennSubprocess(spec.source, device=dev, dtype=dtype)
    if spec.family == "ase":
        if spec.source != "EMT":
            raise ValueError(f"{spec.name}: unknown ASE calculator {spec.source!r}")
        from ase.calculators.emt import EMT

        return LoopEvaluator(EMT(), dtype="float64", device="cpu")
    if spec.family == "nep":
        from calorine.calculators import CPUNEP

        path = weights_path(spec)
        with content_hidden(spec.name):  # calorine quotes the line it could not parse
            calc = CPUNEP(str(path))
        return LoopEvaluator(calc, dtype=dtype, device="cpu")
    if spec.family == "deepmd":
        path = weights_path(spec)
        try:
            from deepmd.calculator import DP
        except ImportError:  # the usual case: deepmd-kit lives in its own environment (scripts/deepmd_env.sh)
            return DeepmdSubprocess(str(path), device=dev, dtype=dtype, python=deepmd_python(), driver=DEEPMD_DRIVER)
        with content_hidden(spec.name):
            calc = DP(model=str(path))
        return LoopEvaluator(calc, dtype=dtype, device=dev)
    torch_model = load_torch_model(spec, device=dev, dtype=dtype)
    return evaluator_for_model(spec.family, torch_model, device=dev, dtype=dtype, mode=mode, batch_size=batch_size, prefetch=prefetch)


def evaluator_for_model(
    family: str,
    torch_model: Any,
    *,
    device: str,
    dtype: str,
    mode: Mode = "batched",
    batch_size: int = 16,
    prefetch: bool = True,
) -> Evaluator:
    """An evaluator around an already loaded MACE, ORB or CHGNet torch model."""
    if mode == "batched":
        cls = {"mace": MaceBatched, "orb": OrbBatched, "chgnet": ChgnetBatched}[family]
        return cls(torch_model, device=device, dtype=dtype, batch_size=batch_size, prefetch=prefetch)
    calc: Any  # an ASE calculator of the family's package
    if family == "mace":
        from mace.calculators import MACECalculator

        calc = MACECalculator(models=[torch_model], device=device, default_dtype=dtype)
    elif family == "orb":
        from orb_models.forcefield.calculator import ORBCalculator

        calc = ORBCalculator(torch_model, device=device)
    elif family == "chgnet":
        from chgnet.model.dynamics import CHGNetCalculator

        calc = CHGNetCalculator(model=torch_model, use_device=device.split(":")[0])
    else:
        raise ValueError(f"no evaluator for family {family!r}")
    return LoopEvaluator(calc, dtype=dtype, device=device)


def evaluate_frames(
    evaluator: Evaluator | Any,
    frames: Sequence[Atoms],
) -> FrameResults:
    """Predict energies (eV) and forces (eV/Å) of ``frames`` with an evaluator or any ASE calculator."""
    if not isinstance(evaluator, Evaluator):
        evaluator = LoopEvaluator(evaluator)
    return evaluator.predict(frames)


def predict_isolating_failures(
    evaluator: Evaluator, frames: Sequence[Atoms]
) -> tuple[FrameResults, dict[int, str]]:
    """Predict ``frames``; a frame the model refuses becomes NaN instead of failing the rest.

    When a batch raises (an ``Exception``: the model's own refusal, e.g. CHGNet's "isolated atom"
    for a Cs cell wider than its 5 Å cutoff, or EMT's missing parameters), it is split in halves
    and each half is tried again, down to single frames. A single frame that still raises gets a
    NaN energy and NaN forces, and its error. Only the frames of a batch that raised are
    recomputed (in halves), so one bad frame costs about 2·log2(batch) extra model calls.

    Returns:
        The results for every frame (NaN where the model failed) and the failed frames' indices
        (into ``frames``) mapped to the one-line error.
    """
    frames = list(frames)
    try:
        return evaluator.predict(frames), {}
    except Exception as exc:  # noqa: BLE001 - the model's refusal is recorded per frame
        if len(frames) == 1:
            n = len(frames[0])
            return FrameResults(np.array([np.nan]), [np.full((n, 3), np.nan)]), {0: one_line(exc)}
    half = len(frames) // 2
    left, left_failed = predict_isolating_failures(evaluator, frames[:half])
    right, right_failed = predict_isolating_failures(evaluator, frames[half:])
    failed = {**left_failed, **{half + i: msg for i, msg in right_failed.items()}}
    return FrameResults.concat([left, right]), failed


@dataclass
class Timing:
    """Wall time of an evaluation run."""

    n_frames: int = 0
    seconds: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def frames_per_second(self) -> float:
        return self.n_frames / self.seconds if self.seconds > 0 else float("nan")
