"""The smearing experiment: relabel the same frames with a wider Fermi-Dirac smearing, refit, compare.

If the hard elements' errors come from a complicated Fermi surface, a smoother occupation (larger
smearing width) should make their forces easier to learn, more than the easy elements'. The
experiment (``python -m analysis experiment smearing``) takes, per element and smearing width:

1. the labels: the training tier's frames (``metal43-gpaw-train``, the default width) and their
   relabelling at another width (a relabelling tier such as ``smear0.4``: the same positions and
   frame ids, one DFT setting changed, see :mod:`analysis.reference.tiers`), built resumably by
   the reference pipeline;
2. MACE fitted per element on each labelling with the same split (the split is drawn from the
   frame ids with the fit's seed, and the ids are the same), hyper-parameters and schedule, for
   several seeds, through the fit job queue (deduplicated: a stored fit is not trained again);
3. the test-frame force RMSE, the reference force spread on the same frames, their ratio (the
   relative error), each with a bootstrap interval over the test frames, and the universal models'
   errors on the same frames when their predictions on both labellings are stored.

:func:`summarise` turns the rows into the statement the paper needs: per element the ratio of
relative errors (wide / default smearing) with its interval, and whether the hard elements' ratios
fall below the easy ones'. Results are stored as JSON under ``<data>/experiments/`` (and shipped
beside the embedded data with ``--embed``).
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.core.config import data_dir, default_data_dir
from analysis.datasets import store

BASE_TIER = "train"
N_BOOT = 2000


@dataclass(frozen=True)
class Arm:
    """One labelling of the experiment: its smearing width (eV), tier and data set."""

    sigma_ev: float
    tier: str
    dataset: str


def arms(sigmas: Sequence[float], *, settings_path: Path | None = None) -> list[Arm]:
    """The labelling of each width: the training tier's own width, or a relabelling tier of it with that width.

    Raises:
        ValueError: a width no tier of the settings file labels (the message lists those that do).
    """
    from analysis.reference.tiers import SETTINGS_PATH, load_settings, tier_names

    path = settings_path or SETTINGS_PATH
    base = load_settings(BASE_TIER, path=path)
    by_width: dict[float, Arm] = {round(float(base.dft["width_ev"]), 6): Arm(float(base.dft["width_ev"]), BASE_TIER, base.dataset)}
    for name in tier_names(path):
        spec = load_settings(name, path=path)
        if spec.source is not None and spec.source.tier == BASE_TIER:
            by_width[round(float(spec.dft["width_ev"]), 6)] = Arm(float(spec.dft["width_ev"]), name, spec.dataset)
    out = []
    for sigma in sigmas:
        arm = by_width.get(round(float(sigma), 6))
        if arm is None:
            raise ValueError(f"no tier labels the training frames at {sigma:g} eV (widths with a tier: "
                             f"{', '.join(f'{w:g}' for w in sorted(by_width))}); add a relabelling tier to the settings file")
        out.append(arm)
    return out


def complete_elements(arm_list: Sequence[Arm], elements: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """The elements whose frames are labelled in every arm with the same frame ids; element -> why not, for the others."""
    ready: list[str] = []
    why: dict[str, str] = {}
    ids: dict[str, list[set[str]]] = {e: [] for e in elements}
    for arm in arm_list:
        try:
            cols = store.load_columns(arm.dataset)
        except KeyError:
            for e in elements:
                why.setdefault(e, f"data set {arm.dataset!r} (σ = {arm.sigma_ev:g} eV) is not built yet")
            continue
        for e in elements:
            ids[e].append(set(cols.frame_id[cols.element == e].tolist()))
    for e in elements:
        if e in why:
            continue
        sets = ids[e]
        if not sets or not sets[0]:
            why[e] = "no frames in the training tier"
        elif any(s != sets[0] for s in sets[1:]):
            counts = ", ".join(f"{arm.sigma_ev:g} eV: {len(s)}" for arm, s in zip(arm_list, sets))
            why[e] = f"not labelled at every width yet ({counts} of {len(sets[0])} frames)"
        else:
            ready.append(e)
    return ready, why


# --------------------------------------------------------------------------- the numbers
def _test_errors(dataset: str, test_ids: Sequence[str], forces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per test frame: squared force error sum, squared reference force deviation sum (about the mean), components."""
    cols = store.load_columns(dataset)
    index = {fid: k for k, fid in enumerate(cols.frame_id.tolist())}
    err, dev, comp = [], [], []
    offset = 0
    ref_all = np.concatenate([np.asarray(cols.forces[cols.offsets[index[f]]:cols.offsets[index[f] + 1]]) for f in test_ids])
    mean = float(ref_all.mean())
    for fid in test_ids:
        k = index[fid]
        ref = np.asarray(cols.forces[cols.offsets[k]:cols.offsets[k + 1]])
        pred = forces[offset:offset + len(ref)]
        offset += len(ref)
        err.append(float(((pred - ref) ** 2).sum()))
        dev.append(float(((ref - mean) ** 2).sum()))
        comp.append(ref.size)
    return np.array(err), np.array(dev), np.array(comp, dtype=float)


