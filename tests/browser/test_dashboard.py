"""Real-browser journeys through the dashboard (headless Debian Chromium via dash[testing]).

Kept few and short: each test starts the app once and clicks through one journey.
"""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from components import ids
from tests.conftest import TEST_DATASET, write_tight_binding_curves

pytestmark = pytest.mark.browser

GRAPH_READY = "#{} .main-svg"


def _wait(dash_duo, condition, timeout: float = 30) -> None:
    WebDriverWait(dash_duo.driver, timeout, poll_frequency=0.1).until(lambda _driver: condition())


def _console_errors(dash_duo) -> list[dict]:
    return [entry for entry in dash_duo.get_logs() or [] if entry.get("level") == "SEVERE"]


def _click_tile(dash_duo, graph_id: str, row: int, group: int) -> None:
    """Click the centre of the periodic-table tile at (row, group) with a real mouse event."""
    x, y, cx, cy = dash_duo.driver.execute_script(
        """
        const gd = document.getElementById(arguments[0]).getElementsByClassName('js-plotly-plot')[0];
        const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
        const box = gd.getBoundingClientRect();
        return [box.left + xa._offset + xa.l2p(arguments[2]), box.top + ya._offset + ya.l2p(arguments[1]),
                box.left + box.width / 2, box.top + box.height / 2];
        """,
        graph_id, row, group,
    )
    graph = dash_duo.find_element(f"#{graph_id} .js-plotly-plot")
    ActionChains(dash_duo.driver).move_to_element(graph).move_by_offset(int(x - cx), int(y - cy)).click().perform()


def _figure_title(dash_duo, graph_id: str) -> str:
    return dash_duo.driver.execute_script(
        "const gd = document.getElementById(arguments[0]).getElementsByClassName('js-plotly-plot')[0];"
        "return (gd.layout.title && (gd.layout.title.text || gd.layout.title)) || '';",
        graph_id,
    )


def _visible_traces(dash_duo, graph_id: str) -> list[str]:
    return dash_duo.driver.execute_script(
        "const gd = document.getElementById(arguments[0]).getElementsByClassName('js-plotly-plot')[0];"
        "return gd.data.filter(t => t.visible === undefined || t.visible === true).map(t => t.name);",
        graph_id,
    )


def test_map_click_opens_element_page_with_curves(dash_duo, dash_app, atlas_data):
    """Open the map, click Cu's tile, land on Cu's page, see its curves and switch a smearing method off."""
    write_tight_binding_curves(Path(os.environ["MLFF_ATLAS_DEFAULT_DATA"]), "Cu")
    dash_duo.start_server(dash_app)
    dash_duo.wait_for_element(GRAPH_READY.format(ids.MAP_GRAPH), timeout=30)
    _click_tile(dash_duo, ids.MAP_GRAPH, 4, 11)  # Cu: period 4, group 11
    dash_duo.wait_for_text_to_equal(f"#{ids.ELEMENT_TITLE}", "Cu (Z = 29)", timeout=30)
    assert "/element/Cu" in dash_duo.driver.current_url
    dash_duo.wait_for_element(f"#{ids.ELEMENT_TABLE}", timeout=30)
    dash_duo.wait_for_element(GRAPH_READY.format(ids.ELEMENT_FORCE_PARITY), timeout=30)
    dash_duo.wait_for_element(GRAPH_READY.format(ids.ELEMENT_DISPLACEMENT_CURVE), timeout=30)
    methods = _visible_traces(dash_duo, ids.ELEMENT_DISPLACEMENT_CURVE)
    assert "gaussian" in methods and len(methods) == 5
    dash_duo.find_element(f"#{ids.ELEMENT_METHODS} input[value='gaussian']").click()
    _wait(dash_duo, lambda: "gaussian" not in _visible_traces(dash_duo, ids.ELEMENT_DISPLACEMENT_CURVE))
    assert len(_visible_traces(dash_duo, ids.ELEMENT_FERMI_CURVE)) == 4
    _wait(dash_duo, lambda: "methods=" in dash_duo.driver.current_url)
    # arrow keys step through elements (presentation mode's navigation); Cu's predecessor here is Ni
    dash_duo.find_element("body").send_keys(Keys.ARROW_LEFT)
    dash_duo.wait_for_text_to_equal(f"#{ids.ELEMENT_TITLE}", "Ni (Z = 28)", timeout=30)
    assert "methods=" in dash_duo.driver.current_url and "gaussian" not in dash_duo.driver.current_url  # the ticked methods go along
    assert _console_errors(dash_duo) == []


