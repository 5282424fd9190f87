"""Root fixtures (all tests): every test gets its own empty user data directory and cache."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path_factory, monkeypatch):
    root = tmp_path_factory.mktemp("atlas-data")
    monkeypatch.setenv("MLFF_ATLAS_DATA", str(root))
    monkeypatch.setenv("MLFF_ATLAS_CACHE", str(root / "cache"))
    yield root
