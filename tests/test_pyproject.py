"""pyproject.toml agrees with the code: the version, and the temporary lint exceptions name real files."""
from __future__ import annotations

import tomllib
from pathlib import Path

import analysis

ROOT = Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_version_is_the_package_version() -> None:
    assert CONFIG["project"]["version"] == analysis.__version__


def test_lint_exceptions_name_existing_files_and_modules() -> None:
    """A per-file ruff ignore or a mypy override for a file that was renamed or removed is dead weight."""
    missing = [pattern for pattern in CONFIG["tool"]["ruff"]["lint"]["per-file-ignores"] if not list(ROOT.glob(pattern))]
    for override in CONFIG["tool"]["mypy"]["overrides"]:
        modules = override["module"] if isinstance(override["module"], list) else [override["module"]]
        for module in modules:
            if module.startswith("analysis."):
                path = ROOT / Path(*module.split("."))
                if not (path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()):
                    missing.append(module)
    assert not missing, missing
