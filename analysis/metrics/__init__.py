"""Error metrics: energy and force RMSE/MAE per element, model and temperature, the per-element constant shift, distributions.

Imports :mod:`analysis.core` and :mod:`analysis.datasets`.
"""
from __future__ import annotations

from analysis.core.lazy import lazy_exports

#: commands of ``python -m analysis``: name -> ("module:function", one-line help); modules load only when run
COMMANDS: dict[str, tuple[str, str]] = {
    'metrics': ('analysis.metrics.cli:metrics_main', 'print the error table for a data set (--csv for CSV)'),
}

_EXPORTS: dict[str, str] = {
    'METRIC_COLUMNS': 'analysis.metrics.tables',
    'METRIC_LABELS': 'analysis.metrics.tables',
    'REFERENCE_SPREAD': 'analysis.metrics.tables',
    'POOLED': 'analysis.metrics.tables',
    'ShiftMode': 'analysis.metrics.tables',
    'per_element_energy_shift': 'analysis.metrics.tables',
    'compute_metrics_table': 'analysis.metrics.tables',
    'relative_metric': 'analysis.metrics.tables',
    'distribution_stats': 'analysis.metrics.tables',
    'FrameErrors': 'analysis.metrics.tables',
    'frame_errors': 'analysis.metrics.tables',
    'per_frame_errors': 'analysis.metrics.tables',
    'DEFAULT_DATASET': 'analysis.metrics.cli',
    'metrics_main': 'analysis.metrics.cli',
}
__all__ = [name for name in _EXPORTS if not name.startswith("_")]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
