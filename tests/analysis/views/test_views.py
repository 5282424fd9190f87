"""analysis.views: the cached data loaders behind the pages."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from analysis import views
from analysis.datasets import store
from analysis.datasets.frames import Predictions
from tests.conftest import TEST_DATASET, build_dataset


def test_metrics_table_matches_store_and_refreshes_on_new_predictions(own_data: Path) -> None:
    table = views.metrics_table(TEST_DATASET)
    assert set(table["model"]) == {"emt-asap-cutoff", "lj-nn"}
    assert views.metrics_table(TEST_DATASET) is table  # cached
    ref = store.load_dataset(TEST_DATASET)
    arrays = ref.arrays()
    pred = Predictions("zero-force", ref.content_hash(), arrays.frame_id, arrays.energy + 0.01 * arrays.n_atoms,
                       np.zeros_like(arrays.forces), arrays.n_atoms)
    store.save_predictions(pred, TEST_DATASET)
    fresh = views.metrics_table(TEST_DATASET)
    assert "zero-force" in set(fresh["model"])  # no restart needed
    row = fresh[(fresh["model"] == "zero-force") & (fresh["element"] == "Cu") & (fresh["temperature"] == "all")].iloc[0]
    cu = np.concatenate([f.get_forces() for f in ref.frames if f.info["element"] == "Cu"])
    assert row["force_rmse_mev_per_a"] == pytest.approx(1e3 * np.sqrt(np.mean(cu**2)))
    assert row["energy_rmse_mev_per_atom"] == pytest.approx(10.0)


def test_temperature_options_resolve_metal43_classes(atlas_data: Path) -> None:
    options = dict(views.temperature_options(TEST_DATASET))
    assert options["all"].startswith("all") and options["1.2Tc"] == "1.2 Tc" and options["Tc"] == "Tc"
    assert "1358" not in options  # Cu's Tc: offered as the class, not as one more exact temperature
    assert len(options) == len(set(options.values()))  # no two entries read alike
    hot = views.element_values(TEST_DATASET, model="lj-nn", temperature="1.2Tc")
    assert dict(zip(hot.index, hot["temperatures"])) == {"Al": "1120", "Cu": "1630", "Ni": "2138"}
    assert list(views.element_values(TEST_DATASET, model="lj-nn", temperature="1358").index) == ["Cu"]  # old links still work


def test_exact_temperatures_are_offered_where_no_class_holds_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from analysis.datasets import store
    from tests.analysis.helpers import emt_reference, noisy_predictions

    monkeypatch.setenv("MLFF_ATLAS_DATA", str(tmp_path))
    ref = emt_reference(elements=("Cu",), temperatures=(300.0, 500.0), n_frames=2)
    store.save_dataset(ref, "cu500")
    store.save_predictions(noisy_predictions(ref, "m", energy_noise=0.01, force_noise=0.05), "cu500")
    assert views.temperature_options("cu500") == [("all", "all temperatures (pooled)"), ("300K", "300 K"), ("500", "500 K (exact)")]


def test_element_values_relative_is_metric_over_reference_spread(atlas_data: Path) -> None:
    table = views.metrics_table(TEST_DATASET)
    row = table[(table["model"] == "lj-nn") & (table["element"] == "Al") & (table["temperature"] == "all")].iloc[0]
    rel = views.element_values(TEST_DATASET, model="lj-nn", metric="force_mae", relative=True)
    assert rel.loc["Al", "value"] == pytest.approx(row["force_mae_mev_per_a"] / row["ref_force_std_mev_per_a"])
    assert "reference std" in views.metric_label("force_mae", relative=True)
    with pytest.raises(ValueError, match="unknown metric 'speed'"):
        views.metric_column("speed")


def test_parity_data_subsamples_reproducibly(atlas_data: Path) -> None:
    full = views.parity_data(TEST_DATASET, "Cu", quantity="force")
    assert all(len(s.reference) == s.n_total == 4 * 8 * 3 for s in full)  # 4 frames x 8 atoms x 3 components
    small = views.parity_data(TEST_DATASET, "Cu", quantity="force", max_points=40)
    assert [len(s.reference) for s in small] == [20, 20]
    again = views.parity_data(TEST_DATASET, "Cu", quantity="force", max_points=40)
    np.testing.assert_array_equal(small[0].reference, again[0].reference)
    assert set(np.round(small[0].reference, 12)) <= set(np.round(full[0].reference, 12))
    energy = views.parity_data(TEST_DATASET, "Cu", quantity="energy", models_=["lj-nn"])
    assert len(energy) == 1 and len(energy[0].reference) == 4
    with pytest.raises(ValueError, match="max_points=0"):
        views.parity_data(TEST_DATASET, "Cu", quantity="force", max_points=0)


def test_neighbours_and_difference(atlas_data: Path) -> None:
    assert views.neighbours(TEST_DATASET, "Al") == (None, "Ni")
    assert views.neighbours(TEST_DATASET, "Ni") == ("Al", "Cu")
    assert views.neighbours(TEST_DATASET, "W") == ("Ta", "Re")  # not in the data: Metal-43 order
    a = views.element_values(TEST_DATASET, model="lj-nn", temperature="Tc")
    b = views.element_values(TEST_DATASET, model="lj-nn", temperature="1.2Tc")
    diff = views.difference(a, b)
    assert diff.loc["Cu", "value"] == pytest.approx(b.loc["Cu", "value"] - a.loc["Cu", "value"])
    assert diff.loc["Cu", "temperatures"] == "A: 1358; B: 1630"


def test_default_dataset_prefers_the_embedded_default_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFF_ATLAS_DATA", str(tmp_path / "user"))
    monkeypatch.setenv("MLFF_ATLAS_DEFAULT_DATA", str(tmp_path / "default"))
    assert views.default_dataset() is None and views.resolve_dataset("x") is None
    build_dataset(tmp_path / "user", "a-user-set", ("Al",), frames_per_temperature=1, max_temperatures=1, models=())
    build_dataset(tmp_path / "default", views.DEFAULT_DATASET, ("Cu",), frames_per_temperature=1, max_temperatures=1, models=("lj-nn",),
                  provenance={"sampler": ["emt-md"], "sampler_note": "EMT sampled these; its errors are biased low.",
                              "eos": {"Cu": {"V0_A3_per_atom": 11.8, "B0_GPa": 140.0, "Bprime": 4.9}}})
    assert views.default_dataset() == views.DEFAULT_DATASET
    assert views.resolve_dataset("a-user-set") == "a-user-set"
    assert views.summary(views.DEFAULT_DATASET).embedded is True
    note = views.sampler_note(views.DEFAULT_DATASET)
    assert note == "EMT sampled these; its errors are biased low. (sampler: emt-md)"
    assert views.sampler_note("a-user-set") is None
    assert views.load_eos("Cu", views.DEFAULT_DATASET)["B0_GPa"] == 140.0


def test_load_eos_from_eos_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "eos.json"
    path.write_text(json.dumps({"entries": {"abc123/Al": {"V0_A3_per_atom": 16.5, "B0_GPa": 77.0, "Bprime": 4.5}}}))
    monkeypatch.setattr(views.element, "eos_path", lambda: path)
    assert views.load_eos("Al")["V0_A3_per_atom"] == 16.5
    assert views.load_eos("Cu") is None


def test_max_upload_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFF_ATLAS_MAX_UPLOAD_MB", raising=False)
    assert views.max_upload_bytes() == 50 * 1024 * 1024
    monkeypatch.setenv("MLFF_ATLAS_MAX_UPLOAD_MB", "abc")
    with pytest.raises(ValueError, match="not a number"):
        views.max_upload_bytes()
    monkeypatch.setenv("MLFF_ATLAS_MAX_UPLOAD_MB", "-1")
    with pytest.raises(ValueError, match="must be positive"):
        views.max_upload_bytes()


def test_predictions_that_no_longer_match_are_set_aside(own_data: Path) -> None:
    ref = store.load_dataset(TEST_DATASET)
    arrays = ref.arrays()
    keep = arrays.element != "Ni"  # predictions made on an older version of the set without Ni
    offsets = arrays.offsets
    forces = np.concatenate([arrays.forces[offsets[i]:offsets[i + 1]] for i in np.flatnonzero(keep)])
    store.save_predictions(Predictions("old-model", "old-hash", arrays.frame_id[keep], arrays.energy[keep], forces,
                                       arrays.n_atoms[keep]), TEST_DATASET)
    assert "old-model" not in views.models(TEST_DATASET)
    assert "reference has" in views.stale_predictions(TEST_DATASET)["old-model"]
    assert set(views.models(TEST_DATASET)) == {"emt-asap-cutoff", "lj-nn"}


def test_grown_data_set_keeps_old_predictions_for_the_frames_they_match(dash_app, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Frames added after a model ran leave its predictions valid for the rest (matched by id and
    structure hash); a frame whose structure changed under the same id is not matched; evaluating
    again computes only the unseen frames."""
    from analysis.datasets.frames import ReferenceSet, make_frame
    from analysis.jobs import queue as jobs
    from tests.analysis.conftest import cu_frames

    monkeypatch.setenv("MLFF_ATLAS_DATA", str(tmp_path / "grow"))
    monkeypatch.setenv("MLFF_ATLAS_DEFAULT_DATA", str(tmp_path / "empty-default"))
    first = cu_frames(6)
    store.save_dataset(ReferenceSet(first), "grow")
    jobs.submit_job("emt", "grow", device="cpu")
    jobs.run_worker(once=True)
    assert views.metrics_table("grow")["n_frames"].max() == 6

    moved = first[0].copy()
    moved.positions[0, 0] += 0.05  # same frame id, another structure
    from ase.calculators.emt import EMT

    moved.calc = EMT()
    changed = make_frame(moved, moved.get_potential_energy(), moved.get_forces(), temperature_k=first[0].info["temperature"],
                         source="emt")
    changed.info["frame_id"] = first[0].info["frame_id"]
    store.save_dataset(ReferenceSet([changed, *first[1:], *cu_frames(3, seed=5)]), "grow")
    assert views.stale_predictions("grow") == {}
    assert views.unseen_frames("grow") == {"emt": 4}  # three new frames and the changed one
    pooled = views.metrics_table("grow").query("temperature == 'all'").iloc[0]
    assert pooled["n_frames"] == 5 and pooled["n_frames_unscored"] == 4
    assert pooled["energy_rmse_mev_per_atom"] < 1e-4  # EMT against its own labels on the matched frames
    assert views.refused_frames("grow") == {}  # not seen is not refused
    import importlib

    home = importlib.import_module("pages.home")
    assert "emt has no predictions for 4 frame(s) added or changed" in str(home.layout(dataset="grow"))
    element = importlib.import_module("pages.element")
    assert "emt has not seen 4 Cu frame(s)" in str(element.layout(symbol="Cu", dataset="grow"))

    again = jobs.submit_job("emt", "grow", device="cpu")
    jobs.run_worker(once=True)
    assert jobs.get_job(again).frames_cached == 5  # only the four unseen frames reached the model
    assert views.unseen_frames("grow") == {}
    assert views.metrics_table("grow").query("temperature == 'all'").iloc[0]["n_frames"] == 9


