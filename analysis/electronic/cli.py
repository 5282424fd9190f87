"""``python -m analysis electronic``: the GPAW eigenvalue-sum protocols (displacement, Fermi shift) per element, resumable."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from analysis.core.cluster import SchedulerUnavailable, add_backend_options, chosen_backend, connect
from analysis.electronic.protocols import SETTINGS, run_element
from analysis.electronic.scf_cache import electronic_dir

log = logging.getLogger(__name__)


# ============================================================================ CLI


def _resolve_elements(spec: str) -> list[str]:
    from analysis.core.elements import METAL43

    if spec.strip().lower() == "all":
        return list(METAL43)
    out = [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [s for s in out if s not in METAL43]
    if unknown:
        raise SystemExit(f"not Metal-43 elements: {', '.join(unknown)}")
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m analysis electronic --elements all|Al,Cu [--root DIR] [--quick]``.

    Resumable: every SCF is cached, so an interrupted run continues where it stopped. Progress
    goes to a bar on a terminal, else to the log (``<root>/electronic/progress.log``).
    """
    parser = argparse.ArgumentParser(prog="python -m analysis electronic", description=__doc__.splitlines()[0])
    parser.add_argument("--elements", default="all", help="'all' or a comma-separated list (e.g. Al,Cu)")
    parser.add_argument("--root", default=None, help="data root (default: the user data directory)")
    parser.add_argument("--settings", default=None, help="JSON file overriding keys of the default settings")
    parser.add_argument("--kconv", default=None, metavar="D1,D2,...",
                        help="k-mesh convergence instead of the protocols: k-point densities (Å) to compare")
    parser.add_argument("--kconv-deltas", default="0,0.06,0.12", help="displacements (Å) of the convergence run")
    add_backend_options(parser)
    args = parser.parse_args(argv)
    elements = _resolve_elements(args.elements)
    settings = dict(SETTINGS)
    if args.settings:
        settings.update(json.loads(Path(args.settings).read_text()))
    directory = electronic_dir(Path(args.root) if args.root else None)
    directory.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(directory / "progress.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    tty = sys.stderr.isatty()
    bar = None
    if tty:
        from tqdm import tqdm

        bar = tqdm(total=len(elements) * len(settings["deltas_a"]), unit="scf")

    def progress(msg: str) -> None:
        log.info(msg)
        if bar is not None:
            bar.update(1)
            bar.set_postfix_str(msg[:40])
        else:
            print(msg, flush=True)

    failures = 0
    if args.kconv:
        from analysis.electronic.convergence import kmesh_convergence

        dens = [float(x) for x in args.kconv.split(",")]
        deltas = [float(x) for x in args.kconv_deltas.split(",")]
        for symbol in elements:
            out = kmesh_convergence(symbol, dens, deltas, root=args.root, settings=settings, progress=progress)
            for r in out["rows"]:
                log.info("%s kconv %s", symbol, r)
        return 0
    if chosen_backend(args) == "dask":
        return _on_dask(elements, args, settings, progress)
    for symbol in elements:
        try:
            res = run_element(symbol, root=args.root, settings=settings, progress=progress)
        except Exception as exc:  # noqa: BLE001 - one element's failure must not stop the set
            failures += 1
            log.exception("%s failed: %s", symbol, exc)
            print(f"{symbol} failed: {exc}", file=sys.stderr)
            continue
        msg = (f"{symbol} done: {res.computed} computed, {res.cached} cached, "
               f"SCF total {sum(res.scf_wall_s):.1f} s wall / {res.curves['total_scf_cpu_s']:.1f} s CPU, "
               f"element wall {res.wall_s:.1f} s")
        log.info(msg)
        if bar is None:
            print(msg, flush=True)
    if bar is not None:
        bar.close()
    log.removeHandler(handler)
    handler.close()
    return 1 if failures else 0


def _on_dask(elements: list[str], args: argparse.Namespace, settings: dict[str, Any], progress: Callable[[str], None]) -> int:
    """Both protocols for ``elements`` on a Dask cluster (one task per SCF); 1 when any element failed."""
    from analysis.electronic.dask_protocols import run_electronic

    try:
        with connect(args.scheduler, timeout_s=args.scheduler_timeout) as client:
            out = run_electronic(elements, root=electronic_dir(Path(args.root) if args.root else None).parent,
                                 client=client, settings=settings, progress=progress)
    except SchedulerUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for symbol, rec in out.items():
        if "error" in rec:
            print(f"{symbol} failed: {rec['error']}", file=sys.stderr)
    return 1 if any("error" in rec for rec in out.values()) else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())


