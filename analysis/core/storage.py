"""Storage that fails safely: checksums of arrays, damaged SQLite databases moved aside, a full disk named.

Every chunk of a job, every per-frame cache value and every stored prediction carries a checksum of
its arrays (:func:`array_digest`), verified on read: a value that fails it is never used. A
diskcache database that SQLite cannot read ("file is not a database", "database disk image is
malformed") is moved aside into ``<folder>/damaged/`` and a new one is made (:func:`open_cache`);
what was lost is recomputed or rebuilt by the caller. A full disk (``ENOSPC``, SQLite's "database
or disk is full" / "disk I/O error") is recognised by :func:`is_disk_full` and described by
:func:`disk_full_message`, which names the folder, the space needed and the space free.
"""
from __future__ import annotations

import errno
import hashlib
import logging
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)
_DB_FILES = ("cache.db", "cache.db-wal", "cache.db-shm")


def array_digest(arrays: Iterable[Any]) -> str:
    """SHA-256 (32 hex digits) of arrays' dtypes, shapes and bytes, in order (strings as UTF-8)."""
    digest = hashlib.sha256()
    for value in arrays:
        if isinstance(value, (bytes, str)):
            data = value.encode() if isinstance(value, str) else value
            digest.update(b"b%d:" % len(data) + data)
            continue
        arr = np.ascontiguousarray(value)
        if arr.dtype.kind == "U":
            data = "\x00".join(arr.ravel().tolist()).encode()
            digest.update(f"U{arr.shape}:".encode() + data)
        else:
            digest.update(f"{arr.dtype.str}{arr.shape}:".encode() + arr.tobytes())
    return digest.hexdigest()[:32]


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says the disk (or quota) is full, from the OS or from SQLite."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("database or disk is full" in text or "disk i/o error" in text)


def free_bytes(folder: Path) -> int:
    """Bytes free on the file system holding ``folder`` (its nearest existing parent)."""
    path = Path(folder)
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def disk_full_message(folder: Path, needed_bytes: int | None = None) -> str:
    """'no space left in FOLDER: about N MB needed, M MB free' (the needed part when known)."""
    free = free_bytes(folder)
    need = f"about {needed_bytes / 2**20:.1f} MB needed, " if needed_bytes else ""
    return f"no space left in {folder}: {need}{free / 2**20:.1f} MB free; free some space and try again"


def is_damaged_db(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite refusing a damaged database file (not a lock, not a full disk)."""
    return isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError) or (
        isinstance(exc, sqlite3.OperationalError) and "malformed" in str(exc).lower())


def move_aside(folder: Path, reason: str) -> Path:
    """Move a diskcache folder's database files into ``folder/damaged/<stamp>/``; returns that folder."""
    target = folder / "damaged" / time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    target = target.with_name(f"{target.name}-{time.time_ns() % 10**6:06d}")
    target.mkdir(parents=True, exist_ok=True)
    for name in _DB_FILES:
        if (folder / name).exists():
            shutil.move(str(folder / name), str(target / name))
    (target / "REASON.txt").write_text(reason + "\n")
    log.warning("the database in %s was damaged (%s): moved aside to %s and made anew", folder, reason, target)
    return target


def check_db(folder: Path) -> str | None:
    """None when the SQLite database in ``folder`` reads as whole (``PRAGMA quick_check``), else the problem."""
    db = folder / "cache.db"
    if not db.exists():
        return None
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=60) as conn:
            rows = conn.execute("PRAGMA quick_check").fetchall()
    except sqlite3.DatabaseError as exc:
        return f"{type(exc).__name__}: {exc}"
    ok = len(rows) == 1 and rows[0][0] == "ok"
    return None if ok else "quick_check: " + "; ".join(str(r[0]) for r in rows[:3])


def open_cache(folder: Path, *, on_damage: Callable[[Path, str], None] | None = None, check: bool = False, **kwargs: Any) -> Any:
    """A ``diskcache.Cache`` on ``folder``; a damaged database is moved aside and a new one made.

    Args:
        folder: the cache folder.
        on_damage: called with (moved-aside folder, reason) after a damaged database was moved aside.
        check: run SQLite's quick check first (catches damage that opening alone does not).
        kwargs: passed to ``diskcache.Cache``.
    """
    import diskcache

    folder = Path(folder)
    problem = check_db(folder) if check else None
    if problem is None:
        try:
            cache = diskcache.Cache(str(folder), **kwargs)
            len(cache)  # reads the settings and the count: a garbage file fails here at the latest
            return cache
        except sqlite3.DatabaseError as exc:
            if not is_damaged_db(exc):
                raise
            problem = f"{type(exc).__name__}: {exc}"
    aside = move_aside(folder, problem)
    if on_damage is not None:
        on_damage(aside, problem)
    return diskcache.Cache(str(folder), **kwargs)
