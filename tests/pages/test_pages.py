"""Page layouts and callbacks called as plain functions on a small real data set."""
from __future__ import annotations

import base64
import importlib
from collections.abc import Callable
from contextvars import copy_context
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from dash import html, no_update
from dash._callback_context import context_value
from dash._utils import AttributeDict

from components import ids
from tests.conftest import TEST_DATASET, write_tight_binding_curves


def _find(tree: Any, component_id: str) -> Any:
    """The component with ``component_id`` in a layout tree (None when absent)."""
    if getattr(tree, "id", None) == component_id:
        return tree
    children = getattr(tree, "children", None)
    for child in children if isinstance(children, (list, tuple)) else [children]:
        if child is not None and not isinstance(child, (str, int, float)):
            found = _find(child, component_id)
            if found is not None:
                return found
    return None


def _text(tree: Any) -> str:
    if tree is None:
        return ""
    if isinstance(tree, (str, int, float)):
        return str(tree)
    if isinstance(tree, (list, tuple)):
        return " ".join(_text(t) for t in tree)
    return _text(getattr(tree, "children", None))


def _run(func: Callable[..., Any], trigger: str, *args: Any) -> Any:
    """Call a callback inside a callback context whose trigger is ``trigger`` ('id.prop')."""
    def call() -> Any:
        context_value.set(AttributeDict(triggered_inputs=[{"prop_id": trigger, "value": None}]))
        return func(*args)

    return copy_context().run(call)


@pytest.fixture
def pages(dash_app, atlas_data) -> SimpleNamespace:
    """The page modules as Dash registered them (sys.modules entries, not package attributes)."""
    names = ("home", "distributions", "element", "data", "jobs", "findings")
    return SimpleNamespace(**{n: importlib.import_module(f"pages.{n}") for n in names})


# --------------------------------------------------------------------------- error map
def test_home_layout_reflects_url_query(pages) -> None:
    layout = pages.home.layout(dataset=TEST_DATASET, model="lj-nn", metric="energy_mae", temperature="1.2Tc", scale="log")
    assert _find(layout, ids.MAP_METRIC).value == "energy_mae"
    assert _find(layout, ids.MAP_TEMPERATURE).value == "1.2Tc"
    assert _find(layout, ids.MAP_MODEL).value == ["lj-nn"]
    fig = _find(layout, ids.MAP_GRAPH).figure
    assert fig.layout.title.text.startswith("lj-nn: Energy MAE · 1.2 Tc")
    assert fig.layout.meta["log"] is True


def test_home_layout_drops_impossible_selections(pages) -> None:
    layout = pages.home.layout(model="no-such-model", metric="bogus", temperature="77", scale="cubic", view="3d", normalise="x")
    assert (_find(layout, ids.MAP_COLOR_SCALE).value, _find(layout, ids.MAP_VIEW).value) == ("linear", "tiles")
    assert _find(layout, ids.MAP_NORMALISE).value == "absolute"
    assert _find(layout, ids.MAP_METRIC).value == "force_rmse"
    assert _find(layout, ids.MAP_TEMPERATURE).value == "all"
    assert _find(layout, ids.MAP_MODEL).value == ["emt-asap-cutoff"]


def test_home_no_data_says_so(pages, empty_store) -> None:
    text = _text(pages.home.layout())
    assert "No data yet" in text


def test_update_map_split_tiles_and_grid(pages) -> None:
    fig, config = pages.home.update_map(["emt-asap-cutoff", "lj-nn"], "force_rmse", "all", "absolute", "linear", "tiles", None, None, TEST_DATASET)
    assert fig.layout.meta["models"] == ["emt-asap-cutoff", "lj-nn"]
    assert config["toImageButtonOptions"]["filename"] == f"error-map_tiles_{TEST_DATASET}_emt-asap-cutoff_lj-nn_force_rmse_all_absolute"
    grid, grid_config = pages.home.update_map([], "energy_rmse", "all", "relative", "log", "grid", None, None, TEST_DATASET)
    _, compare_config = pages.home.update_map(["lj-nn"], "energy_rmse", "all", "relative", "log", "compare", None, "T:Tc", TEST_DATASET)
    names = {grid_config["toImageButtonOptions"]["filename"], compare_config["toImageButtonOptions"]["filename"]}
    assert names == {f"error-map_grid_{TEST_DATASET}_all-models-grid_energy_rmse_all_relative",
                     f"error-map_compare_{TEST_DATASET}_lj-nn-vs-T-Tc_energy_rmse_all_relative"}  # the view is in the name
    assert grid.layout.meta["kind"] == "ptable_heatmap_grid"
    assert "reference std" in grid.layout.coloraxis.colorbar.title.text


def test_sync_url_both_directions(pages) -> None:
    values = [["lj-nn"], "force_mae", "all", "absolute", "log", "tiles", None, "T:Tc"]
    out = _run(pages.home.sync_url, f"{ids.MAP_METRIC}.value", *values, "", TEST_DATASET)
    assert out[:-1] == (no_update,) * 8
    assert out[-1] == f"?dataset={TEST_DATASET}&model=lj-nn&metric=force_mae&scale=log"  # 'vs' only in the compare view
    # the browser went back to an older URL: the controls follow it
    back = _run(pages.home.sync_url, f"{ids.MAP_URL}.search", *values, f"?dataset={TEST_DATASET}&metric=energy_rmse", TEST_DATASET)
    assert back[0] == ["emt-asap-cutoff"] and back[1] == "energy_rmse" and back[4] == "linear"
    assert back[-1] is no_update