def test_predictions_without_structure_hashes_still_need_every_frame(own_data: Path) -> None:
    ref = store.load_dataset(TEST_DATASET)
    arrays = ref.arrays()
    short = Predictions("old-style", ref.content_hash(), arrays.frame_id[:-1], arrays.energy[:-1],
                        arrays.forces[: arrays.offsets[-2]], arrays.n_atoms[:-1])
    store.save_predictions(short, TEST_DATASET)
    assert "old-style" in views.stale_predictions(TEST_DATASET)
    assert "old-style" not in views.models(TEST_DATASET)


def test_element_page_says_when_every_stored_prediction_is_stale(dash_app, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    from analysis.datasets.frames import ReferenceSet
    from tests.analysis.conftest import cu_frames

    monkeypatch.setenv("MLFF_ATLAS_DATA", str(tmp_path / "d"))
    monkeypatch.setenv("MLFF_ATLAS_DEFAULT_DATA", str(tmp_path / "empty-default"))
    ref = ReferenceSet(cu_frames(3))
    store.save_dataset(ref, "cu")
    arrays = ref.arrays()
    store.save_predictions(Predictions("old", "x", arrays.frame_id[:2], arrays.energy[:2], arrays.forces[: arrays.offsets[2]],
                                       arrays.n_atoms[:2]), "cu")
    text = str(importlib.import_module("pages.element").layout(symbol="Cu", dataset="cu"))
    assert "The stored predictions on 'cu' do not match its frames (old)" in text
    coverage = views.prediction_coverage("cu")
    assert list(coverage["model"]) == ["old"] and coverage["status"][0].startswith("left out: ") and coverage["scored"][0] == 0


def test_build_status_of_a_set_still_being_built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dash_app) -> None:
    from analysis.datasets.frames import ReferenceSet
    from tests.analysis.conftest import cu_frames

    monkeypatch.setenv("MLFF_ATLAS_DATA", str(tmp_path / "d"))
    monkeypatch.setenv("MLFF_ATLAS_DEFAULT_DATA", str(tmp_path / "empty-default"))
    prov = {"frames_done": 4, "frames_planned": 12, "settings": {"elements": ["Cu", "Al", "W"]}}
    store.save_dataset(ReferenceSet(cu_frames(4), prov), "partial")
    assert views.build_status("partial") == (
        "Data set 'partial' is still being built: 4 of 12 planned frames (1 of 3 elements) are labelled so far; "
        "elements not computed yet are grey. See docs/reference_data.md.")
    assert views.caveats("partial") == [views.Caveat("info", views.build_status("partial") or "")]
    assert views.pending_elements("partial") == ["Al", "W"]
    import importlib

    element = importlib.import_module("pages.element")
    assert "W is not labelled yet. Data set 'partial' is still being built: 4 of 12" in str(element.layout(symbol="W", dataset="partial"))
    assert "Data set 'partial' has no frames of Ni." in str(element.layout(symbol="Ni", dataset="partial"))  # not planned
    from tests.analysis.helpers import noisy_predictions

    store.save_predictions(noisy_predictions(store.load_dataset("partial"), "m", energy_noise=0.01, force_noise=0.1), "partial")
    fig = importlib.import_module("pages.home").map_figure("partial", [], "force_rmse", "all", "absolute", "linear", "tiles", None)
    hovers = {c[1]: c[0] for t in fig.data if t.name == "no data" for row in t.customdata for c in row if c[1]}
    assert hovers["W"].endswith("not labelled yet: the data set is still being built") and hovers["Ni"].endswith("no data")
    store.save_dataset(ReferenceSet(cu_frames(4), {**prov, "frames_done": 12}), "complete")
    assert views.build_status("complete") is None
    assert views.caveats("complete") == [] and views.pending_elements("complete") == []
    store.save_dataset(ReferenceSet(cu_frames(4)), "plain")
    assert views.build_status("plain") is None


