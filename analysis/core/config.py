"""Configuration read from environment variables, in one place.

Variables:
    MLFF_ATLAS_DATA: the user data directory (default ``./data``).
    MLFF_ATLAS_CACHE: cache directory for the job queue and Dash background callbacks
        (default ``<data dir>/cache``).
    MLFF_ATLAS_DEFAULT_DATA: the embedded default data (default ``analysis/data/default``).
    MLFF_ATLAS_HOST, MLFF_ATLAS_PORT: where the dashboard listens (default 127.0.0.1:8050).
    MLFF_ATLAS_MAX_UPLOAD_MB: largest accepted upload (default 50 MB).
    MLFF_ATLAS_MAX_UNPACKED_MB: most an archive or gzip/bzip2 file may unpack to (default 10x the upload limit).
    MLFF_ATLAS_MAX_LINE_MB: longest line an extended XYZ file may have (default 1 MB).
    MLFF_ATLAS_MAX_IMPORTS: uploads imported at once by the dashboard (default 2; more are answered 'busy').
    MLFF_ATLAS_MODEL_DIR: folder of model weights placed by hand (default ``<data dir>/models``).
    MLFF_ATLAS_SEVENN_VENV: the separate SevenNet environment (default ``.venv-sevenn``).
    MLFF_ATLAS_DASK_SCHEDULER: a Dask scheduler address; when set, `evaluate` runs jobs on Dask.
    MLFF_ATLAS_READ_ONLY: ``1`` for a presenting dashboard: no uploads, no job submission, no cancel.
    MLFF_ATLAS_AUTH: ``user:password`` for HTTP basic authentication of every page and callback;
        MLFF_ATLAS_AUTH_FILE names a file of such lines instead (one user per line; for secrets).
    MLFF_ATLAS_INSECURE: ``1`` to serve beyond loopback with neither authentication nor read-only mode.
    MLFF_ATLAS_WORKERS, MLFF_ATLAS_THREADS: gunicorn worker processes and threads per worker
        (default from the core count, see :func:`server_processes`).
"""
from __future__ import annotations

import ipaddress
import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # analysis/ (this file is analysis/core/config.py)
PACKAGE_DATA_DIR = PACKAGE_DIR / "data"


def data_dir() -> Path:
    """The user data directory, created on first use."""
    path = Path(os.environ.get("MLFF_ATLAS_DATA", "data")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_data_dir() -> Path:
    """The embedded default data shipped inside the repository (read-only at run time)."""
    return Path(os.environ.get("MLFF_ATLAS_DEFAULT_DATA", PACKAGE_DATA_DIR / "default")).resolve()


def reference_state_dir() -> Path:
    """Electronic curves recomputed at the frames' reference state (protocols v3), shipped beside the default data.

    ``MLFF_ATLAS_REFERENCE_STATE`` overrides it; with another default data directory (tests) it is
    ``<default data>/reference-state``, so a substituted default set brings its own (or none).
    """
    if os.environ.get("MLFF_ATLAS_REFERENCE_STATE"):
        return Path(os.environ["MLFF_ATLAS_REFERENCE_STATE"]).resolve()
    default = default_data_dir()
    if default == (PACKAGE_DATA_DIR / "default").resolve():
        return (PACKAGE_DATA_DIR / "reference-state").resolve()
    return default / "reference-state"


def cache_dir() -> Path:
    """Cache directory for the job queue and background callbacks, created on first use."""
    env = os.environ.get("MLFF_ATLAS_CACHE")
    path = Path(env).resolve() if env else data_dir() / "cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8050


def host() -> str:
    """Interface the dashboard binds (``MLFF_ATLAS_HOST``, default 127.0.0.1: local only)."""
    return os.environ.get("MLFF_ATLAS_HOST", DEFAULT_HOST)


def port() -> int:
    """Port of the dashboard (``MLFF_ATLAS_PORT``, default 8050)."""
    raw = os.environ.get("MLFF_ATLAS_PORT", str(DEFAULT_PORT))
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"MLFF_ATLAS_PORT={raw!r} is not an integer") from None
    if not 0 < value < 65536:
        raise ValueError(f"MLFF_ATLAS_PORT={raw!r} is not a valid port")
    return value


def max_upload_bytes() -> int:
    """The largest accepted upload in bytes, from ``MLFF_ATLAS_MAX_UPLOAD_MB`` (default 50 MB).

    Raises:
        ValueError: the variable is not a positive number.
    """
    raw = os.environ.get("MLFF_ATLAS_MAX_UPLOAD_MB", "50")
    try:
        mb = float(raw)
    except ValueError:
        raise ValueError(f"MLFF_ATLAS_MAX_UPLOAD_MB={raw!r} is not a number") from None
    if not mb > 0:
        raise ValueError(f"MLFF_ATLAS_MAX_UPLOAD_MB={raw!r} must be positive")
    return int(mb * 1024 * 1024)


