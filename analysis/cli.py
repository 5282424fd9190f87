"""Command-line entry point: ``python -m analysis COMMAND [options]``.

Each subpackage registers its own commands in its ``__init__`` (``COMMANDS``: name ->
``"module:function"`` and a one-line help); a command's module is imported only when it runs, so
``--help`` stays fast. Each command function takes ``argv: list[str]`` and returns the exit status.
"""
from __future__ import annotations

import importlib
import sys

#: subpackages whose ``COMMANDS`` make up the command line, ground layer first
SUBPACKAGES: tuple[str, ...] = (
    "analysis.datasets",
    "analysis.metrics",
    "analysis.models",
    "analysis.jobs",
    "analysis.reference",
    "analysis.electronic",
)

#: commands outside ``analysis``: the report draws figures, so it lives in components/
#: (analysis never imports plotly)
EXTRA_COMMANDS: dict[str, tuple[str, str]] = {
    "report": ("components.report:main", "write a self-contained HTML report (--out report.html)"),
}


def commands() -> dict[str, tuple[str, str]]:
    """Every command: name -> ("module:function", one-line help)."""
    table: dict[str, tuple[str, str]] = {}
    for package in SUBPACKAGES:
        for name, entry in importlib.import_module(package).COMMANDS.items():
            if name in table:
                raise RuntimeError(f"command {name!r} registered twice ({table[name][0]} and {entry[0]})")
            table[name] = entry
    return {**table, **EXTRA_COMMANDS}


def _usage(table: dict[str, tuple[str, str]]) -> str:
    lines = ["usage: python -m analysis COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<18} {help_}" for name, (_target, help_) in sorted(table.items())]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a command's ``main(argv)``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    table = commands()
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage(table))
        return 0
    name, rest = argv[0], argv[1:]
    if name not in table:
        print(f"unknown command {name!r}\n\n{_usage(table)}", file=sys.stderr)
        return 2
    module_name, func_name = table[name][0].split(":")
    func = getattr(importlib.import_module(module_name), func_name)
    return int(func(rest) or 0)
