"""Reference data inside archives: a .zip or .tar(.gz/.bz2/.xz) of DeePMD systems, VASP runs or XYZ files.

DeePMD data are folders (``type.raw`` + ``set.*/*.npy``) and AIMD runs are usually a tree of
``<element>/<temperature>/OUTCAR``: a browser cannot upload a folder, so people zip it. This
module unpacks such an archive safely and imports every reference source in it:

* DeePMD system folders (holding ``type.raw``),
* ``OUTCAR*`` and ``vasprun*.xml`` files,
* ``*.xyz`` / ``*.extxyz`` files (extended XYZ or NEP ``train.xyz``).

A temperature is taken, when none is given, from the first path component of a source that
reads like one (``Cu_1200K/``, ``300K``, ``T=900K``); otherwise from the frames' own info, else
unknown. Safety: members with absolute paths, ``..`` components, links or devices are refused;
the unpacked size and the member count are capped (a zip bomb stops at the cap, never fills the
disk); nothing is executed or unpickled.
"""
from __future__ import annotations

import re
import shutil
import stat
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import IO

from analysis.core.errors import InputFileError
from analysis.datasets.frames import ReferenceSet

ARCHIVE_SUFFIXES: tuple[str, ...] = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
MAX_MEMBERS = 20_000
_TEMPERATURE = re.compile(r"(?:^|[^A-Za-z0-9.])(?:T=?)?(\d+(?:\.\d+)?)\s?K(?![A-Za-z])")
_ELEMENT_AND_T = re.compile(r"([A-Z][a-z]?)[_-](?:T=?)?\d+(?:\.\d+)?\s?K(?![A-Za-z])")
_SKIP = ("__MACOSX",)
#: the file formats a folder import takes (folders: DeePMD systems and the folder formats of dpdata_formats)
SOURCE_FORMATS = ("outcar", "vasprun", "extxyz", "pwmat-movement", "qe-pw", "cp2k-output", "fhi-aims", "siesta", "ase-traj", "ase-db")


def is_archive(path: Path) -> bool:
    """Whether ``path`` is named like an archive this module reads."""
    return Path(path).name.lower().endswith(ARCHIVE_SUFFIXES)


def _safe_parts(archive: Path, name: str) -> tuple[str, ...]:
    """The path components of member ``name``; InputFileError when it would land outside the folder."""
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or re.match(r"^[A-Za-z]:", name):
        raise InputFileError(archive, f"member {name!r} has an absolute path")
    parts = tuple(p for p in pure.parts if p not in ("", "."))
    if ".." in parts:
        raise InputFileError(archive, f"member {name!r} points outside the archive ('..')")
    return parts


def limit_text(max_bytes: int | None = None) -> str:
    """The unpacking limit in words, with the setting that raises it."""
    from analysis.datasets.sniff import UNPACKED_SETTING, max_unpacked_bytes

    value = max_unpacked_bytes() if max_bytes is None else max_bytes
    return f"the {value / 2**20:.0f} MB limit set by {UNPACKED_SETTING} (in MB)"


