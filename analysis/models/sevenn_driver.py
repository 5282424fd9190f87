"""SevenNet driver, run by the Python of ``.venv-sevenn`` (not imported by the main package).

Protocol (one JSON object per line): on start it prints ``{"ok": true, "versions": {...},
"dtype": ...}``; then for each request line ``{"input": "frames.extxyz", "output": "out.npz"}``
it evaluates every frame with SevenNet's ASE calculator and writes ``energy`` (F,) in eV,
``forces`` (A, 3) in eV/Å and ``n_atoms`` (F,) to the ``.npz``, then prints ``{"ok": true}``
(or ``{"ok": false, "error": ..., "traceback": ...}``). It exits when stdin closes.

Only numpy, ase and sevenn are imported: this file must run without the analysis package.
SevenNet's own checkpoint loader uses ``torch.load(weights_only=False)`` on the checkpoint that
ships inside the sevenn wheel.
"""
from __future__ import annotations

import argparse
import json
import sys
import traceback


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="7net-0", help="sevenn checkpoint name, optionally @modal (7net-mf-0@PBE)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", help="SevenNet computes in float32")
    args = parser.parse_args(argv)

    from importlib.metadata import version

    try:
        from sevenn.calculator import SevenNetCalculator

        name, _, modal = args.model.partition("@")  # "7net-mf-0@PBE": one fidelity of a multi-fidelity model
        calc = SevenNetCalculator(name, device=args.device, **({"modal": modal} if modal else {}))
    except Exception as exc:  # report any load failure to the parent, then stop
        print(json.dumps({"ok": False, "error": repr(exc), "traceback": traceback.format_exc()}), flush=True)
        return 1
    versions = {name: version(name) for name in ("sevenn", "torch", "e3nn", "ase")}
    print(json.dumps({"ok": True, "versions": versions, "dtype": "float32"}), flush=True)

    from driver_protocol import serve  # beside this file (see driver_protocol.py)

    return serve(calc)


if __name__ == "__main__":
    sys.exit(main())
