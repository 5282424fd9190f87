"""gunicorn settings of the dashboard: ``gunicorn -c gunicorn.conf.py app:server`` (``make run``, the Docker image).

Binds ``MLFF_ATLAS_HOST:MLFF_ATLAS_PORT`` (default 127.0.0.1:8050); workers and threads from the core
count (:func:`analysis.core.config.server_processes`, overridden by ``MLFF_ATLAS_WORKERS`` and
``MLFF_ATLAS_THREADS``). Before any worker starts, every address gunicorn was told to bind (``-b``
on its command line included) is checked against the access rule of :mod:`access`: beyond loopback
it refuses to start unless authentication or read-only mode is on or ``MLFF_ATLAS_INSECURE=1``.
The app is not preloaded: it opens the background-callback diskcache (SQLite) when it is built,
and a SQLite connection must not be shared across a fork.
"""
from __future__ import annotations

import sys

from analysis.core.config import host, port, server_processes

_host = host()
bind = [f"[{_host}]:{port()}" if ":" in _host else f"{_host}:{port()}"]
workers, threads = server_processes()
worker_class = "gthread"
timeout = 120  # a large upload is decoded inside one request
graceful_timeout = 20


def bound_host(address: str) -> str | None:
    """The host part of a gunicorn bind address ('0.0.0.0:8050', '[::1]:8050'); None for a unix socket."""
    if address.startswith("unix:"):
        return None
    if address.startswith("fd://"):
        return "0.0.0.0"  # an inherited socket: where it listens is not known here, so treat it as exposed
    if address.startswith("["):
        return address[1:].split("]", 1)[0]
    return address.rsplit(":", 1)[0] if ":" in address else address


def on_starting(server) -> None:  # noqa: ANN001  (gunicorn's Arbiter)
    """Refuse to start when an address beyond loopback would be served unprotected."""
    import access

    for address in server.cfg.bind:
        name = bound_host(address)
        if name is None:
            continue
        try:
            problem = access.exposure_problem(name)
        except ValueError as exc:
            problem = str(exc)
        if problem:
            print(f"error: {problem}", file=sys.stderr, flush=True)
            raise SystemExit(2)
