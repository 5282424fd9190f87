"""gunicorn settings of the dashboard: ``gunicorn -c gunicorn.conf.py app:server`` (``make run``, the Docker image).

Binds ``MLFF_ATLAS_HOST:MLFF_ATLAS_PORT`` (default 127.0.0.1:8050); workers and threads from the core
count (:func:`analysis.core.config.server_processes`, overridden by ``MLFF_ATLAS_WORKERS`` and
``MLFF_ATLAS_THREADS``). Before any worker starts, every address gunicorn was told to bind (``-b``
on its command line included) is checked against the access rule of :mod:`access`: beyond loopback
it refuses to start unless authentication or read-only mode is on or ``MLFF_ATLAS_INSECURE=1``.
The app is not preloaded: it opens the background-callback diskcache (SQLite) when it is built,
and a SQLite connection must not be shared across a fork.

Each worker sets up the Dash server (:func:`post_worker_init`) before it accepts a connection. Dash
does that on the first request otherwise, and its guard flag is set before the JS bundles are
registered (plotly/dash#3971): a bundle request that reaches a fresh worker in that gap answered 500
('"dash" is not a registered library'), so the first visit after a (re)start could load broken.
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


def post_worker_init(worker) -> None:  # noqa: ANN001  (gunicorn's worker, after it loaded the app)
    """Set up the Dash server in this worker before it serves: one request to ``/`` through Flask's test client.

    That request runs Dash's ``before_request`` set-up (``Dash._setup_server``: bundles in
    ``registered_paths``, the callback map, the pages' router) while no other request can reach
    this worker. A worker that is not ready afterwards refuses to boot.
    """
    import dash

    worker.wsgi.test_client().get("/")  # the answer does not matter (401 under authentication); its set-up does
    dash_app = dash.get_app()
    registered = sorted(dash_app.registered_paths)
    if not dash_app._got_first_request["setup_server"] or "dash" not in registered:
        raise RuntimeError(f"worker {worker.pid}: the Dash server was not set up before serving (registered: {registered})")
    worker.log.info("Worker %s ready: Dash server set up, %d component libraries registered", worker.pid, len(registered))


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
