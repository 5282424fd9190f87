"""Dask distributed, the engine for more than one machine: connecting, task resources, telling a lost
cluster from a failed task, and the ``--backend`` option every work-submitting command shares.

The embedded job queue (diskcache) stays the default; ``--backend dask`` or
``MLFF_ATLAS_DASK_SCHEDULER=tcp://host:8786`` selects Dask. ``distributed`` is imported inside
functions only, so nothing else pays for it.
"""
from __future__ import annotations

import argparse
from concurrent.futures import CancelledError
from typing import Any, Literal

from analysis.core.config import dask_scheduler

Backend = Literal["local", "dask"]

#: exception names of ``distributed`` that mean the connection went, not that a task failed
_LOST = {"CommClosedError", "ClosedClientError", "FutureCancelledError", "FuturesCancelledError"}


def add_backend_options(parser: argparse.ArgumentParser) -> None:
    """``--backend {local,dask}`` and ``--scheduler ADDRESS`` (default ``MLFF_ATLAS_DASK_SCHEDULER``)."""
    parser.add_argument("--backend", choices=("local", "dask"), default=None,
                        help="where the work runs: this machine (default) or a Dask cluster "
                             "(the default when MLFF_ATLAS_DASK_SCHEDULER is set)")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="Dask scheduler, e.g. tcp://host:8786 (default: MLFF_ATLAS_DASK_SCHEDULER)")
    parser.add_argument("--scheduler-timeout", type=float, default=30.0, metavar="S",
                        help="seconds to wait for the scheduler to answer (default 30)")


def chosen_backend(args: argparse.Namespace) -> Backend:
    """The backend the options (or the environment) ask for."""
    if args.backend is not None:
        return args.backend
    return "dask" if (args.scheduler or dask_scheduler()) else "local"


class SchedulerUnavailable(RuntimeError):
    """No Dask scheduler is configured, or none answers at the address."""


def connect(address: str | None = None, *, timeout_s: float = 30.0) -> Any:
    """A ``distributed.Client`` connected to ``address`` (default ``MLFF_ATLAS_DASK_SCHEDULER``).

    Raises:
        SchedulerUnavailable: when no address is given or configured, or nothing answers there.
    """
    address = address or dask_scheduler()
    if not address:
        raise SchedulerUnavailable("--backend dask needs a scheduler: pass --scheduler tcp://HOST:8786 or set MLFF_ATLAS_DASK_SCHEDULER")
    from distributed import Client

    try:
        return Client(address, timeout=timeout_s)
    except (OSError, TimeoutError) as exc:
        raise SchedulerUnavailable(f"no Dask scheduler answers at {address} ({type(exc).__name__}: {exc})") from exc


def task_resources(device: str) -> dict[str, int] | None:
    """Dask worker resources a task on ``device`` needs (``{"GPU": 1}`` for CUDA; DFT and CPU work: none)."""
    return {"GPU": 1} if device.startswith("cuda") else None


def cluster_lost(exc: BaseException) -> bool:
    """Whether ``exc`` says the connection to the cluster went (scheduler stopped or restarted), as
    opposed to a task failing: the work then waits for the cluster instead of being marked failed."""
    names = {type(e).__name__ for e in (exc, exc.__cause__, exc.__context__) if e is not None}
    return isinstance(exc, (CancelledError, OSError, TimeoutError)) or bool(names & _LOST)


#: retries of a task whose worker dies (Dask reruns it elsewhere; every task of the project is idempotent)
RETRIES = 2


def single_threaded() -> None:
    """Inside a DFT task: one OpenMP thread (a Dask worker process per core is the parallelism)."""
    import os

    os.environ["OMP_NUM_THREADS"] = "1"


def task_key(*parts: object) -> str:
    """A Dask task key: readable parts plus a token unique to this submission. Dask answers a key it
    still holds with the old result, so a rerun must not reuse one (the work itself is idempotent on disk)."""
    import uuid

    return "-".join(str(p) for p in parts) + "-" + uuid.uuid4().hex[:8]