def test_compare_view_two_temperatures(pages) -> None:
    fig, _ = pages.home.update_map(["lj-nn"], "force_rmse", "Tc", "absolute", "linear", "compare", None, "T:1.2Tc", TEST_DATASET)
    assert fig.layout.meta["kind"] == "ptable_comparison"
    assert fig.layout.meta["names"] == [f"{TEST_DATASET}, Tc", f"{TEST_DATASET}, 1.2 Tc"]
    diff = [t for t in fig.data if t.name == "values"][2]
    assert diff.coloraxis == "coloraxis2"
    a = pages.home.views.element_values(TEST_DATASET, model="lj-nn", temperature="Tc")
    b = pages.home.views.element_values(TEST_DATASET, model="lj-nn", temperature="1.2Tc")
    z = np.asarray(diff.z, dtype=float)
    assert z[3, 10] == pytest.approx(b.loc["Cu", "value"] - a.loc["Cu", "value"])  # Cu tile
    missing, _ = pages.home.update_map(["lj-nn"], "force_rmse", "Tc", "absolute", "linear", "compare", None, "D:nowhere", TEST_DATASET)
    assert "no predictions on data set 'nowhere'" in missing.layout.annotations[0].text


def test_navigate_on_tile_click(pages) -> None:
    click = {"points": [{"curveNumber": 1, "x": 11, "y": 4, "z": 1.0}]}
    href = _run(pages.home.navigate, f"{ids.MAP_GRAPH}.clickData", click, TEST_DATASET, ["lj-nn"])
    assert href == f"/element/Cu?dataset={TEST_DATASET}&model=lj-nn"
    assert _run(pages.home.navigate, f"{ids.MAP_DATASET}.value", None, "other", []) == "/?dataset=other"


def test_map_csv_download(pages) -> None:
    out = pages.home.download_csv(1, TEST_DATASET, "force_rmse", "all", "absolute")
    assert out["filename"].endswith(".csv")
    lines = out["content"].splitlines()
    assert lines[0] == "element,emt-asap-cutoff,lj-nn" and len(lines) == 4


def test_presentation_mode(pages) -> None:
    layout = pages.home.layout(present="1")
    assert layout.className == "presentation"
    fig = _find(layout, ids.MAP_GRAPH).figure
    assert fig.layout.font.size == pytest.approx(18 * 96 / 72)  # the slide preset's 18 pt
    assert fig.layout.width is None and fig.layout.legend.yref in (None, "container")  # responsive; legend in its strip
    element = pages.element.layout(symbol="Cu", present="1")
    assert element.className == "presentation"
    assert "present=1" in _find(element, ids.ELEMENT_PREV).href  # stepping keeps the mode
    kept = pages.element.layout(symbol="Cu", present="1", methods="tetrahedron")
    assert "methods=tetrahedron" in _find(kept, ids.ELEMENT_PREV).href  # and the smearing methods
    assert pages.home.layout().className is None


def test_report_button_builds_the_offline_report(pages) -> None:
    out = pages.home.download_report(1, TEST_DATASET)
    assert out["filename"] == f"mlff-atlas-report_{TEST_DATASET}.html"
    assert out["content"].startswith("<!DOCTYPE html>") and "<script" in out["content"] and "Cu" in out["content"]


# --------------------------------------------------------------------------- distributions
def test_distributions_layout_and_update(pages) -> None:
    layout = pages.distributions.layout(dataset=TEST_DATASET, mode="side")
    assert _find(layout, ids.DIST_MODE).value == "side"
    hist, scatter, stats, desc_fig, corr, _caveats = pages.distributions.update(
        "force_rmse", "all", "overlay", "emt-asap-cutoff", "lj-nn", "dos_ef_tetra_per_atom", "log", "absolute", "on", TEST_DATASET)
    assert hist.layout.meta["log_x"] is True
    assert scatter.data[0].mode == "markers+text"  # element labels on
    _, unlabelled, *_ = pages.distributions.update(
        "force_rmse", "all", "overlay", "emt-asap-cutoff", "lj-nn", "dos_ef_tetra_per_atom", "log", "absolute", "off", TEST_DATASET)
    assert unlabelled.data[0].mode == "markers"
    assert desc_fig.layout.meta["empty"] is True and "No electronic descriptors yet" in _text(corr)
    assert set(hist.layout.meta["stats"]) == {"emt-asap-cutoff", "lj-nn"}
    assert scatter.layout.meta["n"] == 3
    assert [r["model"] for r in stats.data] == ["emt-asap-cutoff", "lj-nn"]


def test_findings_state_each_claim_from_the_numbers_and_say_what_the_data_cannot_answer(pages) -> None:
    """The test data set has 3 elements at two temperatures: the trend cannot be tested, the ranking can."""
    layout = pages.findings.layout(dataset=TEST_DATASET, values="relative")
    text = _text(layout)
    assert "too few elements to compare" in text and "Per-element rankings agree across 1 model pair(s)" in text
    assert "too few to compare groups" in text  # the limits strip
    assert _find(layout, ids.FINDINGS_VALUES).value == "relative"
    assert _find(layout, ids.FINDINGS_AGREEMENT).figure.data[0].z.shape == (2, 2)
    body, search = _run(pages.findings.update, f"{ids.FINDINGS_METRIC}.value", "energy_rmse", "all", "absolute", TEST_DATASET, "")
    assert search == f"?dataset={TEST_DATASET}&metric=energy_rmse" and "Energy" in _find(html.Div(body), ids.FINDINGS_GROUPS).figure.layout.title.text


def test_distributions_sync_url(pages) -> None:
    out = _run(pages.distributions.sync_url, f"{ids.DIST_MODE}.value", "force_rmse", "all", "side", "lj-nn", "emt-asap-cutoff",
               "disp_roughness_mev", "linear", "relative", "off", "", TEST_DATASET)
    assert out[-1] == f"?dataset={TEST_DATASET}&mode=side&x=lj-nn&y=emt-asap-cutoff&descriptor=disp_roughness_mev&normalise=relative&labels=off"