def bootstrap_relative(err: np.ndarray, dev: np.ndarray, comp: np.ndarray, *, n_boot: int = N_BOOT, seed: int = 0
                       ) -> tuple[float, float, float, float, float]:
    """(force RMSE meV/Å, reference spread meV/Å, relative error, its 2.5 % and 97.5 % bootstrap
    quantiles over the test frames)."""
    rmse = 1e3 * float(np.sqrt(err.sum() / comp.sum()))
    spread = 1e3 * float(np.sqrt(dev.sum() / comp.sum()))
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(err), (n_boot, len(err)))
    rel = np.sqrt(err[picks].sum(axis=1) / np.maximum(dev[picks].sum(axis=1), 1e-300))
    return rmse, spread, rmse / spread, float(np.quantile(rel, 0.025)), float(np.quantile(rel, 0.975))


def _spec_and_key(arm: Arm, element: str, seed: int, family: str, schedule: dict[str, int] | None) -> tuple[Any, str]:
    from analysis.models.fitting import FitSpec, fit_key

    spec = FitSpec(family, element, seed=seed, schedule=dict(schedule or {}))
    return spec, fit_key(spec, store.load_dataset(arm.dataset))


def snapshot_path(key: str, dataset: str) -> Path:
    """Where the experiment keeps one fit's test-frame predictions (the family's stored predictions hold
    only the latest fit per element, so each seed is kept here)."""
    return data_dir() / "experiments" / "fits" / f"{store.check_name(dataset)}-{key}.npz"


def snapshot_fit(arm: Arm, element: str, seed: int, *, family: str = "mace", schedule: dict[str, int] | None = None) -> bool:
    """Copy the stored fit of (``arm``, ``element``, ``seed``) into the experiment's snapshots; False when it is not stored."""
    import io

    spec, key = _spec_and_key(arm, element, seed, family, schedule)
    pred = store.load_predictions(arm.dataset).get(spec.model)
    fit = ((pred.meta.get("fits") or {}).get(element) if pred is not None else None) or {}
    if pred is None or fit.get("fit_key") != key:
        return False
    test = [str(f) for f in fit["split"]["test"]]
    index = {fid: k for k, fid in enumerate(pred.frame_id.tolist())}
    offsets = np.concatenate([[0], np.cumsum(pred.n_atoms)])
    forces = np.concatenate([pred.forces[offsets[index[f]]:offsets[index[f] + 1]] for f in test])
    buffer = io.BytesIO()
    np.savez(buffer, forces=forces, energy=pred.energy[[index[f] for f in test]], test_ids=np.array(test, dtype=str),
             n_train=np.array(int(fit["n_train"])))
    store.atomic_write_bytes(snapshot_path(key, arm.dataset), buffer.getvalue())
    return True


def _row(element: str, arm: Arm, model: str, seed: int, test: list[str], err: np.ndarray, dev: np.ndarray, comp: np.ndarray, *,
         boot_seed: int = 0) -> dict[str, Any]:
    """One result row: the test frames' errors and their bootstrap interval (:func:`bootstrap_relative`)."""
    rmse, spread, rel, lo, hi = bootstrap_relative(err, dev, comp, seed=boot_seed)
    return {"element": element, "sigma_ev": arm.sigma_ev, "dataset": arm.dataset, "model": model, "seed": seed, "n_test": len(test),
            "force_rmse_mev_per_a": rmse, "ref_force_std_mev_per_a": spread, "relative": rel, "relative_low": lo, "relative_high": hi,
            "test_ids": test, "_err": err.tolist(), "_dev": dev.tolist(), "_comp": comp.tolist()}


