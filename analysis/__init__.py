"""MLFF Error Atlas analysis package: data, metrics, electronic analysis, models and jobs.

No Dash, Flask or Plotly imports here: everything is usable from Python and ``python -m analysis``.
"""
from __future__ import annotations

__all__ = ["__version__"]
__version__ = "0.1.0"