def test_frame_table_rows_agree_with_the_pooled_metrics(own_data: Path) -> None:
    """Per-frame errors aggregate back to the table's RMSE (same shift, same frames)."""
    frames = views.frame_table(TEST_DATASET, "Cu")
    table = views.metrics_table(TEST_DATASET)
    ref = store.load_dataset(TEST_DATASET).arrays()
    assert len(frames) == int((ref.element == "Cu").sum())
    assert list(frames["frame_id"]) == sorted(frames["frame_id"])
    for model in ("emt-asap-cutoff", "lj-nn"):
        row = table[(table.model == model) & (table.element == "Cu") & (table.temperature == "all")].iloc[0]
        de = frames[f"{model}: dE (meV/atom)"].to_numpy()
        f_rmse = frames[f"{model}: F RMSE (meV/Å)"].to_numpy()
        n_atoms = frames["n_atoms"].to_numpy()
        assert np.sqrt(np.mean(de**2)) == pytest.approx(row["energy_rmse_mev_per_atom"], rel=1e-9)
        assert np.sqrt(np.sum(f_rmse**2 * n_atoms) / n_atoms.sum()) == pytest.approx(row["force_rmse_mev_per_a"], rel=1e-9)


def test_provenance_summary_of_the_shipped_default_provenance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The embedded default's real provenance (its manifest) reads as labelled lines for the Data page."""
    from analysis.core.config import PACKAGE_DATA_DIR
    from analysis.datasets.frames import ReferenceSet
    from tests.analysis.conftest import cu_frames

    manifest = json.loads((PACKAGE_DATA_DIR / "default" / "datasets" / "metal43-gpaw" / "manifest.json").read_text())
    monkeypatch.setenv("MLFF_ATLAS_DATA", str(tmp_path / "d"))
    monkeypatch.setenv("MLFF_ATLAS_DEFAULT_DATA", str(tmp_path / "empty-default"))
    store.save_dataset(ReferenceSet(cu_frames(2), manifest["provenance"]), "copy")
    lines = dict(views.provenance_summary("copy"))
    assert lines["made by"] == "python -m analysis build-reference"
    assert lines["DFT"].startswith("PBE, PW 350 eV, k-point density ≥ 3.0 /Å, fermi-dirac smearing at the ionic temperature")
    assert "chgnet" in lines["configurations sampled by"]
    assert "structure of Mn" in lines and "structure of Hg" in lines
    assert lines["compute (wall, summed)"].startswith("DFT ") and " h" in lines["compute (wall, summed)"]
    assert lines["frames labelled"].endswith("of 340")  # 43 elements at 300 K and the highest temperature, 4 frames each (Hg: one temperature)
    store.save_dataset(ReferenceSet(cu_frames(2), {"imported_files": ["a.xyz"]}), "plain")
    assert views.provenance_summary("plain") == [("source files", "a.xyz")]


