"""DFT and MD outputs read through dpdata 1.1.0 (PWmat, ABACUS, Quantum ESPRESSO, CP2K, FHI-aims,
SIESTA) and ASE's own trajectory and database files (ase.io): recognised by content, read by the
library that the field maintains, never by a parser of ours.

| format (``--format``) | what | recognised by | dpdata/ASE reader |
|---|---|---|---|
| ``pwmat-movement`` | PWmat ``MOVEMENT`` (AIMD) | first line ``N atoms,Iteration (fs) = ...`` | ``pwmat/movement`` |
| ``abacus`` | an ABACUS run folder (scf, md, relax, cell-relax) | an ``INPUT`` file and ``OUT.<suffix>/running_*.log`` | ``abacus/scf``, ``abacus/md``, ``abacus/relax`` |
| ``qe-pw`` | Quantum ESPRESSO pw.x output (with its input beside it) | ``Program PWSCF`` | ``qe/pw/scf`` |
| ``qe-cp`` | Quantum ESPRESSO cp.x trajectory (``PREFIX.pos``, ``.for``, ``.evp``, ``.in``) | a folder (or one of the files) with those | ``qe/cp/traj`` |
| ``cp2k-output`` | CP2K single-point output (``RUN_TYPE ENERGY_FORCE``) | ``CP2K|`` lines | ``cp2k/output`` |
| ``cp2k-aimd`` | a CP2K MD folder (``*-pos-*.xyz`` and the ``*.log``) | a folder with both | ``cp2k/aimd_output`` |
| ``fhi-aims`` | FHI-aims output (MD or single point) | ``Invoking FHI-aims`` | ``fhi_aims/md`` or ``fhi_aims/scf`` |
| ``siesta`` | SIESTA output (MD or single point) | ``Siesta Version`` / ``WELCOME TO SIESTA`` | ``siesta/aimd_output`` or ``siesta/output`` |
| ``ase-traj`` | ASE trajectory (``.traj``, the Ulm format; old pickle files are refused) | ``- of UlmASE-Trajectory`` | ``ase.io.read(format="traj")`` |
| ``ase-db`` | ASE database (SQLite) | ``SQLite format 3`` and ASE's ``systems`` table | ``ase.io.read(format="db")`` |

dpdata returns eV and Å whatever the code wrote (Hartree, Rydberg, bohr); its energies are the ones
its readers take (PWmat: ``Ep``; QE: the ``!`` total energy; CP2K: the total FORCE_EVAL energy).
CP2K kinds (``Fe1``, ``Fe2``) are read as their element. A PWmat ``MOVEMENT`` cut inside a frame
(a killed run) keeps its complete frames, with a warning.
"""
from __future__ import annotations

import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.data import chemical_symbols

from analysis.core.errors import InputFileError

#: our format name -> dpdata's (those that do not depend on the content: see :func:`dpdata_fmt`)
DPDATA_FMT: dict[str, str] = {
    "pwmat-movement": "pwmat/movement",
    "qe-pw": "qe/pw/scf",
    "qe-cp": "qe/cp/traj",
    "cp2k-output": "cp2k/output",
    "cp2k-aimd": "cp2k/aimd_output",
}
#: formats whose source is a folder
FOLDER_FORMATS: tuple[str, ...] = ("abacus", "qe-cp", "cp2k-aimd")
#: every format this module reads
FORMATS: tuple[str, ...] = ("pwmat-movement", "abacus", "qe-pw", "qe-cp", "cp2k-output", "cp2k-aimd", "fhi-aims", "siesta",
                            "ase-traj", "ase-db")
_MOVEMENT_HEAD = re.compile(r"\s*\d+\s+atoms\s*,\s*Iteration", re.IGNORECASE)
_QE_CP = (".pos", ".for", ".evp")


def sniff_head(head: str) -> str | None:
    """The format of this module that a file's first kilobytes show, or None."""
    first = head.lstrip("\ufeff").split("\n", 1)[0]
    if head.startswith("- of UlmASE-Trajectory"):
        return "ase-traj"
    if head.startswith("SQLite format 3\x00"):
        return "ase-db"
    if _MOVEMENT_HEAD.match(first):
        return "pwmat-movement"
    if "Program PWSCF" in head:
        return "qe-pw"
    if "Invoking FHI-aims" in head:
        return "fhi-aims"
    if "Siesta Version" in head or "WELCOME TO SIESTA" in head:
        return "siesta"
    if re.search(r"(?m)^\s*CP2K\|", head) or "PROGRAM STARTED AT" in head and "CP2K" in head:
        return "cp2k-output"
    return None


def sniff_folder(path: Path) -> str | None:
    """The folder format of this module a folder holds (an ABACUS run, a cp.x trajectory, a CP2K MD run), or None."""
    names = {p.name for p in path.iterdir()} if path.is_dir() else set()
    if "INPUT" in names and any(p.is_dir() and p.name.startswith("OUT.") for p in path.iterdir()):
        return "abacus"
    if _qe_cp_prefix(path) is not None:
        return "qe-cp"
    if _cp2k_aimd(path):
        return "cp2k-aimd"
    return None


