"""``python -m analysis build-reference``: the Metal-43 GPAW reference set, resumable frame by frame.

For each element of the tier (cheapest first) the pipeline

1. fits a PBE energy-volume curve of the primitive cell (:func:`compute_eos`; cached per element
   in ``eos.json``, keyed by the hash of the EOS settings),
2. builds a small supercell at the fitted volume and samples configurations at each temperature
   of the tier with Langevin MD driven by CHGNet (:func:`sample_configurations`; the samples are
   written once and reused, so a rerun labels the same structures),
3. labels each configuration with one GPAW single point (energy, forces) and writes it at once,
   atomically, as ``frames/<El>_<T>K_<i>.extxyz`` in the build folder; finished frames are skipped
   on a rerun,
4. after every finished frame, assembles all finished frames into the data set (store layout,
   :func:`analysis.datasets.store.save_dataset`).

Build folder: ``<out>/builds/<dataset>/<settings hash>/`` with ``frames/``, ``samples/``,
``timings.jsonl`` (one line per EOS, MD and DFT step, with wall and CPU seconds) and
``settings.json``. The data set goes to ``<out>/datasets/<dataset>/``.

Settings: ``analysis/data/reference_settings.json`` (tiers ``ci``, ``default``, ``train``, ``full``; see :mod:`analysis.reference.tiers`).
"""
from __future__ import annotations

import io
import json
import logging
import os
import socket
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any, cast

from ase import Atoms
from ase.io import read, write

from analysis.core.errors import InputFileError, one_line
from analysis.core.procs import process_start, running_here
from analysis.datasets.frames import ReferenceSet, make_frame, sorted_frames, temperature_label
from analysis.datasets.store import atomic_write_bytes, atomic_write_json, save_dataset
from analysis.reference import gpaw_calc
from analysis.reference.eos_fit import eos_for, load_eos_table
from analysis.reference.sampling import sample_configurations
from analysis.reference.tiers import TierSettings, dft_for_temperature
from analysis.reference.timing import Timer, append_jsonl, timing_totals, utc_now

log = logging.getLogger("analysis.reference")


"""``dft`` keys that hold per-element choices, left out of the shared settings hash.

``setups`` changes the physics, so a frame made with another setup is not reused; ``mixers``
changes only the SCF path to the same converged state (energies within 3e-5 eV on Fe frames), so it
is recorded in each frame (``info['scf_mixer']``) but does not invalidate frames. The shipped
settings name no mixer: no variant tried beat GPAW 26.7's default on both of two Fe frames (see
docs/reference_data.md)."""


# --------------------------------------------------------------------------- frames
def _extxyz_bytes(frames: list[Atoms]) -> bytes:
    buffer = io.StringIO()
    write(buffer, frames, format="extxyz")
    return buffer.getvalue().encode()


def write_frames_atomic(path: Path, frames: list[Atoms]) -> None:
    """Write ``frames`` as extended XYZ through a temporary file and a rename."""
    atomic_write_bytes(path, _extxyz_bytes(frames))


def frame_path(build: Path, symbol: str, temperature_k: float, index: int) -> Path:
    """File of one labelled frame in the build folder."""
    return build / "frames" / f"{symbol}_{temperature_label(temperature_k)}K_{index:04d}.extxyz"


def failed_path(build: Path, symbol: str, temperature_k: float, index: int) -> Path:
    """Marker of a frame whose DFT failed (JSON with the error); skipped on resume unless retried."""
    return frame_path(build, symbol, temperature_k, index).with_suffix(".failed.json")


def samples_path(build: Path, symbol: str, temperature_k: float) -> Path:
    """File of the sampled (unlabelled) configurations of one element and temperature."""
    return build / "samples" / f"{symbol}_{temperature_label(temperature_k)}K.extxyz"


def sampling_tier(settings: TierSettings) -> TierSettings:
    """The tier whose EOS and MD samples ``settings`` labels: its own, or the source of a relabelling tier."""
    return settings.source if settings.source is not None else settings


def build_dir(out: Path, settings: TierSettings) -> Path:
    """Build folder of ``settings`` under the output root."""
    return out / "builds" / (settings.build or settings.dataset) / settings.frames_hash