def test_descriptor_panel_with_curves(pages) -> None:
    import os

    for symbol, t_perp in (("Al", 0.3), ("Cu", 0.6), ("Ni", 0.9)):
        write_tight_binding_curves(Path(os.environ["MLFF_ATLAS_DEFAULT_DATA"]), symbol, t_perp=t_perp)
    *_, fig, corr, caveats = pages.distributions.update("force_rmse", "all", "overlay", "emt-asap-cutoff", "lj-nn",
                                                        "dos_ef_gauss_per_atom", "linear", "absolute", "on", TEST_DATASET)
    assert "Descriptors of 3 elements" in _text(caveats)
    assert set(fig.layout.meta["spearman"]) == {"emt-asap-cutoff", "lj-nn"}
    rows = corr.data
    assert {r["model"] for r in rows} == {"emt-asap-cutoff", "lj-nn"}
    assert {r["n"] for r in rows if r["descriptor"] == "Displacement stiffness (eV/Å²)"} == {3}  # all three elements paired
    csv = pages.distributions.download_descriptors_csv(1, TEST_DATASET, "force_rmse", "all")
    assert csv["content"].startswith("# descriptors per element\nelement,disp_slope_ev_per_a")


# --------------------------------------------------------------------------- element
def test_element_layout_shows_row_table_and_parity(pages) -> None:
    layout = pages.element.layout(symbol="Cu", dataset=TEST_DATASET)
    assert _find(layout, ids.ELEMENT_TITLE).children == "Cu (Z = 29)"
    assert "mp-30" in _text(_find(layout, ids.ELEMENT_ROW))
    table = _find(layout, ids.ELEMENT_TABLE)
    assert {r["model"] for r in table.data} == {"emt-asap-cutoff", "lj-nn"}
    assert _find(layout, ids.ELEMENT_FORCE_PARITY).figure.layout.meta["n_points"] > 0
    per_frame = _find(layout, ids.ELEMENT_FRAME_TABLE)
    assert per_frame.data and {"frame_id", "emt-asap-cutoff: dE (meV/atom)", "lj-nn: F RMSE (meV/Å)"} <= set(per_frame.data[0])
    assert _find(layout, ids.ELEMENT_PREV).href.startswith("/element/Ni")
    assert "No eigenvalue-sum curves for Cu" in _text(_find(layout, ids.ELEMENT_CURVES_MESSAGE))
    # the PBE energy-volume fit with its GPAW points (the shipped analysis/data/eos.json)
    assert _find(layout, ids.ELEMENT_EOS_CURVE).figure.layout.meta["n_points"] == 7


