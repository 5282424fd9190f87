"""DeePMD driver, run by the Python of ``.venv-deepmd`` (not imported by the main package).

The same protocol as ``sevenn_driver.py`` (one JSON object per line): on start it prints
``{"ok": true, "versions": {...}, "dtype": "float64"}``; then for each request line
``{"input": "frames.extxyz", "output": "out.npz"}`` it evaluates every frame with deepmd-kit's ASE
calculator (``deepmd.calculator.DP``, the frozen model's own precision) and writes ``energy`` (F,)
in eV, ``forces`` (A, 3) in eV/Å and ``n_atoms`` (F,) to the ``.npz``, then prints ``{"ok": true}``
(or ``{"ok": false, "error": ..., "traceback": ...}``). It exits when stdin closes.

Only numpy, ase and deepmd are imported: this file must run without the analysis package.
"""
from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a frozen deepmd-kit model (.pth or .pb)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float64")
    args = parser.parse_args(argv)

    import os
    from importlib.metadata import version

    if args.device == "cpu":
        os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
    try:
        from deepmd.calculator import DP

        calc = DP(model=args.model)
    except Exception as exc:  # report any load failure to the parent (without the file's content), then stop
        print(json.dumps({"ok": False, "error": type(exc).__name__, "traceback": ""}), flush=True)
        return 1
    versions = {name: version(name) for name in ("deepmd-kit", "torch", "ase")}
    print(json.dumps({"ok": True, "versions": versions, "dtype": "float64"}), flush=True)

    from driver_protocol import serve  # beside this file (see driver_protocol.py)

    return serve(calc)


if __name__ == "__main__":
    sys.exit(main())