def _read_frame(path: Path) -> Atoms:
    try:
        return cast(Atoms, read(path, format="extxyz"))  # one frame (no index)
    except Exception as exc:  # ASE raises many types for bad files
        raise InputFileError(path, f"cannot read labelled frame: {exc}") from exc


def claim_path(frame: Path) -> Path:
    """Marker of a frame a process is computing now (JSON: its pid, host and start time)."""
    return frame.with_suffix(".claim")


def claim_frame(frame: Path) -> bool:
    """Atomically claim ``frame`` for this process; False while another live process holds it.

    A claim left by a process that is gone (killed mid-frame, or a zombie; see
    :func:`analysis.core.procs.running_here`) is taken over. A claim from another host is respected.
    """
    path = claim_path(frame)
    path.parent.mkdir(parents=True, exist_ok=True)
    me: dict[str, Any] = {"pid": os.getpid(), "host": socket.gethostname(), "start": process_start(os.getpid())}
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                holder = json.loads(path.read_text())
                pid, host, start = int(holder["pid"]), str(holder["host"]), holder.get("start")
            except (OSError, ValueError, KeyError, TypeError):
                pid, host, start = 0, me["host"], None  # unreadable: treat as stale
            if (pid, host) == (me["pid"], me["host"]):
                return True
            if host != me["host"] or (pid > 0 and running_here(pid, start)):
                return False
            path.unlink(missing_ok=True)  # stale: its process is gone
            continue
        with os.fdopen(fd, "w") as handle:
            json.dump(me, handle)
        return True
    return False


def run_element(
    symbol: str,
    settings: TierSettings,
    out: Path,
    eos_path: Path,
    *,
    on_frame: Callable[[Path], None] | None = None,
    retry_failed: bool = False,
    helper: bool = False,
) -> int:
    """Compute every missing frame of ``symbol``; returns the number of frames computed now.

    A frame whose single point fails (e.g. GPAW's SCF not converging within ``maxiter``) does not
    stop the element: the error is logged, written to timings.jsonl and to a marker file beside
    the frames (:func:`failed_path`), and the next frame goes on. Marked frames are skipped on
    later runs unless ``retry_failed``.

    Each frame is claimed (:func:`claim_path`) while it is computed, so several processes can work
    on one element: a ``helper`` only takes frames nobody has claimed, and only once the element's
    EOS and MD samples exist (it never repeats that work); it returns 0 otherwise.
    """
    build = build_dir(out, settings)
    timings = build / "timings.jsonl"
    todo = [
        (t, i)
        for t in settings.temperatures_of(symbol)
        for i in range(settings.n_frames)
        if not _frame_done(frame_path(build, symbol, t, i), settings) and (retry_failed or not failed_path(build, symbol, t, i).is_file())
    ]
    if not todo:
        return 0
    sampled = sampling_tier(settings)
    if helper and f"{sampled.eos_hash_of(symbol)}/{symbol}" not in load_eos_table(eos_path)["entries"]:
        return 0  # a helper never computes the EOS (nor the MD samples: see below)
    eos = eos_for(symbol, sampled, eos_path, timings=timings)
    v0 = float(eos["V0_A3_per_atom"])
    ph = gpaw_calc.phase(symbol)
    computed = 0
    for temp in sorted({t for t, _ in todo}):
        samples = _samples(symbol, temp, sampled, build_dir(out, sampled), eos, timings,
                           create=not helper and settings.source is None)
        if samples is None and settings.source is not None:
            raise RuntimeError(f"{symbol} {temp:g} K: tier {settings.tier!r} relabels the MD samples of tier "
                               f"{settings.source.tier!r}, which has none yet (run build-reference --tier {settings.source.tier} first)")
        if samples is None:
            continue
        for index in [i for t, i in todo if t == temp]:
            computed += _label_claimed(symbol, temp, index, samples[index], settings, build, v0, ph, timings, on_frame)
    return computed