def fit_rows(arm_list: Sequence[Arm], elements: Sequence[str], seeds: Sequence[int], *, family: str = "mace",
             schedule: dict[str, int] | None = None) -> list[dict[str, Any]]:
    """One row per (element, width, seed) with a snapshot of its fit: the test frames' errors (see :func:`bootstrap_relative`)."""
    rows: list[dict[str, Any]] = []
    for arm in arm_list if elements else []:
        for element in elements:
            for seed in seeds:
                _spec, key = _spec_and_key(arm, element, seed, family, schedule)
                path = snapshot_path(key, arm.dataset)
                if not path.is_file():
                    continue
                with np.load(path, allow_pickle=False) as npz:
                    test, forces, n_train = npz["test_ids"].tolist(), npz["forces"], int(npz["n_train"])
                err, dev, comp = _test_errors(arm.dataset, test, forces)
                rows.append({**_row(element, arm, f"{family}-fitted", seed, test, err, dev, comp, boot_seed=seed), "fit_key": key, "n_train": n_train})
    return rows


def universal_rows(arm_list: Sequence[Arm], elements: Sequence[str], test_ids: dict[str, list[str]]) -> list[dict[str, Any]]:
    """The universal models' errors on the same test frames, in every arm where their predictions are stored."""
    rows = []
    for arm in arm_list:
        try:
            cols = store.load_columns(arm.dataset)
        except KeyError:
            continue
        index = {fid: k for k, fid in enumerate(cols.frame_id.tolist())}
        for model, stored in sorted(store.load_predictions(arm.dataset).items()):
            if not stored.meta.get("universal") or stored.structure_hash is None:
                continue
            try:  # matched frame by frame (id and structure), as the pages match them
                pred, _missing = stored.matched_to(cols.arrays(), cols.structure_hash, source=f"predictions of {model}")
            except ValueError:
                continue
            for element in elements:
                ids = [f for f in test_ids.get(element, []) if f in index]
                if not ids:
                    continue
                forces = np.concatenate([np.asarray(pred.forces[cols.offsets[index[f]]:cols.offsets[index[f] + 1]]) for f in ids])
                if not np.isfinite(forces).all():
                    continue
                err, dev, comp = _test_errors(arm.dataset, ids, forces)
                rows.append({**_row(element, arm, model, -1, ids, err, dev, comp), "n_train": 0})
    return rows


def summarise(rows: Sequence[dict[str, Any]], *, n_boot: int = N_BOOT, seed: int = 0) -> pd.DataFrame:
    """Per element and model: the ratio of relative errors at the widest to the narrowest width, with a
    bootstrap interval (test frames resampled within each seed, the same frames in both arms, seeds pooled).

    Columns: element, model, group, sigma_low, sigma_high, n_seeds, relative_low_sigma, relative_high_sigma,
    ratio, ratio_low, ratio_high.
    """
    from analysis.core.groups import group_of

    frame = pd.DataFrame(list(rows))
    out = []
    if frame.empty:
        return pd.DataFrame(columns=["element", "model", "group", "sigma_low", "sigma_high", "n_seeds", "relative_low_sigma",
                                     "relative_high_sigma", "ratio", "ratio_low", "ratio_high"])
    rng = np.random.default_rng(seed)
    for (element, model), part in frame.groupby(["element", "model"], sort=True):
        widths = sorted(part["sigma_ev"].unique())
        if len(widths) < 2:
            continue
        lo_w, hi_w = widths[0], widths[-1]
        seeds = sorted(set(part[part["sigma_ev"] == lo_w]["seed"]) & set(part[part["sigma_ev"] == hi_w]["seed"]))
        if not seeds:
            continue
        pairs = [(part[(part["sigma_ev"] == lo_w) & (part["seed"] == s)].iloc[0], part[(part["sigma_ev"] == hi_w) & (part["seed"] == s)].iloc[0])
                 for s in seeds]
        def rel(r: Any, pick: np.ndarray | None = None) -> float:
            e, d = np.asarray(r["_err"]), np.asarray(r["_dev"])
            return float(np.sqrt((e if pick is None else e[pick]).sum() / max((d if pick is None else d[pick]).sum(), 1e-300)))
        r_lo = float(np.mean([rel(a) for a, _ in pairs]))
        r_hi = float(np.mean([rel(b) for _, b in pairs]))
        boots = []
        for _ in range(n_boot):
            lo_v, hi_v = [], []
            for a, b in pairs:
                pick = rng.integers(0, len(a["_err"]), len(a["_err"])) if len(a["_err"]) == len(b["_err"]) else None
                lo_v.append(rel(a, pick))
                hi_v.append(rel(b, pick))
            boots.append(float(np.mean(hi_v)) / max(float(np.mean(lo_v)), 1e-300))
        out.append({"element": element, "model": model, "group": group_of(str(element)) or "", "sigma_low": lo_w, "sigma_high": hi_w,
                    "n_seeds": len(seeds), "relative_low_sigma": r_lo, "relative_high_sigma": r_hi, "ratio": r_hi / r_lo,
                    "ratio_low": float(np.quantile(boots, 0.025)), "ratio_high": float(np.quantile(boots, 0.975))})
    return pd.DataFrame(out)