def test_default_model_is_the_one_that_scored_the_most_frames(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dash_app) -> None:
    """A model that refused frames is not what the map shows first when another covers the whole set."""
    import importlib

    from analysis.datasets.frames import Predictions
    from tests.analysis.helpers import emt_reference, noisy_predictions

    monkeypatch.setenv("MLFF_ATLAS_DATA", str(tmp_path / "d"))
    monkeypatch.setenv("MLFF_ATLAS_DEFAULT_DATA", str(tmp_path / "empty-default"))
    ref = emt_reference(elements=("Al", "Cu"))
    store.save_dataset(ref, "two")
    assert views.default_model("two") is None
    full = noisy_predictions(ref, "b-full", energy_noise=0.01, force_noise=0.1)
    store.save_predictions(full, "two")
    energy = full.energy.copy()
    energy[0] = np.nan  # refused one frame
    store.save_predictions(Predictions("a-refuser", full.dataset_hash, full.frame_id, energy, full.forces, full.n_atoms,
                                       {"failed_frames": {str(full.frame_id[0]): "ValueError: isolated atom"}}), "two")
    assert views.models("two") == ["a-refuser", "b-full"]
    assert views.default_model("two") == "b-full"
    home = importlib.import_module("pages.home")
    assert home.parse_state({}, "two")["model"] == ["b-full"]
    assert home.parse_state({"model": "a-refuser"}, "two")["model"] == ["a-refuser"]  # a shared link still wins
    store.save_predictions(noisy_predictions(ref, "a-refuser", energy_noise=0.01, force_noise=0.1), "two")
    assert views.default_model("two") == "a-refuser"  # a tie goes to name order


