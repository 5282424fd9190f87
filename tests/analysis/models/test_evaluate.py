"""Batched evaluation against the per-structure ASE loop, with real (small) models."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase.calculators.emt import EMT

from analysis.models.evaluate import BatchedEvaluator, FrameResults, evaluate_frames, make_evaluator, resolve_device
from analysis.models.registry import get_spec
from tests.analysis.conftest import SMALL_ORB_OPTIONS, cu_frames

E_TOL_EV_PER_ATOM = 1e-5
F_TOL_EV_PER_A = 1e-4


def _assert_agree(a: FrameResults, b: FrameResults, n_atoms: np.ndarray, *, e_tol: float, f_tol: float) -> None:
    np.testing.assert_allclose(a.energy / n_atoms, b.energy / n_atoms, rtol=0, atol=e_tol)
    np.testing.assert_allclose(np.concatenate(a.forces), np.concatenate(b.forces), rtol=0, atol=f_tol)


def test_loop_accepts_any_ase_calculator() -> None:
    frames = cu_frames(3)
    res = evaluate_frames(EMT(), frames)
    expected = np.array([f.get_potential_energy() for f in frames])  # the EMT labels of the frames
    np.testing.assert_allclose(res.energy, expected, atol=1e-10)
    np.testing.assert_allclose(res.forces[1], frames[1].get_forces(), atol=1e-10)


def test_resolve_device_cpu() -> None:
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") in ("cpu",) or resolve_device("auto").startswith("cuda:")


@pytest.mark.parametrize("batch_size", [1, 3, 16])
def test_mace_batched_matches_ase_loop(small_mace_path: Path, batch_size: int) -> None:
    frames = cu_frames(5, repeat=(1, 1, 2))
    spec = get_spec(f"mace:{small_mace_path}")
    batched = make_evaluator(spec, device="cpu", dtype="float64", mode="batched", batch_size=batch_size)
    loop = make_evaluator(spec, device="cpu", dtype="float64", mode="loop")
    n_atoms = np.array([len(f) for f in frames])
    _assert_agree(batched.predict(frames), loop.predict(frames), n_atoms, e_tol=E_TOL_EV_PER_ATOM, f_tol=F_TOL_EV_PER_A)


def test_mace_float32_runs_and_is_close_to_float64(small_mace_path: Path) -> None:
    frames = cu_frames(2)
    spec = get_spec(f"mace:{small_mace_path}")
    r32 = make_evaluator(spec, device="cpu", dtype="float32").predict(frames)
    r64 = make_evaluator(spec, device="cpu", dtype="float64").predict(frames)
    np.testing.assert_allclose(r32.energy, r64.energy, rtol=1e-5)
    assert not np.array_equal(r32.energy, r64.energy)


def test_orb_batched_matches_ase_loop(small_orb_path: Path) -> None:
    frames = cu_frames(4)
    spec = get_spec(f"orb:{small_orb_path}", **SMALL_ORB_OPTIONS)
    batched = make_evaluator(spec, device="cpu", dtype="float64", mode="batched", batch_size=3)
    loop = make_evaluator(spec, device="cpu", dtype="float64", mode="loop")
    res_b, res_l = batched.predict(frames), loop.predict(frames)
    assert np.ptp(res_b.energy) > 0  # a real, frame-dependent prediction
    _assert_agree(res_b, res_l, np.array([len(f) for f in frames]), e_tol=E_TOL_EV_PER_ATOM, f_tol=F_TOL_EV_PER_A)


def test_chgnet_batched_matches_ase_loop() -> None:
    frames = cu_frames(3)
    batched = make_evaluator("chgnet-0.3.0", device="cpu", dtype="float32", mode="batched", batch_size=2)
    loop = make_evaluator("chgnet-0.3.0", device="cpu", dtype="float32", mode="loop")
    res_b, res_l = batched.predict(frames), loop.predict(frames)
    # CHGNet 0.3.0 knows Cu: a bulk fcc cell is bound by a few eV/atom
    assert np.all(res_b.energy / 4 < -1.0)
    # float32 model: looser tolerance than the float64 agreement test
    _assert_agree(res_b, res_l, np.full(3, 4), e_tol=1e-5, f_tol=1e-4)


class _BudgetedEMT(BatchedEvaluator):
    """EMT batches under an emulated device-memory budget: a batch of more than ``max_frames``
    frames fails with the message torch gives for CUDA out-of-memory. The retry policy is what is
    tested; the energies and forces are EMT's own."""

    def __init__(self, max_frames: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.max_frames = max_frames
        self.batch_sizes_run: list[int] = []

    def prepare(self, frames):
        return [a.copy() for a in frames]

    def compute(self, prepared, frames):
        from ase.calculators.emt import EMT

        if len(prepared) > self.max_frames:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB (emulated budget)")
        self.batch_sizes_run.append(len(prepared))
        energies, forces = [], []
        for atoms in prepared:
            atoms.calc = EMT()
            energies.append(atoms.get_potential_energy())
            forces.append(atoms.get_forces())
        return FrameResults(np.array(energies), forces)


def test_out_of_memory_halves_the_batch_and_keeps_every_frame() -> None:
    from ase.build import bulk

    frames = []
    for i in range(13):
        atoms = bulk("Cu", "fcc", a=3.61, cubic=True)
        atoms.rattle(0.03, seed=i)
        frames.append(atoms)
    ev = _BudgetedEMT(3, device="cuda:0", dtype="float64", batch_size=16, prefetch=False)
    got = ev.predict(frames)
    assert ev.oom_retries > 0 and max(ev.batch_sizes_run) <= 3 and ev.batch_size <= 3
    assert len(got.energy) == 13 and sum(ev.batch_sizes_run) == 13
    from ase.calculators.emt import EMT

    want = []
    for atoms in frames:
        atoms = atoms.copy()
        atoms.calc = EMT()
        want.append(atoms.get_potential_energy())
    np.testing.assert_allclose(got.energy, want, rtol=0, atol=1e-10)
    # on the CPU an out-of-memory error is not retried: it surfaces
    cpu = _BudgetedEMT(3, device="cpu", dtype="float64", batch_size=16, prefetch=False)
    with pytest.raises(RuntimeError, match="out of memory"):
        cpu.predict(frames)


def test_chgnet_020_refuses_wide_cs_alone_and_scores_the_rest() -> None:
    """CHGNet 0.2.0's 5 Å graph cutoff leaves an atom of bcc Cs (nearest neighbour 5.3 Å) isolated:
    that frame is refused with CHGNet's own error, the frames batched with it are still scored."""
    from ase.build import bulk

    from analysis.models.evaluate import predict_isolating_failures

    cu = cu_frames(3)
    cs = bulk("Cs", "bcc", a=6.12, cubic=True)
    frames = [cu[0], cs, cu[1], cu[2]]
    ev = make_evaluator("chgnet-0.2.0", device="cpu", dtype="float32", mode="batched", batch_size=4)
    res, failed = predict_isolating_failures(ev, frames)
    assert list(failed) == [1] and "isolated" in failed[1].lower(), failed
    assert np.isnan(res.energy[1]) and np.isnan(res.forces[1]).all()
    alone = ev.predict([cu[0], cu[1], cu[2]])
    np.testing.assert_allclose(res.energy[[0, 2, 3]], alone.energy, rtol=0, atol=1e-4)
    assert np.all(res.energy[[0, 2, 3]] / 4 < -1.0)
