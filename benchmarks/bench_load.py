"""Load: N simulated users replaying the dashboard's real callbacks against 127.0.0.1.

    .venv/bin/python benchmarks/bench_load.py [--users 20] [--seconds 60] [--server gunicorn|dev|both]
        [--dataset NAME] [--data-dir DIR] [--element Cu] [--smoke]

1. Serves the dashboard on a free port of 127.0.0.1 (:func:`start_server`): with gunicorn as
   ``make run`` does (``gunicorn.conf.py``: workers and threads from the core count), or with
   ``python app.py`` (Flask's development server), or both one after the other. The store is an
   empty user data folder beside the embedded default data, or ``--data-dir DIR`` (the app writes
   its derived tables under it, ``DIR/derived``, as whenever it serves it; the caches go to a
   temporary folder); ``--dataset NAME`` opens every page on that data set.
2. Captures the real callback requests (:func:`capture`): headless Debian Chromium (Selenium,
   performance log) opens the map ``/``, an element page ``/element/Cu`` and ``/distributions``
   and waits on each until its callbacks have settled; every POST to ``/_dash-update-component``
   is recorded with its body and the status the browser got, labelled by the page and its outputs.
   A page whose load fails (an answer >= 400, as the JS bundles gave on a fresh gunicorn worker
   before ``gunicorn.conf.py`` set each worker up: the map then sent no callback at all) or that
   sends no callback stops the benchmark with that message instead of measuring fewer pages.
3. Replays them (:func:`replay`): after a warm-up (up to 8 users, each sending every request at
   least once, so each worker's caches are filled), ``--users`` threads, each with its own
   keep-alive connection, send the captured requests in page order, over and over, for
   ``--seconds``; an answer whose status is not the one the browser got is an error.

Prints, per request type, the count, p50, p95 and max latency in ms and the error count, the
requests per second, and whether every p95 meets the 300 ms goal (issue 14). The baseline is one
user replaying the same requests on the same server just before: the N-user table gives each p95
as a ratio of the 1-user p95. ``--smoke`` runs a tiny size (2 users, 3 s; the 1-user baseline
2 s) that finishes in well under a minute. Exits 1 when a page cannot be captured or a replayed
request fails. Load goes to 127.0.0.1 only, bounded in time and count.

Reuse (``benchmarks/bench_scale.py``)::

    from bench_load import capture, free_port, replay, report, start_server
    proc = start_server("gunicorn", port, data_dir)
    requests = capture(f"http://127.0.0.1:{port}", ["/?dataset=big", "/element/Cu?dataset=big"])
    stats = replay(f"http://127.0.0.1:{port}", requests, users=20, seconds=60)
"""
from __future__ import annotations

import argparse
import http.client
import json
import math
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
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parents[1]
GOAL_MS = 300.0
CALLBACK_PATH = "/_dash-update-component"
CHROMIUM_ARGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000")
SETTLE_S = 1.0  # a page has settled when no callback is in flight and none was sent or answered for this long
PAGE_TIMEOUT_S = 60.0
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(kind: str, port: int, data: Path, *, cache: Path | None = None, log: Path | None = None) -> subprocess.Popen:
    """Serve the dashboard on 127.0.0.1:``port`` and return once ``/healthz`` answers.

    Args:
        kind: ``"gunicorn"`` (``gunicorn -c gunicorn.conf.py app:server``) or ``"dev"`` (``python app.py``).
        port: the port on 127.0.0.1.
        data: the user data folder (``MLFF_ATLAS_DATA``).
        cache: the cache folder (``MLFF_ATLAS_CACHE``; default ``data/cache``).
        log: where the server's output goes (default a new temporary file). Never a pipe nobody
            reads: the development server logs every request, and once a pipe's buffer is full
            each of its threads blocks on the write and the server stops answering.
    """
    env = {**os.environ, "MLFF_ATLAS_HOST": "127.0.0.1", "MLFF_ATLAS_PORT": str(port), "MLFF_ATLAS_DATA": str(data),
           "MLFF_ATLAS_CACHE": str(cache or data / "cache")}
    bin_dir = Path(sys.executable).parent
    cmd = [str(bin_dir / "gunicorn"), "-c", "gunicorn.conf.py", "app:server"] if kind == "gunicorn" else [sys.executable, "app.py"]
    if log is None:
        handle, name = tempfile.mkstemp(prefix=f"bench-load-{kind}-", suffix=".log")
        os.close(handle)
        log = Path(name)
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    proc.wait(timeout=30)
    raise RuntimeError(f"the {kind} server did not answer /healthz within 120 s ({log}): {log.read_text()[-2000:]}")


