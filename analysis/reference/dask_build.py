"""DFT labelling on Dask distributed (``build-reference --backend dask``).

One task per element prepares it (the EOS fit and the MD samples,
:func:`analysis.reference.build.prepare_element`), then one task per frame labels it
(:func:`analysis.reference.build.label_one`). Frames land in the build folder exactly where the local
pipeline writes them, so a build can move between backends; the submitting process assembles the data
set as frames arrive. Every task is idempotent (a frame on disk is not computed again; a claim left by
a killed worker is taken over), so Dask may retry any of them. DFT asks for no worker resource: it runs
anywhere. The workers must share the output folder with the submitter (a shared file system).
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


def _prepare_task(symbol: str, settings: Any, out: str, eos_path: str, retry_failed: bool) -> list[tuple[float, int]]:
    from analysis.reference.build import prepare_element

    single_threaded()
    return prepare_element(symbol, settings, Path(out), Path(eos_path), retry_failed=retry_failed)


def _label_task(symbol: str, temp: float, index: int, settings: Any, out: str, eos_path: str) -> dict[str, Any]:
    from analysis.reference.build import label_one

    single_threaded()
    return {"element": symbol, "temperature": temp, "index": index,
            "computed": label_one(symbol, temp, index, settings, Path(out), Path(eos_path)), "pid": os.getpid()}


def build_reference(settings: Any, *, out: Path, eos_path: Path, client: Any, retry_failed: bool = False,
                    on_frame: Callable[[dict[str, Any]], None] | None = None) -> tuple[Path | None, list[dict[str, Any]]]:
    """Run (or resume) a reference tier on the Dask cluster of ``client``.

    Returns:
        (the data set folder, one record per frame task: element, temperature, index, computed 0/1, pid).

    Raises:
        analysis.reference.build.BuildIncomplete: after the data set was written, when an element's
            preparation or a frame failed (as the local pipeline does).
    """
    from distributed import as_completed

    from analysis.reference.build import BuildIncomplete, assemble_dataset, build_dir, failed_frames, finished_frames

    build = build_dir(out, settings)
    build.mkdir(parents=True, exist_ok=True)
    tag = settings.frames_hash[:12]
    prep = {client.submit(_prepare_task, s, settings, str(out), str(eos_path), retry_failed,
                          key=task_key("prepare", tag, s), pure=False, retries=RETRIES): s for s in settings.elements}
    pending = as_completed(list(prep))
    records: list[dict[str, Any]] = []
    failed_elements: dict[str, str] = {}
    for fut in pending:
        try:
            result = fut.result()
        except Exception as exc:  # noqa: BLE001 - one element's failure must not stop the others
            if cluster_lost(exc):
                raise
            name = prep.get(fut, fut.key)
            failed_elements[str(name)] = f"{type(exc).__name__}: {exc}"
            log.error("%s failed on Dask; going on: %s", name, failed_elements[str(name)])
            continue
        if fut in prep:  # an element is ready: one task per frame still to label
            symbol = prep[fut]
            for temp, index in result:
                pending.add(client.submit(_label_task, symbol, temp, index, settings, str(out), str(eos_path),
                                          key=task_key("label", tag, symbol, f"{temp:g}", index), pure=False, retries=RETRIES))
            continue
        records.append(result)
        if result["computed"]:
            assemble_dataset(settings, out, eos_path, frames=finished_frames(build, settings))
        if on_frame is not None:
            on_frame(result)
    folder = assemble_dataset(settings, out, eos_path, frames=finished_frames(build, settings))
    bad = failed_frames(build)
    if failed_elements or bad:
        parts = [f"element {s}: {e}" for s, e in failed_elements.items()] + [f"frame {f}: {e}" for f, e in bad.items()]
        raise BuildIncomplete(f"{len(failed_elements)} element(s) and {len(bad)} frame(s) failed (rerun to resume): "
                              + "; ".join(parts))
    return folder, records
