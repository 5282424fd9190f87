"""access.py on the real Flask server: basic authentication, the loopback rule, read-only mode refusing writes."""
from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from components import ids
from tests.conftest import TEST_DATASET

SUBMIT = "/_dash-update-component"


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def _submit_payload(models: list[str]) -> dict[str, Any]:
    """The request the browser sends when Submit evaluation is clicked on /jobs (the on_submit callback)."""
    return {
        "output": f"{ids.JOBS_SUBMIT_MESSAGE}.children",
        "outputs": {"id": ids.JOBS_SUBMIT_MESSAGE, "property": "children"},
        "inputs": [{"id": ids.JOBS_SUBMIT, "property": "n_clicks", "value": 1}],
        "changedPropIds": [f"{ids.JOBS_SUBMIT}.n_clicks"],
        "state": [
            {"id": ids.JOBS_MODEL, "property": "value", "value": models},
            {"id": ids.JOBS_DATASET, "property": "value", "value": TEST_DATASET},
            {"id": ids.JOBS_DEVICE, "property": "value", "value": "cpu"},
            {"id": ids.JOBS_DTYPE, "property": "value", "value": "auto"},
        ],
    }


@pytest.fixture()
def unprotected(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MLFF_ATLAS_AUTH", "MLFF_ATLAS_AUTH_FILE", "MLFF_ATLAS_READ_ONLY", "MLFF_ATLAS_INSECURE"):
        monkeypatch.setenv(name, "")


def test_binding_beyond_loopback_needs_protection(unprotected, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    import access

    for host in ("127.0.0.1", "127.0.1.1", "localhost", "::1"):
        assert access.exposure_problem(host) is None
    for host in ("0.0.0.0", "::", "192.168.1.20", "atlas.example.org"):
        problem = access.exposure_problem(host)
        assert problem and "MLFF_ATLAS_AUTH" in problem and "--read-only" in problem and "--insecure" in problem
    for name, value in (("MLFF_ATLAS_AUTH", "ann:pw"), ("MLFF_ATLAS_READ_ONLY", "1"), ("MLFF_ATLAS_INSECURE", "1")):
        monkeypatch.setenv(name, value)
        assert access.exposure_problem("0.0.0.0") is None
        monkeypatch.setenv(name, "")
    auth_file = tmp_path / "users"
    auth_file.write_text("# lab\nann:first\nbob:second\n")
    monkeypatch.setenv("MLFF_ATLAS_AUTH_FILE", str(auth_file))
    assert access.exposure_problem("0.0.0.0") is None
    auth_file.write_text("ann-without-password\n")
    with pytest.raises(ValueError, match="line 1: expected user:password"):
        access.exposure_problem("0.0.0.0")


def test_app_refuses_to_start_unprotected_beyond_loopback(unprotected, dash_app, capsys: pytest.CaptureFixture[str]) -> None:
    import app as app_module

    assert app_module.main(["--host", "0.0.0.0", "--port", "8059"]) == 2  # returns instead of serving
    assert "refusing to serve on 0.0.0.0" in capsys.readouterr().err


def test_basic_auth_guards_every_page_and_callback(unprotected, dash_app, atlas_data, monkeypatch: pytest.MonkeyPatch) -> None:
    from analysis.jobs import queue as jobs

    monkeypatch.setenv("MLFF_ATLAS_AUTH", "ann:correct horse")
    client = dash_app.server.test_client()
    for path in ("/", "/jobs", "/_dash-layout", "/_dash-dependencies"):
        answer = client.get(path)
        assert answer.status_code == 401 and answer.headers["WWW-Authenticate"].startswith('Basic realm="MLFF Error Atlas"')
    assert client.get("/", headers=_basic("ann", "wrong")).status_code == 401
    assert client.get("/", headers=_basic("bob", "correct horse")).status_code == 401
    assert client.get("/", headers=_basic("ann", "correct horse")).status_code == 200
    assert client.get("/_dash-layout", headers=_basic("ann", "correct horse")).status_code == 200
    assert client.get("/healthz").status_code == 200  # the container's health check needs no password
    refused = client.post(SUBMIT, json=_submit_payload(["emt"]))
    assert refused.status_code == 401 and jobs.list_jobs() == []
    accepted = client.post(SUBMIT, json=_submit_payload(["emt"]), headers=_basic("ann", "correct horse"))
    assert accepted.status_code == 200 and "Queued job" in accepted.get_data(as_text=True)
    assert [r.model for r in jobs.list_jobs()] == ["emt"]


def test_other_machines_are_refused_by_an_unprotected_server(unprotected, dash_app, atlas_data,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    client = dash_app.server.test_client()
    remote = {"REMOTE_ADDR": "192.168.1.20"}
    assert client.get("/", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 200
    answer = client.get("/", environ_base=remote)
    assert answer.status_code == 403 and "neither authentication nor read-only" in answer.get_data(as_text=True)
    assert client.post(SUBMIT, json=_submit_payload(["emt"]), environ_base=remote).status_code == 403
    monkeypatch.setenv("MLFF_ATLAS_READ_ONLY", "1")
    assert client.get("/", environ_base=remote).status_code == 200  # reading is what read-only mode is for


def test_read_only_refuses_a_forged_submit(unprotected, dash_app, own_data, monkeypatch: pytest.MonkeyPatch) -> None:
    """The controls are gone from the pages, and a POST of the submit callback still queues nothing."""
    import importlib

    from analysis.jobs import queue as jobs

    jobs_page, data_page = importlib.import_module("pages.jobs"), importlib.import_module("pages.data")
    monkeypatch.setenv("MLFF_ATLAS_READ_ONLY", "1")
    client = dash_app.server.test_client()
    answer = client.post(SUBMIT, json=_submit_payload(["emt"]))
    assert answer.status_code == 200 and jobs_page.READ_ONLY in answer.get_data(as_text=True)
    assert jobs.list_jobs() == []
    fit = {
        "output": f"{ids.JOBS_FIT_MESSAGE}.children",
        "outputs": {"id": ids.JOBS_FIT_MESSAGE, "property": "children"},
        "inputs": [{"id": ids.JOBS_FIT_SUBMIT, "property": "n_clicks", "value": 1}],
        "changedPropIds": [f"{ids.JOBS_FIT_SUBMIT}.n_clicks"],
        "state": [{"id": ids.JOBS_FIT_FAMILY, "property": "value", "value": "mace"},
                  {"id": ids.JOBS_DATASET, "property": "value", "value": TEST_DATASET},
                  {"id": ids.JOBS_FIT_ELEMENTS, "property": "value", "value": ["Cu"]}],
    }
    answer = client.post(SUBMIT, json=fit)
    assert answer.status_code == 200 and jobs_page.READ_ONLY in answer.get_data(as_text=True)
    assert jobs.list_jobs() == []
    layouts = json.dumps(jobs_page.layout().to_plotly_json(), default=str) + json.dumps(data_page.layout().to_plotly_json(), default=str)
    for control in (ids.JOBS_SUBMIT, ids.JOBS_MODEL, ids.JOBS_FIT_SUBMIT, ids.JOBS_FIT_ELEMENTS, ids.DATA_REF_UPLOAD, ids.DATA_PRED_UPLOAD):
        assert f'"{control}"' not in layouts
    assert jobs_page.READ_ONLY in layouts and data_page.READ_ONLY in layouts
    contents = "data:text/plain;base64," + base64.b64encode(b"1\nLattice\n").decode()
    assert data_page.import_reference_upload(contents, "a.xyz", dataset=None, fmt=None, element=None, temperature=None) == (
        "error", data_page.READ_ONLY)
    # a cancel of a queued job is ignored too
    monkeypatch.setenv("MLFF_ATLAS_READ_ONLY", "")
    job_id = jobs.submit_job("emt", TEST_DATASET, device="cpu")
    monkeypatch.setenv("MLFF_ATLAS_READ_ONLY", "1")
    cancel = {
        "output": f"..{ids.JOBS_TABLE}.children...{ids.JOBS_INTERVAL}.interval..",
        "outputs": [{"id": ids.JOBS_TABLE, "property": "children"}, {"id": ids.JOBS_INTERVAL, "property": "interval"}],
        "inputs": [{"id": ids.JOBS_INTERVAL, "property": "n_intervals", "value": 1},
                   [{"id": {"index": job_id, "type": ids.JOBS_CANCEL}, "property": "n_clicks", "value": 1}],
                   {"id": ids.JOBS_SUBMIT_MESSAGE, "property": "children", "value": None},
                   {"id": ids.JOBS_FIT_MESSAGE, "property": "children", "value": None}],
        "changedPropIds": [json.dumps({"index": job_id, "type": ids.JOBS_CANCEL}, separators=(",", ":")) + ".n_clicks"],
    }
    assert client.post(SUBMIT, json=cancel).status_code == 200
    assert jobs.get_job(job_id).state == "queued"
    monkeypatch.setenv("MLFF_ATLAS_READ_ONLY", "")
    assert client.post(SUBMIT, json=cancel).status_code == 200
    assert jobs.get_job(job_id).state == "cancelled"  # the same request does cancel when writes are allowed