def _loopback(base_url: str) -> tuple[str, int]:
    """(host, port) of ``base_url``, which must be on this machine: the load goes nowhere else."""
    parts = urlsplit(base_url)
    if parts.scheme != "http" or parts.hostname not in LOOPBACK or parts.port is None:
        raise ValueError(f"{base_url=} must be http://127.0.0.1:PORT (the load benchmark serves this machine only)")
    return parts.hostname, parts.port


def callback_label(page: str, body: str) -> str:
    """The request type: the page and the callback's outputs ('/ map-model.value +8')."""
    outputs = [o for o in str(json.loads(body).get("output", "?")).strip(".").split("...") if o]
    return f"{page} {outputs[0] if outputs else '?'}" + (f" +{len(outputs) - 1}" if len(outputs) > 1 else "")


def _page_events(driver: Any, base_url: str, page: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Load ``page`` and read the performance log until its callbacks have settled: (callback requests, failures)."""
    driver.get(base_url + page)
    sent: dict[str, dict[str, Any]] = {}  # requestId -> request, callbacks only, in the order sent
    pending: set[str] = set()
    failures: list[str] = []
    last_change = time.monotonic()
    deadline = last_change + PAGE_TIMEOUT_S
    while True:
        for entry in driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            method, params = message.get("method"), message.get("params", {})
            request_id = params.get("requestId")
            if method == "Network.requestWillBeSent":
                request = params["request"]
                if request.get("method") == "POST" and CALLBACK_PATH in request["url"]:
                    body = request.get("postData")
                    if body is None:  # long bodies are left out of the log
                        body = driver.execute_cdp_cmd("Network.getRequestPostData", {"requestId": request_id})["postData"]
                    url = urlsplit(request["url"])
                    sent[request_id] = {"page": page, "type": callback_label(page, body), "body": body, "status": None,
                                        "path": url.path + (f"?{url.query}" if url.query else "")}
                    pending.add(request_id)
                    last_change = time.monotonic()
            elif method == "Network.responseReceived":
                status, url = int(params["response"]["status"]), params["response"]["url"]
                if status >= 400 and url.startswith(base_url):
                    failures.append(f"{page}: {url[len(base_url):]} answered HTTP {status}")
                if request_id in sent:
                    sent[request_id]["status"] = status
            elif method in ("Network.loadingFinished", "Network.loadingFailed"):
                if method == "Network.loadingFailed" and request_id in sent:
                    failures.append(f"{page}: a callback request failed ({params.get('errorText')})")
                if request_id in pending:
                    pending.discard(request_id)
                    last_change = time.monotonic()
        now = time.monotonic()
        if not pending and sent and now - last_change >= SETTLE_S:
            break
        if failures and not pending:
            break
        if now > deadline:
            failures.append(f"{page}: {len(sent)} callbacks sent, {len(pending)} unanswered after {PAGE_TIMEOUT_S:.0f} s")
            break
        time.sleep(0.1)
    if not sent and not failures:
        failures.append(f"{page}: the page sent no callback request")
    return list(sent.values()), failures


def capture(base_url: str, paths: list[str] | tuple[str, ...]) -> list[dict[str, Any]]:
    """The callback requests headless Chromium sends while opening each of ``paths`` on ``base_url``.

    Each page is read until its callbacks have settled (none in flight, none sent or answered for
    :data:`SETTLE_S`), at most :data:`PAGE_TIMEOUT_S`.

    Args:
        base_url: ``http://127.0.0.1:PORT`` (loopback only).
        paths: the pages in the order a user opens them, query included (``/?dataset=big``).

    Returns:
        The requests in the order sent: ``page``, ``type`` (the page and the callback's outputs,
        :func:`callback_label`), ``path`` (the callback URL's path), ``body`` (the JSON sent) and
        ``status`` (the HTTP status the browser got: 200, or 204 for a callback that updates nothing).

    Raises:
        RuntimeError: a page answered an error while loading (any request >= 400), sent no
            callback, or did not settle in time; the message lists what happened.
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    _loopback(base_url)
    base_url = base_url.rstrip("/")
    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for arg in CHROMIUM_ARGS:
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    captured: list[dict[str, Any]] = []
    failures: list[str] = []
    try:
        for page in paths:
            requests, problems = _page_events(driver, base_url, page)
            captured += requests
            failures += problems
    finally:
        driver.quit()
    if failures:
        raise RuntimeError("capturing the callbacks failed:\n  " + "\n  ".join(failures))
    return captured


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank ``q`` quantile (0 < q <= 1) of non-empty ``values``."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def replay(base_url: str, requests: list[dict[str, Any]], users: int, seconds: float, *, min_rounds: int = 0) -> dict[str, Any]:
    """``users`` threads, each on its own keep-alive connection, send ``requests`` in order, over and over, for ``seconds``.

    User k starts at request k (modulo their number), so the users do not move in lock step. An
    answer whose status differs from the ``status`` the browser got (200 when not recorded), or no
    answer, is an error. With ``min_rounds``, each user goes on past ``seconds`` until it has sent
    every request that many times (a warm-up); each request still times out after 60 s.

    Returns:
        ``users``, ``seconds`` (measured), ``requests`` (sent), ``per_second``, ``errors``,
        ``error_examples`` (up to 5 strings) and ``types``: per request type ``n``, ``p50_ms``,
        ``p95_ms``, ``max_ms`` and ``errors``, the latencies in ms.
    """
    if users < 1 or seconds <= 0 or not requests:
        raise ValueError(f"{users=} must be >= 1, {seconds=} > 0, and requests must not be empty")
    host, port = _loopback(base_url)
    latencies: dict[str, list[float]] = {r["type"]: [] for r in requests}
    errors: dict[str, int] = dict.fromkeys(latencies, 0)
    examples: list[str] = []
    lock = threading.Lock()
    began = time.perf_counter()
    stop = time.monotonic() + seconds

    def user(k: int) -> None:
        conn = http.client.HTTPConnection(host, port, timeout=60)
        i = k % len(requests)
        sent = 0
        while time.monotonic() < stop or sent < min_rounds * len(requests):
            sent += 1
            req = requests[i]
            i = (i + 1) % len(requests)
            start = time.perf_counter()
            try:
                conn.request("POST", req["path"], body=req["body"], headers={"Content-Type": "application/json"})
                response = conn.getresponse()
                response.read()
                problem = None if response.status == (req.get("status") or 200) else f"HTTP {response.status}"
            except (OSError, http.client.HTTPException) as exc:
                problem = type(exc).__name__
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=60)
            elapsed = 1000 * (time.perf_counter() - start)
            with lock:
                latencies[req["type"]].append(elapsed)
                if problem:
                    errors[req["type"]] += 1
                    if len(examples) < 5:
                        examples.append(f"{req['type']}: {problem}")
        conn.close()

    threads = [threading.Thread(target=user, args=(k,), daemon=True) for k in range(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed_s = time.perf_counter() - began
    total = sum(len(v) for v in latencies.values())
    types = {name: {"n": len(v), "p50_ms": statistics.median(v), "p95_ms": percentile(v, 0.95), "max_ms": max(v),
                    "errors": errors[name]} for name, v in latencies.items() if v}
    return {"users": users, "seconds": elapsed_s, "requests": total, "per_second": total / elapsed_s,
            "errors": sum(errors.values()), "error_examples": examples, "types": types}


def report(title: str, stats: dict[str, Any], baseline: dict[str, Any] | None = None) -> bool:
    """Print ``stats`` of :func:`replay` as a table (with each p95 over ``baseline``'s when given); whether every p95 meets the goal without errors."""
    print(f"\n{title}: {stats['requests']} requests in {stats['seconds']:.1f} s ({stats['per_second']:.1f}/s), "
          f"{stats['errors']} errors")
    ratio_head = f" {'p95/base':>8}" if baseline else ""
    width = max([26, *map(len, stats["types"])])
    print(f"{'request (page and outputs)':<{width}} {'n':>6} {'p50':>7} {'p95':>7} {'max':>7} {'err':>4}{ratio_head}   (ms)")
    ok = stats["errors"] == 0
    for name, row in sorted(stats["types"].items()):
        ok = ok and row["p95_ms"] < GOAL_MS
        ratio = ""
        if baseline:
            base = baseline["types"].get(name)
            ratio = f" {row['p95_ms'] / base['p95_ms']:>8.2f}" if base else f" {'-':>8}"
        print(f"{name:<{width}} {row['n']:>6} {row['p50_ms']:>7.0f} {row['p95_ms']:>7.0f} {row['max_ms']:>7.0f} "
              f"{row['errors']:>4}{ratio}")
    for example in stats["error_examples"]:
        print(f"  error: {example}")
    print(f"every p95 under {GOAL_MS:.0f} ms and no errors: {'yes' if ok else 'no'}")
    return ok


def pages(dataset: str | None, element: str) -> list[str]:
    """The pages a user opens: the map, an element, the distributions (on ``dataset`` when given)."""
    query = f"?{urlencode({'dataset': dataset})}" if dataset else ""
    return [f"/{query}", f"/element/{element}{query}", f"/distributions{query}"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=None, help="simulated users (default 20; --smoke 2)")
    parser.add_argument("--seconds", type=float, default=None, help="how long the users replay (default 60; --smoke 3)")
    parser.add_argument("--baseline-seconds", type=float, default=None, help="how long 1 user replays first (default 10; --smoke 2)")
    parser.add_argument("--server", choices=("gunicorn", "dev", "both"), default="gunicorn")
    parser.add_argument("--dataset", default=None, help="open every page on this data set (?dataset=NAME)")
    parser.add_argument("--data-dir", type=Path, default=None, help="the user data folder to serve (default: an empty one)")
    parser.add_argument("--element", default="Cu", help="the element page to open (default Cu)")
    parser.add_argument("--smoke", action="store_true", help="a tiny run (2 users, 3 s) that finishes in well under a minute")
    args = parser.parse_args(argv)
    users = args.users or (2 if args.smoke else 20)
    seconds = args.seconds or (3.0 if args.smoke else 60.0)
    baseline_seconds = args.baseline_seconds or (2.0 if args.smoke else 10.0)
    if args.data_dir is not None and not args.data_dir.is_dir():
        parser.error(f"--data-dir {args.data_dir}: not a folder")
    kinds = ("dev", "gunicorn") if args.server == "both" else (args.server,)
    paths = pages(args.dataset, args.element)
    print(f"bench_load{' --smoke' if args.smoke else ''}: {users} users for {seconds:.0f} s against a baseline of 1 user for "
          f"{baseline_seconds:.0f} s (same server, same requests); data {args.data_dir or 'an empty user folder + the embedded default'}")
    failed = False
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        for kind in kinds:
            port = free_port()
            data = args.data_dir.resolve() if args.data_dir else Path(tmp) / kind
            proc = start_server(kind, port, data, cache=Path(tmp) / f"{kind}-cache", log=Path(tmp) / f"{kind}.log")
            base_url = f"http://127.0.0.1:{port}"
            try:
                try:
                    requests = capture(base_url, paths)
                except RuntimeError as exc:
                    print(f"{kind}: {exc}")
                    return 1
                print(f"{kind}: captured {len(requests)} callback requests ({len({r['type'] for r in requests})} types) "
                      f"from Chromium on {', '.join(paths)}")
                replay(base_url, requests, min(users, 8), 1.0 if args.smoke else 3.0, min_rounds=1)  # warm the workers' caches
                single = replay(base_url, requests, 1, baseline_seconds)
                report(f"{kind}, 1 user (baseline)", single)
                loaded = replay(base_url, requests, users, seconds)
                report(f"{kind}, {users} users", loaded, baseline=single)
                failed = failed or bool(single["errors"] or loaded["errors"])
            finally:
                proc.terminate()
                proc.wait(timeout=30)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
