"""Loaders of the element page (``/element/<symbol>``): errors per model and temperature, the per-frame table, parity data, the equation of state and the eigenvalue-sum curves."""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from analysis.core import elements
from analysis.core.config import PACKAGE_DATA_DIR
from analysis.datasets import store
from analysis.metrics.tables import POOLED, frame_errors
from analysis.views.common import (
    METRICS,
    Quantity,
    _predictions_cached,
    _read_json_cached,
    dataset_signature,
    metrics_table,
    models,
    summary,
)
from analysis.views.map import _temp_key


MAX_PARITY_POINTS = 20_000


def element_table(name: str, element: str) -> pd.DataFrame:
    """Errors of every model x temperature for one element (temperatures ascending, pooled last; no
    pooled row for a model scored at one temperature only, where it would repeat that row)."""
    table = metrics_table(name)
    sub = table[table["element"] == element].copy()
    sub["_order"] = [_temp_key(t) if t != POOLED else math.inf + 0 for t in sub["temperature"]]
    sub["_pooled"] = sub["temperature"] == POOLED
    sub = sub.sort_values(["model", "_pooled", "_order"])
    # a model scored at one temperature only: its pooled row would repeat that row
    single = sub[~sub["_pooled"]].groupby("model")["temperature"].nunique()
    sub = sub[~(sub["_pooled"] & sub["model"].map(single).fillna(0).eq(1))].drop(columns=["_order", "_pooled"])
    from analysis.views.fitted import training_frames

    # a model fitted per element: the frames its model of this element was fitted on (never scored)
    sub["n_train"] = [training_frames(name, str(m)).get(element) for m in sub["model"]]
    cols = ["model", "temperature", "n_frames", "n_frames_unscored", "n_train", "n_atoms", *METRICS.values(), "energy_shift_ev_per_atom"]
    # the cell size (atoms per frame), not the total over the frames
    sub["n_atoms"] = (sub["n_atoms"] / sub["n_frames"].where(sub["n_frames"] > 0)).round(1)
    return sub[cols].reset_index(drop=True)


def frame_table(name: str, element: str) -> pd.DataFrame:
    """Per-frame view of one element: the reference frame and each model's errors on it.

    Columns: frame_id, temperature (K), n_atoms, energy_ev_per_atom, force_rms_mev_per_a (the
    reference forces' RMS), then per model ``<model>: dE (meV/atom)`` (signed, shifted as in the
    table) and ``<model>: F RMSE (meV/Å)``; NaN where a model has no prediction for the frame.
    Sorted by frame id. Cached with the data set's signature; do not modify the result.
    """
    return _frame_table_cached(name, dataset_signature(name), element)


DFT_DETAIL_COLUMNS: dict[str, str] = {
    "k-mesh": "kpts",
    "smearing (eV)": "smearing_width_ev",
    "SCF iterations": "scf_iterations",
    "magnetic moment (μB/cell)": "magmom",
    "DFT wall (s)": "dft_wall_s",
}


def _dft_details(cols: Any, index: NDArray[np.int64]) -> list[dict[str, Any]]:
    """The DFT details recorded with frames ``index`` of a data set's columns (reference pipeline frames only)."""
    keys = set(DFT_DETAIL_COLUMNS.values())

    def recorded(i: int) -> dict[str, Any]:
        info = cols.frame_info(int(i))
        # ASE's extxyz reader moved calculator keys (magmom) from info into the calculator's results
        info.update({k: v for k, v in (info.get("calc_extra") or {}).items() if k not in info})
        return {k: info[k] for k in keys if k in info}

    return [recorded(i) for i in index]


@lru_cache(maxsize=4)
def _contacts_cached(name: str, _signature: tuple[Any, ...]) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """(F,) ``d_min / d_nn`` and the contact flag of every frame of ``name`` (from the stored shortest distances)."""
    from analysis.reference.contacts import screen_columns

    return screen_columns(store.load_columns(name))


