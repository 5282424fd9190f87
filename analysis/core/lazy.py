"""Lazy re-exports for package ``__init__`` modules (PEP 562).

A package lists which of its modules defines each name it offers; the module is imported on first
access, so ``import analysis`` and ``python -m analysis --help`` stay fast and a package's
``__init__`` never creates an import circle with its own modules.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, table: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package`` that import ``table[name]`` (a module path) on demand.

    Args:
        package: the package's ``__name__``.
        table: exported name -> the module that defines it (absolute, e.g. ``analysis.datasets.store``).
    """

    def __getattr__(name: str) -> Any:
        target = table.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(target), name)

    def __dir__() -> list[str]:
        return sorted(table)

    return __getattr__, __dir__