def statement(summary: pd.DataFrame, model: str = "mace-fitted", *, pending: dict[str, str] | None = None) -> str:
    """The measured answer, in one paragraph: each element's ratio with its interval, and whether the hard
    (early transition metal) elements' errors fall more than the others'."""
    from analysis.core.groups import HARD

    part = summary[summary["model"] == model] if not summary.empty else summary
    waiting = "; ".join(f"{e}: {w}" for e, w in (pending or {}).items())
    if part.empty:
        return "No element has been fitted at two smearing widths yet." + (f" Waiting: {waiting}." if waiting else "")
    each = "; ".join(f"{r.element} {r.ratio:.2f} [{r.ratio_low:.2f}, {r.ratio_high:.2f}]" for r in part.itertuples())
    hard = part[part["group"].isin(HARD)]
    easy = part[~part["group"].isin(HARD)]
    widths = f"{part['sigma_high'].iloc[0]:g} eV against {part['sigma_low'].iloc[0]:g} eV"
    text = f"Relative test force error of {model} at {widths} (ratio; 95 % bootstrap interval over test frames, seeds pooled): {each}."
    if hard.empty or easy.empty:
        text += " The comparison of hard and easy elements needs both: " + ("no early transition metal" if hard.empty else "no easy element") + " is done yet."
    else:
        h, e = float(hard["ratio"].median()), float(easy["ratio"].median())
        separated = bool(hard["ratio_high"].max() < easy["ratio_low"].min())
        text += (f" Early transition metals' median ratio {h:.2f}, the others' {e:.2f}: "
                 + ("the hard elements' errors fall more, and the intervals do not overlap." if separated and h < e else
                    "the difference is within the intervals: no effect beyond noise on these frames." if not separated else
                    "the hard elements' errors fall less."))
    return text + (f" Waiting: {waiting}." if waiting else "")


# --------------------------------------------------------------------------- storage
def result_path(*, embedded: bool = False) -> Path:
    return (default_data_dir() if embedded else data_dir()) / "experiments" / "smearing.json"


def save_result(result: dict[str, Any], *, embedded: bool = False) -> Path:
    path = result_path(embedded=embedded)
    store.atomic_write_json(path, result)
    return path


def load_result() -> dict[str, Any] | None:
    """The stored experiment (user data first, then the shipped one), or None."""
    for embedded in (False, True):
        path = result_path(embedded=embedded)
        if path.is_file():
            try:
                return dict(json.loads(path.read_text()))
            except (OSError, json.JSONDecodeError):
                continue
    return None