def test_frame_table_shows_the_dft_details_the_pipeline_recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """k-mesh, smearing, SCF iterations, magnetic moment and DFT time from the frames' info, through a real save
    and load (ASE's extxyz reader moves 'magmom' into the calculator's results); absent columns are left out."""
    from analysis.datasets.frames import ReferenceSet
    from tests.analysis.conftest import cu_frames

    monkeypatch.setenv("MLFF_ATLAS_DATA", str(tmp_path / "d"))
    monkeypatch.setenv("MLFF_ATLAS_DEFAULT_DATA", str(tmp_path / "empty-default"))
    frames = cu_frames(2)
    for i, atoms in enumerate(frames):
        atoms.info.update({"kpts": "5x5x5", "smearing_width_ev": 0.1, "scf_iterations": 15 + i, "magmom": 2.5 * i, "dft_wall_s": 90.0})
    store.save_dataset(ReferenceSet(frames), "dft")
    table = views.frame_table("dft", "Cu")
    assert list(table["SCF iterations"]) == [15, 16] and list(table["k-mesh"]) == ["5x5x5", "5x5x5"]
    assert list(table["magnetic moment (μB/cell)"]) == [0.0, 2.5] and list(table["DFT wall (s)"]) == [90.0, 90.0]
    plain = cu_frames(2)
    store.save_dataset(ReferenceSet(plain), "plain")
    assert not set(views.DFT_DETAIL_COLUMNS) & set(views.frame_table("plain", "Cu").columns)