def test_pages_on_a_data_set_without_predictions(pages, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The state of the embedded default while its DFT runs: frames, no model predictions yet."""
    from tests.conftest import build_dataset

    monkeypatch.setenv("MLFF_ATLAS_DATA", str(tmp_path / "frames-only"))
    build_dataset(tmp_path / "frames-only", "frames-only", ("Cu",), frames_per_temperature=1, max_temperatures=1, models=())
    assert "no model predictions yet" in _text(pages.home.layout())
    element = pages.element.layout(symbol="Cu")
    assert "No model predictions on 'frames-only' yet" in _text(element)
    hist, *_ = pages.distributions.figures("frames-only", "force_rmse", "all", "overlay", None, None)
    assert hist.layout.meta["empty"] is True
    assert pages.home.download_csv(1, "frames-only", "force_rmse", "all", "absolute")["content"].strip() == "element"


def test_element_layout_for_element_without_data_and_bad_symbol(pages) -> None:
    assert "has no frames of W" in _text(pages.element.layout(symbol="W"))
    assert "Unknown element symbol" in _text(pages.element.layout(symbol="Qq"))


def test_toggle_methods_hides_a_smearing_method(pages, atlas_data, tmp_path: Path) -> None:
    import os

    write_tight_binding_curves(Path(os.environ["MLFF_ATLAS_DEFAULT_DATA"]), "Al")
    layout = pages.element.layout(symbol="Al", methods="gaussian,tetrahedron")
    assert _find(layout, ids.ELEMENT_METHODS).value == ["gaussian", "tetrahedron"]
    disp, fermi, search = pages.element.toggle_methods(["tetrahedron"], {"symbol": "Al", "dataset": TEST_DATASET}, "?dataset=x")
    assert [t.name for t in disp.data if t.visible is True] == ["tetrahedron"]
    assert len(fermi.data) == 5
    assert search == "?dataset=x&methods=tetrahedron"


# --------------------------------------------------------------------------- data
def _upload(text: str) -> str:
    return "data:text/plain;base64," + base64.b64encode(text.encode()).decode()


def test_upload_bad_reference_shows_importer_message(pages) -> None:
    message, _table, _options = pages.data.upload_reference(_upload("not an xyz file\n"), "junk.xyz", None, None, None, None)
    assert "alert-error" in message.className
    assert message.children.startswith("junk.xyz: "), message.children


def test_upload_reference_and_predictions_round_trip(pages, own_data: Path) -> None:
    import io

    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.io import write

    frames = []
    for i in range(2):
        atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
        atoms.rattle(0.05, seed=i)
        atoms.calc = EMT()
        atoms.get_potential_energy()
        frames.append(atoms)
    buffer = io.StringIO()
    write(buffer, frames, format="extxyz")
    message, table, options = pages.data.upload_reference(_upload(buffer.getvalue()), "my cu.xyz", "cu-emt", None, None, 300)
    assert "alert-success" in message.className, message.children
    assert "cu-emt" in options and "cu-emt" in _text(table) or "cu-emt" in str(table.data)
    comma, _ = pages.data.upload_predictions([_upload("1 2\n")], ["energy_test.out"], "cu-emt", "nep,x", None, [])
    assert "contains a comma" in comma.children
    bad, _ = pages.data.upload_predictions([_upload("1 2\n")], ["energy_test.out"], "cu-emt", "nep-x", None, [])
    assert "alert-error" in bad.className and "energy_test.out" in bad.children
    # NEP-format outputs of a real second calculator (EMT with ASAP's cutoff) on the uploaded frames
    from analysis import views
    from analysis.datasets import store

    ref = store.load_dataset("cu-emt")
    energy_lines, force_lines = [], []
    for frame in ref.frames:
        atoms = frame.copy()
        atoms.calc = EMT(asap_cutoff=True)
        e_pred, f_pred = atoms.get_potential_energy() / len(atoms), atoms.get_forces()
        energy_lines.append(f"{e_pred:.10f} {frame.get_potential_energy() / len(frame):.10f}")
        force_lines += [" ".join(f"{v:.10f}" for v in (*fp, *fr)) for fp, fr in zip(f_pred, frame.get_forces())]
    good, _ = pages.data.upload_predictions([_upload("\n".join(energy_lines) + "\n"), _upload("\n".join(force_lines) + "\n")],
                                            ["energy_test.out", "force_test.out"], "cu-emt", "emt-asap", None, [])
    assert "alert-success" in good.className, good.children
    assert "emt-asap" in views.models("cu-emt")


def test_upload_limit(pages, monkeypatch: pytest.MonkeyPatch) -> None:
    from analysis.core.errors import InputFileError

    monkeypatch.setenv("MLFF_ATLAS_MAX_UPLOAD_MB", "0.000001")
    with pytest.raises(InputFileError, match="over the 0 MB upload limit"):
        pages.data.decode_upload(_upload("x" * 100), "big.xyz")
    message, _table, _options = pages.data.upload_reference(_upload("x" * 100), "big.xyz", None, None, None, None)
    assert "is 0.0 MB, over the 0 MB upload limit" in message.children and "MLFF_ATLAS_MAX_UPLOAD_MB" in message.children


def test_upload_is_decoded_to_disk_in_pieces(pages, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    for n in (0, 1, 2, 3, 4, 5, 3 * pages.data.CHUNK_CHARS // 4 + 7):  # every padding, and more than one piece
        raw = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        path = tmp_path / f"u{n}"
        assert pages.data.write_upload("data:application/octet-stream;base64," + base64.b64encode(raw).decode(), path, "u") == n
        assert path.read_bytes() == raw
    from analysis.core.errors import InputFileError

    with pytest.raises(InputFileError, match="not valid base64"):
        pages.data.write_upload("data:text/plain;base64,@@@@", tmp_path / "bad", "bad.xyz")
    monkeypatch.setenv("MLFF_ATLAS_MAX_UPLOAD_MB", "1")
    over = "data:text/plain;base64," + "A" * (4 * (2**20 // 3 + 2))
    with pytest.raises(InputFileError, match="over the 1 MB upload limit"):
        pages.data.write_upload(over, tmp_path / "over", "over.xyz")
    assert not (tmp_path / "over").exists()  # refused before anything was written


def test_sanitise_filename() -> None:
    from pages.data import sanitise_filename

    assert sanitise_filename("../../etc/pass wd") == "pass_wd"
    assert sanitise_filename("C:\\Users\\me\\OUTCAR") == "OUTCAR"
    assert sanitise_filename("...") == "upload"


# --------------------------------------------------------------------------- jobs
def test_jobs_submit_and_refresh(pages, own_data) -> None:
    kind, message = pages.jobs.submit("emt", TEST_DATASET, "cpu", "float64")
    assert kind == "info" and "Queued job" in message and "No worker is running" in message
    table, interval = _run(pages.jobs.refresh, f"{ids.JOBS_INTERVAL}.n_intervals", 1, [])
    assert "queued" in _text(table) and "No job worker is running" in _text(table)
    assert interval == pages.jobs.POLL_MS  # a job waits: poll every second
    assert pages.jobs.submit("no-such-model", TEST_DATASET, "cpu", "float64")[0] == "error"
    assert pages.jobs.submit(None, TEST_DATASET, "cpu", "float64") == ("error", "Choose a model.")
    options = pages.jobs.model_options()
    assert any(o["value"] == "emt" and not o["disabled"] for o in options)


def test_jobs_submit_refuses_paths_from_a_request(pages, own_data, tmp_path: Path) -> None:
    """family:PATH strings and unknown names are refused with one generic message; nothing is queued."""
    from analysis.jobs import queue as jobs

    missing = tmp_path / "no-such.model"
    for model in ("mace:/etc/passwd", "nep:/etc/passwd", f"mace:{missing}", f"nep:{missing}", "orb:/etc/passwd"):
        assert pages.jobs.submit(model, TEST_DATASET, "cpu", "auto") == ("error", pages.jobs.REFUSED_MODEL)
        pages.jobs.on_submit(1, [model], TEST_DATASET, "cpu", "auto")
    assert "root" not in pages.jobs.submit_many(["nep:/etc/passwd"], TEST_DATASET, "cpu", "auto")[1]
    assert jobs.list_jobs() == []


def test_jobs_page_offers_registered_model_files_by_name(pages, own_data, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A file the operator registered appears by its name and can be submitted; its path still cannot."""
    from analysis.jobs import queue as jobs
    from analysis.models import cli
    from tests.analysis.conftest import write_random_nep

    monkeypatch.setenv("MLFF_ATLAS_MODEL_DIR", str(tmp_path / "models"))
    (tmp_path / "models").mkdir()
    nep = write_random_nep(tmp_path / "models" / "nep.txt")
    assert cli.models_main(["register", "lab-nep", "--family", "nep", "--file", str(nep)]) == 0
    options = {o["value"]: o for o in pages.jobs.model_options()}
    assert "lab-nep" in options and not options["lab-nep"]["disabled"]
    assert str(nep) not in str(options["lab-nep"])  # the page shows the name, not where the file is
    kind, message = pages.jobs.submit("lab-nep", TEST_DATASET, "cpu", "auto")
    assert kind == "info" and "Queued job" in message
    assert pages.jobs.submit(f"nep:{nep}", TEST_DATASET, "cpu", "auto") == ("error", pages.jobs.REFUSED_MODEL)
    assert [r.model for r in jobs.list_jobs()] == ["lab-nep"]


def test_jobs_cancel_button(pages, own_data) -> None:
    from analysis.jobs import queue as jobs

    job_id = jobs.submit_job("emt", TEST_DATASET, device="cpu")
    _, interval = _run(pages.jobs.refresh, f'{{"index":"{job_id}","type":"{ids.JOBS_CANCEL}"}}.n_clicks', 1, [1])
    assert jobs.get_job(job_id).state == "cancelled"
    assert interval == pages.jobs.IDLE_POLL_MS  # nothing left to wait for: poll slowly


def test_jobs_table_shows_the_error_of_a_failed_job(pages, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """EMT has no parameters for tungsten: a real job on a W data set fails, and the page shows why."""
    from analysis.jobs import queue as jobs
    from tests.conftest import build_dataset

    monkeypatch.setenv("MLFF_ATLAS_DATA", str(tmp_path / "w-data"))
    build_dataset(tmp_path / "w-data", "w-lj", ("W",), frames_per_temperature=1, max_temperatures=1, reference="lj", models=())
    job_id = jobs.submit_job("emt", "w-lj", device="cpu")
    jobs.Worker(poll_s=0.1).run(once=True)
    assert jobs.get_job(job_id).state == "failed"
    text = _text(_run(pages.jobs.refresh, f"{ids.JOBS_INTERVAL}.n_intervals", 1, []))
    assert "failed" in text and "Error:" in text and jobs.get_job(job_id).error in text


def test_frames_a_model_refused_are_named_on_the_map_and_element_pages(pages, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """EMT scores Cu but has no W parameters: a real job scores the Cu frames, refuses the W ones,
    and the pages say which and why instead of failing or hiding it."""
    from analysis import views
    from analysis.jobs import queue as jobs
    from tests.conftest import build_dataset

    monkeypatch.setenv("MLFF_ATLAS_DATA", str(tmp_path / "cu-w"))
    build_dataset(tmp_path / "cu-w", "cu-w", ("Cu", "W"), frames_per_temperature=2, max_temperatures=1, reference="lj", models=())
    job_id = jobs.submit_job("emt", "cu-w", device="cpu")
    jobs.Worker(poll_s=0.1).run(once=True)
    rec = jobs.get_job(job_id)
    assert rec.state == "done" and rec.frames_failed == 2
    assert set(views.metrics_table("cu-w")["element"]) == {"Cu"}
    refused = views.refused_frames("cu-w")
    assert refused["emt"]["count"] == 2 and refused["emt"]["elements"] == ["W"]
    assert "No EMT-potential for W" in refused["emt"]["error"]
    home = _text(pages.home.layout(dataset="cu-w"))
    assert "emt refused 2 frame(s) of W" in home and "No EMT-potential for W" in home
    w_page = _text(pages.element.layout(symbol="W", dataset="cu-w"))
    assert "emt refused 2 W frame(s)" in w_page and "No model on 'cu-w' scored a W frame" in w_page
    cu_page = pages.element.layout(symbol="Cu", dataset="cu-w")
    assert "refused" not in _text(cu_page)
    assert {r["model"] for r in _find(cu_page, ids.ELEMENT_TABLE).data} == {"emt"}
    assert {r["n_frames_unscored"] for r in _find(cu_page, ids.ELEMENT_TABLE).data} == {0}
    # the jobs page says how many frames the model refused, in the job list and in the stored predictions' coverage
    assert "2 refused" in _text(_run(pages.jobs.refresh, f"{ids.JOBS_INTERVAL}.n_intervals", 1, []))
    assert views.prediction_coverage("cu-w").to_dict("records") == [
        {"model": "emt", "scored": 2, "refused": 2, "not_seen": 0, "status": "current"}]
    coverage = _text(pages.jobs.coverage_panel("cu-w"))
    assert "Stored predictions on 'cu-w': 1 model(s)" in coverage and "emt22current" in coverage.replace(" ", "")
    # the same job on another device request reads every frame from the per-frame cache
    again = jobs.submit_job("emt", "cu-w", device="auto")
    jobs.Worker(poll_s=0.1).run(once=True)
    assert jobs.get_job(again).frames_cached == 4
    assert "4 cached" in _text(_run(pages.jobs.refresh, f"{ids.JOBS_INTERVAL}.n_intervals", 1, []))


def test_upload_a_zipped_deepmd_tree(pages, own_data: Path, tmp_path: Path) -> None:
    """DeePMD data are folders: zipped, they upload like a file; a bad member is named."""
    import zipfile

    import dpdata

    from analysis import views
    from tests.analysis.helpers import emt_reference

    tree = tmp_path / "tree"
    for temp in (300.0, 1200.0):
        ref = emt_reference(elements=("Cu",), temperatures=(temp,), n_frames=2, seed=int(temp))
        system = dpdata.LabeledSystem(ref.frames[0], fmt="ase/structure")
        system.append(dpdata.LabeledSystem(ref.frames[1], fmt="ase/structure"))
        system.to("deepmd/npy", str(tree / f"Cu_{temp:.0f}K"))
    archive = tmp_path / "cu-deepmd.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(tree.rglob("*")):
            zf.write(path, path.relative_to(tree).as_posix())
    contents = "data:application/zip;base64," + base64.b64encode(archive.read_bytes()).decode()
    message, _table, options = pages.data.upload_reference(contents, "cu-deepmd.zip", None, None, None, None)
    assert "alert-success" in message.className, message.children
    assert "Imported 4 frames" in message.children and "cu-deepmd" in options
    assert {v for v, _ in views.temperature_options("cu-deepmd")} >= {"all"}
    from analysis.datasets import store

    assert sorted(set(store.load_dataset("cu-deepmd").arrays().temperature)) == [300.0, 1200.0]
    with zipfile.ZipFile(tmp_path / "bad.zip", "w") as zf:
        zf.writestr("Cu_300K/type.raw", "0 0 0 0\n")  # a DeePMD folder without coordinates or labels
    bad = "data:application/zip;base64," + base64.b64encode((tmp_path / "bad.zip").read_bytes()).decode()
    message, _table, _options = pages.data.upload_reference(bad, "bad.zip", None, None, None, None)
    assert "alert-error" in message.className and message.children.startswith("bad.zip: member Cu_300K"), message.children


def test_jobs_submit_several_models_at_once(pages, own_data) -> None:
    from analysis.jobs import queue as jobs

    kind, message = pages.jobs.submit_many(["emt", "no-such-model"], TEST_DATASET, "cpu", "float64")
    assert kind == "error" and "Queued job" in message and pages.jobs.REFUSED_MODEL in message
    assert [r.model for r in jobs.list_jobs()] == ["emt"]
    assert pages.jobs.submit_many([], TEST_DATASET, "cpu", "float64") == ("error", "Choose a model (or several).")
    assert pages.jobs.submit_many("emt", TEST_DATASET, "cpu", "float64")[0] == "info"  # a single value still works


def test_metal43_card_names_the_phase_built_where_it_differs_from_the_table(pages) -> None:
    mn = _text(pages.element.metal43_card("Mn"))
    assert "I-43m" in mn and "built here" in mn and "Im-3m (bcc)" in mn
    hg = _text(pages.element.metal43_card("Hg"))
    assert "R-3m (alpha-Hg)" in hg
    assert "built here" not in _text(pages.element.metal43_card("Cu"))


def test_eos_card_shows_the_flag_and_the_refit_of_a_doubtful_fit(pages) -> None:
    k = _text(pages.element.eos_card("K"))
    assert "flagged: B' = -1.04 outside [2, 8]" in k and "refit" in k and "4.85" in k
    assert "flagged" not in _text(pages.element.eos_card("Cu"))


def test_a_data_set_without_temperatures_is_served_on_every_page(pages, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Uploaded with the temperature field empty, evaluated by a real job: 'T unknown' on the map, the
    element page and the distributions, never an error (issue 13 item 2)."""
    import io

    from ase.io import write

    from analysis import views
    from analysis.jobs import queue as jobs
    from tests.analysis.helpers import emt_reference

    monkeypatch.setenv("MLFF_ATLAS_DATA", str(tmp_path / "user"))
    monkeypatch.setenv("MLFF_ATLAS_DEFAULT_DATA", str(tmp_path / "empty-default"))
    monkeypatch.setenv("MLFF_ATLAS_CACHE", str(tmp_path / "cache"))
    frames = list(emt_reference(elements=("Cu", "Al"), temperatures=(300.0,), n_frames=2).frames)
    for atoms in frames:
        atoms.info.pop("temperature")
    buffer = io.StringIO()
    write(buffer, frames, format="extxyz")
    message, _table, _options = pages.data.upload_reference(_upload(buffer.getvalue()), "cual.xyz", "cual", None, None, None)
    assert "4 frames have no temperature (T unknown)" in message.children, message.children
    jobs.submit_job("emt", "cual", device="cpu")
    jobs.Worker(poll_s=0.1).run(once=True)
    assert views.models("cual") == ["emt"]
    assert [v for v, _ in views.temperature_options("cual")] == ["all", "unknown"]
    home = pages.home.layout(dataset="cual", temperature="unknown")
    assert "Cu" in str(_find(home, ids.MAP_GRAPH).figure)
    fig, _config = pages.home.update_map(["emt"], "force_rmse", "unknown", "absolute", "linear", "ptable", None, None, "cual")
    assert any(np.isfinite(np.asarray(t.z, dtype=float)).any() for t in fig.data if getattr(t, "z", None) is not None)
    element = pages.element.layout(symbol="Cu", dataset="cual")
    rows = _find(element, ids.ELEMENT_TABLE).data
    assert {r["temperature"] for r in rows} >= {"unknown"}
    hist, _scatter, stats = pages.distributions.figures("cual", "force_rmse", "unknown", "overlay", None, None)
    assert hist.layout.meta is None or not hist.layout.meta.get("empty")
    assert "emt" in str(stats)
    # typed into the temperature field without leaving it: the value is read (no debounce on the field)
    layout = pages.data.layout()
    assert not getattr(_find(layout, ids.DATA_REF_TEMPERATURE), "debounce", False)


def test_data_page_modes_busy_slots_and_compounds(pages, own_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An upload into an existing data set is refused unless a mode says otherwise; a compound is listed as
    non-elemental; with every import slot held, an upload is answered 'busy' and nothing is stored."""
    import io

    from ase.io import write

    from analysis.core.config import cache_dir
    from analysis.core.locks import slot
    from analysis.datasets import store
    from tests.analysis.datasets.test_fidelity import _alloy

    buffer = io.StringIO()
    write(buffer, _alloy(3, 11), format="extxyz")
    text = _upload(buffer.getvalue())
    ok, table, _ = pages.data.upload_reference(text, "cuni.xyz", "cuni", None, None, 300)
    assert "Imported 3 frames" in ok.children, ok.children
    row = next(r for r in _find(table, ids.DATA_LIST_TABLE).data if r["data set"] == "cuni")
    assert row["elements"] == "—" and row["non-elemental"] == " ".join(store.find_dataset("cuni").compounds) != "—"
    refused, _, _ = pages.data.upload_reference(text, "cuni.xyz", "cuni", None, None, 300)
    assert "alert-error" in refused.className and "choose a mode: append" in refused.children
    again, _, _ = pages.data.upload_reference(text, "cuni.xyz", "cuni", None, None, 300, "append")
    assert "Imported 0 frames" in again.children and "3 identical frames skipped" in again.children
    assert store.find_dataset("cuni").compounds
    monkeypatch.setenv("MLFF_ATLAS_MAX_IMPORTS", "1")
    with slot(cache_dir() / "import-slots", 1):
        busy, _, _ = pages.data.upload_reference(text, "other.xyz", "other", None, None, 300)
    assert "importing 1 upload(s) already" in busy.children and "MLFF_ATLAS_MAX_IMPORTS" in busy.children
    assert "other" not in [i.name for i in store.list_datasets()]


def test_curves_page_groups_selection_url_and_export_name(pages, atlas_data, tmp_path: Path) -> None:
    """Small multiples of the eigenvalue-sum curves: the SI's six-element figures, a custom selection, the URL kept in step."""
    import os

    curves = importlib.import_module("pages.curves")
    root = Path(os.environ["MLFF_ATLAS_DEFAULT_DATA"])
    for i, element in enumerate(("Al", "Cu", "Ni")):
        write_tight_binding_curves(root, element, t_perp=0.3 + 0.2 * i)
    layout = curves.layout(group="1")
    graph = _find(layout, ids.CURVES_GRAPH)
    assert graph.figure.layout.meta["elements"] == ["Al", "Ni", "Cu"]  # the Metal-43 table's order
    assert graph.config["toImageButtonOptions"]["filename"] == "curves_figure-1_displacement_fermi_shift"
    fig, config, search = curves.update(None, ["Cu", "Al"], ["fermi_shift"], ["tetrahedron"])
    assert fig.layout.meta["elements"] == ["Al", "Cu"] and fig.layout.meta["kinds"] == ["fermi_shift"]
    assert {t.name for t in fig.data if t.visible is True} == {"tetrahedron"}
    assert search == "?elements=Al%2CCu&kinds=fermi_shift&methods=tetrahedron"
    assert config["toImageButtonOptions"]["filename"] == "curves_Al-Cu_fermi_shift"
    assert [o["value"] for o in curves.groups(["Al", "Ni", "Cu"])] == ["1", "all"]


def test_mean_of_models_map_and_model_against_model(pages) -> None:
    """SI Fig. S2 a/b: per element the mean of the models, their values on hover; and the compare view
    between two models, its default chosen so that it shows something."""
    views = pages.home.views
    fig, _ = pages.home.update_map([], "force_rmse", "all", "absolute", "linear", "mean", None, None, TEST_DATASET)
    assert fig.layout.title.text.startswith("Mean of 2 models")
    a = views.element_values(TEST_DATASET, model="emt-asap-cutoff")
    b = views.element_values(TEST_DATASET, model="lj-nn")
    mean = views.model_average(TEST_DATASET, ["emt-asap-cutoff", "lj-nn"])
    assert mean.loc["Cu", "value"] == pytest.approx((a.loc["Cu", "value"] + b.loc["Cu", "value"]) / 2)
    assert mean.loc["Cu", "spread"] == pytest.approx(abs(a.loc["Cu", "value"] - b.loc["Cu", "value"]))
    hover = str([t.customdata for t in fig.data])
    assert "mean of 2 models" in hover and "lj-nn" in hover
    vs, _ = pages.home.update_map(["lj-nn"], "force_rmse", "all", "absolute", "linear", "compare", None, "M:emt-asap-cutoff", TEST_DATASET)
    assert vs.layout.meta["names"] == [f"lj-nn, {TEST_DATASET}, all temperatures (pooled)",
                                       f"emt-asap-cutoff, {TEST_DATASET}, all temperatures (pooled)"]
    state = pages.home.parse_state({"view": "compare", "model": "lj-nn"}, TEST_DATASET)
    assert state["vs"] == "M:emt-asap-cutoff"


def test_element_page_of_a_user_data_set_says_whose_eos_and_curves_it_shows(pages, own_data: Path) -> None:
    import os

    write_tight_binding_curves(Path(os.environ["MLFF_ATLAS_DEFAULT_DATA"]), "Cu")
    page = pages.element.layout(symbol="Cu", dataset=TEST_DATASET)
    note = _find(page, ids.ELEMENT_BORROWED)
    assert note is not None and "eigenvalue-sum curves shown for Cu are the embedded default reference set's" in note.children
    assert f"not computed for {TEST_DATASET!r}" in note.children
    al = _find(pages.element.layout(symbol="Al", dataset=TEST_DATASET), ids.ELEMENT_BORROWED)
    assert al is None or ("curves" not in al.children and "equation of state shown for Al is" in al.children)


def test_presentation_mode_hides_caveats_about_models_not_on_screen(pages) -> None:
    state = {"view": "tiles", "model": ["lj-nn"]}
    models = ["emt-asap-cutoff", "lj-nn"]
    assert pages.home.concerns_view("emt-asap-cutoff refused 2 frame(s) of W", models, state) is False
    assert pages.home.concerns_view("lj-nn refused 2 frame(s) of W", models, state) is True
    assert pages.home.concerns_view("Configurations come from Langevin MD with CHGNet", models, state) is True  # about the data
    assert pages.home.concerns_view("emt-asap-cutoff refused 2 frame(s) of W", models, {"view": "grid", "model": []}) is True


# --------------------------------------------------------------------------- models fitted per element
def test_fitted_models_on_the_element_map_and_distributions_pages(pages, own_data: Path) -> None:
    from tests.conftest import write_fitted_predictions

    write_fitted_predictions(own_data)
    page = pages.element.layout(symbol="Cu", dataset=TEST_DATASET)
    table = _find(page, ids.ELEMENT_FIT_TABLE)
    assert table is not None and table.data[0]["model"] == "MACE (fitted per element)"
    assert table.data[0]["per temperature (train/valid/test)"].count("1/1/1") == 2
    curve = _find(page, ids.ELEMENT_LEARNING_CURVE).figure
    assert curve.layout.meta["kind"] == "learning-curve"
    errors = _find(page, ids.ELEMENT_TABLE)
    fitted_rows = [r for r in errors.data if r["model"] == "mace-fitted"]
    assert fitted_rows and {r["n_train"] for r in fitted_rows} == {2}
    dist = pages.distributions.layout(dataset=TEST_DATASET)
    corr = _find(dist, ids.DIST_FITTED_TABLE)
    row = next(r for r in corr.data if r["universal"] == "universal-x")
    assert row["fitted"] == "mace-fitted" and row["n_elements"] == 3 and row["p_value"] is None  # p undefined below 4
    assert _find(dist, ids.DIST_FITTED_SCATTER).figure.layout.meta["n_elements"] == 3
    assert {r["n_elements"] for r in pages.distributions.update_fitted("energy_rmse", TEST_DATASET)[1].data} == {3}
    # the map's hover states the training frames
    fig = pages.home.map_figure(TEST_DATASET, ["mace-fitted"], "force_rmse", "all", "absolute", "linear", "split", None)
    hovers = [str(cell[0]) for trace in fig.data if trace.customdata is not None for row in trace.customdata for cell in row
              if cell is not None and len(cell)]
    assert any("fitted per element on 2 training frames; errors on 2 held-out test frames" in h for h in hovers)


def test_jobs_fit_form_accepts_only_offered_choices(pages, own_data: Path) -> None:
    refused = ("error", pages.jobs.REFUSED_FIT)
    assert pages.jobs.submit_fits("mace:/etc/passwd", TEST_DATASET, ["Cu"]) == refused
    assert pages.jobs.submit_fits("mace", TEST_DATASET, ["../../etc/passwd"]) == refused
    assert pages.jobs.submit_fits("mace", TEST_DATASET, [{"a": 1}]) == refused
    assert pages.jobs.submit_fits("mace", "no-such-set", ["Cu"]) == ("error", "Choose a data set.")
    kind, message = pages.jobs.submit_fits("mace", TEST_DATASET, ["Cu"])  # 2 frames per temperature: too few
    assert kind == "error" and "too few" in message
    nep = next(o for o in pages.jobs.family_options() if o["value"] == "nep")
    from analysis.models.fitting import fit_available

    assert nep["disabled"] is (not fit_available("nep")[0])
    from tests.conftest import build_dataset

    build_dataset(own_data, frames_per_temperature=3)
    kind, message = pages.jobs.submit_fits("mace", TEST_DATASET, ["Cu", "Al"])
    assert kind == "info" and message.count("queued job") == 2
    assert pages.jobs.element_options(TEST_DATASET) == ["Al", "Cu", "Ni"]
    table, _ = _run(pages.jobs.refresh, f"{ids.JOBS_INTERVAL}.n_intervals", 1, [])
    text = _text(table)
    assert "mace-fitted Cu" in text and "0/50 epochs" in text


def test_the_map_points_to_the_data_set_with_fitted_models(pages, own_data: Path) -> None:
    from tests.conftest import build_dataset, write_fitted_predictions

    write_fitted_predictions(own_data)
    build_dataset(own_data, name="other-set")
    hint = _find(pages.home.layout(dataset="other-set"), ids.MAP_FITTED_HINT)
    assert hint is not None and TEST_DATASET in _text(hint)
    assert _find(pages.home.layout(dataset=TEST_DATASET), ids.MAP_FITTED_HINT) is None


def test_data_page_exports_a_data_set_as_a_zip_in_the_chosen_format(pages) -> None:
    import base64
    import io
    import zipfile

    from ase.io import read

    layout = pages.data.layout()
    assert _find(layout, ids.DATA_EXPORT_FORMAT).value == "mace"
    elements = pages.data.export_elements(TEST_DATASET)
    download, message = pages.data.export_download(1, TEST_DATASET, "mace", elements[:1])
    assert "exported as mace" in _text(message)
    archive = zipfile.ZipFile(io.BytesIO(base64.b64decode(download["content"])))
    assert archive.namelist() == ["frames.xyz"] and download["filename"] == f"{TEST_DATASET}-{elements[0]}_mace.zip"
    frames = read(io.StringIO(archive.read("frames.xyz").decode()), index=":", format="extxyz")
    assert frames and all("REF_energy" in a.info and a.get_chemical_symbols()[0] == elements[0] for a in frames)
    download, _ = pages.data.export_download(1, TEST_DATASET, "deepmd", None)
    names = zipfile.ZipFile(io.BytesIO(base64.b64decode(download["content"]))).namelist()
    assert any(n.endswith("type_map.raw") for n in names) and any(n.endswith("force.npy") for n in names)
    _, refused = pages.data.export_download(1, "../../etc", "mace", None)  # a name from a forged request is only a name
    assert "no data set named" in _text(refused)
    _, refused = pages.data.export_download(1, TEST_DATASET, "pickle", None)
    assert "unknown export format" in _text(refused)
