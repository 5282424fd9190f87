"""app.py: binding, upload limit, the page registry."""
from __future__ import annotations

import pytest


def test_binds_localhost_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    import app as app_module

    monkeypatch.delenv("MLFF_ATLAS_HOST", raising=False)
    monkeypatch.delenv("MLFF_ATLAS_PORT", raising=False)
    args = app_module.parse_args([])
    assert (args.host, args.port) == ("127.0.0.1", 8050)
    monkeypatch.setenv("MLFF_ATLAS_HOST", "0.0.0.0")
    monkeypatch.setenv("MLFF_ATLAS_PORT", "9000")
    assert (app_module.parse_args([]).host, app_module.parse_args([]).port) == ("0.0.0.0", 9000)
    assert app_module.parse_args(["--host", "0.0.0.0"]).host == "0.0.0.0"


def test_upload_limit_applies_to_requests(dash_app, monkeypatch: pytest.MonkeyPatch) -> None:
    import app as app_module

    assert dash_app.server.config["MAX_CONTENT_LENGTH"] == app_module.request_limit_bytes()
    monkeypatch.setenv("MLFF_ATLAS_MAX_UPLOAD_MB", "0.1")
    monkeypatch.setitem(dash_app.server.config, "MAX_CONTENT_LENGTH", app_module.request_limit_bytes())
    client = dash_app.server.test_client()
    too_big = client.post("/_dash-update-component", data=b"x" * (2 * 1024 * 1024), content_type="application/json")
    assert too_big.status_code == 413
    assert "limited to 0 MB" in too_big.get_data(as_text=True) and "MLFF_ATLAS_MAX_UPLOAD_MB" in too_big.get_data(as_text=True)


def test_every_page_is_registered(dash_app) -> None:
    import dash

    paths = {page.get("path_template") or page["path"] for page in dash.page_registry.values()}
    assert {"/", "/distributions", "/element/<symbol>", "/jobs", "/data"} <= paths
    assert dash_app.server.name == "app"
