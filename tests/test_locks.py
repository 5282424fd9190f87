"""The lock files agree with the pins they were resolved from (a pin changed without `make lock` fails here)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: lock file -> the file holding the pins it was resolved from
LOCKS = {
    "requirements.lock": "requirements.txt",
    "requirements-sevenn.lock": "scripts/sevenn_env.sh",
    "requirements-deepmd.lock": "scripts/deepmd_env.sh",
}
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;#]+)$")


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _lock(path: str) -> dict[str, str]:
    lines = [line.strip() for line in (ROOT / path).read_text().splitlines()]
    entries = [line for line in lines if line and not line.startswith("#")]
    bad = [line for line in entries if not _PIN.match(line)]
    assert not bad, f"{path}: lines that are not NAME==VERSION (editable, URL or local): {bad}"
    return {_name(m[1]): m[2] for m in map(_PIN.match, entries) if m}


def _pins(path: str) -> dict[str, str]:
    text = (ROOT / path).read_text()
    if path.endswith(".sh"):
        lines = re.findall(r'^[A-Z0-9_]+_PIN="([^"]+)"', text, flags=re.M)
    else:
        lines = [line.split("#")[0].strip() for line in text.splitlines()]
    return {_name(m[1]): m[2] for m in map(_PIN.match, lines) if m}


@pytest.mark.parametrize("lock", LOCKS)
def test_lock_holds_every_pin_at_its_version(lock: str) -> None:
    locked, pins = _lock(lock), _pins(LOCKS[lock])
    assert pins, f"no pins found in {LOCKS[lock]}"
    wrong = {name: (version, locked.get(name)) for name, version in pins.items() if locked.get(name) != version}
    assert not wrong, f"{lock} disagrees with {LOCKS[lock]} (pin, locked): {wrong}; run `make lock`"


@pytest.mark.parametrize("lock", LOCKS)
def test_torch_is_the_projects_cpu_pin(lock: str) -> None:
    assert _lock(lock).get("torch") == "2.13.0"


def test_gpaw_is_left_to_its_source_build() -> None:
    """scripts/install_gpaw.sh builds GPAW with the project's site config; the lock must not install a wheel of it."""
    assert not {"gpaw", "gpaw-data"} & set(_lock("requirements.lock"))