def test_shared_url_reproduces_view_and_back_button(dash_duo, dash_app, atlas_data):
    """A link with a selection opens that selection; changing a control updates the URL; Back restores it."""
    dash_duo.start_server(dash_app)
    base = dash_duo.server_url
    dash_duo.driver.get(f"{base}/?dataset={TEST_DATASET}&model=lj-nn&metric=energy_rmse&temperature=1.2Tc&scale=log")
    dash_duo.wait_for_element(GRAPH_READY.format(ids.MAP_GRAPH), timeout=30)
    dash_duo.wait_for_contains_text(f"#{ids.MAP_METRIC}", "Energy RMSE", timeout=30)
    dash_duo.wait_for_contains_text(f"#{ids.MAP_TEMPERATURE}", "1.2 Tc", timeout=30)
    title = _figure_title(dash_duo, ids.MAP_GRAPH)
    assert title.startswith("lj-nn: Energy RMSE") and "1.2 Tc" in title
    # switch the colour scale to linear: the URL follows without a reload
    dash_duo.find_element(f"#{ids.MAP_COLOR_SCALE} input[value='linear']").click()
    _wait(dash_duo, lambda: "scale=log" not in dash_duo.driver.current_url, timeout=30)
    dash_duo.driver.back()
    _wait(dash_duo, lambda: "scale=log" in dash_duo.driver.current_url, timeout=30)
    _wait(dash_duo, lambda: dash_duo.find_element(f"#{ids.MAP_COLOR_SCALE} input[value='log']").is_selected())
    assert _console_errors(dash_duo) == []


def test_upload_bad_reference_file_shows_error(dash_duo, dash_app, atlas_data, tmp_path: Path):
    """A reference file without energies is refused with the importer's message naming the file."""
    bad = tmp_path / "broken_frames.xyz"
    bad.write_text("2\nLattice=\"4 0 0 0 4 0 0 0 4\" Properties=species:S:1:pos:R:3 pbc=\"T T T\"\nCu 0 0 0\nCu 2 2 2\n")
    dash_duo.start_server(dash_app)
    dash_duo.driver.get(f"{dash_duo.server_url}/data")
    upload = dash_duo.wait_for_element(f"#{ids.DATA_REF_UPLOAD} input[type=file]", timeout=30)
    upload.send_keys(str(bad))
    alert = dash_duo.wait_for_element(f"#{ids.DATA_REF_ALERT}", timeout=30)
    assert "broken_frames.xyz" in alert.text
    assert "alert-error" in alert.get_attribute("class")
    assert _console_errors(dash_duo) == []


def test_no_console_errors_on_any_page(dash_duo, dash_app, atlas_data):
    """Every page renders without a browser console error."""
    dash_duo.start_server(dash_app)
    for path, marker in [
        ("/", f"#{ids.MAP_GRAPH} .main-svg"),
        ("/distributions", f"#{ids.DIST_HISTOGRAM} .main-svg"),
        ("/element/Al", f"#{ids.ELEMENT_TITLE}"),
        ("/element/Fe", f"#{ids.ELEMENT_TITLE}"),
        ("/jobs", f"#{ids.JOBS_TABLE}"),
        ("/data", f"#{ids.DATA_LIST}"),
    ]:
        dash_duo.driver.get(dash_duo.server_url + path)
        dash_duo.wait_for_element(marker, timeout=30)
        time.sleep(0.3)
        assert _console_errors(dash_duo) == [], path