def _samples(symbol: str, temp: float, settings: TierSettings, build: Path, eos: dict[str, Any], timings: Path, *,
             create: bool) -> list[Atoms] | None:
    """The MD samples of ``symbol`` at ``temp`` (run and written once when missing and ``create``; else None)."""
    v0 = float(eos["V0_A3_per_atom"])
    spath = samples_path(build, symbol, temp)
    samples = cast(list[Atoms], read(spath, index=":", format="extxyz")) if spath.is_file() else []
    # a tier with more frames than an earlier one resamples: the seeded trajectory is the same, longer
    if not samples or not samples_match(samples, v0) or len(samples) < settings.n_frames:
        if not create:
            return None
        start = gpaw_calc.supercell(symbol, v0, settings.n_atoms, covera=eos.get("covera"))
        log.info("%s %g K: sampling %d configurations (%d atoms)", symbol, temp, settings.n_frames, len(start))
        with Timer() as t:
            samples = sample_configurations(symbol, temp, settings.n_frames, start, settings.sampler)
        write_frames_atomic(spath, samples)
        append_jsonl(timings, {"stage": "md", "element": symbol, "temperature": temp, "wall_s": round(t.wall_s, 2), "cpu_s": round(t.cpu_s, 2), "finished": utc_now()})
    if len(samples) < settings.n_frames:
        raise InputFileError(spath, f"{len(samples)} samples, {settings.n_frames} needed")
    return samples


def _label_claimed(symbol: str, temp: float, index: int, config: Atoms, settings: TierSettings, build: Path, v0: float,
                   ph: Any, timings: Path, on_frame: Callable[[Path], None] | None = None) -> int:
    """Label one frame unless it is done or another live process holds its claim; 1 if computed now."""
    target = frame_path(build, symbol, temp, index)
    if _frame_done(target, settings):  # another worker or an earlier run finished it
        return 0
    if not claim_frame(target):  # another process is computing it now
        return 0
    try:
        return _label_frame(symbol, temp, index, config, settings, build, v0, ph, timings, on_frame)
    finally:
        claim_path(target).unlink(missing_ok=True)


def prepare_element(symbol: str, settings: TierSettings, out: Path, eos_path: Path, *,
                    retry_failed: bool = False) -> list[tuple[float, int]]:
    """The EOS and MD samples of ``symbol`` (computed once, cached); returns the (temperature, index) of
    every frame still to label. One task per element on a distributed backend (:mod:`analysis.jobs.dask_work`)."""
    build = build_dir(out, settings)
    timings = build / "timings.jsonl"
    todo = [(t, i) for t in settings.temperatures_of(symbol) for i in range(settings.n_frames)
            if not _frame_done(frame_path(build, symbol, t, i), settings)
            and (retry_failed or not failed_path(build, symbol, t, i).is_file())]
    if not todo:
        return []
    sampled = sampling_tier(settings)
    eos = eos_for(symbol, sampled, eos_path, timings=timings)
    for temp in sorted({t for t, _ in todo}):
        if _samples(symbol, temp, sampled, build_dir(out, sampled), eos, timings, create=settings.source is None) is None:
            raise RuntimeError(f"{symbol} {temp:g} K: no MD samples of tier {sampled.tier!r} to relabel")
    return todo


def label_one(symbol: str, temp: float, index: int, settings: TierSettings, out: Path, eos_path: Path) -> int:
    """Label frame ``index`` of ``symbol`` at ``temp`` from the stored EOS and samples (see :func:`prepare_element`);
    1 if computed now, 0 if it was already on disk or is being computed by another live process.

    Idempotent: a retried task finds the frame on disk; a claim left by a killed process is taken over.
    """
    build = build_dir(out, settings)
    timings = build / "timings.jsonl"
    if _frame_done(frame_path(build, symbol, temp, index), settings):
        return 0
    sampled = sampling_tier(settings)
    key = f"{sampled.eos_hash_of(symbol)}/{symbol}"
    entries = load_eos_table(eos_path)["entries"]
    if key not in entries:
        raise RuntimeError(f"{symbol}: no EOS under {eos_path}; prepare the element first")
    samples = _samples(symbol, temp, sampled, build_dir(out, sampled), entries[key], timings, create=False)
    if samples is None:
        raise RuntimeError(f"{symbol} {temp:g} K: no MD samples in {build}; prepare the element first")
    return _label_claimed(symbol, temp, index, samples[index], settings, build, float(entries[key]["V0_A3_per_atom"]),
                          gpaw_calc.phase(symbol), timings)


