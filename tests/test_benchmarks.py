"""Every benchmark runs at its smoke size and prints its figures and its baseline.

Each ``benchmarks/bench_*.py`` is run as its own process with ``--smoke`` (a size that takes
seconds) in the test's isolated data folder; it must exit 0 and print every line that
:data:`EXPECTED` names for it: the figure(s) the full run is quoted for and the baseline measured
beside them. No timing is asserted: the real sizes are for people, and this machine is shared.

A new benchmark without an entry in :data:`EXPECTED` fails here, so none is added that nothing runs.
A benchmark is skipped only when a real prerequisite is absent (a package, a separate environment,
the browser), with the reason.
"""
from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "benchmarks").glob("bench_*.py"))

N = r"-?\d+(?:\.\d+)?(?:e[+-]?\d+)?"  # a printed number (never "nan" or "inf")

#: script stem -> regular expressions (multi-line mode) that must all be found in its --smoke output
EXPECTED: dict[str, tuple[str, ...]] = {
    "bench_callbacks": (
        r"^callback\s+uncached ms\s+cached median ms\s+ratio",  # the uncached first call is the baseline
        rf"^map redraw: one model, force RMSE\s+{N}\s+{N}\s+{N}x\s+(ok|OVER)$",
        rf"^distributions redraw\s+{N}\s+{N}\s+{N}x\s+(ok|OVER)$",
        rf"^element page layout \(\w+\)\s+{N}\s+{N}\s+{N}x\s+(ok|OVER)$",
        rf"^slowest cached median: {N} ms",
    ),
    "bench_dask": (
        rf"DFT labelling, 1 frames of \d+ atoms: 1 worker {N} s \({N} frames/s\); 2 workers {N} s \({N} frames/s\); "
        rf"speed-up {N}x; labels identical: True",
        rf"evaluation \(EMT, 40 Cu frames, chunks of 20\): 1 worker {N} frames/s; 2 workers {N} frames/s; speed-up {N}x",
    ),
    "bench_eval": (
        *(rf"^{case}\s+\d+ frames\s+ase-loop\s+{N}/s\s+batch=1\s+{N}/s\s+batched, no prefetch\s+{N}/s\s+batched\s+{N}/s"
          rf"\s+ratio batched/ase-loop\s+{N}x"
          for case in ("small MACE, 8-atom Cu", "small MACE, 32-atom Cu", "CHGNet 0.3.0, 8-atom Cu", "CHGNet 0.3.0, 32-atom Cu")),
        rf"^ratios \(batched / ase-loop\): mace 8-atom {N}x, mace 32-atom {N}x, chgnet 8-atom {N}x, chgnet 32-atom {N}x",
    ),
    "bench_import": (
        rf"^ase\.io\.read \(baseline\)\s+{N} s\s+{N} frames/s\s+peak \+\s*{N} MB",
        rf"^import_reference\s+{N} s\s+{N} frames/s\s+peak \+\s*{N} MB",
        rf"^import \+ write into the store\s+{N} s\s+{N} frames/s",
        rf"^import_reference vs ase\.io\.read: {N}x the speed",
    ),
    "bench_load": (
        r"request \(page and outputs\)\s+n\s+p50\s+p95\s+max\s+err",
        rf"^/\S*\s.*\s\d+\s+{N}\s+{N}\s+{N}\s+\d+$",  # one request type's count, p50, p95, max, errors
        r"\b1 user \(baseline\): \d+ requests",  # the single-user baseline beside the concurrent users
        rf"^/\S*\s.*\s\d+\s+{N}\s+{N}\s+{N}\s+\d+\s+{N}$",  # a request type under load, its p95 against the baseline's
        rf"every p95 under {N} ms and no errors: (yes|no)",
    ),
    "bench_metrics": (
        rf"^numpy \(analysis\.metrics\), per temperature:\s+{N} s",
        rf"^numpy \(analysis\.metrics\), plus pooled rows:\s+{N} s",
        rf"^pandas groupby baseline \(same table\):\s+{N} s",
        rf"^speed-up vs baseline: {N}x",
    ),
    "bench_report": (
        rf"^per-element curves \(baseline\)\s+{N} MB\s+\d+ figures\s+drawn in\s+{N} s",
        rf"^small multiples, six a figure\s+{N} MB\s+\d+ figures\s+drawn in\s+{N} s",
    ),
    "bench_rescore": (
        rf"^first scoring \(cache filled\)\s+8\s+{N}$",
        rf"^baseline: grown set, empty cache\s+10\s+{N}$",  # every frame reaches the model
        rf"^cached: grown set after first scoring\s+2\s+{N}$",  # only the new ones do
        rf"^speed-up of rescoring: {N}x; identical predictions: True",
    ),
    "bench_scale": (  # its import step beside its baseline (the other steps' lines are the script owner's to add here)
        r"(?i)\bbaseline\b",
        r"(?i)\bimport",
        rf"^import\b.*\b{N} s\b.*\bbaseline\s+{N} s\b",
    ),
    "bench_smearing": (
        r"ours \(ms\)\s+ours CPU \(ms\)\s+baseline \(ms\)\s+speed-up",
        *(rf"^{method}\s+{N}\s+{N}\s+{N}\s+{N}\s+{N}\s+{N}$"
          for method in ("gaussian", "fermi-dirac", "methfessel-paxton", "marzari-vanderbilt")),
        *(rf"^tetrahedron \({kind}\)\s+{N}\s+{N}\s+{N}\s+{N}\s+{N}\s+{N}\s" for kind in ("metal", "dense")),
    ),
    "bench_train": (
        rf"DeePMD, 1 passes \(\d+ steps\): default threading {N} s/100 steps \(baseline\) vs one thread {N} s/100 steps",
        rf"DeePMD, SI schedule \(1 passes = \d+ steps, one thread\): {N} s wall",
        rf"MACE, 1 epochs \(one thread\): {N} s wall, {N} s/epoch",
    ),
}