def test_submit_job_and_see_it_finish(dash_duo, dash_app, own_data):
    """Submit an EMT evaluation from the jobs page; a real worker runs it; the page shows it done and the map gains the model."""
    from analysis.jobs import queue as jobs

    worker = threading.Thread(target=jobs.Worker(poll_s=0.2).run, kwargs={"max_jobs": 1}, daemon=True)
    worker.start()
    dash_duo.start_server(dash_app)
    dash_duo.driver.get(f"{dash_duo.server_url}/jobs")
    dash_duo.wait_for_element(f"#{ids.JOBS_MODEL}", timeout=30)
    dash_duo.find_element(f"#{ids.JOBS_MODEL}").click()
    option = next(o for o in dash_duo.find_elements(".dash-dropdown-options .dash-dropdown-option") if o.text.startswith("emt:"))
    option.click()
    dash_duo.find_element(f"#{ids.JOBS_DEVICE} input[value='cpu']").click()
    dash_duo.find_element(f"#{ids.JOBS_SUBMIT}").click()
    message = dash_duo.wait_for_element(f"#{ids.JOBS_SUBMIT_ALERT}", timeout=30)
    assert "emt" in message.text

    def coverage_models() -> set[str]:
        return {line.split()[0] for line in dash_duo.find_element(f"#{ids.JOBS_COVERAGE}").text.splitlines() if line.strip()}

    assert {"emt-asap-cutoff", "lj-nn"} <= coverage_models() and "emt" not in coverage_models()  # no stored emt predictions yet
    _wait(dash_duo, lambda: "done" in dash_duo.find_element(f"#{ids.JOBS_TABLE}").text, timeout=60)
    _wait(dash_duo, lambda: "emt" in coverage_models(), timeout=30)  # the finished job's predictions are listed
    worker.join(timeout=30)
    dash_duo.driver.get(f"{dash_duo.server_url}/?model=emt")
    dash_duo.wait_for_element(GRAPH_READY.format(ids.MAP_GRAPH), timeout=30)
    assert _figure_title(dash_duo, ids.MAP_GRAPH).startswith("emt:")
    assert _console_errors(dash_duo) == []


def test_export_map_as_pdf_through_background_callback(dash_duo, dash_app, atlas_data, tmp_path: Path):
    """The export button runs kaleido in a Dash background callback (diskcache) and downloads a PDF named after the selection."""
    from components.export import export_id

    dash_duo.start_server(dash_app)
    dash_duo.driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    dash_duo.driver.get(f"{dash_duo.server_url}/?dataset={TEST_DATASET}&model=lj-nn&metric=energy_rmse")
    dash_duo.wait_for_element(GRAPH_READY.format(ids.MAP_GRAPH), timeout=30)
    dash_duo.find_element(".export summary").click()
    dash_duo.find_element(f"#{export_id('map', 'button')}").click()
    _wait(dash_duo, lambda: any(p.suffix == ".pdf" for p in tmp_path.iterdir()), timeout=60)
    pdf = next(p for p in tmp_path.iterdir() if p.suffix == ".pdf")
    assert pdf.name == f"error-map_tiles_{TEST_DATASET}_lj-nn_energy_rmse_all_absolute_double.pdf"
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert _console_errors(dash_duo) == []


def test_no_data_pages_say_so_without_console_errors(dash_duo, dash_app, empty_store):
    """Before any data exists every page says so plainly (no invented numbers) and raises no console error."""
    dash_duo.start_server(dash_app)
    for path in ("/", "/distributions", "/element/Cu", "/jobs"):
        dash_duo.driver.get(dash_duo.server_url + path)
        _wait(dash_duo, lambda: "No data yet" in dash_duo.find_element("body").text, timeout=30)
        assert _console_errors(dash_duo) == [], path
    dash_duo.driver.get(dash_duo.server_url + "/data")
    dash_duo.wait_for_contains_text(f"#{ids.DATA_LIST}", "No data sets yet", timeout=30)
    assert _console_errors(dash_duo) == []


