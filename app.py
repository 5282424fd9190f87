"""The MLFF Error Atlas dashboard: a multi-page Dash app (pages/ hold the pages).

Run ``python app.py`` for development (Flask's server, http://127.0.0.1:8050); ``make run`` serves it
with gunicorn (``gunicorn -c gunicorn.conf.py app:server``) beside a job worker.

Environment variables (besides those of :mod:`analysis.core.config`):
    MLFF_ATLAS_HOST: interface to bind (default 127.0.0.1; ``--host 0.0.0.0`` or this variable
        exposes the app to the network).
    MLFF_ATLAS_PORT: port (default 8050).
    MLFF_ATLAS_MAX_UPLOAD_MB: largest accepted upload in MB (default 50). Uploaded files are only
        ever parsed by the importers of :mod:`analysis.datasets.importers`; nothing uploaded is unpickled.
    MLFF_ATLAS_READ_ONLY, MLFF_ATLAS_AUTH, MLFF_ATLAS_AUTH_FILE, MLFF_ATLAS_INSECURE: who may do what
        (:mod:`access`); beyond loopback the app refuses to start unless authentication or read-only
        mode is on, or ``--insecure`` is given.
"""
from __future__ import annotations

import argparse
import os
import sys

import dash
import diskcache
from dash import Dash, DiskcacheManager, html
from flask import Response

import access
from analysis.core.config import DEFAULT_HOST, DEFAULT_PORT, INSECURE_ENV, READ_ONLY_ENV, cache_dir, host, max_upload_bytes, port
from components.layout import navbar

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "app", "server"]
def request_limit_bytes() -> int:
    """Flask's MAX_CONTENT_LENGTH: the upload limit plus the base64 expansion (4/3) of dcc.Upload and 1 MiB of JSON."""
    return int(max_upload_bytes() * 4 / 3) + 1024 * 1024


def too_large(_error: Exception) -> Response:
    """HTTP 413 with the limit and the setting that raises it (the Data page checks sizes in the browser first)."""
    limit_mb = max_upload_bytes() / 2**20
    return Response(f"Request too large: uploads are limited to {limit_mb:.0f} MB. The server's operator can raise the limit "
                    "with MLFF_ATLAS_MAX_UPLOAD_MB (in MB).\n", 413, mimetype="text/plain")


def create_app() -> Dash:
    """Build the Dash app: pages from ``pages/``, a navbar, background callbacks through diskcache."""
    manager = DiskcacheManager(diskcache.Cache(str(cache_dir() / "dash")))
    app = Dash(
        __name__,
        use_pages=True,
        background_callback_manager=manager,
        title="MLFF Error Atlas",
        update_title=None,
        # pages build their controls from the URL; callbacks refer to ids of pages not shown yet
        suppress_callback_exceptions=True,
    )
    # uploads arrive base64-encoded inside a JSON request; larger requests get HTTP 413
    app.server.config["MAX_CONTENT_LENGTH"] = request_limit_bytes()
    app.server.register_error_handler(413, too_large)
    access.install(app.server)
    app.layout = html.Div([navbar(), html.Main(dash.page_container, className="page")])
    return app


app = create_app()
server = app.server


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (defaults from MLFF_ATLAS_HOST and MLFF_ATLAS_PORT)."""
    parser = argparse.ArgumentParser(description="Serve the MLFF Error Atlas dashboard.")
    parser.add_argument("--host", default=host(),
                        help="interface to bind (default 127.0.0.1; 0.0.0.0 for all interfaces)")
    parser.add_argument("--port", type=int, default=port())
    parser.add_argument("--debug", action="store_true", help="Dash debug mode (hot reload, error overlay)")
    parser.add_argument("--read-only", action="store_true", help="no uploads, no job submission, no cancel (MLFF_ATLAS_READ_ONLY=1)")
    parser.add_argument("--insecure", action="store_true",
                        help="serve beyond loopback without authentication or read-only mode (MLFF_ATLAS_INSECURE=1)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Serve the app with Flask's development server (``make run`` serves it with gunicorn)."""
    args = parse_args(argv)
    # the pages and the access rules read these at request time (gunicorn workers get them from the environment)
    if args.read_only:
        os.environ[READ_ONLY_ENV] = "1"
    if args.insecure:
        os.environ[INSECURE_ENV] = "1"
    try:
        problem = access.exposure_problem(args.host)
    except ValueError as exc:
        problem = str(exc)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    app.run(host=args.host, port=args.port, debug=args.debug)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