def run(elements: Sequence[str], sigmas: Sequence[float], seeds: Sequence[int], *, label: bool = False, fit: bool = True,
        universal: Sequence[str] = (), out: Path | None = None, settings_path: Path | None = None, eos_path: Path | None = None,
        epochs: int | None = None, log: Any = print) -> dict[str, Any]:
    """The whole chain (see the module docstring); returns the result (:func:`save_result` stores it).

    ``out``, ``settings_path``, ``eos_path``: the reference pipeline's store root, settings file and
    EOS cache (defaults: the embedded data's); ``epochs``: the MACE schedule (default: the fits' own).
    """
    from analysis.jobs.cli import evaluate_main, fit_main
    from analysis.reference.cli import main as build_main

    arm_list = arms(sigmas, settings_path=settings_path)
    where = [*(["--out", str(out)] if out else []), *(["--settings", str(settings_path)] if settings_path else []),
             *(["--eos", str(eos_path)] if eos_path else [])]
    if label:
        for arm in arm_list:
            if arm.tier != BASE_TIER:
                build_main(["--tier", arm.tier, "--elements", *elements, "--jobs", "1", *where])
    ready, pending = complete_elements(arm_list, elements)
    for element, why in pending.items():
        log(f"{element}: skipped: {why}")
    schedule = {"epochs": epochs} if epochs else None
    if fit:
        for arm in arm_list:
            for element in ready:
                for seed in seeds:
                    if snapshot_path(_spec_and_key(arm, element, seed, "mace", schedule)[1], arm.dataset).is_file():
                        continue  # fitted before: the same labels, split, schedule and seed
                    fit_main(["--family", "mace", "--dataset", arm.dataset, "--elements", element, "--seed", str(seed),
                              *(["--epochs", str(epochs)] if epochs else [])])
                    if not snapshot_fit(arm, element, seed, schedule=schedule):
                        log(f"{element} at {arm.sigma_ev:g} eV, seed {seed}: the fit did not finish (see python -m analysis jobs)")
        for model in universal:
            for arm in arm_list:
                evaluate_main(["--model", model, "--dataset", arm.dataset])
    rows = fit_rows(arm_list, ready, seeds, schedule=schedule)
    test_ids = {r["element"]: r["test_ids"] for r in rows if r["seed"] == min(seeds)}
    rows += universal_rows(arm_list, ready, test_ids)
    summary = summarise(rows)
    result = {"arms": [asdict(a) for a in arm_list], "elements": list(elements), "seeds": list(seeds), "ready": ready,
              "pending": pending, "rows": rows,
              "summary": summary.to_dict(orient="records"), "statement": statement(summary, pending=pending)}
    return result


def experiment_main(argv: list[str]) -> int:
    """``python -m analysis experiment smearing --elements Al,Cu,Cr,Hf --sigma 0.1,0.4 [--seeds 0,1,2] [--label] [--no-fit] [--embed]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m analysis experiment", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("kind", choices=["smearing"])
    parser.add_argument("--elements", default="Al,Cu,Cr,Hf")
    parser.add_argument("--sigma", default="0.1,0.4", help="smearing widths (eV), comma-separated; each needs a tier")
    parser.add_argument("--seeds", default="0,1,2", help="fit seeds (each a split and an initialisation, the same at every width)")
    parser.add_argument("--label", action="store_true", help="run the missing DFT labels first (hours; resumable)")
    parser.add_argument("--no-fit", action="store_true", help="only collect the fits already stored")
    parser.add_argument("--universal", default="", help="universal models to evaluate on every labelling, comma-separated")
    parser.add_argument("--embed", action="store_true", help="store the result beside the embedded data (shipped)")
    parser.add_argument("--out", type=Path, help="store root of the labels (default: the embedded data)")
    args = parser.parse_args(argv)
    elements = [e.strip() for e in args.elements.split(",") if e.strip()]
    try:
        sigmas = [float(s) for s in args.sigma.split(",") if s.strip()]
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
        result = run(elements, sigmas, seeds, label=args.label, fit=not args.no_fit,
                     universal=[m.strip() for m in args.universal.split(",") if m.strip()], out=args.out)
    except ValueError as exc:
        print(f"error: {exc}")
        return 1
    path = save_result(result, embedded=args.embed)
    print(result["statement"])
    print(f"stored in {path}")
    return 0


__all__ = ["Arm", "arms", "bootstrap_relative", "complete_elements", "experiment_main", "fit_rows", "load_result", "run", "snapshot_fit", "statement",
           "summarise", "universal_rows"]
