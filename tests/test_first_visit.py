"""The first visit after a (re)start of gunicorn loads: no JS bundle answers 500 while a worker sets itself up.

Dash sets its server up on a worker's first request, and its guard flag is set before the JS bundles
are registered (plotly/dash#3971): a bundle request reaching a fresh worker in that gap answered
500 ('"dash" is not a registered library'). ``gunicorn.conf.py``'s ``post_worker_init`` sets every
worker up before it serves. This test starts real gunicorn (2 workers x 4 threads, loopback only)
several times and, as soon as the port accepts connections, fires the index and a burst of
concurrent requests for the bundles the index lists (and for the layout and the callback list), as
a browser's first visit does across workers. The race is timing-dependent: without the hook about
one start in four had a failing request on the project's busy 2-core machine (17 of 60), and this
test's request check failed in 17 of 22 runs; the log check (every booted worker logged that it is
ready before serving) fails every time the hook is missing.
"""
from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GUNICORN = Path(sys.executable).with_name("gunicorn")
STARTS = 3
BUNDLE_REQUESTS = 40
DEADLINE_S = 55.0  # the whole test, a hang included; a start takes 4 to 7 s on the project's 2-core machine


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(port: int, path: str) -> tuple[int | str, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request("GET", path)
        answer = conn.getresponse()
        return answer.status, answer.read()
    except (OSError, http.client.HTTPException) as exc:
        return type(exc).__name__, b""
    finally:
        conn.close()


def _bundles(html: str) -> list[str]:
    """The Dash component-suite scripts an index page loads (its ``<script src=...>`` tags)."""
    return [src for src in re.findall(r'<script src="([^"]+)"', html) if "/_dash-component-suites/" in src]


def _callback_outputs(body: bytes) -> list[str]:
    return sorted(str(callback["output"]) for callback in json.loads(body))


def _index_bundles(env: dict[str, str]) -> list[str]:
    """The bundle URLs, from the index page the app renders in a process of its own (Flask's test client)."""
    code = "import app, json; print(json.dumps(app.server.test_client().get('/').get_data(as_text=True)))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return _bundles(json.loads(done.stdout.strip().splitlines()[-1]))


def _wait_for_port(port: int, proc: subprocess.Popen, deadline: float) -> None:
    while True:
        assert proc.poll() is None, f"gunicorn exited with {proc.returncode}"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert time.monotonic() < deadline, "gunicorn did not bind in time"
            time.sleep(0.01)


def _burst(port: int, paths: list[str]) -> list[tuple[str, int | str, bytes]]:
    """All ``paths`` requested at once, one connection each; (path, status, body) per request."""
    answers: list[tuple[str, int | str, bytes]] = []
    lock = threading.Lock()
    ready = threading.Barrier(len(paths))

    def one(path: str) -> None:
        ready.wait(timeout=20)
        status, body = _get(port, path)
        with lock:
            answers.append((path, status, body))

    threads = [threading.Thread(target=one, args=(path,)) for path in paths]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return answers


def test_every_first_visit_after_a_start_loads(tmp_path: Path) -> None:
    deadline = time.monotonic() + DEADLINE_S
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFF_ATLAS_")}
    env.update(MLFF_ATLAS_DATA=os.environ["MLFF_ATLAS_DATA"], MLFF_ATLAS_CACHE=os.environ["MLFF_ATLAS_CACHE"],
               MLFF_ATLAS_WORKERS="2", MLFF_ATLAS_THREADS="4", MLFF_ATLAS_HOST="127.0.0.1")
    bundles = _index_bundles(env)
    assert any("/dash-renderer/" in src for src in bundles) and len(bundles) >= 5, bundles
    burst = ["/"] + [bundles[i % len(bundles)] for i in range(BUNDLE_REQUESTS)] + ["/_dash-layout", "/_dash-dependencies"] * 3

    failures: list[str] = []
    logs: list[str] = []
    for start in range(STARTS):
        port = _free_port()
        log_path = tmp_path / f"gunicorn-{start}.log"
        with log_path.open("w") as log:
            proc = subprocess.Popen([str(GUNICORN), "-c", "gunicorn.conf.py", "app:server"], cwd=ROOT,
                                    env={**env, "MLFF_ATLAS_PORT": str(port)}, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_for_port(port, proc, deadline)
            answers = _burst(port, burst)
            assert len(answers) == len(burst), f"start {start}: {len(burst) - len(answers)} requests never answered"
            status, settled = _get(port, "/_dash-dependencies")
            assert status == 200
            for path, status, body in answers:
                if status != 200:
                    failures.append(f"start {start}: {path} answered {status} {body[:200]!r}")
                elif path == "/":
                    assert sorted(_bundles(body.decode())) == sorted(bundles), f"start {start}: the index lists other bundles"
                elif path == "/_dash-dependencies" and _callback_outputs(body) != _callback_outputs(settled):
                    failures.append(f"start {start}: /_dash-dependencies answered an incomplete callback list")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        logs.append(log_path.read_text())
        assert time.monotonic() < deadline, f"{STARTS} starts took longer than {DEADLINE_S:.0f} s"

    errors = [line for text in logs for line in text.splitlines() if "Error" in line or "error" in line]
    assert not failures, "\n".join(failures + ["gunicorn logged:"] + errors[:10])
    for start, text in enumerate(logs):
        booted = re.findall(r"Booting worker with pid: (\d+)", text)
        ready = re.findall(r"Worker (\d+) ready: Dash server set up", text)
        assert len(booted) == 2 and sorted(ready) == sorted(booted), f"start {start}: booted {booted}, ready {ready}\n{text}"
