"""Error metrics of model predictions against reference DFT, vectorised with numpy.

Units: energies per atom in meV/atom, forces in meV/Å. Force errors are per Cartesian component
(as reported for NEP/DeePMD and in the paper) unless named ``force_vector_*``, which use the
norm of each atom's force-error vector.

The per-element constant energy shift (SI section 3) for universal models is the mean over an
element's frames (all its temperatures) of ``(E_pred - E_ref) / N_atoms``; it is subtracted from
the predictions before the energy errors are computed when ``shift`` asks for it, and reported in
the ``energy_shift_ev_per_atom`` column (0 when not applied).

Frames a model refused (NaN energy or forces in its predictions; the job queue records why) are
left out of that model's errors, shift and reference spreads, and counted in ``n_frames_unscored``;
a group with no scored frame has no row.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from analysis.datasets.frames import FrameArrays, Predictions, temperature_label

METRIC_COLUMNS: tuple[str, ...] = (
    "energy_rmse_mev_per_atom",
    "energy_mae_mev_per_atom",
    "force_rmse_mev_per_a",
    "force_mae_mev_per_a",
    "force_vector_rmse_mev_per_a",
    "force_vector_mae_mev_per_a",
)
METRIC_LABELS: dict[str, str] = {
    "energy_rmse_mev_per_atom": "Energy RMSE (meV/atom)",
    "energy_mae_mev_per_atom": "Energy MAE (meV/atom)",
    "force_rmse_mev_per_a": "Force RMSE (meV/Å)",
    "force_mae_mev_per_a": "Force MAE (meV/Å)",
    "force_vector_rmse_mev_per_a": "Force-vector RMSE (meV/Å)",
    "force_vector_mae_mev_per_a": "Force-vector MAE (meV/Å)",
}
# the spread of the reference data that each metric is normalised by in "relative" mode
REFERENCE_SPREAD: dict[str, str] = {
    "energy_rmse_mev_per_atom": "ref_energy_std_mev_per_atom",
    "energy_mae_mev_per_atom": "ref_energy_std_mev_per_atom",
    "force_rmse_mev_per_a": "ref_force_std_mev_per_a",
    "force_mae_mev_per_a": "ref_force_std_mev_per_a",
    "force_vector_rmse_mev_per_a": "ref_force_std_mev_per_a",
    "force_vector_mae_mev_per_a": "ref_force_std_mev_per_a",
}
POOLED = "all"
ShiftMode = bool | Literal["auto"] | Collection[str]


@dataclass(frozen=True)
class _Groups:
    """Frame -> (element, temperature) group codes."""

    code: NDArray[np.int64]  # (F,) group index of each frame
    element: list[str]  # per group
    temperature: list[str]  # per group label
    element_code: NDArray[np.int64]  # (F,) element index of each frame
    elements: list[str]
    group_element: NDArray[np.int64]  # (G,) element index of each group


def _groups(ref: FrameArrays) -> _Groups:
    """Group frames by (element, temperature); all frames of unknown temperature form one group.

    Groups are ordered by element, then by temperature ascending, the unknown temperature last.
    No sentinel temperature is mixed into an arithmetic code: the keys are the rows
    (element index, unknown flag, temperature in K or 0) compared exactly.
    """
    elements, element_code = np.unique(ref.element, return_inverse=True)
    element_code = np.asarray(element_code, dtype=np.int64).reshape(-1)
    unknown = ~np.isfinite(ref.temperature)
    temps = np.where(unknown, 0.0, ref.temperature)
    rows = np.column_stack([element_code.astype(np.float64), unknown.astype(np.float64), temps])
    if len(rows):
        keys, code = np.unique(rows, axis=0, return_inverse=True)
    else:
        keys, code = np.zeros((0, 3)), np.zeros(0, dtype=np.int64)
    group_element = keys[:, 0].astype(np.int64)
    return _Groups(
        code=np.asarray(code, dtype=np.int64).reshape(-1),
        element=[str(elements[i]) for i in group_element],
        temperature=[temperature_label(None if flag else float(t)) for flag, t in zip(keys[:, 1], keys[:, 2])],
        element_code=element_code,
        elements=[str(e) for e in elements],
        group_element=group_element,
    )


def _frame_sums(values: NDArray[np.float64], offsets: NDArray[np.int64]) -> NDArray[np.float64]:
    """Sum per-atom ``values`` over each frame (frames must be non-empty)."""
    return np.add.reduceat(values, offsets[:-1]) if len(values) else np.zeros(len(offsets) - 1)


_CHUNK_ATOMS = 1 << 18


def _force_error_frame_sums(
    pred_forces: NDArray[np.float64], ref_forces: NDArray[np.float64], offsets: NDArray[np.int64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Per frame: sum of squared, sum of absolute force-component errors and sum of error-vector norms.

    Works through frame-aligned chunks of about 2^18 atoms with two threads (numpy releases the GIL),
    so no array of the full force size is ever allocated beyond the inputs.
    """
    from concurrent.futures import ThreadPoolExecutor

    n_frames = len(offsets) - 1
    out = np.zeros((3, n_frames))
    # frame-aligned chunk boundaries
    bounds = [0]
    while bounds[-1] < n_frames:
        target = offsets[bounds[-1]] + _CHUNK_ATOMS
        nxt = int(np.searchsorted(offsets, target, side="right")) - 1
        bounds.append(min(max(nxt, bounds[-1] + 1), n_frames))

    def work(k: int) -> None:
        f0, f1 = bounds[k], bounds[k + 1]
        a0, a1 = offsets[f0], offsets[f1]
        if a1 == a0:
            return
        diff = np.subtract(pred_forces[a0:a1], ref_forces[a0:a1])
        sq = np.einsum("ij,ij->i", diff, diff)
        np.abs(diff, out=diff)
        starts = offsets[f0:f1] - a0
        out[0, f0:f1] = np.add.reduceat(sq, starts)
        out[1, f0:f1] = np.add.reduceat(diff.sum(axis=1), starts)
        out[2, f0:f1] = np.add.reduceat(np.sqrt(sq, out=sq), starts)

    n_chunks = len(bounds) - 1
    if n_chunks <= 1:
        for k in range(n_chunks):
            work(k)
    else:
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(work, range(n_chunks)))
    return out[0], out[1], out[2]


