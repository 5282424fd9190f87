"""Tests of the reference pipeline (analysis.reference): settings, atomic frame writes, and one real
tier-ci run of a tiny Al cell through EOS, CHGNet sampling and GPAW, then a rerun that computes nothing."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read

from analysis import reference
from analysis.core import elements
from analysis.core.errors import InputFileError
from analysis.datasets import store


def test_tiers_resolve_and_default_covers_all_43_cheapest_first() -> None:
    default = reference.load_settings("default")
    assert sorted(default.elements) == sorted(elements.METAL43)
    assert default.n_frames >= 4 and 8 <= default.n_atoms <= 16
    costs = [reference.estimated_cost(s, default.dft) for s in default.elements]
    assert costs == sorted(costs)
    # 300 K (the lowest listed temperature) and the highest listed one of each element (Hg lists only 300 K)
    assert default.temperatures_of("Al") == [300.0, 1120.0] and default.temperatures_of("Hg") == [300.0]
    assert all(min(elements.temperatures(s)) == 300.0 for s in elements.METAL43)
    assert default.frames_hash == reference.load_settings("train").frames_hash  # the frames are shared
    ci = reference.load_settings("ci")
    assert set(ci.elements) == {"Al", "Na"} and ci.n_frames == 2
    assert ci.frames_hash != default.frames_hash
    full = reference.load_settings("full")
    assert full.temperatures_of("Al") == [300.0, 467.0, 933.0, 1120.0] and full.n_frames >= 20


def test_a_relabelling_tier_takes_its_sources_samples_and_records_the_change() -> None:
    smear = reference.load_settings("smear0.4")
    train = reference.load_settings("train")
    assert smear.source is not None and smear.source.tier == "train"
    assert set(smear.elements) == {"Al", "Cu", "Cr", "Hf"} and smear.n_frames == train.n_frames == 16
    assert smear.dft["width_ev"] == 0.4 and train.dft["width_ev"] == 0.1
    assert smear.frames_hash != train.frames_hash  # the changed width is in the hash
    recorded = smear.as_dict()["relabel_of"]
    assert recorded["frames_hash"] == train.frames_hash and recorded["changed_dft"] == {"width_ev": [0.1, 0.4]}
    # the EOS and MD samples are the source's: same build folder for the samples, same volumes
    assert reference.sampling_tier(smear) is smear.source
    assert reference.build_dir(Path("/x"), smear).parent.name == "metal43-gpaw-smear0.4"


def test_load_settings_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="tier='huge'"):
        reference.load_settings("huge")
    with pytest.raises(ValueError, match="not Metal-43"):
        reference.load_settings("ci", elements=["Al", "U"])
    bad = tmp_path / "settings.json"
    bad.write_text('{"tiers": {}}')
    with pytest.raises(InputFileError, match="cannot read reference settings"):
        reference.load_settings("ci", path=bad)
    raw = json.loads(reference.SETTINGS_PATH.read_text())
    for setups, message in (({"Ni": "99"}, r"no usable PAW setup Ni\.99\.PBE"), ({"U": "6"}, "not a Metal-43 element"),
                            (["Ni.10"], "must map element symbols")):
        bad.write_text(json.dumps({**raw, "dft": {**raw["dft"], "setups": setups}}))
        with pytest.raises(InputFileError, match=message) as info:
            reference.load_settings("ci", path=bad)
        assert str(bad) in str(info.value)  # the file is named


def _labelled(n: int, energy: float) -> Atoms:
    atoms = Atoms("Al" * n, positions=np.arange(3 * n, dtype=float).reshape(n, 3), cell=[5, 5, 5], pbc=True)
    atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=np.full((n, 3), 0.25))
    atoms.info["frame_id"] = "Al/300K/0000"
    return atoms


def test_write_frames_atomic_round_trip_and_failure_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "frames" / "Al_300K_0000.extxyz"
    reference.write_frames_atomic(target, [_labelled(2, -7.5)])
    back = read(target, format="extxyz")
    assert back.get_potential_energy() == pytest.approx(-7.5)
    np.testing.assert_allclose(back.get_forces(), 0.25)
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temporary left behind

    def interrupted(*_args: object) -> None:  # the process dies just before the rename
        raise KeyboardInterrupt

    import analysis.datasets.store

    monkeypatch.setattr(analysis.datasets.store.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        reference.write_frames_atomic(target, [_labelled(2, -1.0)])
    monkeypatch.undo()
    assert read(target, format="extxyz").get_potential_energy() == pytest.approx(-7.5)
    assert [p.name for p in target.parent.iterdir()] == [target.name]


def test_eos_table_rejects_bad_json(tmp_path: Path) -> None:
    path = tmp_path / "eos.json"
    assert reference.load_eos_table(path) == {"entries": {}}
    path.write_text("{not json")
    with pytest.raises(InputFileError, match="not valid JSON"):
        reference.load_eos_table(path)


def _timing_lines(build: Path) -> list[dict]:
    return [json.loads(line) for line in (build / "timings.jsonl").read_text().splitlines()]


def test_ci_tier_real_gpaw_run_then_rerun_computes_nothing(tmp_path: Path) -> None:
    """One tiny cell through the real code: EOS (GPAW), Langevin MD (CHGNet), GPAW labels, store."""
    pytest.importorskip("gpaw")
    pytest.importorskip("chgnet")
    settings = dataclasses.replace(reference.load_settings("ci", elements=["Al"]), n_frames=1)
    out, eos_path = tmp_path / "store", tmp_path / "eos.json"
    folder = reference.build_reference(settings, out=out, eos_path=eos_path, jobs=1)

    build = reference.build_dir(out, settings)
    frame_file = reference.frame_path(build, "Al", 1120.0, 0)
    frame = read(frame_file, format="extxyz")
    assert len(frame) == 4 and frame.info["sampler"].startswith("chgnet-")
    assert frame.info["settings_hash"] == settings.frames_hash
    assert frame.info["frame_id"] == "Al/1120K/0000"
    assert frame.info["paw_setup"] == "default" and frame.info["scf_mixer"] == "default"  # GPAW's own mixer for Al
    forces = frame.get_forces()
    assert np.abs(forces).max() > 0.01  # a thermal configuration, not the perfect lattice
    np.testing.assert_allclose(forces.sum(axis=0), 0.0, atol=0.02)

    eos = reference.load_eos_table(eos_path)["entries"][f"{settings.eos_hash}/Al"]
    assert 14.0 < eos["V0_A3_per_atom"] < 19.0 and 40.0 < eos["B0_GPa"] < 120.0
    # one scan with one k-mesh is fitted (a mesh changing with the volume puts steps into E(V))
    assert len(eos["volumes_A3_per_atom"]) == settings.eos["n_points"] and len(eos["kpts_primitive"]) == 3
    assert frame.get_volume() / len(frame) == pytest.approx(eos["V0_A3_per_atom"], rel=1e-6)

    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["groups"] == [
        {"element": "Al", "temperature": 1120.0, "n_frames": 1, "n_atoms": 4}
    ]
    assert manifest["provenance"]["frames_done"] == 1 and "Al" in manifest["provenance"]["eos"]
    stored = store.read_dataset(folder).frames
    assert stored[0].get_potential_energy() == pytest.approx(frame.get_potential_energy())

    stages = [rec["stage"] for rec in _timing_lines(build)]
    assert stages == ["eos", "md", "dft"]
    mtime = frame_file.stat().st_mtime_ns
    # rerun: everything is found on disk, nothing is recomputed
    assert reference.run_element("Al", settings, out, eos_path) == 0
    reference.build_reference(settings, out=out, eos_path=eos_path, jobs=1)
    assert [rec["stage"] for rec in _timing_lines(build)] == stages
    assert frame_file.stat().st_mtime_ns == mtime


def test_label_smearing_follows_the_ionic_temperature_with_a_floor() -> None:
    dft = reference.load_settings("default").dft
    assert dft["electronic_temperature"] == "ionic"
    hot = reference.dft_for_temperature(dft, 4434.0)
    assert hot["width_ev"] == pytest.approx(0.3821, abs=1e-4)  # k_B T of W at 1.2 Tc
    assert reference.dft_for_temperature(dft, 300.0)["width_ev"] == dft["width_ev"]  # the 0.1 eV floor
    fixed = {**dft, "electronic_temperature": "fixed"}
    assert reference.dft_for_temperature(fixed, 4434.0) == fixed


def test_plan_lists_every_element_without_computing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert reference.main(["--tier", "default", "--plan", "--out", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 45 and lines[0].startswith("Li ") and lines[-2].startswith("compute so far")
    assert lines[-1] == "projected DFT for the 340 frames left: unknown until a frame has been timed"
    assert all("frames 0/8" in line for line in lines[:-2] if not line.startswith("Hg ")) and "frames 0/4" in lines[-3]
    assert not (tmp_path / "builds").exists()


def test_a_frame_whose_scf_fails_is_marked_and_the_build_goes_on(tmp_path: Path) -> None:
    """Real GPAW with maxiter 3 cannot converge: the frame is marked failed, the build finishes the
    rest, says what failed at the end, and a rerun skips the marked frame unless asked to retry."""
    pytest.importorskip("gpaw")
    pytest.importorskip("chgnet")
    base = reference.load_settings("ci", elements=["Al"])
    settings = dataclasses.replace(base, n_frames=1, dft={**base.dft, "maxiter": 3})
    out, eos_path = tmp_path / "store", tmp_path / "eos.json"
    with pytest.raises(reference.BuildIncomplete, match=r"0 element\(s\) and 1 frame\(s\) failed.*Al_1120K_0000"):
        reference.build_reference(settings, out=out, eos_path=eos_path, jobs=1)
    build = reference.build_dir(out, settings)
    marker = reference.failed_path(build, "Al", 1120.0, 0)
    assert marker.is_file() and "onverge" in json.loads(marker.read_text())["error"]
    assert not reference.frame_path(build, "Al", 1120.0, 0).is_file()
    dft_lines = [r for r in _timing_lines(build) if r["stage"] == "dft"]
    assert len(dft_lines) == 1 and "failed" in dft_lines[0]
    # a rerun does not spend the time again; --retry-failed does
    assert reference.run_element("Al", settings, out, eos_path) == 0
    assert len([r for r in _timing_lines(build) if r["stage"] == "dft"]) == 1
    assert reference.run_element("Al", settings, out, eos_path, retry_failed=True) == 0
    assert len([r for r in _timing_lines(build) if r["stage"] == "dft"]) == 2
    assert reference.failed_frames(build) == {"Al_1120K_0000": json.loads(marker.read_text())["error"]}


def test_projection_uses_measured_times_and_scales_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "timings.jsonl"
    lines = [{"stage": "dft", "element": "Al", "wall_s": 10.0}, {"stage": "dft", "element": "Al", "wall_s": 30.0},
             {"stage": "dft", "element": "Cu", "wall_s": 100.0}, {"stage": "dft", "element": "Cu", "wall_s": 1e6, "failed": "x"},
             {"stage": "eos", "element": "W", "wall_s": 50.0}]
    path.write_text("\n".join(json.dumps(r) for r in lines) + "\n{cut")
    measured = reference.dft_seconds_per_frame(path)
    assert measured == {"Al": 20.0, "Cu": 100.0}
    cost = {"Al": 10.0, "Cu": 100.0, "W": 200.0}
    # Al 2 s/unit, Cu 1 s/unit: median 1.5 s/unit for W
    assert reference.projected_seconds({"Al": 1, "Cu": 2, "W": 3}, measured, cost) == pytest.approx(20 + 200 + 3 * 1.5 * 200)
    # by group: Fe (spin-polarised) timed at 10 s/unit scales Co, not W; W uses the spin-paired median
    measured["Fe"], cost["Fe"], cost["Co"] = 2000.0, 200.0, 300.0
    group = {"Al": "paired", "Cu": "paired", "W": "paired", "Fe": "spin", "Co": "spin"}
    assert reference.projected_seconds({"W": 1, "Co": 1}, measured, cost, group) == pytest.approx(1.5 * 200 + 10.0 * 300)
    assert reference.projected_seconds({"Co": 1}, {"Al": 20.0}, cost, group) == pytest.approx(2.0 * 300)  # no spin timed yet


def _frame_of(symbol: str, volume_per_atom: float, **info: object) -> Atoms:
    atoms = Atoms(symbol * 2, scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5]], cell=np.eye(3) * (2 * volume_per_atom) ** (1 / 3), pbc=True)
    atoms.calc = SinglePointCalculator(atoms, energy=-1.0, forces=np.zeros((2, 3)))
    atoms.info.update({"element": symbol, **info})
    return atoms


def test_a_per_element_setup_keeps_the_other_elements_frames(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Choosing Ni.10 for Ni leaves the settings hash (and every other element's frames) as they were;
    a Ni frame labelled with another setup is not current: not counted, not shipped, computed again."""
    settings = reference.load_settings("default")
    assert settings.setup_of("Ni") == "10" and settings.setup_of("Fe") == "default"
    plain = dataclasses.replace(settings, dft={k: v for k, v in settings.dft.items() if k not in ("setups", "mixers")})
    assert plain.frames_hash == settings.frames_hash and plain.eos_hash == settings.eos_hash
    mixed = dataclasses.replace(settings, dft={**settings.dft, "mixers": {"Co": {"beta": 0.1}}})
    assert mixed.frames_hash == settings.frames_hash  # a per-element mixer keeps the frames (recorded per frame)
    assert settings.eos_hash_of("Fe") == settings.eos_hash != settings.eos_hash_of("Ni")
    assert plain.eos_hash_of("Ni") == settings.eos_hash  # the default setup's EOS keeps its old key
    assert reference.estimated_cost("Ni", settings.dft) == 10**2 * 3 < reference.estimated_cost("Ni", plain.dft) == 16**2 * 3

    build = reference.build_dir(tmp_path, settings)
    old_ni = _frame_of("Ni", 10.9)  # made before setups were recorded: the default one
    new_ni = _frame_of("Ni", 10.9, paw_setup="10")
    fe = _frame_of("Fe", 11.6)
    assert reference.is_current(fe, settings) and not reference.is_current(old_ni, settings) and reference.is_current(new_ni, settings)
    assert reference.is_current(old_ni, plain) and not reference.is_current(new_ni, plain)
    reference.write_frames_atomic(reference.frame_path(build, "Fe", 2173.0, 0), [fe])
    reference.write_frames_atomic(reference.frame_path(build, "Ni", 2138.0, 0), [old_ni])
    reference.write_frames_atomic(reference.frame_path(build, "Ni", 2138.0, 1), [new_ni])
    assert [a.info["element"] for a in reference.finished_frames(build, settings)] == ["Fe", "Ni"]
    assert len(reference.finished_frames(build)) == 3
    assert reference.main(["--tier", "default", "--plan", "--out", str(tmp_path)]) == 0
    plan = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[:-2]}
    assert "frames 1/8" in plan["Ni"] and "frames 1/8" in plan["Fe"] and "cost     300" in plan["Ni"]


