"""Command ``models`` of ``python -m analysis``: list the models, register and unregister model files.

    python -m analysis models                      every model and whether it can run here
    python -m analysis models register NAME --family mace --file PATH [--copy] [--option K=V] ...
    python -m analysis models unregister NAME
"""
from __future__ import annotations

import argparse
import sys


def _list() -> int:
    from analysis.core.errors import InputFileError
    from analysis.models.registry import available_models, registered_specs

    status = 0
    try:
        registered_specs()
    except InputFileError as exc:
        print(f"error: {exc} (registered model files are ignored until it is fixed)", file=sys.stderr)
        status = 1
    for spec in available_models():
        mark = "yes" if spec.available else "no "
        print(f"{mark} {spec.name:<32} {spec.family:<7} {spec.reason[:110]}")
    return status


def _register(argv: list[str]) -> int:
    from analysis.core.errors import InputFileError
    from analysis.models.local_files import FILE_FAMILIES, ModelUnavailableError, register_file, registry_path
    from analysis.models.registry import _builtin

    parser = argparse.ArgumentParser(prog="python -m analysis models register",
                                     description="register a model file (inside the model directory) under a name")
    parser.add_argument("name")
    parser.add_argument("--family", required=True, choices=FILE_FAMILIES)
    parser.add_argument("--file", required=True, help="the model file; inside MLFF_ATLAS_MODEL_DIR unless --copy")
    parser.add_argument("--copy", action="store_true", help="copy the file into the model directory first")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="e.g. architecture=orb_v3_direct_architecture for ORB checkpoints")
    universal = parser.add_mutually_exclusive_group()
    universal.add_argument("--universal", dest="universal", action="store_true", default=None)
    universal.add_argument("--not-universal", dest="universal", action="store_false")
    parser.add_argument("--description", default="")
    parser.add_argument("--replace", action="store_true", help="replace an entry of the same name")
    args = parser.parse_args(argv)
    try:
        options = dict(o.split("=", 1) for o in args.option)
    except ValueError:
        parser.error("--option takes KEY=VALUE")
    try:
        entry = register_file(args.name, args.family, args.file, reserved=set(_builtin()), universal=args.universal,
                              options=options, description=args.description, copy=args.copy, replace=args.replace)
    except (ValueError, InputFileError, ModelUnavailableError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"registered {entry.name} ({entry.family}, file {entry.file}) in {registry_path()}")
    return 0


def _unregister(argv: list[str]) -> int:
    from analysis.models.local_files import unregister_file

    parser = argparse.ArgumentParser(prog="python -m analysis models unregister", description="forget a registered model file")
    parser.add_argument("name")
    args = parser.parse_args(argv)
    if not unregister_file(args.name):
        print(f"error: no registered model file named {args.name!r}", file=sys.stderr)
        return 2
    print(f"unregistered {args.name} (its file stays in the model directory)")
    return 0


def models_main(argv: list[str]) -> int:
    """``python -m analysis models [list|register|unregister] ...``."""
    if argv and argv[0] == "register":
        return _register(argv[1:])
    if argv and argv[0] == "unregister":
        return _unregister(argv[1:])
    rest = argv[1:] if argv and argv[0] == "list" else argv
    argparse.ArgumentParser(prog="python -m analysis models",
                            description="list models; `models register NAME --family F --file PATH` adds a model file; "
                                        "`models unregister NAME` removes one").parse_args(rest)
    return _list()