def per_element_energy_shift(ref: FrameArrays, pred: Predictions) -> dict[str, float]:
    """The per-element constant shift (eV/atom): mean of (E_pred - E_ref)/N over each element's scored frames.

    NaN for an element none of whose frames the model scored.
    """
    g = _groups(ref)
    ok = pred.scored()
    de = np.where(ok, (pred.energy - ref.energy) / ref.n_atoms, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        shift = np.bincount(g.element_code, de, minlength=len(g.elements)) / np.bincount(
            g.element_code, ok.astype(np.float64), minlength=len(g.elements)
        )
    return dict(zip(g.elements, shift.tolist()))


def _wants_shift(model: str, pred: Predictions, shift: ShiftMode) -> bool:
    if shift == "auto":
        return bool(pred.meta.get("universal", False))
    if isinstance(shift, bool):
        return shift
    return model in shift


def compute_metrics_table(
    ref: FrameArrays,
    predictions: Mapping[str, Predictions],
    *,
    shift: ShiftMode = "auto",
    include_pooled: bool = True,
) -> pd.DataFrame:
    """Errors per element x model x temperature (plus pooled 'all' temperature rows).

    Args:
        ref: the reference arrays.
        predictions: model name -> predictions (any frame order; aligned by frame id).
        shift: apply the per-element constant energy shift: True/False for all models, a
            collection of model names, or 'auto' (models whose ``meta['universal']`` is true).
        include_pooled: add rows with temperature 'all' pooling every temperature of an element.

    Returns:
        One row per (element, model, temperature) with the columns of :data:`METRIC_COLUMNS`, plus
        n_frames (scored), n_frames_unscored (refused by the model), n_atoms,
        energy_shift_ev_per_atom, ref_energy_std_mev_per_atom and ref_force_std_mev_per_a.
    """
    g = _groups(ref)
    n_groups = len(g.element)
    offsets = ref.offsets
    count = np.bincount(g.code, minlength=n_groups).astype(np.float64)
    atoms = np.bincount(g.code, ref.n_atoms, minlength=n_groups)
    # reference spreads: per-atom energy and force components, from additive sums
    e_ref = ref.energy / ref.n_atoms
    f_frame_sum = _frame_sums(ref.forces.sum(axis=1), offsets)
    f_frame_sq = _frame_sums(np.einsum("ij,ij->i", ref.forces, ref.forces), offsets)
    ref_sums = np.stack(
        [
            np.bincount(g.code, e_ref, minlength=n_groups),
            np.bincount(g.code, e_ref**2, minlength=n_groups),
            np.bincount(g.code, f_frame_sum, minlength=n_groups),
            np.bincount(g.code, f_frame_sq, minlength=n_groups),
        ]
    )
    frames: list[pd.DataFrame] = []
    for model, raw in predictions.items():
        pred = raw.aligned_to(ref, source=f"predictions of {model}")
        de = (pred.energy - ref.energy) / ref.n_atoms
        f_sq, f_abs, f_norm = _force_error_frame_sums(pred.forces, ref.forces, offsets)
        # a refused frame has NaN energy or forces, so NaN sums: weight it out (free to detect)
        ok = np.isfinite(de) & np.isfinite(f_sq) & np.isfinite(f_norm)
        w = ok.astype(np.float64)
        m_count, m_atoms, m_ref_sums = count, atoms, ref_sums
        if not ok.all():
            de, f_sq, f_abs, f_norm = (np.where(ok, x, 0.0) for x in (de, f_sq, f_abs, f_norm))
            m_count = np.bincount(g.code, w, minlength=n_groups)
            m_atoms = np.bincount(g.code, ref.n_atoms * w, minlength=n_groups)
            m_ref_sums = np.stack([np.bincount(g.code, w * x, minlength=n_groups) for x in (e_ref, e_ref**2, f_frame_sum, f_frame_sq)])
        el_shift = np.zeros(len(g.elements))
        if _wants_shift(model, pred, shift):
            # the mean over each element's scored frames (NaN for an element with none: no rows)
            with np.errstate(invalid="ignore", divide="ignore"):
                el_shift = np.bincount(g.element_code, de, minlength=len(g.elements)) / np.bincount(
                    g.element_code, w, minlength=len(g.elements)
                )
            de = np.where(ok, de - np.nan_to_num(el_shift)[g.element_code], 0.0)
        few: set[str] = set()
        if _wants_shift(model, pred, shift):
            el_scored = np.bincount(g.element_code, w, minlength=len(g.elements))
            few = {e for e, k in zip(g.elements, el_scored) if 0 < k < MIN_SHIFT_FRAMES}
        unscored = count - m_count
        first_new = len(frames)
        sums = np.stack(
            [
                np.bincount(g.code, de**2, minlength=n_groups),
                np.bincount(g.code, np.abs(de), minlength=n_groups),
                np.bincount(g.code, f_sq, minlength=n_groups),
                np.bincount(g.code, f_abs, minlength=n_groups),
                np.bincount(g.code, f_norm, minlength=n_groups),
            ]
        )
        frames.append(
            _rows(model, g.element, g.temperature, m_count, m_atoms, sums, m_ref_sums, el_shift[g.group_element], unscored)
        )
        if include_pooled:
            agg = lambda x: np.stack([np.bincount(g.group_element, row, minlength=len(g.elements)) for row in x])  # noqa: E731
            frames.append(
                _rows(
                    model,
                    g.elements,
                    [POOLED] * len(g.elements),
                    agg(m_count[None])[0],
                    agg(np.asarray(m_atoms, dtype=np.float64)[None])[0],
                    agg(sums),
                    agg(m_ref_sums),
                    el_shift,
                    agg(unscored[None])[0],
                )
            )
        for part in frames[first_new:]:
            _blank_shifted_energy(part, few)
    if not frames:
        return pd.DataFrame(columns=["element", "model", "temperature", "n_frames", "n_frames_unscored", "n_atoms", *METRIC_COLUMNS])
    table = pd.concat(frames, ignore_index=True)
    table = table[table["n_frames"] > 0]  # an (element, temperature) the model scored no frame of
    return table.sort_values(["model", "element", "temperature"], kind="stable").reset_index(drop=True)


#: a per-element energy shift fitted to fewer scored frames leaves the energy error 0 by construction
MIN_SHIFT_FRAMES = 2


def _blank_shifted_energy(part: pd.DataFrame, few: set[str]) -> None:
    """Energy errors of elements in ``few`` become NaN (left out of means and histograms), with the reason in ``note``."""
    part["note"] = ""
    if not few:
        return
    rows = part["element"].isin(few)
    part.loc[rows, ["energy_rmse_mev_per_atom", "energy_mae_mev_per_atom"]] = np.nan
    part.loc[rows, "note"] = (f"energy error n/a: fewer than {MIN_SHIFT_FRAMES} scored frames, "
                              "so the per-element shift makes it 0 by construction")


def _rows(
    model: str,
    element: list[str],
    temperature: list[str],
    count: NDArray[np.float64],
    atoms: NDArray[np.float64],
    sums: NDArray[np.float64],
    ref_sums: NDArray[np.float64],
    shift: NDArray[np.float64],
    unscored: NDArray[np.float64],
) -> pd.DataFrame:
    n_comp = 3.0 * np.asarray(atoms, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):  # groups without a scored frame are dropped
        e_mean = ref_sums[0] / count
        f_mean = ref_sums[2] / n_comp
        return pd.DataFrame(
            {
                "element": element,
                "model": model,
                "temperature": temperature,
                "n_frames": count.astype(np.int64),
                "n_frames_unscored": np.asarray(unscored).astype(np.int64),
                "n_atoms": np.asarray(atoms).astype(np.int64),
                "energy_rmse_mev_per_atom": 1e3 * np.sqrt(sums[0] / count),
                "energy_mae_mev_per_atom": 1e3 * sums[1] / count,
                "force_rmse_mev_per_a": 1e3 * np.sqrt(sums[2] / n_comp),
                "force_mae_mev_per_a": 1e3 * sums[3] / n_comp,
                "force_vector_rmse_mev_per_a": 1e3 * np.sqrt(sums[2] / atoms),
                "force_vector_mae_mev_per_a": 1e3 * sums[4] / atoms,
                "energy_shift_ev_per_atom": shift,
                "ref_energy_std_mev_per_atom": 1e3 * np.sqrt(np.maximum(ref_sums[1] / count - e_mean**2, 0.0)),
                "ref_force_std_mev_per_a": 1e3 * np.sqrt(np.maximum(ref_sums[3] / n_comp - f_mean**2, 0.0)),
            }
        )


def relative_metric(table: pd.DataFrame, metric: str) -> pd.Series:
    """``metric`` divided by the reference spread of its quantity (dimensionless; NaN where spread is 0)."""
    spread = table[REFERENCE_SPREAD[metric]].replace(0.0, np.nan)
    return table[metric] / spread


def distribution_stats(table: pd.DataFrame, metric: str, *, temperature: str = POOLED) -> pd.DataFrame:
    """Mean, standard deviation (ddof=1), median and count of ``metric`` across elements, per model.

    As in Supplementary Figure 2 (c, d): one value per element (the pooled temperature by default).
    """
    sub = table[table["temperature"] == temperature]
    stats = sub.groupby("model")[metric].agg(["mean", "std", "median", "count"]).reset_index()
    return stats.rename(columns={"count": "n_elements"})


@dataclass(frozen=True)
class FrameErrors:
    """Per-frame view of one model's predictions, for parity plots and histograms.

    Attributes:
        element, temperature, frame_id: (F,) frame metadata.
        energy_ref_ev_per_atom, energy_pred_ev_per_atom: (F,) per-atom energies, the shift applied.
        force_ref_ev_per_a, force_pred_ev_per_a: (A*3,) force components.
        force_frame: (A*3,) index of the frame each component belongs to.
    """

    element: NDArray[np.str_]
    temperature: NDArray[np.float64]
    frame_id: NDArray[np.str_]
    energy_ref_ev_per_atom: NDArray[np.float64]
    energy_pred_ev_per_atom: NDArray[np.float64]
    force_ref_ev_per_a: NDArray[np.float64]
    force_pred_ev_per_a: NDArray[np.float64]
    force_frame: NDArray[np.int64]


def frame_errors(ref: FrameArrays, pred: Predictions, *, shift: ShiftMode = "auto") -> FrameErrors:
    """Per-atom energies and force components of reference and (shifted) predictions."""
    pred = pred.aligned_to(ref, source=f"predictions of {pred.model}")
    ok = pred.scored()
    if not ok.all():  # leave out the frames the model refused
        ref, pred = _subset(ref, ok), _subset_predictions(pred, ok)
    e_ref = ref.energy / ref.n_atoms
    e_pred = pred.energy / ref.n_atoms
    if _wants_shift(pred.model, pred, shift):
        shifts = per_element_energy_shift(ref, pred)
        e_pred = e_pred - np.array([shifts[e] for e in ref.element])
    frame_of_atom = np.repeat(np.arange(len(ref)), ref.n_atoms)
    return FrameErrors(
        element=ref.element,
        temperature=ref.temperature,
        frame_id=ref.frame_id,
        energy_ref_ev_per_atom=e_ref,
        energy_pred_ev_per_atom=e_pred,
        force_ref_ev_per_a=ref.forces.ravel(),
        force_pred_ev_per_a=pred.forces.ravel(),
        force_frame=np.repeat(frame_of_atom, 3),
    )


def _subset(ref: FrameArrays, keep: NDArray[np.bool_]) -> FrameArrays:
    """The frames of ``ref`` where ``keep`` is True."""
    return FrameArrays(
        frame_id=ref.frame_id[keep],
        element=ref.element[keep],
        temperature=ref.temperature[keep],
        n_atoms=ref.n_atoms[keep],
        energy=ref.energy[keep],
        forces=ref.forces[np.repeat(keep, ref.n_atoms)],
    )


def _subset_predictions(pred: Predictions, keep: NDArray[np.bool_]) -> Predictions:
    """The frames of (aligned) ``pred`` where ``keep`` is True."""
    forces = pred.forces[np.repeat(keep, pred.n_atoms)]
    return Predictions(pred.model, pred.dataset_hash, pred.frame_id[keep], pred.energy[keep], forces, pred.n_atoms[keep], pred.meta)


def per_frame_errors(ref: FrameArrays, pred: Predictions, *, shift: ShiftMode = "auto") -> pd.DataFrame:
    """One row per reference frame: the model's energy error and force errors on that frame.

    Columns: frame_id, energy_error_mev_per_atom (signed, after the per-element shift when it
    applies), force_rmse_mev_per_a (per component). NaN where the model has no prediction for
    the frame (refused or not seen).
    """
    pred = pred.aligned_to(ref, source=f"predictions of {pred.model}")
    de = (pred.energy - ref.energy) / ref.n_atoms
    if _wants_shift(pred.model, pred, shift):
        shifts = per_element_energy_shift(ref, pred)
        de = de - np.array([shifts[e] for e in ref.element])
    offsets = ref.offsets
    sq, _abs, _norm = _force_error_frame_sums(pred.forces, ref.forces, offsets)
    ok = pred.scored()  # a frame is scored whole or not at all, as in the metrics table
    return pd.DataFrame(
        {
            "frame_id": ref.frame_id,
            "energy_error_mev_per_atom": np.where(ok, 1e3 * de, np.nan),
            "force_rmse_mev_per_a": np.where(ok, 1e3 * np.sqrt(sq / (3.0 * ref.n_atoms)), np.nan),
        }
    )