def test_samples_at_another_volume_are_not_reused() -> None:
    """Sampled cells are built at the EOS V0; samples from another fit (another setup) are drawn again."""
    samples = [_frame_of("Ni", 10.9), _frame_of("Ni", 10.9)]
    assert reference.samples_match(samples, 10.9)
    assert not reference.samples_match(samples, 10.9 * 1.001)


def test_frame_claims_let_processes_share_an_element(tmp_path: Path) -> None:
    """A frame claimed by a live process is left to it; a claim of a dead process is taken over."""
    import os
    import socket
    import subprocess
    import sys
    import time

    import psutil

    from analysis.core.procs import process_start

    frame = tmp_path / "frames" / "Ni_2138K_0000.extxyz"
    assert reference.claim_frame(frame) and reference.claim_frame(frame)  # this process, twice
    reference.claim_path(frame).unlink()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    holder = {"pid": sleeper.pid, "host": socket.gethostname(), "start": process_start(sleeper.pid)}
    try:
        reference.claim_path(frame).write_text(json.dumps(holder))
        assert not reference.claim_frame(frame)  # a live process holds it
        reference.claim_path(frame).write_text(json.dumps({**holder, "host": "another-host"}))
        assert not reference.claim_frame(frame)  # another host's claim cannot be judged: left alone
        reference.claim_path(frame).write_text(json.dumps(holder))
        sleeper.kill()  # killed mid-frame and not reaped yet: a zombie, which counts as gone
        deadline = time.time() + 10
        while psutil.Process(sleeper.pid).status() != psutil.STATUS_ZOMBIE and time.time() < deadline:
            time.sleep(0.05)
        assert reference.claim_frame(frame)
        reference.claim_path(frame).write_text(json.dumps(holder))
    finally:
        sleeper.kill()
        sleeper.wait()
    assert reference.claim_frame(frame)  # its process is gone: stale, taken over
    assert json.loads(reference.claim_path(frame).read_text())["pid"] == os.getpid()


def test_a_helper_never_repeats_the_eos_or_md(tmp_path: Path) -> None:
    """A helper pass on an element whose EOS or samples are not there yet does nothing (no GPAW, no CHGNet)."""
    settings = dataclasses.replace(reference.load_settings("ci", elements=["Al"]), n_frames=1)
    eos_path = tmp_path / "eos.json"
    assert reference.run_element("Al", settings, tmp_path, eos_path, helper=True) == 0
    assert not eos_path.exists() and not (reference.build_dir(tmp_path, settings) / "samples").exists()