def _copy_capped(src: IO[bytes], dst: Path, archive: Path, name: str, budget: list[int]) -> None:
    """Stream ``src`` into ``dst`` while the shared byte budget lasts."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(dst, "wb") as out:
        while chunk := src.read(1 << 20):
            budget[0] -= len(chunk)
            if budget[0] < 0:
                raise InputFileError(archive, f"unpacks to more than {limit_text(budget[1])} while reading {name!r} (zip bomb or too large)")
            out.write(chunk)


def _zip_members(archive: Path, handle: zipfile.ZipFile) -> Iterator[tuple[str, bool]]:
    for info in handle.infolist():
        kind = stat.S_IFMT(info.external_attr >> 16)  # 0 when the archiver stored no file type
        if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
            raise InputFileError(archive, f"member {info.filename!r} is a link or special file")
        yield info.filename, info.is_dir()


def extract_archive(path: str | Path, dest: str | Path, *, max_bytes: int, max_members: int = MAX_MEMBERS) -> Path:
    """Unpack ``path`` into ``dest`` safely; returns ``dest``.

    Raises:
        InputFileError: not a readable archive, an unsafe member, too many members, or more than
            ``max_bytes`` unpacked.
    """
    archive, dest = Path(path), Path(dest)
    budget = [int(max_bytes), int(max_bytes)]  # bytes left, the limit
    try:
        if archive.name.lower().endswith(".zip"):
            with zipfile.ZipFile(archive) as handle:
                members = list(_zip_members(archive, handle))
                if len(members) > max_members:
                    raise InputFileError(archive, f"has {len(members)} members, over the limit of {max_members}")
                declared = sum(info.file_size for info in handle.infolist())
                if declared > max_bytes:  # refused before anything is written (the stream cap still holds if sizes lie)
                    raise InputFileError(archive, f"declares {declared / 2**20:.0f} MB unpacked, over {limit_text(max_bytes)}")
                for name, is_dir in members:
                    parts = _safe_parts(archive, name)
                    if is_dir or not parts:
                        continue
                    with handle.open(name) as src:
                        _copy_capped(src, dest.joinpath(*parts), archive, name, budget)
        else:
            with tarfile.open(archive, mode="r:*") as handle:
                sizes = [m.size for m in handle.getmembers()[: max_members + 1] if m.isfile()]
                if sum(sizes) > max_bytes:
                    raise InputFileError(archive, f"declares {sum(sizes) / 2**20:.0f} MB unpacked, over {limit_text(max_bytes)}")
                count = 0
                for member in handle:
                    count += 1
                    if count > max_members:
                        raise InputFileError(archive, f"has more than the limit of {max_members} members")
                    parts = _safe_parts(archive, member.name)
                    if member.isdir() or not parts:
                        continue
                    if not member.isfile():
                        raise InputFileError(archive, f"member {member.name!r} is a link or special file")
                    src = handle.extractfile(member)
                    if src is None:
                        raise InputFileError(archive, f"member {member.name!r} cannot be read")
                    with src:
                        _copy_capped(src, dest.joinpath(*parts), archive, member.name, budget)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        text = " ".join(str(exc).split())
        if "could not be opened successfully" in text:  # tarfile lists every method it tried, one line each
            text = "none of gzip, bzip2, xz or plain tar reads it"
        raise InputFileError(archive, f"not a readable archive ({type(exc).__name__}: {text[:200]})") from exc
    return dest


def _skipped_part(part: str) -> bool:
    return part.startswith(".") or part in _SKIP


def reference_sources(root: Path, *, skipped: list[str] | None = None, max_files: int = MAX_MEMBERS) -> list[Path]:
    """Every reference source under ``root``, in path order: DeePMD folders, ABACUS/cp.x/CP2K-MD run
    folders, OUTCAR*, vasprun*.xml, *.xyz/*.extxyz, and other files whose content shows a reference
    format (PWmat MOVEMENT, QE, CP2K, FHI-aims, SIESTA outputs, ASE .traj/.db).

    Files inside a source folder are not listed again; hidden files and ``__MACOSX`` are skipped.

    Args:
        skipped: when given, receives the relative path of every other file (and why).
        max_files: refuse a tree holding more files than this (``import /`` by mistake).

    Raises:
        InputFileError: more than ``max_files`` files.
    """
    from analysis.datasets.dpdata_formats import is_folder_source
    from analysis.datasets.sniff import head_text, sniff_name, sniff_text

    root = Path(root)
    folders = [root, *(p for p in root.rglob("*") if p.is_dir())]
    systems = sorted({p for p in folders if ((p / "type.raw").is_file() or is_folder_source(p)) and p != root
                      and not any(_skipped_part(x) for x in p.relative_to(root).parts)})
    sources: list[Path] = list(systems)
    count = 0
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).parts
        if not path.is_file() or any(_skipped_part(part) for part in rel):
            continue
        count += 1
        if count > max_files:
            raise InputFileError(root, f"holds more than {max_files} files: import its folders one at a time")
        if any(s in path.parents for s in systems):
            continue
        kind = sniff_name(path.name)
        if kind not in ("outcar", "vasprun", "extxyz"):
            try:
                kind = sniff_text(head_text(path)) or kind
            except InputFileError:
                kind = None
        if kind in SOURCE_FORMATS:
            sources.append(path)
        elif skipped is not None:
            why = "a prediction file" if kind in ("nep-out", "deepmd-out") else "not reference data"
            skipped.append(f"{path.relative_to(root).as_posix()} ({why})")
    return sorted(sources)


def temperature_from_path(rel: Path) -> float | None:
    """The temperature (K) named by the first path component that reads like one ('Cu_1200K', 'T=900K')."""
    for part in rel.parts:
        match = _TEMPERATURE.search(part)
        if match:
            return float(match[1])
    return None


def element_from_path(rel: Path) -> str | None:
    """The element named beside a temperature by a path component ('Cu_1358K/', 'Cu_1358K.xyz', 'Fe-300K'), or None."""
    from ase.data import chemical_symbols

    for part in rel.parts:
        match = _ELEMENT_AND_T.match(part)
        if match and match[1] in chemical_symbols[1:]:
            return match[1]
    return None


def import_tree(
    root: Path,
    *,
    display: str,
    where: str,
    element: str | None = None,
    temperature_k: float | None = None,
    energy_unit: str = "eV",
    type_map: Sequence[str] | None = None,
    energy_key: str | None = None,
    forces_key: str | None = None,
    error_path: Path | None = None,
    force_unit: str | None = None,
) -> ReferenceSet:
    """Import every reference source under ``root`` (a folder, or an unpacked archive) as one set.

    Each source keeps its frames in the file's order; sources are read in path order. A frame's
    temperature is ``temperature_k`` when given, else the one its path names (``Cu_1358K/``,
    ``Cu_1358K.xyz``, ``T=900K``), else its own ``temperature=``; a path and a frame that name
    different temperatures are refused. An element named with the temperature in a path
    (``Cu_1358K``) must be the element of the (elemental) frames below it.

    Args:
        display: how sources are named in the frames' ``source`` and the provenance ('metal.zip:' or 'runs/').
        where: how a source is named in messages ('member' for archives, 'file' for folders).
        error_path: the path errors name (the archive); default ``root``.

    Raises:
        InputFileError: naming ``error_path`` and the source inside it.
    """
    from analysis.datasets.importers import check_units, import_reference

    error_path = error_path or root
    skipped: list[str] = []
    sources = reference_sources(root, skipped=skipped)
    if not sources:
        raise InputFileError(error_path, "holds no reference data (no DeePMD folder with type.raw, OUTCAR, vasprun.xml or "
                             "extended XYZ file)" + (f"; found {', '.join(skipped[:5])}{' ...' if len(skipped) > 5 else ''}"
                                                     if skipped else ""))
    parts: list[ReferenceSet] = []
    warnings: list[str] = []
    for source in sources:
        rel = source.relative_to(root)
        named_t = temperature_from_path(rel)
        try:
            ref = import_reference(source, element=element, temperature_k=temperature_k, energy_unit=energy_unit,
                                   type_map=type_map, energy_key=energy_key, forces_key=forces_key, force_unit=force_unit)
            if temperature_k is None and named_t is not None:
                _take_named_temperature(ref, named_t)
                check_units(source, ref.frames)  # the spread bound of a known temperature applies now
            _check_named_element(ref, element_from_path(rel))
        except InputFileError as exc:
            raise InputFileError(error_path, f"{where} {rel.as_posix()}: {exc.reason}") from exc
        for atoms in ref.frames:
            atoms.info["source"] = f"{display}{rel.as_posix()}#{str(atoms.info.get('source', '')).rsplit('#', 1)[-1]}"
        warnings.extend(f"{display}{w}" for w in ref.provenance.get("warnings", []))
        parts.append(ref)
    merged = ReferenceSet.merge(parts)
    merged.provenance = {"source_files": [f"{display}{s.relative_to(root).as_posix()}" for s in sources],
                         "energy_unit_in_file": energy_unit}
    if skipped:
        merged.provenance["skipped_files"] = [f"{display}{s}" for s in skipped]
    if warnings:
        merged.provenance["warnings"] = warnings
    return merged


def _take_named_temperature(ref: ReferenceSet, named_t: float) -> None:
    """Give the frames without a temperature the one their path names; refuse a frame that says another."""
    from analysis.datasets.frames import temperature_key

    for atoms in ref.frames:
        own = temperature_key(atoms.info.get("temperature"))
        if own is None:
            atoms.info["temperature"] = named_t
        elif abs(own - named_t) > 1e-6:
            raise InputFileError(atoms.info.get("source", ""), f"frame {_index(atoms)} says temperature={own:g} K but its path names "
                                 f"{named_t:g} K: rename the folder or file, or give one temperature for all (--temperature, "
                                 "or the Temperature field)")


def _check_named_element(ref: ReferenceSet, named: str | None) -> None:
    """Refuse elemental frames of another element than the one their path names (``Cu_1358K/`` holding Ni)."""
    if named is None:
        return
    for atoms in ref.frames:
        species = set(atoms.get_chemical_symbols())
        if len(species) == 1 and named not in species:
            raise InputFileError(atoms.info.get("source", ""), f"frame {_index(atoms)} holds {species.pop()} atoms but its path names {named}")


def _index(atoms: object) -> str:
    """A frame's index in its file, from its source ('cu.xyz#3' -> '3')."""
    return str(atoms.info.get("source", "")).rsplit("#", 1)[-1]  # type: ignore[attr-defined]


def import_folder(
    path: str | Path,
    *,
    element: str | None = None,
    temperature_k: float | None = None,
    energy_unit: str = "eV",
    type_map: Sequence[str] | None = None,
    energy_key: str | None = None,
    forces_key: str | None = None,
    force_unit: str | None = None,
) -> ReferenceSet:
    """Import every reference source under a folder, recursively (see :func:`import_tree`).

    Raises:
        InputFileError: naming the folder and the file inside it.
    """
    root = Path(path)
    ref = import_tree(root, display=f"{root.name}/", where="file", element=element, temperature_k=temperature_k,
                      energy_unit=energy_unit, type_map=type_map, energy_key=energy_key, forces_key=forces_key,
                      force_unit=force_unit)
    ref.provenance = {**ref.provenance, "format": "folder"}
    return ref


def import_archive(
    path: str | Path,
    *,
    element: str | None = None,
    temperature_k: float | None = None,
    energy_unit: str = "eV",
    max_bytes: int | None = None,
    energy_key: str | None = None,
    forces_key: str | None = None,
    type_map: Sequence[str] | None = None,
    force_unit: str | None = None,
) -> ReferenceSet:
    """Import every reference source in an archive as one reference set (see :func:`import_tree`).

    Args:
        path: the archive (.zip, .tar, .tar.gz, ...).
        element, energy_unit, energy_key, forces_key, type_map, force_unit: as in
            :func:`analysis.datasets.importers.import_reference`, for every source.
        temperature_k: for every frame; when None, from each source's path (``Cu_1200K/OUTCAR``)
            or from the frames themselves.
        max_bytes: cap on the unpacked size (default: MLFF_ATLAS_MAX_UNPACKED_MB, else 10x the upload limit).

    Raises:
        InputFileError: naming the archive and, for a bad source, the member's path inside it.
    """
    from analysis.datasets.sniff import max_unpacked_bytes

    archive = Path(path)
    if not archive.is_file():
        raise InputFileError(archive, "no such file")
    limit = int(max_bytes if max_bytes is not None else max_unpacked_bytes())
    folder = Path(tempfile.mkdtemp(prefix="atlas-archive-"))
    try:
        extract_archive(archive, folder, max_bytes=limit)
        ref = import_tree(folder, display=f"{archive.name}:", where="member", element=element, temperature_k=temperature_k,
                          energy_unit=energy_unit, type_map=type_map, energy_key=energy_key, forces_key=forces_key,
                          error_path=archive, force_unit=force_unit)
        ref.provenance = {**ref.provenance, "format": "archive"}
        return ref
    finally:
        shutil.rmtree(folder, ignore_errors=True)
