"""Command-line entry point: ``python -m analysis COMMAND [options]``.

Each command lives in its own module and exposes ``main(argv: list[str]) -> int``; the table
below maps command names to ``"module:function"`` so that heavy modules load only when used.
"""
from __future__ import annotations

import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    # name: ("module:function", one-line help)
    "import": ("analysis.io_cli:import_main", "import reference or prediction files into the data directory"),
    "metrics": ("analysis.io_cli:metrics_main", "print the error table for a data set (--csv for CSV)"),
    "datasets": ("analysis.io_cli:datasets_main", "list the data sets present"),
    "embed-predictions": ("analysis.io_cli:embed_main", "copy predictions on an embedded data set into the shipped data"),
    # the report draws figures, so it lives in components/ (analysis never imports plotly)
    "report": ("components.report:main", "write a self-contained HTML report (--out report.html)"),
    "worker": ("analysis.jobs_cli:worker_main", "run queued model evaluations (the job worker)"),
    "evaluate": ("analysis.jobs_cli:evaluate_main", "evaluate a model on a data set through the job queue"),
    "jobs": ("analysis.jobs_cli:jobs_main", "list, show or cancel evaluation jobs"),
    "models": ("analysis.jobs_cli:models_main", "list the registered models and whether they can run here"),
    "electronic": ("analysis.electronic:main", "GPAW eigenvalue protocols (displacement, Fermi shift) per element"),
    "build-reference": ("analysis.reference:main", "GPAW reference set (--tier ci|default|full), resumable, in the background"),
}


def _usage() -> str:
    lines = ["usage: python -m analysis COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<18} {help_}" for name, (_target, help_) in sorted(COMMANDS.items())]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a command's ``main(argv)``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, func_name = COMMANDS[name][0].split(":")
    func = getattr(importlib.import_module(module_name), func_name)
    return int(func(rest) or 0)
