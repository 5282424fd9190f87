"""Command ``models`` of ``python -m analysis``: every registered model and whether it can run here."""
from __future__ import annotations

import argparse


def models_main(argv: list[str]) -> int:
    """``python -m analysis models``: registered models and whether they can run here."""
    from analysis.models.registry import available_models

    argparse.ArgumentParser(prog="python -m analysis models", description="list models").parse_args(argv)
    for spec in available_models():
        mark = "yes" if spec.available else "no "
        print(f"{mark} {spec.name:<32} {spec.family:<7} {spec.reason[:110]}")
    return 0
