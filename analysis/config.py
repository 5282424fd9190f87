"""Configuration read from environment variables, in one place.

Variables:
    MLFF_ATLAS_DATA: the user data directory (default ``./data``).
    MLFF_ATLAS_CACHE: cache directory for the job queue and Dash background callbacks
        (default ``<data dir>/cache``).
    MLFF_ATLAS_DEFAULT_DATA: the embedded default data (default ``analysis/data/default``).
"""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PACKAGE_DATA_DIR = PACKAGE_DIR / "data"


def data_dir() -> Path:
    """The user data directory, created on first use."""
    path = Path(os.environ.get("MLFF_ATLAS_DATA", "data")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_data_dir() -> Path:
    """The embedded default data shipped inside the repository (read-only at run time)."""
    return Path(os.environ.get("MLFF_ATLAS_DEFAULT_DATA", PACKAGE_DATA_DIR / "default")).resolve()


def cache_dir() -> Path:
    """Cache directory for the job queue and background callbacks, created on first use."""
    env = os.environ.get("MLFF_ATLAS_CACHE")
    path = Path(env).resolve() if env else data_dir() / "cache"
    path.mkdir(parents=True, exist_ok=True)
    return path
