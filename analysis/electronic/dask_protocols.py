"""The electronic protocols on Dask distributed (``electronic --backend dask``).

One task per SCF (:func:`analysis.electronic.protocols.run_displacement_scf`), then one task per element
that assembles its curves from the cached SCFs and runs the DOS meshes
(:func:`analysis.electronic.protocols.run_element`). Every task is idempotent (an SCF on disk is not
computed again), so Dask may retry any of them; the workers share the output folder with the submitter.
``distributed`` is imported inside functions only.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from analysis.core.cluster import RETRIES, cluster_lost, single_threaded, task_key

log = logging.getLogger(__name__)


def _scf_task(symbol: str, delta: float, root: str, settings: dict[str, Any]) -> dict[str, Any]:
    from analysis.electronic.protocols import run_displacement_scf

    single_threaded()
    meta = run_displacement_scf(symbol, delta, root=root, settings=settings)
    return {"element": symbol, "delta": delta, "cached": bool(meta.get("cached")), "wall_s": float(meta["wall_s"]),
            "pid": os.getpid()}


def _curves_task(symbol: str, root: str, settings: dict[str, Any]) -> dict[str, Any]:
    from analysis.electronic.protocols import run_element

    single_threaded()
    result = run_element(symbol, root=root, settings=settings)
    return {"element": symbol, "computed": result.computed, "cached": result.cached, "pid": os.getpid()}


def run_electronic(elements: list[str], *, root: Path, client: Any, settings: dict[str, Any] | None = None,
                   progress: Callable[[str], None] | None = None) -> dict[str, dict[str, Any]]:
    """Both electronic protocols for ``elements`` on the Dask cluster of ``client``: one task per SCF,
    then one per element for its curves (every SCF then cached) and DOS meshes.

    Returns:
        element -> ``{"scf": [per-SCF records], "curves": record}``; an element whose task failed has
        ``"error"`` instead of ``"curves"``.
    """
    from distributed import as_completed

    from analysis.electronic.protocols import SETTINGS

    settings = dict(settings or SETTINGS)
    out: dict[str, dict[str, Any]] = {el: {"scf": []} for el in elements}
    scf = {client.submit(_scf_task, el, float(d), str(root), settings, key=task_key("scf", el, f"{float(d):.4f}"),
                         pure=False, retries=RETRIES): el for el in elements for d in settings["deltas_a"]}
    left = {el: len(settings["deltas_a"]) for el in elements}
    curves: dict[Any, str] = {}
    pending = as_completed(list(scf))
    for fut in pending:
        el = scf.get(fut) or curves[fut]
        try:
            rec = fut.result()
        except Exception as exc:  # noqa: BLE001 - the other elements go on
            if cluster_lost(exc):
                raise
            out[el]["error"] = f"{type(exc).__name__}: {exc}"
            left[el] = -1
            continue
        if fut in scf:
            out[el]["scf"].append(rec)
            if progress:
                progress(f"{el} delta={rec['delta']:.3f} Å {'cached' if rec['cached'] else 'computed'} wall={rec['wall_s']:.1f} s")
            if left[el] > 0:
                left[el] -= 1
                if left[el] == 0:
                    task = client.submit(_curves_task, el, str(root), settings, key=task_key("curves", el),
                                         pure=False, retries=RETRIES)
                    curves[task] = el
                    pending.add(task)
        else:
            out[el]["curves"] = rec
            if progress:
                progress(f"{el} curves written")
    return out
