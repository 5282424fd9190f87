"""The self-contained HTML report, opened in headless Chromium with the network off."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.datasets import store
from tests.analysis.helpers import emt_reference, noisy_predictions

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def emt_store(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFF_ATLAS_DEFAULT_DATA", str(tmp_path / "no-default"))
    ref = emt_reference(elements=("Al", "Cu", "Ni"))
    store.save_dataset(ref, "emt")
    store.save_predictions(noisy_predictions(ref, "model-A", energy_noise=0.005, force_noise=0.05), "emt")
    store.save_predictions(noisy_predictions(ref, "model-B", energy_noise=0.01, force_noise=0.08, offset=0.5, universal=True, seed=3), "emt")
    return ref


def test_report_command_writes_self_contained_html(tmp_path, emt_store):
    out = tmp_path / "report.html"
    proc = subprocess.run([sys.executable, "-m", "analysis", "report", "--out", str(out), "--dataset", "emt"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    # no external resources: every script is inline, no http(s) src/href
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=['\"]?https?://", text)
    assert "Plotly" in text and "model-A" in text and "model-B" in text
    for element in ("Al", "Cu", "Ni"):
        assert f"id='el-{element}'" in text


def test_report_unknown_dataset_is_clear_error(tmp_path, emt_store):
    proc = subprocess.run([sys.executable, "-m", "analysis", "report", "--out", str(tmp_path / "r.html"), "--dataset", "nope"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "nope" in proc.stderr
    assert not (tmp_path / "r.html").exists()


@pytest.mark.browser
@pytest.mark.skipif(shutil.which("chromedriver") is None, reason="Debian chromium-driver is installed by `make test`")
def test_report_renders_every_figure_offline(tmp_path, emt_store):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    from components.report import write_report

    path = write_report(tmp_path / "report.html", "emt")
    text = path.read_text()
    n_figures = int(re.search(r"<!-- figures: (\d+) -->", text)[1])
    # maps, distributions, one parity figure per six elements; curves when the electronic analysis has them
    assert n_figures >= 7 and '"kind":"parity_small_multiples"' in text.replace(" ", "")
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    try:
        driver.set_network_conditions(offline=True, latency=0, download_throughput=0, upload_throughput=0)
        driver.get(path.as_uri())
        rendered = driver.execute_script(
            "return Array.from(document.querySelectorAll('.plotly-graph-div'))"
            ".filter(d => d.querySelector('.main-svg') && d._fullLayout).length"
        )
        assert rendered == n_figures
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
    finally:
        driver.quit()


def test_report_carries_the_dashboards_caveats(tmp_path, emt_store, monkeypatch, dash_app):
    """What the pages warn about (refused frames, sampler bias) is written into the report too."""
    import numpy as np

    from analysis.datasets.frames import Predictions
    from components.report import build_report

    arrays = emt_store.arrays()
    energy = arrays.energy.copy()
    energy[arrays.element == "Ni"] = np.nan  # a model that refused every Ni frame
    meta = {"failed_frames": {fid: "ValueError: no Ni parameters" for fid in arrays.frame_id[arrays.element == "Ni"]}}
    store.save_predictions(Predictions("model-C", emt_store.content_hash(), arrays.frame_id, energy, arrays.forces, arrays.n_atoms, meta), "emt")
    text = build_report("emt")
    import html
    import importlib

    from analysis import views

    refused = [c for c in views.caveats("emt") if "model-C" in c.text]
    assert [c.text for c in refused] == ["model-C refused 6 frame(s) of Ni; they are left out of its errors (elements with none "
                                         "left are grey). The model said: ValueError: no Ni parameters"]
    assert html.escape(refused[0].text) in text  # the report says what the map page says, in the same words
    assert refused[0].text in str(importlib.import_module("pages.home").layout(dataset="emt"))


def test_report_gives_the_adjusted_correlations_and_what_the_curves_were_computed_on(tmp_path, emt_store):
    from components.report import build_report
    from tests.conftest import write_tight_binding_curves

    root = tmp_path / "no-default"
    for symbol, t_perp in (("Al", 0.3), ("Cu", 0.6), ("Ni", 0.9)):
        write_tight_binding_curves(root, symbol, t_perp=t_perp)
    text = build_report("emt")
    section = text[text.index("id='descriptors'"):text.index("id='elements'")]
    assert "Descriptors of 3 elements" in section
    for header in ("Spearman ρ", "p (BH)", "p (Holm)"):
        assert f"<th>{header}</th>" in section
    from analysis.electronic.descriptors import DESCRIPTORS

    assert section.count("<tr>") == len(DESCRIPTORS) * 2  # one body row per descriptor x model (the header row is styled)
    assert "Eigenvalue-sum curves computed on" in text


def test_report_compares_fitted_and_universal_models(tmp_path, monkeypatch):
    from components.report import build_report
    from tests.conftest import TEST_DATASET, write_fitted_predictions

    root = tmp_path / "fitted-data"
    monkeypatch.setenv("MLFF_ATLAS_DATA", str(root))
    monkeypatch.setenv("MLFF_ATLAS_DEFAULT_DATA", str(tmp_path / "no-default"))
    write_fitted_predictions(root)
    text = build_report(TEST_DATASET)
    assert "<h2 id='fitted'>Fitted per element against universal</h2>" in text
    section = text[text.index("id='fitted'"):text.index("id='elements'")]
    assert "mace-fitted" in section and "universal-x" in section and "training frames" in section