def _label_frame(symbol: str, temp: float, index: int, config: Atoms, settings: TierSettings, build: Path, v0: float,
                 ph: Any, timings: Path, on_frame: Callable[[Path], None] | None) -> int:
    """One GPAW single point of a sampled configuration, written as a labelled frame; 1 if it succeeded, 0 if it failed."""
    target = frame_path(build, symbol, temp, index)
    log.info("%s %g K frame %d: GPAW single point", symbol, temp, index)
    dft = dft_for_temperature(settings.dft, temp)
    try:
        with Timer() as t:
            result = gpaw_calc.single_point(config, dft)
    except Exception as exc:  # noqa: BLE001 - one bad frame must not stop hours of work
        error = one_line(exc)
        log.error("%s %g K frame %d failed after %.0f s: %s", symbol, temp, index, t.wall_s, error)
        atomic_write_json(failed_path(build, symbol, temp, index), {"error": error, "finished": utc_now(), "wall_s": round(t.wall_s, 2)})
        append_jsonl(timings, {"stage": "dft", "element": symbol, "temperature": temp, "index": index, "failed": error,
                                "wall_s": round(t.wall_s, 2), "cpu_s": round(t.cpu_s, 2), "finished": utc_now()})
        return 0
    failed_path(build, symbol, temp, index).unlink(missing_ok=True)
    frame = make_frame(
        config,
        result.energy_ev,
        result.forces_ev_per_a,
        temperature_k=temp,
        source=f"gpaw-{_gpaw_version()} PBE",
        element=symbol,
        extra_info={
            "frame_id": f"{symbol}/{temperature_label(temp)}K/{index:04d}",
            "sampler": config.info.get("sampler", ""),
            "md_step": int(config.info.get("md_step", -1)),
            "settings_hash": settings.frames_hash,
            "paw_setup": settings.setup_of(symbol),
            "scf_mixer": ",".join(f"{k}={v}" for k, v in sorted((gpaw_calc.mixer_for({symbol}, dft) or {}).items())) or "default",
            "space_group": ph.space_group,
            "volume_per_atom": v0,
            "kpts": "x".join(str(k) for k in result.kpts),
            "smearing_width_ev": float(dft["width_ev"]),
            "scf_iterations": result.iterations,
            "magmom": result.magmom,
            "dft_wall_s": round(result.wall_s, 2),
        },
    )
    write_frames_atomic(target, [frame])
    append_jsonl(
        timings,
        {
            "stage": "dft",
            "element": symbol,
            "temperature": temp,
            "index": index,
            "n_atoms": len(frame),
            "kpts": list(result.kpts),
            "width_ev": float(dft["width_ev"]),
            "iterations": result.iterations,
            "wall_s": round(t.wall_s, 2),
            "cpu_s": round(t.cpu_s, 2),
            "finished": utc_now(),
        },
    )
    log.info("%s %g K frame %d done in %.0f s (%d SCF iterations)", symbol, temp, index, t.wall_s, result.iterations)
    if on_frame is not None:
        on_frame(target)
    return 1


def _gpaw_version() -> str:
    from importlib.metadata import version

    return version("gpaw")


def finished_frames(build: Path, settings: TierSettings | None = None) -> list[Atoms]:
    """Every labelled frame in the build folder, in file-name order; with ``settings``, only the
    current ones the tier plans (tiers that share a build folder see only their own frames)."""
    folder = build / "frames"
    if settings is None:
        return [_read_frame(p) for p in sorted(folder.glob("*.extxyz"))] if folder.is_dir() else []
    paths = sorted(p for p in (frame_path(build, s, t, i) for s, t, i in settings.planned_frames()) if p.is_file())
    return [a for a in (_read_frame(p) for p in paths) if is_current(a, settings)]


