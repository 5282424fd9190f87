"""Configuration read from environment variables, in one place.

Variables:
    MLFF_ATLAS_DATA: the user data directory (default ``./data``).
    MLFF_ATLAS_CACHE: cache directory for the job queue and Dash background callbacks
        (default ``<data dir>/cache``).
    MLFF_ATLAS_DEFAULT_DATA: the embedded default data (default ``analysis/data/default``).
    MLFF_ATLAS_HOST, MLFF_ATLAS_PORT: where the dashboard listens (default 127.0.0.1:8050).
    MLFF_ATLAS_MAX_UPLOAD_MB: largest accepted upload (default 50 MB).
    MLFF_ATLAS_MODEL_DIR: folder of model weights placed by hand (default ``<data dir>/models``).
    MLFF_ATLAS_SEVENN_VENV: the separate SevenNet environment (default ``.venv-sevenn``).
    MLFF_ATLAS_DASK_SCHEDULER: a Dask scheduler address; when set, `evaluate` runs jobs on Dask.
"""
from __future__ import annotations

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


DASK_SCHEDULER_ENV = "MLFF_ATLAS_DASK_SCHEDULER"


def dask_scheduler() -> str | None:
    """Address of a Dask scheduler (``MLFF_ATLAS_DASK_SCHEDULER``, e.g. ``tcp://host:8786``); None: local queue."""
    value = os.environ.get(DASK_SCHEDULER_ENV, "").strip()
    return value or None
