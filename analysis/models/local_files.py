"""Model files placed by the operator: the model directory, the containment check, the registered-file table.

Models that live in files are registered on the server side only, by name: with
``python -m analysis models register NAME --family mace --file PATH`` or by editing
``<model dir>/models.json`` (the model directory is ``MLFF_ATLAS_MODEL_DIR``, default
``<data dir>/models``). The dashboard lists them by name and accepts nothing else; no path from a
request reaches a loader.

Every local model file, registered or named on the command line (``mace:PATH``), is loaded only
from inside the model directory: the path is resolved (symbolic links followed) and must lie
under the resolved directory, so a link that points out of it is refused. MACE ``.model`` files
are pickled ``torch.nn.Module`` objects read with ``torch.load(weights_only=False)``, which runs
code from the file; confining them to a folder only the operator writes is what makes that safe.

Errors name the model and the file relative to the model directory, never the content of a file;
a path outside the directory is refused before anything is looked up there, so the message says
nothing about whether it exists.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from analysis.core.config import MODEL_DIR_ENV
from analysis.core.config import model_dir as config_model_dir
from analysis.core.errors import InputFileError

REGISTRY_FILE = "models.json"
FILE_FAMILIES: tuple[str, ...] = ("mace", "orb", "nep", "deepmd")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_log = logging.getLogger(__name__)


class ModelUnavailableError(RuntimeError):
    """A model's weights or package cannot be had on this machine; the message says what to do."""