def _qe_cp_prefix(path: Path) -> str | None:
    """The prefix of a cp.x trajectory in a folder (``si`` for si.pos, si.for, si.evp), or None."""
    if not path.is_dir():
        return None
    prefixes = {p.name[: -len(".pos")] for p in path.glob("*.pos")}
    found = sorted(p for p in prefixes if all((path / f"{p}{ext}").is_file() for ext in _QE_CP))
    return found[0] if len(found) == 1 else None


def _cp2k_aimd(path: Path) -> bool:
    if not path.is_dir() or not list(path.glob("*pos*.xyz")):
        return False
    return any(sniff_head(_log_head(log)) == "cp2k-output" for log in path.glob("*.log"))


def _log_head(path: Path, n_bytes: int = 8192) -> str:
    """The first bytes of a run's log as text (read here: the content sniffer, which asks this module, is above it)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(n_bytes).decode("utf-8", errors="replace")
    except OSError:
        return ""


def is_folder_source(path: Path) -> bool:
    """Whether a folder is one source of this module (then a folder import takes it whole)."""
    return sniff_folder(path) is not None


def _abacus_mode(path: Path) -> str:
    """'scf', 'md' or 'relax': from the run's ``running_*.log``, else the INPUT's ``calculation``."""
    logs = [p.name for p in path.glob("OUT.*/running_*.log")]
    for log in logs:
        if log.startswith("running_md"):
            return "md"
        if "relax" in log:
            return "relax"
    match = re.search(r"(?im)^\s*calculation\s+(\S+)", (path / "INPUT").read_text(errors="replace"))
    value = match[1].lower() if match else "scf"
    return "md" if value == "md" else "relax" if "relax" in value else "scf"


def dpdata_fmt(fmt: str, path: Path) -> tuple[str, str]:
    """(dpdata's format name, the path to give it) for one of our formats."""
    if fmt == "abacus":
        return f"abacus/{_abacus_mode(path)}", str(path)
    if fmt == "qe-cp":
        folder = path if path.is_dir() else path.parent
        prefix = _qe_cp_prefix(folder) if path.is_dir() else re.sub(r"\.(pos|for|evp|cel|str|in)$", "", path.name)
        if prefix is None:
            raise InputFileError(path, "no cp.x trajectory here: need PREFIX.pos, PREFIX.for and PREFIX.evp (and PREFIX.in)")
        return "qe/cp/traj", str(folder / prefix)
    if fmt == "fhi-aims":
        text = path.read_text(errors="replace")
        return ("fhi_aims/md" if re.search(r"(?im)^\s*MD_run\b|molecular dynamics", text) else "fhi_aims/scf"), str(path)
    if fmt == "siesta":
        text = path.read_text(errors="replace")
        return ("siesta/aimd_output" if "Begin MD step" in text or "Begin CG opt" in text else "siesta/output"), str(path)
    if fmt == "qe-pw":
        return "qe/pw/scf", _qe_pw_input(path)  # type: ignore[return-value]
    if fmt == "cp2k-output":
        head = path.read_text(errors="replace")[:200_000]
        if re.search(r"GLOBAL\|\s+Run type\s+MD\b", head):
            raise InputFileError(path, "is the log of a CP2K MD run: import the run's folder (the log with its *-pos-*.xyz "
                                 "trajectory), whose positions and energies dpdata reads together")
    return DPDATA_FMT[fmt], str(path)


def _qe_pw_input(path: Path) -> Any:
    """What dpdata's ``qe/pw/scf`` is given: the output, whose input it finds by the name ('Al.out' -> 'Al.in'),
    or [input, output] when the input has another name (the one ``*.in``/``*.pwi`` beside it)."""
    if "out" in path.name and path.with_name(path.name.replace("out", "in")).is_file():
        return str(path)
    inputs = [p for p in path.parent.iterdir() if p.suffix in (".in", ".pwi") and p.is_file()]
    if len(inputs) == 1:
        return [str(inputs[0]), str(path)]
    raise InputFileError(path, "a pw.x output is read with its input (species, cell and positions are read from it): put the "
                         f"input beside it as {path.name.replace('out', 'in') if 'out' in path.name else path.stem + '.in'} "
                         f"(found {len(inputs)} *.in/*.pwi files there)")


def element_of(name: str, path: Path) -> str:
    """The element of a dpdata atom name: itself, or the element a CP2K kind starts with ('Fe1' -> 'Fe')."""
    name = str(name)
    if name in chemical_symbols[1:]:
        return name
    match = re.match(r"([A-Z][a-z]?)(?:[_\d].*)?$", name)
    if match and match[1] in chemical_symbols[1:]:
        return match[1]
    raise InputFileError(path, f"atom name {name!r} is no chemical element (nor an element followed by a number, as CP2K kinds are)")


def _movement_complete(path: Path, warnings: list[str], folder: Path) -> Path:
    """``path``, or a copy holding only its complete frames when a killed run cut the last one."""
    text = path.read_text(errors="replace")
    starts = [m.start() for m in re.finditer(r"(?m)^\s*\d+\s+atoms\s*,\s*Iteration", text)]
    if not starts:
        raise InputFileError(path, "no frame: a PWmat MOVEMENT starts each frame with 'N atoms,Iteration (fs) = ...'")
    if re.search(r"(?m)^\s*-{20,}\s*$", text[starts[-1]:]):  # the last frame has its closing line of dashes
        return path
    if len(starts) == 1:
        raise InputFileError(path, "the MOVEMENT stops inside its first frame (the run was killed?): nothing to import")
    cut = folder / path.name
    cut.write_text(text[: starts[-1]])
    warnings.append(f"the MOVEMENT stops inside frame {len(starts)} (killed or still running?): imported the "
                    f"{len(starts) - 1} complete frames, dropped 1 cut frame")
    return cut


def read_dpdata(path: Path, fmt: str, warnings: list[str]) -> list[tuple[Atoms, float, np.ndarray]]:
    """Every labelled frame of ``path`` in format ``fmt`` (one of :data:`FORMATS` but the ASE ones), through dpdata.

    Raises:
        InputFileError: dpdata cannot read it (its error on one line), or it holds no energies or forces.
    """
    import dpdata

    with tempfile.TemporaryDirectory(prefix="atlas-dpdata-") as folder:
        source = _movement_complete(path, warnings, Path(folder)) if fmt == "pwmat-movement" else path
        name, given = dpdata_fmt(fmt, source)
        try:
            system = dpdata.LabeledSystem(given, fmt=name)
        except InputFileError:
            raise
        except Exception as exc:  # dpdata's readers raise assorted errors on files they cannot read
            text = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
            raise InputFileError(path, f"cannot read as {fmt} (dpdata {name}): {text}") from exc
    data = system.data
    if len(system) == 0:
        raise InputFileError(path, f"no frames found (dpdata {name})")
    if "energies" not in data or "forces" not in data:
        raise InputFileError(path, f"holds no energies or forces (dpdata {name} found none)")
    symbols = [element_of(data["atom_names"][t], path) for t in np.asarray(data["atom_types"])]
    pbc = not system.nopbc
    out = []
    for i in range(len(system)):
        atoms = Atoms(symbols=symbols, positions=data["coords"][i], cell=data["cells"][i], pbc=pbc)
        out.append((atoms, float(data["energies"][i]), np.asarray(data["forces"][i], dtype=np.float64)))
    return out


def read_ase(path: Path, fmt: str) -> list[Any]:
    """Every frame of an ASE trajectory or database (their calculators carry the labels).

    Raises:
        InputFileError: not a file of that kind (an old pickle trajectory, a database of another program).
    """
    from ase.io import read

    head = path.open("rb").read(64)
    if fmt == "ase-traj" and not head.startswith(b"- of Ulm"):
        raise InputFileError(path, "is not an ASE trajectory in the Ulm format (old pickle trajectories are never unpickled: "
                             "convert them with ase convert in a trusted environment)")
    if fmt == "ase-db":
        import sqlite3

        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
                tables = {r[0] for r in conn.execute("select name from sqlite_master where type='table'")}
        except sqlite3.Error as exc:
            raise InputFileError(path, f"cannot read as an SQLite database: {exc}") from exc
        if "systems" not in tables:
            raise InputFileError(path, f"is an SQLite database but not ASE's (no 'systems' table; tables: {', '.join(sorted(tables)) or 'none'})")
    try:
        if fmt == "ase-db":
            return _read_db_rows(path)
        frames = read(path, index=":", format="traj")
    except InputFileError:
        raise
    except Exception as exc:  # ASE raises many exception types on bad files
        raise InputFileError(path, f"cannot read as {fmt}: {type(exc).__name__}: {exc}") from exc
    return list(frames) if isinstance(frames, list) else [frames]


def _read_db_rows(path: Path) -> list[Any]:
    """The rows of an ASE database as ASE's ``read`` gives them, with the key-value pairs the importer
    keeps (``temperature``, ``config_type``, ``weight``, ``sampler``) in ``info``."""
    import ase.db

    out = []
    with ase.db.connect(path, type="db", serial=True) as db:
        for row in db.select():
            atoms = row.toatoms()
            pairs = row.key_value_pairs
            atoms.info.update({k: pairs[k] for k in ("temperature", "config_type", "weight", "sampler") if k in pairs})
            out.append(atoms)
    return out


def names() -> Sequence[str]:
    """The format names this module reads (for messages and the ``--format`` choices)."""
    return FORMATS
