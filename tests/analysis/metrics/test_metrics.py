"""Metrics against straightforward per-group reference computations on random data."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.datasets.frames import FrameArrays, Predictions
from analysis.metrics.tables import (
    METRIC_COLUMNS,
    compute_metrics_table,
    distribution_stats,
    frame_errors,
    per_element_energy_shift,
    relative_metric,
)


def _random_set(rng, n_frames=60):
    elements = rng.choice(["Al", "Cu", "W"], n_frames)
    temps = rng.choice([300.0, 1200.0], n_frames)
    n_atoms = rng.integers(2, 9, n_frames)
    forces = rng.normal(0, 1.0, (int(n_atoms.sum()), 3))
    ref = FrameArrays(
        frame_id=np.array([f"f{i}" for i in range(n_frames)]),
        element=elements.astype(str),
        temperature=temps,
        n_atoms=n_atoms,
        energy=rng.normal(-4, 0.1, n_frames) * n_atoms,
        forces=forces,
    )
    return ref


def _pred(rng, ref, name, offset, universal):
    energy = ref.energy + (rng.normal(0, 0.02, len(ref)) + offset) * ref.n_atoms
    forces = ref.forces + rng.normal(0, 0.1, ref.forces.shape)
    return Predictions(name, "h", ref.frame_id.copy(), energy, forces, ref.n_atoms.copy(), {"universal": universal})


def _naive(ref, pred, shift):
    """Plain loops over frames: the definition, written out."""
    rows = []
    offsets = ref.offsets
    shifts = {}
    for el in np.unique(ref.element):
        idx = np.flatnonzero(ref.element == el)
        shifts[el] = np.mean([(pred.energy[i] - ref.energy[i]) / ref.n_atoms[i] for i in idx]) if shift else 0.0
    keys = sorted({(e, t) for e, t in zip(ref.element, ref.temperature)})
    keys += [(e, None) for e in np.unique(ref.element)]
    for el, t in keys:
        idx = [i for i in range(len(ref)) if ref.element[i] == el and (t is None or ref.temperature[i] == t)]
        de = np.array([(pred.energy[i] - ref.energy[i]) / ref.n_atoms[i] - shifts[el] for i in idx])
        df = np.concatenate([pred.forces[offsets[i]:offsets[i + 1]] - ref.forces[offsets[i]:offsets[i + 1]] for i in idx])
        e_ref = np.array([ref.energy[i] / ref.n_atoms[i] for i in idx])
        f_ref = np.concatenate([ref.forces[offsets[i]:offsets[i + 1]] for i in idx])
        rows.append({
            "element": el, "temperature": "all" if t is None else f"{t:g}", "n_frames": len(idx),
            "energy_rmse_mev_per_atom": 1e3 * np.sqrt(np.mean(de**2)),
            "energy_mae_mev_per_atom": 1e3 * np.mean(np.abs(de)),
            "force_rmse_mev_per_a": 1e3 * np.sqrt(np.mean(df**2)),
            "force_mae_mev_per_a": 1e3 * np.mean(np.abs(df)),
            "force_vector_rmse_mev_per_a": 1e3 * np.sqrt(np.mean(np.sum(df**2, axis=1))),
            "force_vector_mae_mev_per_a": 1e3 * np.mean(np.linalg.norm(df, axis=1)),
            "energy_shift_ev_per_atom": shifts[el],
            "ref_energy_std_mev_per_atom": 1e3 * np.std(e_ref),
            "ref_force_std_mev_per_a": 1e3 * np.std(f_ref),
        })
    return pd.DataFrame(rows)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("universal", [True, False])
def test_table_matches_naive_loops(seed, universal):
    rng = np.random.default_rng(seed)
    ref = _random_set(rng)
    pred = _pred(rng, ref, "m", offset=0.3, universal=universal)
    table = compute_metrics_table(ref, {"m": pred}, shift="auto")
    expected = _naive(ref, pred, shift=universal)
    merged = expected.merge(table, on=["element", "temperature"], suffixes=("_want", ""))
    assert len(merged) == len(expected) == len(table)
    for col in [*METRIC_COLUMNS, "energy_shift_ev_per_atom", "ref_energy_std_mev_per_atom", "ref_force_std_mev_per_a"]:
        np.testing.assert_allclose(merged[col], merged[f"{col}_want"], rtol=1e-9, atol=1e-9, err_msg=col)
    np.testing.assert_array_equal(merged["n_frames"], merged["n_frames_want"])


def test_constant_shift_removes_offset_and_is_reported():
    rng = np.random.default_rng(5)
    ref = _random_set(rng)
    pred = _pred(rng, ref, "u", offset=1.5, universal=True)
    shifted = compute_metrics_table(ref, {"u": pred}, shift=True)
    raw = compute_metrics_table(ref, {"u": pred}, shift=False)
    assert shifted["energy_rmse_mev_per_atom"].max() < 60  # only the 20 meV/atom noise is left
    assert raw["energy_rmse_mev_per_atom"].min() > 1400  # the 1.5 eV/atom offset dominates
    assert (raw["energy_shift_ev_per_atom"] == 0).all()
    np.testing.assert_allclose(shifted["energy_shift_ev_per_atom"], 1.5, atol=0.02)
    shifts = per_element_energy_shift(ref, pred)
    assert set(shifts) == {"Al", "Cu", "W"}
    # forces do not depend on the shift
    np.testing.assert_allclose(shifted["force_rmse_mev_per_a"], raw["force_rmse_mev_per_a"])
    # shift chosen per model by name
    both = compute_metrics_table(ref, {"u": pred, "v": pred}, shift={"u"})
    assert (both[both.model == "v"]["energy_shift_ev_per_atom"] == 0).all()
    assert (both[both.model == "u"]["energy_shift_ev_per_atom"] != 0).all()


def test_predictions_in_other_order_are_aligned_and_mismatch_raises():
    rng = np.random.default_rng(3)
    ref = _random_set(rng, 20)
    pred = _pred(rng, ref, "m", 0.0, False)
    order = rng.permutation(len(ref))
    offsets = ref.offsets
    shuffled = Predictions("m", "h", pred.frame_id[order], pred.energy[order],
                           np.concatenate([pred.forces[offsets[i]:offsets[i + 1]] for i in order]), pred.n_atoms[order])
    pd.testing.assert_frame_equal(compute_metrics_table(ref, {"m": pred}), compute_metrics_table(ref, {"m": shuffled}))
    short = Predictions("m", "h", pred.frame_id[:-1], pred.energy[:-1], pred.forces[: offsets[-2]], pred.n_atoms[:-1])
    with pytest.raises(ValueError, match="19 predicted frames but the reference has 20"):
        compute_metrics_table(ref, {"m": short})


def test_distribution_stats_and_relative():
    rng = np.random.default_rng(4)
    ref = _random_set(rng)
    preds = {"a": _pred(rng, ref, "a", 0, False), "b": _pred(rng, ref, "b", 0, False)}
    table = compute_metrics_table(ref, preds)
    stats = distribution_stats(table, "force_rmse_mev_per_a")
    pooled = table[(table.model == "a") & (table.temperature == "all")]["force_rmse_mev_per_a"]
    row = stats.set_index("model").loc["a"]
    assert row["n_elements"] == 3
    np.testing.assert_allclose(row["mean"], pooled.mean())
    np.testing.assert_allclose(row["std"], pooled.std(ddof=1))
    rel = relative_metric(table, "force_rmse_mev_per_a")
    np.testing.assert_allclose(rel, table["force_rmse_mev_per_a"] / table["ref_force_std_mev_per_a"])


def test_frame_errors_applies_shift():
    rng = np.random.default_rng(6)
    ref = _random_set(rng, 30)
    pred = _pred(rng, ref, "u", 2.0, True)
    fe = frame_errors(ref, pred)
    assert abs(np.mean(fe.energy_pred_ev_per_atom - fe.energy_ref_ev_per_atom)) < 0.01
    assert fe.force_ref_ev_per_a.shape == (3 * ref.forces.shape[0],)
    assert fe.force_frame.max() == len(ref) - 1


def test_chunked_threaded_path_matches_naive(monkeypatch):
    import analysis.metrics.tables as metrics

    monkeypatch.setattr(metrics, "_CHUNK_ATOMS", 16)  # many frame-aligned chunks on two threads
    rng = np.random.default_rng(11)
    ref = _random_set(rng, 200)
    pred = _pred(rng, ref, "m", 0.0, False)
    table = compute_metrics_table(ref, {"m": pred})
    expected = _naive(ref, pred, shift=False)
    merged = expected.merge(table, on=["element", "temperature"], suffixes=("_want", ""))
    for col in METRIC_COLUMNS:
        np.testing.assert_allclose(merged[col], merged[f"{col}_want"], rtol=1e-9, err_msg=col)


@pytest.mark.parametrize("universal", [True, False])
def test_refused_frames_are_left_out_and_counted(universal):
    """NaN predictions (frames the model refused) give the errors of the scored frames alone."""
    from analysis.metrics.tables import _subset, _subset_predictions

    rng = np.random.default_rng(21)
    ref = _random_set(rng, 80)
    pred = _pred(rng, ref, "m", 0.4, universal)
    energy, forces = pred.energy.copy(), pred.forces.copy()
    offsets = ref.offsets
    refused = np.zeros(len(ref), dtype=bool)
    refused[rng.choice(len(ref), 10, replace=False)] = True
    # every W frame at 300 K too: that group has no scored frame and must have no row
    refused |= (ref.element == "W") & (ref.temperature == 300.0)
    for k, i in enumerate(np.flatnonzero(refused)):
        if k % 2:
            energy[i] = np.nan
        else:  # NaN forces with a finite energy still count as refused
            forces[offsets[i] : offsets[i + 1]] = np.nan
    partial = Predictions("m", "h", pred.frame_id, energy, forces, pred.n_atoms, pred.meta)
    np.testing.assert_array_equal(partial.scored(), ~refused)

    table = compute_metrics_table(ref, {"m": partial})
    keep = ~refused
    want = compute_metrics_table(_subset(ref, keep), {"m": _subset_predictions(pred, keep)})
    assert not ((table.element == "W") & (table.temperature == "300")).any()
    cols = [*METRIC_COLUMNS, "n_frames", "n_atoms", "energy_shift_ev_per_atom", "ref_energy_std_mev_per_atom", "ref_force_std_mev_per_a"]
    merged = want.merge(table, on=["element", "temperature"], suffixes=("_want", ""))
    assert len(merged) == len(want) == len(table)
    for col in cols:
        np.testing.assert_allclose(merged[col], merged[f"{col}_want"], rtol=1e-9, atol=1e-12, err_msg=col)
    assert np.isfinite(table[list(METRIC_COLUMNS)].to_numpy()).all()
    # the refused frames are counted per group and pooled per element
    for el in ("Al", "Cu", "W"):
        row = table[(table.element == el) & (table.temperature == "all")].iloc[0]
        assert row["n_frames_unscored"] == int((refused & (ref.element == el)).sum())
        assert row["n_frames"] == int((keep & (ref.element == el)).sum())

    fe, fe_want = frame_errors(ref, partial), frame_errors(_subset(ref, keep), _subset_predictions(pred, keep))
    np.testing.assert_array_equal(fe.frame_id, ref.frame_id[keep])
    np.testing.assert_allclose(fe.energy_pred_ev_per_atom, fe_want.energy_pred_ev_per_atom)
    np.testing.assert_allclose(fe.force_pred_ev_per_a, fe_want.force_pred_ev_per_a)
    assert np.isfinite(fe.force_pred_ev_per_a).all() and fe.force_frame.max() == keep.sum() - 1
    shifts = per_element_energy_shift(ref, partial)
    assert all(np.isfinite(v) for v in shifts.values())
    from analysis.metrics.tables import per_frame_errors

    rows = per_frame_errors(ref, partial)
    assert rows["force_rmse_mev_per_a"].isna().to_numpy().tolist() == refused.tolist()
    assert rows["energy_error_mev_per_atom"].isna().to_numpy().tolist() == refused.tolist()


def test_no_energy_statistic_from_one_shifted_frame() -> None:
    import numpy as np

    from analysis.datasets.frames import FrameArrays, Predictions
    from analysis.metrics.tables import compute_metrics_table, distribution_stats

    rng = np.random.default_rng(0)
    n_atoms = np.array([2, 2, 2, 2])
    ref = FrameArrays(frame_id=np.array(["a", "b", "c", "d"]), element=np.array(["Cs", "Cu", "Cu", "Cu"]),
                      temperature=np.array([300.0, 300.0, 300.0, 600.0]), n_atoms=n_atoms,
                      energy=rng.normal(size=4), forces=rng.normal(size=(8, 3)))
    pred = Predictions("m", "h", ref.frame_id, ref.energy + rng.normal(size=4), ref.forces + 0.01, n_atoms, {"universal": True})
    table = compute_metrics_table(ref, {"m": pred})
    cs = table[table["element"] == "Cs"]
    assert cs["energy_rmse_mev_per_atom"].isna().all() and cs["note"].str.contains("n/a").all()
    assert cs["force_rmse_mev_per_a"].notna().all()
    cu = table[table["element"] == "Cu"]
    assert cu["energy_rmse_mev_per_atom"].notna().all() and (cu["note"] == "").all()
    stats = distribution_stats(table, "energy_rmse_mev_per_atom")
    assert int(stats["n_elements"].iloc[0]) == 1  # Cs left out of the mean and count
    unshifted = compute_metrics_table(ref, {"m": pred}, shift=False)
    assert unshifted["energy_rmse_mev_per_atom"].notna().all()


def test_metrics_command_scores_a_grown_data_set_like_the_dashboard(data_env, capsys) -> None:
    """Predictions stored before frames were added: the new frames are unscored (said on stderr), no traceback."""
    from dataclasses import replace

    from analysis.cli import main
    from analysis.datasets import store
    from analysis.datasets.frames import ReferenceSet, structure_hash
    from tests.analysis.helpers import emt_reference, noisy_predictions

    ref = emt_reference(elements=("Cu",), temperatures=(300.0,), n_frames=3)
    store.save_dataset(ref, "grow")
    ref = store.load_dataset("grow")
    pred = noisy_predictions(ref, "m", energy_noise=0.001, force_noise=0.01)
    store.save_predictions(replace(pred, structure_hash=np.array([structure_hash(a) for a in ref.frames], dtype=str)), "grow")
    store.save_dataset(ReferenceSet([*ref.frames, *emt_reference(elements=("Al",), temperatures=(300.0,), n_frames=2).frames]), "grow")
    assert main(["metrics", "--dataset", "grow", "--csv", "--temperature", "all"]) == 0
    out, err = capsys.readouterr()
    assert "m has not seen 2 frame(s)" in err
    rows = [line.split(",") for line in out.strip().splitlines()]
    header = rows[0]
    by_element = {r[header.index("element")]: r for r in rows[1:]}
    assert by_element["Cu"][header.index("n_frames")] == "3"
    assert "Al" not in by_element or by_element["Al"][header.index("n_frames")] == "0"  # its frames unscored
