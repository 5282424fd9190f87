"""gunicorn.conf.py: the production server applies the same access rules as ``python app.py``."""
from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUNICORN = Path(sys.executable).with_name("gunicorn")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFF_ATLAS_")}
    env.update(MLFF_ATLAS_DATA=str(tmp_path / "data"), MLFF_ATLAS_DEFAULT_DATA=str(tmp_path / "no-default"),
               MLFF_ATLAS_WORKERS="1", MLFF_ATLAS_THREADS="2", **extra)
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _status(url: str, headers: dict[str, str] | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_worker_and_thread_counts_follow_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    from analysis.core.config import server_processes

    monkeypatch.delenv("MLFF_ATLAS_WORKERS", raising=False)
    monkeypatch.delenv("MLFF_ATLAS_THREADS", raising=False)
    assert server_processes(1) == (2, 4) and server_processes(2) == (2, 4) and server_processes(16) == (16, 4)
    monkeypatch.setenv("MLFF_ATLAS_WORKERS", "3")
    monkeypatch.setenv("MLFF_ATLAS_THREADS", "8")
    assert server_processes(2) == (3, 8)


@pytest.mark.parametrize("how", ["env", "-b"])
def test_gunicorn_refuses_to_serve_unprotected_beyond_loopback(tmp_path: Path, how: str) -> None:
    port = _free_port()
    args = [str(GUNICORN), "-c", "gunicorn.conf.py", "app:server"]
    extra = {"MLFF_ATLAS_HOST": "0.0.0.0", "MLFF_ATLAS_PORT": str(port)} if how == "env" else {}
    if how == "-b":
        args[3:3] = ["-b", f"0.0.0.0:{port}"]  # gunicorn's own option overrides the config file's bind
    done = subprocess.run(args, cwd=ROOT, env=_env(tmp_path, **extra), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "refusing to serve on 0.0.0.0" in done.stderr
    done = subprocess.run(args, cwd=ROOT, env=_env(tmp_path, **extra, MLFF_ATLAS_AUTH_FILE=str(tmp_path / "absent")),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "MLFF_ATLAS_AUTH_FILE" in done.stderr and "cannot be read" in done.stderr


def test_gunicorn_serves_with_basic_auth(tmp_path: Path) -> None:
    port = _free_port()
    env = _env(tmp_path, MLFF_ATLAS_HOST="127.0.0.1", MLFF_ATLAS_PORT=str(port), MLFF_ATLAS_AUTH="ann:s3cret")
    proc = subprocess.Popen([str(GUNICORN), "-c", "gunicorn.conf.py", "app:server"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            try:
                if _status(base + "/healthz") == 200:
                    break
            except OSError:
                time.sleep(0.5)
        assert _status(base + "/") == 401
        good = {"Authorization": "Basic " + base64.b64encode(b"ann:s3cret").decode()}
        assert _status(base + "/", good) == 200
        assert _status(base + "/_dash-layout", good) == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)