def test_curves_page_small_multiples_in_the_browser(dash_duo, dash_app, atlas_data):
    """/curves draws the SI layout's first figure, a method switched off leaves every panel, the URL follows."""
    for i, element in enumerate(("Al", "Cu", "Ni")):
        write_tight_binding_curves(Path(os.environ["MLFF_ATLAS_DEFAULT_DATA"]), element, t_perp=0.3 + 0.2 * i)
    dash_duo.start_server(dash_app)
    dash_duo.driver.get(f"{dash_duo.server_url}/curves?group=1")
    dash_duo.wait_for_element(GRAPH_READY.format(ids.CURVES_GRAPH), timeout=30)
    assert _figure_title(dash_duo, ids.CURVES_GRAPH) == "Eigenvalue-sum curves: Al, Ni, Cu"
    assert len(_visible_traces(dash_duo, ids.CURVES_GRAPH)) == 3 * 2 * 5  # elements x panels x smearing methods
    dash_duo.find_element(f"#{ids.CURVES_METHODS} input[value='gaussian']").click()
    _wait(dash_duo, lambda: "gaussian" not in _visible_traces(dash_duo, ids.CURVES_GRAPH))
    assert len(_visible_traces(dash_duo, ids.CURVES_GRAPH)) == 3 * 2 * 4
    _wait(dash_duo, lambda: "methods=" in dash_duo.driver.current_url and "gaussian" not in dash_duo.driver.current_url)
    assert _console_errors(dash_duo) == []


def test_fit_per_element_from_the_jobs_page_and_see_its_learning_curve(dash_duo, dash_app, own_data):
    """Fit a MACE on Cu from the jobs page (the real mace_run_train, run by a real worker); the job
    shows its epochs, finishes, and the element page shows the split and the learning curve."""
    from analysis.jobs import queue as jobs
    from tests.conftest import build_dataset

    build_dataset(own_data, frames_per_temperature=3)
    worker = threading.Thread(target=jobs.Worker(poll_s=0.2).run, kwargs={"max_jobs": 1}, daemon=True)
    worker.start()
    dash_duo.start_server(dash_app)
    dash_duo.driver.get(f"{dash_duo.server_url}/jobs")
    dash_duo.wait_for_element(f"#{ids.JOBS_FIT_ELEMENTS}", timeout=30)
    dash_duo.driver.execute_script("document.querySelectorAll('details').forEach(d => d.open = true)")
    dash_duo.find_element(f"#{ids.JOBS_FIT_FAMILY} input[value='mace']").click()
    dash_duo.find_element(f"#{ids.JOBS_FIT_ELEMENTS}").click()
    next(o for o in dash_duo.find_elements(".dash-dropdown-options .dash-dropdown-option") if o.text.strip() == "Cu").click()
    dash_duo.find_element(f"#{ids.JOBS_FIT_SUBMIT}").click()
    message = dash_duo.wait_for_element(f"#{ids.JOBS_FIT_ALERT}", timeout=30)
    assert "Cu: queued job" in message.text
    _wait(dash_duo, lambda: "epochs" in dash_duo.find_element(f"#{ids.JOBS_TABLE}").text, timeout=30)
    _wait(dash_duo, lambda: "done" in dash_duo.find_element(f"#{ids.JOBS_TABLE}").text, timeout=240)
    worker.join(timeout=30)
    assert "mace-fitted Cu" in dash_duo.find_element(f"#{ids.JOBS_TABLE}").text
    dash_duo.driver.get(f"{dash_duo.server_url}/element/Cu?dataset={TEST_DATASET}")
    dash_duo.wait_for_element(GRAPH_READY.format(ids.ELEMENT_LEARNING_CURVE), timeout=30)
    assert "MACE (fitted per element)" in dash_duo.find_element(f"#{ids.ELEMENT_FIT_TABLE}").text
    assert "learning curves" in _figure_title(dash_duo, ids.ELEMENT_LEARNING_CURVE)
    assert _console_errors(dash_duo) == []