def _chromium() -> str | None:
    missing = [p for p in ("/usr/bin/chromium", "/usr/bin/chromedriver") if not Path(p).exists()]
    return f"headless Chromium is not installed ({', '.join(missing)} missing)" if missing else None


def _module(name: str) -> Callable[[], str | None]:
    return lambda: None if importlib.util.find_spec(name) is not None else f"the package {name!r} is not installed"


def _deepmd() -> str | None:
    from analysis.core.config import deepmd_venv

    dp = deepmd_venv() / "bin" / "dp"
    return None if dp.is_file() else f"DeePMD's environment is absent ({dp}; make deepmd)"


#: script stem -> checks, each giving the reason to skip (a missing prerequisite) or None
PREREQUISITES: dict[str, tuple[Callable[[], str | None], ...]] = {
    "bench_dask": (_module("distributed"), _module("gpaw")),
    "bench_load": (_chromium,),
    "bench_report": (_chromium,),
    "bench_train": (_deepmd, _module("mace")),
}


def test_scripts_are_found() -> None:
    assert len(SCRIPTS) >= 9, SCRIPTS  # the discovery itself cannot silently find nothing


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_benchmark_smoke(script: Path) -> None:
    patterns = EXPECTED.get(script.stem)
    if not patterns:
        pytest.fail(f"benchmarks/{script.name} has no entry in EXPECTED of tests/test_benchmarks.py: "
                    "add the lines of its figures and its baseline that its --smoke run must print")
    for check in PREREQUISITES.get(script.stem, ()):
        reason = check()
        if reason:
            pytest.skip(f"{script.name}: {reason}")
    env = dict(os.environ)  # the root conftest's isolated MLFF_ATLAS_DATA and MLFF_ATLAS_CACHE
    assert env["MLFF_ATLAS_DATA"] != str(ROOT / "data")
    run = subprocess.run([sys.executable, str(script), "--smoke"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=600)
    tail = f"\n--- stdout (tail) ---\n{run.stdout[-3000:]}\n--- stderr (tail) ---\n{run.stderr[-3000:]}"
    assert run.returncode == 0, f"{script.name} --smoke exited {run.returncode}{tail}"
    missing = [p for p in patterns if not re.search(p, run.stdout, re.MULTILINE)]
    assert not missing, f"{script.name} --smoke did not print {missing}{tail}"