def max_imports() -> int:
    """How many uploads the dashboard imports at once (``MLFF_ATLAS_MAX_IMPORTS``, default 2); more are answered 'busy'."""
    raw = os.environ.get("MLFF_ATLAS_MAX_IMPORTS", "2")
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"MLFF_ATLAS_MAX_IMPORTS={raw!r} must be a positive integer")
    return int(raw)


MODEL_DIR_ENV = "MLFF_ATLAS_MODEL_DIR"
SEVENN_VENV_ENV = "MLFF_ATLAS_SEVENN_VENV"


def model_dir() -> Path:
    """Folder searched for downloaded weights (``MLFF_ATLAS_MODEL_DIR``, default ``<data dir>/models``)."""
    env = os.environ.get(MODEL_DIR_ENV)
    return Path(env).resolve() if env else data_dir() / "models"


def sevenn_venv() -> Path:
    """The SevenNet environment (``MLFF_ATLAS_SEVENN_VENV``, default ``.venv-sevenn`` in the project)."""
    env = os.environ.get(SEVENN_VENV_ENV)
    return Path(env) if env else PACKAGE_DIR.parent / ".venv-sevenn"


DEEPMD_VENV_ENV = "MLFF_ATLAS_DEEPMD_VENV"


def deepmd_venv() -> Path:
    """The deepmd-kit environment (``MLFF_ATLAS_DEEPMD_VENV``, default ``.venv-deepmd`` in the project)."""
    env = os.environ.get(DEEPMD_VENV_ENV)
    return Path(env) if env else PACKAGE_DIR.parent / ".venv-deepmd"


DASK_SCHEDULER_ENV = "MLFF_ATLAS_DASK_SCHEDULER"


def dask_scheduler() -> str | None:
    """Address of a Dask scheduler (``MLFF_ATLAS_DASK_SCHEDULER``, e.g. ``tcp://host:8786``); None: local queue."""
    value = os.environ.get(DASK_SCHEDULER_ENV, "").strip()
    return value or None


READ_ONLY_ENV = "MLFF_ATLAS_READ_ONLY"
AUTH_ENV = "MLFF_ATLAS_AUTH"
AUTH_FILE_ENV = "MLFF_ATLAS_AUTH_FILE"
INSECURE_ENV = "MLFF_ATLAS_INSECURE"
_TRUE = ("1", "true", "yes", "on")


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def read_only() -> bool:
    """Whether the dashboard is read-only (``MLFF_ATLAS_READ_ONLY=1`` or ``--read-only``)."""
    return _flag(READ_ONLY_ENV)


def insecure() -> bool:
    """Whether serving beyond loopback without protection was asked for explicitly (``--insecure``)."""
    return _flag(INSECURE_ENV)


def auth_users() -> dict[str, str]:
    """User -> password for HTTP basic authentication; empty when none is configured.

    From ``MLFF_ATLAS_AUTH`` (``user:password``) and the ``user:password`` lines of the file named by
    ``MLFF_ATLAS_AUTH_FILE`` (blank lines and ``#`` comments skipped).

    Raises:
        ValueError: a pair without ``:``, an empty user or password, or an unreadable file.
    """
    pairs: list[tuple[str, str]] = []
    if os.environ.get(AUTH_ENV):
        pairs.append((AUTH_ENV, os.environ[AUTH_ENV]))
    if os.environ.get(AUTH_FILE_ENV):
        path = Path(os.environ[AUTH_FILE_ENV])
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"{AUTH_FILE_ENV}={path}: cannot be read ({type(exc).__name__})") from None
        pairs += [(f"{path} line {i}", line.strip()) for i, line in enumerate(lines, 1)
                  if line.strip() and not line.lstrip().startswith("#")]
    users = {}
    for where, pair in pairs:
        user, sep, password = pair.partition(":")
        if not sep or not user or not password:
            raise ValueError(f"{where}: expected user:password with neither empty")
        users[user] = password
    return users


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` serves this machine only (127.0.0.0/8, ::1, 'localhost')."""
    name = host.strip().strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a host name (or '0.0.0.0'-like wildcard spelled otherwise): treat as exposed


def server_processes(cores: int | None = None) -> tuple[int, int]:
    """gunicorn (workers, threads per worker): ``MLFF_ATLAS_WORKERS``/``MLFF_ATLAS_THREADS``, else from the cores.

    One worker per core (2 at least: a slow callback then does not hold every request) and 4
    threads each, since callbacks wait on file reads and on the job queue's SQLite as well as on CPU.
    """
    cores = cores or os.cpu_count() or 1
    workers = int(os.environ.get("MLFF_ATLAS_WORKERS") or max(2, cores))
    threads = int(os.environ.get("MLFF_ATLAS_THREADS") or 4)
    if workers < 1 or threads < 1:
        raise ValueError(f"MLFF_ATLAS_WORKERS={workers} and MLFF_ATLAS_THREADS={threads} must be >= 1")
    return workers, threads
