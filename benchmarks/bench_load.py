"""Load: N simulated users replaying the dashboard's real callbacks against 127.0.0.1.

    .venv/bin/python benchmarks/bench_load.py [--users 20] [--seconds 60] [--server gunicorn|dev|both]

1. Serves the dashboard on the embedded default data (an empty user data folder) on a free port of
   127.0.0.1: with gunicorn as ``make run`` does (``gunicorn.conf.py``: workers and threads from the
   core count), or with ``python app.py`` (Flask's development server), or both one after the other.
2. Captures the real callback requests: headless Debian Chromium (Selenium, performance log) opens
   the map ``/``, an element page ``/element/Cu`` and ``/distributions``; every POST to
   ``/_dash-update-component`` is recorded with its body, labelled by the page and its outputs.
3. Replays them: ``--users`` threads, each with its own keep-alive connection, send the captured
   requests in page order, over and over, for ``--seconds``; each response must be HTTP 200.

Prints, per request type, the count, p50, p95 and max latency in ms and the error count, the
requests per second, and whether every p95 meets the 300 ms goal (issue 14). Load goes to
127.0.0.1 only, bounded in time and count.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
GOAL_MS = 300.0
PAGES = ("/", "/element/Cu", "/distributions")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(kind: str, port: int, data: Path) -> subprocess.Popen:
    env = {**os.environ, "MLFF_ATLAS_HOST": "127.0.0.1", "MLFF_ATLAS_PORT": str(port), "MLFF_ATLAS_DATA": str(data),
           "MLFF_ATLAS_CACHE": str(data / "cache")}
    bin_dir = Path(sys.executable).parent
    cmd = [str(bin_dir / "gunicorn"), "-c", "gunicorn.conf.py", "app:server"] if kind == "gunicorn" else [sys.executable, "app.py"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError(f"the {kind} server did not answer /healthz within 120 s: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")


def capture(port: int) -> list[dict[str, Any]]:
    """The callback requests Chromium sends while opening each page (performance log)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    captured: list[dict[str, Any]] = []
    try:
        for page in PAGES:
            driver.get(f"http://127.0.0.1:{port}{page}")
            time.sleep(6.0)  # the page's callbacks chain: let them all fire
            for entry in driver.get_log("performance"):
                message = json.loads(entry["message"])["message"]
                if message.get("method") != "Network.requestWillBeSent":
                    continue
                request = message["params"]["request"]
                if request.get("method") == "POST" and "/_dash-update-component" in request["url"]:
                    body = request.get("postData")
                    if body is None:
                        body = driver.execute_cdp_cmd("Network.getRequestPostData", {"requestId": message["params"]["requestId"]})["postData"]
                    outputs = json.loads(body).get("output", "?")
                    path = request["url"].split(f":{port}", 1)[1]
                    captured.append({"page": page, "type": f"{page} {outputs[:70]}", "body": body, "path": path})
    finally:
        driver.quit()
    return captured


def replay(port: int, requests: list[dict[str, Any]], users: int, seconds: float) -> tuple[dict[str, list[float]], dict[str, int], int]:
    latencies: dict[str, list[float]] = {}
    errors: dict[str, int] = {}
    lock = threading.Lock()
    stop = time.time() + seconds
    total = [0]

    def user(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        i = k % len(requests)  # users start at different points of the sequence
        while time.time() < stop:
            req = requests[i]
            i = (i + 1) % len(requests)
            start = time.perf_counter()
            try:
                conn.request("POST", req["path"], body=req["body"], headers={"Content-Type": "application/json"})
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            elapsed = 1000 * (time.perf_counter() - start)
            with lock:
                total[0] += 1
                latencies.setdefault(req["type"], []).append(elapsed)
                if not ok:
                    errors[req["type"]] = errors.get(req["type"], 0) + 1
        conn.close()

    threads = [threading.Thread(target=user, args=(k,)) for k in range(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors, total[0]


def report(kind: str, latencies: dict[str, list[float]], errors: dict[str, int], total: int, seconds: float) -> bool:
    print(f"\n{kind}: {total} requests in {seconds:.0f} s ({total / seconds:.1f}/s), {sum(errors.values())} errors")
    print(f"{'request (page and outputs)':<82} {'n':>6} {'p50':>7} {'p95':>7} {'max':>7} {'err':>4}")
    ok = not errors
    for name, values in sorted(latencies.items()):
        values = sorted(values)
        p95 = values[min(len(values) - 1, int(0.95 * len(values)))]
        ok = ok and p95 < GOAL_MS
        print(f"{name[:82]:<82} {len(values):>6} {statistics.median(values):>7.0f} {p95:>7.0f} {values[-1]:>7.0f} {errors.get(name, 0):>4}")
    print(f"every p95 under {GOAL_MS:.0f} ms and no errors: {'yes' if ok else 'no'}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--server", choices=("gunicorn", "dev", "both"), default="gunicorn")
    args = parser.parse_args()
    kinds = ("dev", "gunicorn") if args.server == "both" else (args.server,)
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        for kind in kinds:
            port = free_port()
            proc = start_server(kind, port, Path(tmp) / kind)
            try:
                requests = capture(port)
                if not requests:
                    print(f"{kind}: no callback requests captured")
                    return 1
                print(f"{kind}: captured {len(requests)} callback requests from Chromium on {', '.join(PAGES)}")
                replay(port, requests[:5], 1, 3.0)  # warm the caches of every worker a little
                single, _, n_single = replay(port, requests, 1, 10.0)
                report(f"{kind}, 1 user", single, {}, n_single, 10.0)
                latencies, errors, total = replay(port, requests, args.users, args.seconds)
                report(f"{kind}, {args.users} users", latencies, errors, total, args.seconds)
            finally:
                proc.terminate()
                proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
