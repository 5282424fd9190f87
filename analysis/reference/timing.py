"""The build's time log (timings.jsonl): what each stage cost, and projections of what is left."""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


# --------------------------------------------------------------------------- time log
def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    """Append ``record`` as one JSON line to ``path`` and flush it to disk (a kill loses at most that line)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        handle.write(json.dumps(record, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


@dataclass
class Timer:
    """``with Timer() as t:`` measures the block's wall and CPU seconds (``t.wall_s``, ``t.cpu_s``)."""

    wall_s: float = 0.0
    cpu_s: float = 0.0
    _w: float = field(default=0.0, repr=False)
    _c: float = field(default=0.0, repr=False)

    def __enter__(self) -> Timer:
        self._w, self._c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall_s = time.perf_counter() - self._w
        self.cpu_s = time.process_time() - self._c


def utc_now() -> str:
    """The time now as the log writes it (UTC, ISO 8601 to the second)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def timing_records(path: Path) -> list[dict[str, Any]]:
    """The lines of a timings.jsonl file (a line cut by a kill is skipped: the frame files are the record)."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def timing_totals(path: Path) -> dict[str, float]:
    """Wall seconds per stage summed over a timings.jsonl file (``{"dft_wall_s": ..., "eos_wall_s": ...}``)."""
    totals: dict[str, float] = {}
    for rec in timing_records(path):
        key = f"{rec.get('stage', '?')}_wall_s"
        totals[key] = round(totals.get(key, 0.0) + float(rec.get("wall_s", 0.0)), 1)
    return totals


def dft_seconds_per_frame(path: Path) -> dict[str, float]:
    """Element -> mean wall time (s) of its successful DFT single points, from timings.jsonl."""
    sums: dict[str, list[float]] = {}
    for rec in timing_records(path):
        if rec.get("stage") == "dft" and "failed" not in rec and rec.get("element"):
            sums.setdefault(str(rec["element"]), []).append(float(rec.get("wall_s", 0.0)))
    return {el: float(np.mean(v)) for el, v in sums.items()}


def projected_seconds(remaining: dict[str, int], measured: dict[str, float], cost: dict[str, float],
                      group: dict[str, str] | None = None) -> float:
    """Wall seconds (one process) to label the ``remaining`` frames per element.

    Elements already timed use their own mean; the others their estimated cost times the median
    measured seconds per cost unit of their ``group`` (e.g. 'spin' or 'paired': magnetic SCF takes
    many more iterations than the cost's x3 allows for; measured: Fe 67-132 iterations, most
    spin-paired metals 12-25), or of all timed elements when their group has none timed yet.
    """
    group = group or {}
    ratios: dict[str | None, list[float]] = {}
    for e in measured:
        if cost.get(e, 0) > 0:
            ratios.setdefault(group.get(e), []).append(measured[e] / cost[e])
            ratios.setdefault("*all*", []).append(measured[e] / cost[e])

    def per_unit(e: str) -> float:
        pool = ratios.get(group.get(e)) or ratios.get("*all*")
        return float(np.median(pool)) if pool else float("nan")

    return float(sum(n * (measured[e] if e in measured else per_unit(e) * cost[e]) for e, n in remaining.items() if n > 0))
