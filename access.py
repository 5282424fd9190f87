"""Who may use the dashboard's server: HTTP basic authentication, the loopback rule, and what read-only means.

Installed on the Flask server by ``app.py`` (so it holds under ``python app.py`` and under gunicorn
alike), configured by :mod:`analysis.core.config`:

- ``MLFF_ATLAS_AUTH=user:password`` (or ``MLFF_ATLAS_AUTH_FILE``): every request except
  :data:`HEALTH_PATH` needs those HTTP basic credentials; others get 401.
- ``MLFF_ATLAS_READ_ONLY=1``: pages hide uploads, job submission and cancel, and their callbacks
  refuse them (the pages check :func:`analysis.core.config.read_only`).
- Serving beyond loopback needs one of the two, or ``MLFF_ATLAS_INSECURE=1`` said explicitly:
  :func:`exposure_problem` is checked when ``python app.py`` or gunicorn (``gunicorn.conf.py``)
  starts, and a request from another machine to an unprotected server is answered 403, whatever
  started it (``gunicorn -b 0.0.0.0:8050 app:server`` without the config file included).

Basic authentication sends the password in every request, readable on the wire: put the server
behind HTTPS (a reverse proxy) when it is reachable from a network you do not trust.
"""
from __future__ import annotations

import hmac
import logging

from flask import Flask, Response, request

from analysis.core.config import AUTH_ENV, AUTH_FILE_ENV, INSECURE_ENV, READ_ONLY_ENV, auth_users, insecure, is_loopback, read_only

HEALTH_PATH = "/healthz"
REALM = "MLFF Error Atlas"
_log = logging.getLogger(__name__)


def exposure_problem(host: str) -> str | None:
    """Why serving on ``host`` is refused, or None when it is allowed.

    Allowed: a loopback address; or any address with authentication configured, read-only mode on,
    or ``--insecure`` given.

    Raises:
        ValueError: the authentication settings are malformed (the message names the setting).
    """
    if is_loopback(host) or auth_users() or read_only() or insecure():
        return None
    return (f"refusing to serve on {host}: beyond this machine the dashboard's write actions (uploads, job submission, "
            f"cancel) must be protected. Set {AUTH_ENV}=user:password (or {AUTH_FILE_ENV}=FILE of user:password lines) "
            f"for HTTP basic authentication, or {READ_ONLY_ENV}=1 (--read-only) to disable them, or say --insecure "
            f"({INSECURE_ENV}=1) to serve unprotected anyway.")


def credentials_match(users: dict[str, str], user: str, password: str) -> bool:
    """Whether (user, password) is one of ``users``, compared in constant time over every entry."""
    found = False
    for known_user, known_password in users.items():
        same_user = hmac.compare_digest(known_user.encode(), user.encode())
        same_password = hmac.compare_digest(known_password.encode(), password.encode())
        found |= same_user and same_password
    return found


def _guard() -> Response | None:
    """The ``before_request`` hook: None lets the request through, a response stops it."""
    if request.path == HEALTH_PATH:
        return None
    try:
        users = auth_users()
    except ValueError:
        _log.exception("authentication settings are malformed")
        return Response("The server's authentication settings are malformed; see its log.\n", 500, mimetype="text/plain")
    if users:
        auth = request.authorization
        if auth is None or auth.type != "basic" or not credentials_match(users, auth.username or "", auth.password or ""):
            return Response("Authentication required.\n", 401, {"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'},
                            mimetype="text/plain")
        return None
    if read_only() or insecure() or is_loopback(request.remote_addr or ""):
        return None
    return Response("This dashboard serves this machine only: its operator has configured neither authentication nor "
                    "read-only mode.\n", 403, mimetype="text/plain")


def install(server: Flask) -> None:
    """Put the access rules on ``server`` and add the unauthenticated health check :data:`HEALTH_PATH`."""
    server.before_request(_guard)
    server.add_url_rule(HEALTH_PATH, "healthz", lambda: Response("ok\n", mimetype="text/plain"))