def is_current(frame: Atoms, settings: TierSettings) -> bool:
    """Whether a labelled frame was made with its element's current PAW setup (frames made before
    setups were recorded used the default one)."""
    symbol = str(frame.info.get("element") or frame.get_chemical_symbols()[0])
    return str(frame.info.get("paw_setup", gpaw_calc.DEFAULT_SETUP)) == settings.setup_of(symbol)


def _frame_done(path: Path, settings: TierSettings) -> bool:
    return path.is_file() and is_current(_read_frame(path), settings)


def samples_match(samples: list[Atoms], v0: float) -> bool:
    """Sampled cells are built at the EOS volume: samples at another volume came from another fit (e.g. another setup)."""
    return all(abs(a.get_volume() / len(a) - v0) <= 1e-6 * v0 for a in samples)


def assemble_dataset(settings: TierSettings, out: Path, eos_path: Path, *, frames: list[Atoms] | None = None) -> Path | None:
    """Write the finished frames as data set ``settings.dataset`` under ``out`` (store layout).

    ``frames``: the current finished frames when the caller has just read them (default: read them).

    Returns:
        The data set folder, or None when no frame is finished yet.
    """
    build = build_dir(out, settings)
    frames = finished_frames(build, settings) if frames is None else frames
    if not frames:
        return None
    table = load_eos_table(eos_path)["entries"]
    sampled = sampling_tier(settings)
    eos = {
        s: {k: table[f"{sampled.eos_hash_of(s)}/{s}"][k] for k in ("V0_A3_per_atom", "B0_GPa", "Bprime", "E0_eV_per_atom", "covera")}
        for s in settings.elements
        if f"{sampled.eos_hash_of(s)}/{s}" in table
    }
    timing = timing_totals(build / "timings.jsonl")
    planned = sum(len(settings.temperatures_of(s)) for s in settings.elements) * settings.n_frames
    provenance = {
        "generator": "python -m analysis build-reference",
        "tier": settings.tier,
        "settings": settings.as_dict(),
        "code": f"gpaw {_gpaw_version()} (serial, libxc, OpenBLAS), PBE, PAW setups gpaw-data + generated Tc"
                + "".join(f", {s}.{v}.PBE for {s}" for s, v in sorted((settings.dft.get("setups") or {}).items()) if v != gpaw_calc.DEFAULT_SETUP),
        "sampler": sorted({str(a.info.get("sampler", "")) for a in frames}),
        "sampler_note": (
            "Configurations come from Langevin MD with CHGNet, one of the evaluated models: its errors on "
            "its own samples are biased low."
        ),
        "phases": {
            s: {"listed_space_group": p.listed_space_group, "space_group": p.space_group, "prototype": p.prototype, "note": p.note}
            for s in settings.elements
            for p in [gpaw_calc.phase(s)]
        },
        "substitutes": dict(gpaw_calc.SUBSTITUTES),
        "spin": {
            "spin_polarized": settings.dft.get("spin_polarized", []),
            "note": (
                "Fe, Co, Ni: collinear ferromagnetic start. Cr and Mn: non-spin-polarised (their ordered "
                "states, the incommensurate spin-density wave of Cr and the non-collinear order of alpha-Mn, "
                "need cells and settings beyond this budget, and both are paramagnetic at the sampled temperatures)."
            ),
        },
        "eos": eos,
        "frames_planned": planned,
        "frames_done": len(frames),
        "compute_s": timing,
    }
    ref = ReferenceSet(sorted_frames(frames), provenance)  # by element and temperature, as the set was always ordered
    return save_dataset(ref, settings.dataset, root=out, dft_settings=settings.dft)


# --------------------------------------------------------------------------- driver
def _worker(symbol: str, settings: TierSettings, out: str, eos_path: str, retry_failed: bool = False,
            helper: bool = False) -> tuple[str, int]:
    os.environ["OMP_NUM_THREADS"] = "1"
    return symbol, run_element(symbol, settings, Path(out), Path(eos_path), retry_failed=retry_failed, helper=helper)