@dataclass(frozen=True)
class RegisteredFile:
    """One entry of ``<model dir>/models.json``.

    Attributes:
        name: the registry name the dashboard shows and predictions are stored under.
        family: one of :data:`FILE_FAMILIES`.
        file: the file, relative to the model directory.
        universal: whether the metrics apply the per-element energy shift.
        options: extra settings (the ORB architecture and sizes) as strings.
        description: one line for the dashboard.
    """

    name: str
    family: str
    file: str
    universal: bool
    options: dict[str, str] = field(default_factory=dict)
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form written to ``models.json``."""
        return {"name": self.name, "family": self.family, "file": self.file, "universal": self.universal,
                "options": dict(sorted(self.options.items())), "description": self.description}


def model_root() -> Path:
    """The resolved model directory (it need not exist)."""
    return config_model_dir().resolve()


def registry_path() -> Path:
    """``<model dir>/models.json``, the table of registered model files."""
    return model_root() / REGISTRY_FILE


def contained_file(path: str | Path, *, name: str, roots: tuple[Path, ...] | None = None) -> Path:
    """The resolved ``path`` when it is a file inside the model directory (or one of ``roots``).

    Args:
        path: absolute, or relative to the model directory.
        name: the model's name, for the messages.
        roots: trusted folders; default the model directory only.

    Raises:
        ModelUnavailableError: outside every root (said before any look-up, so the message does not
            tell whether the path exists), or not a file there.
    """
    allowed = tuple(r.resolve() for r in roots) if roots else (model_root(),)
    candidate = Path(path).expanduser()
    if not candidate.is_absolute():
        candidate = allowed[0] / candidate
    resolved = Path(os.path.realpath(candidate))
    root = next((r for r in allowed if resolved.is_relative_to(r)), None)
    if root is None:
        raise ModelUnavailableError(
            f"{name}: model files load only from the model directory ({MODEL_DIR_ENV}, now {allowed[0]}): "
            "copy the file there and register it (python -m analysis models register NAME --family F --file PATH --copy)"
        )
    if not resolved.is_file():
        raise ModelUnavailableError(f"{name}: its file {resolved.relative_to(root)} is not in the model directory ({MODEL_DIR_ENV})")
    return resolved


@contextmanager
def content_hidden(name: str) -> Iterator[None]:
    """Turn any error of a loader reading a local model file into one that names only the model.

    Parsers quote what they could not read (a line of a text file, a byte of a pickle); that must not
    reach a page. The full error goes to this process's log for the operator.
    """
    try:
        yield
    except ModelUnavailableError:
        raise
    except Exception as exc:  # any parser error: its message may quote the file
        _log.warning("model %s: its file could not be loaded", name, exc_info=True)
        raise ModelUnavailableError(
            f"{name}: its model file could not be loaded ({type(exc).__name__}; details in the worker's log)"
        ) from None


def _check_entry(raw: Any, where: Path) -> RegisteredFile:
    if not isinstance(raw, dict):
        raise InputFileError(where, f"each entry of 'models' must be an object, not {type(raw).__name__}")
    name, family, file = raw.get("name"), raw.get("family"), raw.get("file")
    if not isinstance(name, str) or not _NAME.match(name):
        raise InputFileError(where, f"model name {name!r} must be 1-64 letters, digits, '.', '_' or '-'")
    if family not in FILE_FAMILIES:
        raise InputFileError(where, f"model {name!r}: family {family!r} must be one of {', '.join(FILE_FAMILIES)}")
    if not isinstance(file, str) or not file:
        raise InputFileError(where, f"model {name!r}: 'file' must be a file name inside the model directory")
    options = raw.get("options", {})
    if not isinstance(options, dict):
        raise InputFileError(where, f"model {name!r}: 'options' must be an object")
    universal = raw.get("universal", family in ("mace", "orb"))
    if not isinstance(universal, bool):
        raise InputFileError(where, f"model {name!r}: 'universal' must be true or false")
    return RegisteredFile(name, family, file, universal, {str(k): str(v) for k, v in options.items()},
                          str(raw.get("description", "")))


@lru_cache(maxsize=4)
def _read(path: str, _mtime_ns: int, _size: int) -> tuple[RegisteredFile, ...]:
    where = Path(path)
    try:
        data = json.loads(where.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputFileError(where, f"not valid JSON ({type(exc).__name__} at position {getattr(exc, 'pos', '?')})") from None
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        raise InputFileError(where, 'expected {"models": [{"name": ..., "family": ..., "file": ...}, ...]}')
    entries = [_check_entry(raw, where) for raw in data["models"]]
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        raise InputFileError(where, f"a model name appears twice: {sorted(n for n in set(names) if names.count(n) > 1)}")
    return tuple(entries)


def registered_files() -> tuple[RegisteredFile, ...]:
    """The entries of ``<model dir>/models.json`` (none when it is absent).

    Raises:
        InputFileError: the file is not a valid table (the message names it and the problem).
    """
    path = registry_path()
    try:
        stat = path.stat()
    except FileNotFoundError:
        return ()
    return _read(str(path), stat.st_mtime_ns, stat.st_size)


def _write(entries: list[RegisteredFile]) -> Path:
    path = registry_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"models": [e.to_dict() for e in entries]}, indent=2) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=".models-", suffix=".json", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)
    return path


def register_file(name: str, family: str, file: str | Path, *, reserved: set[str], universal: bool | None = None,
                  options: dict[str, str] | None = None, description: str = "", copy: bool = False,
                  replace: bool = False) -> RegisteredFile:
    """Add a model file to ``<model dir>/models.json``.

    Args:
        name: its registry name (not one of ``reserved``, the built-in names).
        family: one of :data:`FILE_FAMILIES`.
        file: the file; it must lie inside the model directory unless ``copy`` is given, in which case
            it is copied there first (under its own file name, never over a different file).
        universal: default true for mace and orb, false for nep and deepmd.
        options: settings such as ``architecture`` for ORB checkpoints.
        description: one line for the dashboard.
        copy: copy a file from elsewhere into the model directory.
        replace: overwrite an entry of the same name.

    Raises:
        ValueError: a bad or taken name, a bad family, a file that exists in the model directory with
            other content.
        ModelUnavailableError: the file is outside the model directory (without ``copy``) or missing.
    """
    if not _NAME.match(name):
        raise ValueError(f"model name {name!r} must be 1-64 letters, digits, '.', '_' or '-' (no ':' or ',')")
    if name in reserved:
        raise ValueError(f"{name!r} is a built-in model name: choose another")
    if family not in FILE_FAMILIES:
        raise ValueError(f"{family=} must be one of {', '.join(FILE_FAMILIES)}")
    root = model_root()
    source = Path(file).expanduser().resolve()
    if copy and not source.is_relative_to(root):
        if not source.is_file():
            raise ValueError(f"{file}: not a file")
        root.mkdir(parents=True, exist_ok=True)
        target = root / source.name
        if target.exists() and target.read_bytes() != source.read_bytes():
            raise ValueError(f"{target} already exists with other content: rename the file first")
        shutil.copyfile(source, target)
        source = target
    path = contained_file(source, name=name)
    entries = [e for e in registered_files() if e.name != name or not replace]
    if any(e.name == name for e in entries):
        raise ValueError(f"model {name!r} is already registered (use --replace to change it)")
    entry = RegisteredFile(name, family, str(path.relative_to(root)), family in ("mace", "orb") if universal is None else universal,
                           dict(options or {}), description or f"{family} model file {path.relative_to(root)}")
    _write([*entries, entry])
    return entry


def unregister_file(name: str) -> bool:
    """Remove ``name`` from ``models.json`` (the file itself stays); whether it was there."""
    entries = list(registered_files())
    kept = [e for e in entries if e.name != name]
    if len(kept) == len(entries):
        return False
    _write(kept)
    return True