def test_element_table_atoms_column_is_the_cell_size() -> None:
    from analysis import views

    name = views.resolve_dataset(None)
    if name is None:
        import pytest

        pytest.skip("no data set present")
    element = views.elements_with_data(name)[0]
    table = views.element_table(name, element)
    cells = set(views.frame_table(name, element)["n_atoms"])
    assert len(table) and set(table["n_atoms"]) <= {float(c) for c in cells} | {sum(cells) / len(cells)}


def test_close_contacts_are_named_among_the_caveats(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ase.calculators.emt import EMT

    from analysis.datasets import store
    from analysis.datasets.frames import ReferenceSet, make_frame
    from tests.analysis.helpers import emt_reference

    monkeypatch.setenv("MLFF_ATLAS_DATA", str(tmp_path))
    frames = list(emt_reference(elements=("Cu",), temperatures=(300.0,), n_frames=3).frames)
    squeezed = frames[0].copy()
    squeezed.positions[1] = squeezed.positions[0] + [1.6, 0.0, 0.0]  # 1.6 Å against Cu's 2.55 Å
    squeezed.calc = EMT()
    frames.append(make_frame(squeezed, squeezed.get_potential_energy(), squeezed.get_forces(), temperature_k=300.0))
    store.save_dataset(ReferenceSet(frames), "squeezed")
    assert views.close_contacts("squeezed") == [("Cu", "300 K")]
    assert any("1 frame(s) have a close contact" in c.text and "Cu 300 K" in c.text for c in views.caveats("squeezed"))


def test_metrics_can_leave_out_close_contacts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from ase.calculators.emt import EMT

    from analysis.cli import main
    from analysis.datasets import store
    from analysis.datasets.frames import ReferenceSet, make_frame
    from analysis.metrics.cli import without_frames
    from tests.analysis.helpers import emt_reference, noisy_predictions

    monkeypatch.setenv("MLFF_ATLAS_DATA", str(tmp_path))
    frames = list(emt_reference(elements=("Cu",), temperatures=(300.0,), n_frames=3).frames)
    squeezed = frames[0].copy()
    squeezed.positions[1] = squeezed.positions[0] + [1.6, 0.0, 0.0]
    squeezed.calc = EMT()
    frames.append(make_frame(squeezed, squeezed.get_potential_energy(), squeezed.get_forces(), temperature_k=300.0))
    ref = ReferenceSet(frames)
    store.save_dataset(ref, "squeezed")
    pred = noisy_predictions(store.load_dataset("squeezed"), "m", energy_noise=0.01, force_noise=0.05)
    store.save_predictions(pred, "squeezed")
    dropped = without_frames(pred, {str(pred.frame_id[3])})
    assert np.isnan(dropped.energy[3]) and np.isfinite(dropped.energy[:3]).all() and np.isnan(dropped.forces[-4:]).all()
    assert main(["contacts", "--dataset", "squeezed", "--ids"]) == 0
    ids = capsys.readouterr().out.strip()
    assert ids == str(pred.frame_id[3])
    assert main(["metrics", "--dataset", "squeezed", "--exclude-frames", ids, "--csv", "--temperature", "all"]) == 0
    out = capsys.readouterr()
    assert f"left out 1 frame(s): {ids}" in out.err
    row = [line.split(",") for line in out.out.splitlines()]
    header, values = row[0], row[1]
    assert values[header.index("n_frames_unscored")] == "1"