def failed_frames(build: Path) -> dict[str, str]:
    """Frame file stem -> the error, for every frame marked failed in ``build``."""
    out: dict[str, str] = {}
    for path in sorted((build / "frames").glob("*.failed.json")) if (build / "frames").is_dir() else []:
        try:
            out[path.name.removesuffix(".failed.json")] = str(json.loads(path.read_text()).get("error", ""))
        except (OSError, json.JSONDecodeError):
            out[path.name.removesuffix(".failed.json")] = "unreadable failure marker"
    return out


class BuildIncomplete(RuntimeError):
    """Some elements or frames of a reference build failed (everything else was computed)."""


def build_reference(
    settings: TierSettings,
    *,
    out: Path,
    eos_path: Path,
    jobs: int = 1,
    poll_s: float = 20.0,
    retry_failed: bool = False,
) -> Path | None:
    """Run (or resume) the whole tier; returns the data set folder.

    With ``jobs == 1`` everything runs in this process and the data set is rewritten after every
    frame. With more jobs, each worker process takes one element at a time and this process
    rewrites the data set whenever new frame files appear; once every element has been handed out,
    idle workers go through the elements again as helpers and take the frames nobody has claimed
    (so the last, most expensive elements do not run on one core while the others idle).

    An element that fails (its EOS fit or MD, say) is logged and the others go on; a frame whose
    DFT fails is marked and skipped (see :func:`run_element`). When anything failed,
    :class:`BuildIncomplete` is raised at the very end, after the data set was written.
    """
    build = build_dir(out, settings)
    build.mkdir(parents=True, exist_ok=True)
    # tiers sharing a build folder each keep their own record (settings.json is the folder owner's)
    own = settings.build in ("", settings.dataset)
    atomic_write_json(build / ("settings.json" if own else f"settings-{settings.tier}.json"), settings.as_dict())
    log.info(
        "tier %s: %d elements, %s temperature(s), %d frames each, %d atoms; build %s",
        settings.tier, len(settings.elements), settings.temperatures, settings.n_frames, settings.n_atoms, build,
    )

    def refresh(_path: Path | None = None) -> None:
        frames = finished_frames(build, settings)
        planned = sum(len(settings.temperatures_of(s)) for s in settings.elements) * settings.n_frames
        assemble_dataset(settings, out, eos_path, frames=frames)
        log.info("progress: %d/%d frames", len(frames), planned)

    failed_elements: dict[str, str] = {}
    if jobs <= 1:
        for symbol in settings.elements:
            try:
                run_element(symbol, settings, out, eos_path, on_frame=refresh, retry_failed=retry_failed)
            except Exception as exc:  # noqa: BLE001 - the other elements go on
                failed_elements[symbol] = f"{type(exc).__name__}: {exc}"
                log.exception("%s failed; going on with the other elements", symbol)
    else:
        seen = -1
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            of: dict[Future[tuple[str, int]], str] = {
                pool.submit(_worker, s, settings, str(out), str(eos_path), retry_failed): s for s in settings.elements
            }
            # second pass: helpers, most expensive element first (it is the one still running at the end)
            of.update({pool.submit(_worker, s, settings, str(out), str(eos_path), retry_failed, True): s
                       for s in reversed(settings.elements)})
            pending = set(of)
            while pending:
                finished, pending = wait(pending, timeout=poll_s, return_when=FIRST_COMPLETED)
                for fut in finished:
                    try:
                        fut.result()
                    except Exception as exc:  # noqa: BLE001 - the other elements go on
                        failed_elements[of[fut]] = f"{type(exc).__name__}: {exc}"
                        log.error("%s failed; going on with the other elements: %s", of[fut], failed_elements[of[fut]])
                count = len(list((build / "frames").glob("*.extxyz"))) if (build / "frames").is_dir() else 0
                if count != seen:
                    refresh()
                    seen = count
    refresh()
    bad_frames = failed_frames(build)
    if failed_elements or bad_frames:
        parts = [f"element {s}: {e}" for s, e in failed_elements.items()] + [f"frame {f}: {e}" for f, e in bad_frames.items()]
        raise BuildIncomplete(f"{len(failed_elements)} element(s) and {len(bad_frames)} frame(s) failed "
                              "(rerun to resume; --retry-failed to try marked frames again): " + "; ".join(parts))
    return out / "datasets" / settings.dataset