@lru_cache(maxsize=32)
def _frame_table_cached(name: str, signature: tuple[Any, ...], element: str) -> pd.DataFrame:
    from analysis.metrics.tables import _subset, per_frame_errors

    cols = store.load_columns(name)
    ref = cols.arrays()
    keep = ref.element == element
    index = np.flatnonzero(keep)
    sub = _subset(ref, keep)
    offsets = sub.offsets
    f_sq = np.add.reduceat(np.einsum("ij,ij->i", sub.forces, sub.forces), offsets[:-1]) if len(sub.forces) else np.zeros(0)
    table = pd.DataFrame({
        "frame_id": sub.frame_id,
        "temperature": sub.temperature,
        "n_atoms": sub.n_atoms,
        "energy_ev_per_atom": sub.energy / sub.n_atoms,
        "force_rms_mev_per_a": 1e3 * np.sqrt(f_sq / (3.0 * sub.n_atoms)) if len(sub) else np.zeros(0),
    })
    from analysis.reference.contacts import CONTACT_RATIO

    ratios, flags = _contacts_cached(name, signature)
    if np.isfinite(ratios[index]).any():
        table["shortest distance (Å)"] = np.where(np.isfinite(ratios[index]), cols.d_min[index], np.nan)
        table[f"close contact (d_min < {CONTACT_RATIO:g} d_nn)"] = np.where(flags[index], "yes", "")
    details = _dft_details(cols, index)
    for column, key in DFT_DETAIL_COLUMNS.items():
        values = [d.get(key) for d in details]
        if any(v is not None for v in values) and not (key == "magmom" and not any(v for v in values)):
            table[column] = values
    for model, pred in sorted(_predictions_cached(name, signature).items()):
        # the shift is per element over all of its frames: compute on the whole set, then select
        errs = per_frame_errors(ref, pred).iloc[np.flatnonzero(keep)].reset_index(drop=True)
        table[f"{model}: dE (meV/atom)"] = errs["energy_error_mev_per_atom"].to_numpy()
        table[f"{model}: F RMSE (meV/Å)"] = errs["force_rmse_mev_per_a"].to_numpy()
    return table.sort_values("frame_id", kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------- parity data
@dataclass(frozen=True)
class ParitySeries:
    """Reference and predicted values of one model for a parity plot.

    Attributes:
        model: model name.
        reference: (n,) reference values (eV/atom or eV/Å).
        predicted: (n,) predicted values, same units (energies with the per-element shift applied).
        temperature: (n,) temperature (K) of the frame each point comes from.
        n_total: number of points before subsampling.
    """

    model: str
    reference: NDArray[np.float64]
    predicted: NDArray[np.float64]
    temperature: NDArray[np.float64]
    n_total: int


def parity_data(
    name: str,
    element: str,
    *,
    quantity: Quantity,
    models_: list[str] | None = None,
    max_points: int = MAX_PARITY_POINTS,
    seed: int = 0,
) -> list[ParitySeries]:
    """Parity data of ``element`` for each model, subsampled to at most ``max_points`` in total.

    Subsampling is uniform without replacement with a fixed seed, so a view is reproducible;
    the budget is split evenly across models.
    """
    if max_points <= 0:
        raise ValueError(f"{max_points=} must be positive")
    chosen = models_ if models_ is not None else models(name)
    per_model = max(1, max_points // max(1, len(chosen)))
    return [
        _parity_cached(name, dataset_signature(name), element, quantity, model, per_model, seed) for model in chosen
    ]


@lru_cache(maxsize=64)
def _parity_cached(
    name: str, signature: tuple[Any, ...], element: str, quantity: str, model: str, max_points: int, seed: int
) -> ParitySeries:
    ref = store.load_arrays(name)
    pred = _predictions_cached(name, signature)[model]
    errs = frame_errors(ref, pred)
    frames = np.flatnonzero(errs.element == element)
    if quantity == "energy":
        ref_v, pred_v, temp = errs.energy_ref_ev_per_atom[frames], errs.energy_pred_ev_per_atom[frames], errs.temperature[frames]
    elif quantity == "force":
        comp = np.flatnonzero(np.isin(errs.force_frame, frames))
        ref_v, pred_v = errs.force_ref_ev_per_a[comp], errs.force_pred_ev_per_a[comp]
        temp = errs.temperature[errs.force_frame[comp]]
    else:
        raise ValueError(f"{quantity=} must be 'energy' or 'force'")
    n_total = len(ref_v)
    if n_total > max_points:
        keep = np.sort(np.random.default_rng(seed).choice(n_total, size=max_points, replace=False))
        ref_v, pred_v, temp = ref_v[keep], pred_v[keep], temp[keep]
    return ParitySeries(model, ref_v, pred_v, temp, n_total)


# --------------------------------------------------------------------------- element extras
def elements_with_data(name: str) -> list[str]:
    """Elements of data set ``name``, ordered by atomic number (for previous/next links)."""
    els = summary(name).elements
    known = [e for e in els if _is_symbol(e)]
    return sorted(known, key=elements.atomic_number) + sorted(e for e in els if not _is_symbol(e))


def _is_symbol(text: str) -> bool:
    try:
        elements.atomic_number(text)
    except ValueError:
        return False
    return True


def neighbours(name: str | None, element: str) -> tuple[str | None, str | None]:
    """Previous and next element (by atomic number) among the data set's elements (Metal-43 when it has fewer than two)."""
    order = elements_with_data(name) if name else []
    if element not in order or len(order) < 2:
        order = sorted(elements.METAL43, key=elements.atomic_number)
    if element not in order:
        return None, None
    i = order.index(element)
    return (order[i - 1] if i > 0 else None, order[i + 1] if i + 1 < len(order) else None)


def eos_path() -> Path:
    """Where the equation-of-state fits of the default data live (analysis/data/eos.json)."""
    return PACKAGE_DATA_DIR / "eos.json"


def load_eos(element: str, dataset: str | None = None) -> dict[str, Any] | None:
    """The PBE equation-of-state fit of ``element``, or None.

    Looks in the data set's manifest provenance (``eos``: {element: {...}}) first, then in
    ``analysis/data/eos.json`` (``entries``: {'<settings hash>/<element>': {...}}; the first
    entry for the element). Keys as written by :mod:`analysis.reference`: ``V0_A3_per_atom``
    (Å^3/atom), ``B0_GPa``, ``Bprime`` (dimensionless), ``E0_eV_per_atom``, ``covera``.
    """
    entry: Any = None
    if dataset:
        try:
            entry = (summary(dataset).provenance.get("eos") or {}).get(element)
        except KeyError:
            entry = None
    path = eos_path()
    data = _read_json_cached(str(path), path.stat().st_mtime_ns) if path.is_file() else None
    entries = data.get("entries", {}) if isinstance(data, dict) else {}
    stored = [entries[k] for k in sorted(entries) if k.rsplit("/", 1)[-1] == element and isinstance(entries[k], dict)]
    if isinstance(entry, dict):
        # the manifest keeps the fitted numbers; the same fit in eos.json adds the computed E(V) points
        same = [e for e in stored if e.get("V0_A3_per_atom") == entry.get("V0_A3_per_atom")]
        return {**same[0], **entry} if same else entry
    return stored[0] if stored else None


def load_curves(element: str) -> dict[str, Any] | None:
    """Eigenvalue-sum curves of ``element`` from :mod:`analysis.electronic.protocols`, or None
    when the electronic analysis has no curves for the element."""
    from analysis.electronic.protocols import load_curves as load

    return load(element)


def borrowed_data_note(dataset: str | None, element: str) -> str | None:
    """What an element page of a user data set must say: its equation of state and electronic curves
    come from the embedded default reference set, not from the data set shown. None when nothing is borrowed."""
    if not dataset:
        return None
    try:
        info = summary(dataset)
    except KeyError:
        return None
    if info.embedded:
        return None
    own_eos = isinstance((info.provenance.get("eos") or {}).get(element), dict)
    borrowed = [what for what, has in (("equation of state", not own_eos and load_eos(element, dataset) is not None),
                                       ("eigenvalue-sum curves", load_curves(element) is not None)) if has]
    if not borrowed:
        return None
    verb = "are" if len(borrowed) > 1 or borrowed[0].endswith("curves") else "is"
    return (f"The {' and the '.join(borrowed)} shown for {element} {verb} the embedded default reference set's (GPAW PBE at its "
            f"reference state), not computed for {dataset!r}: they describe the element, not this data set's frames.")


def elements_with_curves() -> list[str]:
    """Elements with eigenvalue-sum curves, in the Metal-43 table's (periodic-table) order."""
    from analysis.core.elements import METAL43
    from analysis.electronic.protocols import electronic_roots

    roots = electronic_roots(None)
    return [e for e in METAL43 if any((r / "electronic" / f"curves_{e}.json").is_file() for r in roots)]


def curve_methods(elements: list[str]) -> list[str]:
    """The smearing methods of the elements' curves, in first-seen order."""
    out: list[str] = []
    for element in elements[:3]:  # every element's curves carry the same methods (one protocol); three are enough
        raw = load_curves(element) or {}
        for method in ((raw.get("displacement") or {}).get("methods") or {}):
            if method not in out:
                out.append(str(method))
    return out


def computed_as(element: str, curves: dict[str, Any] | None) -> list[tuple[str, str]]:
    """What the element's electronic curves were computed on, as (label, value) rows for the page and report.

    Phase and space group as built (with the Metal-43 table's entry beside it where they differ,
    as for Mn and Hg), volume, cell, displaced atom and direction, spin, setup, cutoff and k-mesh.
    From the curves' ``reference_state`` when present (settings version 3), else from their stored
    settings and cell; for curves from a user's VASP run, what its files say. Empty without curves.
    """
    import numpy as np

    from analysis.core import elements
    from analysis.reference.gpaw_calc import phase

    if not curves:
        return []
    settings = curves.get("settings") or {}
    state = curves.get("reference_state") or {}
    rows: list[tuple[str, str]] = []
    if curves.get("source") and not settings:
        rows.append(("computed by", str(curves["source"])))
    if elements.is_metal43(element) and not state:
        rows.append(("structure", f"not recorded (curves from before the reference-state protocols; the frames use "
                                  f"{phase(element).space_group}, the Metal-43 table lists {phase(element).listed_space_group})"))
    elif elements.is_metal43(element):
        ph = phase(element)
        built = state.get("space_group") or ph.space_group
        listed = state.get("listed_space_group") or ph.listed_space_group
        text = f"{built} ({state.get('prototype') or ph.prototype})"
        if listed != built:
            text += f"; the Metal-43 table lists {listed}"
        rows.append(("structure", text))
    volume = curves.get("volume_per_atom_a3")
    if volume is not None:
        rows.append(("volume", f"{float(volume):.3f} Å³/atom ({curves.get('volume_source', 'source not recorded')})"))
    cell = curves.get("cell")
    if cell is not None:
        c = np.asarray(cell, dtype=float)
        lengths = np.linalg.norm(c, axis=1)
        cos = [float(np.dot(c[i], c[j]) / (lengths[i] * lengths[j])) for i, j in ((1, 2), (0, 2), (0, 1))]
        angles = np.degrees(np.arccos(np.clip(cos, -1, 1)))
        rows.append(("cell", f"{curves.get('n_atoms', '?')} atoms; a, b, c = {', '.join(f'{x:.3f}' for x in lengths)} Å; "
                             f"α, β, γ = {', '.join(f'{x:.1f}' for x in angles)}°"))
    if "direction" in settings:
        d = np.asarray(settings["direction"], dtype=float)
        rows.append(("displacement", f"atom {settings.get('displaced_atom', 0)} along ({', '.join(f'{x:g}' for x in d)})/"
                                     f"{np.linalg.norm(d):.3g}, δ up to {max(settings.get('deltas_a', [0])):g} Å"))
    if curves.get("spin_polarized") is not None:
        rows.append(("spin", "spin-polarised" if curves["spin_polarized"] else "spin-paired"))
    if settings.get("ecut_ev") is not None:
        setup = (settings.get("setups") or {}).get(element, "gpaw-data default")
        rows.append(("DFT", f"{settings.get('xc', 'PBE')}, PAW setup {element}.{setup}, plane waves {settings['ecut_ev']:g} eV, "
                            f"{settings.get('smearing', '?')} {settings.get('width_ev', '?')} eV (settings version {settings.get('version', '?')})"))
    mesh = curves.get("kpts_mesh")
    if mesh is not None and len(mesh):
        rows.append(("k-mesh", f"{' × '.join(str(int(k)) for k in mesh)} ({curves.get('n_ibz_kpts', '?')} irreducible points)"))
    dos = curves.get("dos_at_fermi")
    if dos:
        rows.append(("DOS at E_F", f"tetrahedron, primitive cell, meshes {', '.join('×'.join(str(int(k)) for k in m) for m in dos['meshes'])}: "
                                   f"{', '.join(f'{v:.3f}' for v in dos['dos_ef_tetra_per_atom'])} states/eV/atom"))
    elif curves.get("dos_at_fermi_error"):
        rows.append(("DOS at E_F", f"not computed: the dense-mesh calculation failed ({curves['dos_at_fermi_error']})"))
    return rows
