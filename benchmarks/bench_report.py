"""The offline report: its size, and how long headless Chromium takes to draw every figure.

    .venv/bin/python benchmarks/bench_report.py [--dataset NAME] [--repeats 3]
    .venv/bin/python benchmarks/bench_report.py --smoke    # two elements, drawn once (the test suite runs it)

Builds the report of the default data set (``python -m analysis report``), then opens the file in
headless Debian Chromium (Selenium) and times from navigation until every Plotly figure has drawn
its SVG (``.plotly-graph-div .main-svg`` present in each), best of ``--repeats``. As a baseline in
the same run, the same report in the layout before the small multiples (two full-width parity plots
and two full-width curve figures per element, 4000 parity points each) is built and timed the same way. Goal (issue 18): under
10 MB and drawn in under 5 s.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def draw_seconds(path: Path, repeats: int) -> tuple[float, int]:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    best, n = float("inf"), 0
    try:
        for _ in range(repeats):
            start = time.perf_counter()
            driver.get(path.as_uri())
            while True:
                n, drawn = driver.execute_script(
                    "const d = document.querySelectorAll('.plotly-graph-div');"
                    "return [d.length, Array.from(d).filter(x => x.querySelector('.main-svg')).length];")
                if n and drawn == n:
                    break
                if time.perf_counter() - start > 300:
                    raise TimeoutError(f"{drawn} of {n} figures drawn after 300 s")
                time.sleep(0.05)
            best = min(best, time.perf_counter() - start)
    finally:
        driver.quit()
    return best, n


def old_layout_report(dataset: str | None) -> str:
    """The report with the curves drawn the old way: two full-width figures per element."""
    from components import report

    views = report.views  # what the report reads (cut short by :func:`only_elements`)
    from components.curves import curves_from_electronic, eigenvalue_sum_curve

    def per_element(body: list[str], add) -> None:  # noqa: ANN001
        for element in views.elements_with_curves():
            for kind, curves in curves_from_electronic(views.load_curves(element)).items():
                add(eigenvalue_sum_curve(curves, x_label="x", y_label="y", title=f"{element}: {kind}"))

    def parity_per_element(body: list[str], add, name: str, _max_points: int) -> None:  # noqa: ANN001
        from components.parity import parity_plot

        for element in views.elements_with_data(name):
            for quantity in ("energy", "force"):
                add(parity_plot(views.parity_data(name, element, quantity=quantity, max_points=4000), quantity=quantity,
                                title=f"{element}: {quantity} parity"))

    originals = report._curves_section, report._parity_section
    report._curves_section, report._parity_section = per_element, parity_per_element
    try:
        return report.build_report(dataset)
    finally:
        report._curves_section, report._parity_section = originals


@contextmanager
def only_elements(n: int | None) -> Iterator[None]:
    """Both reports restricted to the first ``n`` elements with data and with curves (``None``: all).

    The report module reads its element lists from ``analysis.views``; here it sees a view of that
    module whose two element lists are cut short. Everything else is the real code.
    """
    from analysis import views
    from components import report

    if n is None:
        yield
        return
    cut = SimpleNamespace(elements_with_data=lambda name: views.elements_with_data(name)[:n],
                          elements_with_curves=lambda: views.elements_with_curves()[:n])

    class _Cut:
        def __getattr__(self, attr: str) -> object:
            return getattr(cut, attr) if hasattr(cut, attr) else getattr(views, attr)

    original = report.views
    report.views = _Cut()  # type: ignore[assignment]
    try:
        yield
    finally:
        report.views = original


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--elements", type=int, default=None, help="only the first N elements (default: all)")
    parser.add_argument("--smoke", action="store_true", help="tiny size (2 elements, drawn once): checks that it runs")
    args = parser.parse_args()
    if args.smoke:
        args.elements, args.repeats = 2, 1
    from components.report import build_report

    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp, only_elements(args.elements):
        for label, text in (("per-element curves (baseline)", old_layout_report(args.dataset)),
                            ("small multiples, six a figure", build_report(args.dataset))):
            path = Path(tmp) / "report.html"
            path.write_text(text)
            seconds, n = draw_seconds(path, args.repeats)
            print(f"{label:<32} {path.stat().st_size / 2**20:6.1f} MB  {n:4d} figures  drawn in {seconds:5.2f} s "
                  f"(best of {args.repeats})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
