"""Ground layer: exceptions, configuration, the Metal-43 table and process checks. Imports nothing else from ``analysis``.
"""
from __future__ import annotations

from analysis.core.lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    'InputFileError': 'analysis.core.errors',
    'MAX_ERROR_CHARS': 'analysis.core.errors',
    'one_line': 'analysis.core.errors',
    'PACKAGE_DIR': 'analysis.core.config',
    'PACKAGE_DATA_DIR': 'analysis.core.config',
    'data_dir': 'analysis.core.config',
    'default_data_dir': 'analysis.core.config',
    'cache_dir': 'analysis.core.config',
    'DEFAULT_HOST': 'analysis.core.config',
    'DEFAULT_PORT': 'analysis.core.config',
    'host': 'analysis.core.config',
    'port': 'analysis.core.config',
    'max_upload_bytes': 'analysis.core.config',
    'MODEL_DIR_ENV': 'analysis.core.config',
    'SEVENN_VENV_ENV': 'analysis.core.config',
    'model_dir': 'analysis.core.config',
    'sevenn_venv': 'analysis.core.config',
    'TEMPERATURE_LABELS': 'analysis.core.elements',
    'ElementRow': 'analysis.core.elements',
    'METAL43': 'analysis.core.elements',
    'is_metal43': 'analysis.core.elements',
    'row': 'analysis.core.elements',
    'temperatures': 'analysis.core.elements',
    'atomic_number': 'analysis.core.elements',
    'ptable_position': 'analysis.core.elements',
    'all_symbols': 'analysis.core.elements',
    'process_start': 'analysis.core.procs',
    'running_here': 'analysis.core.procs',
    'lazy_exports': 'analysis.core.lazy',
    'locked': 'analysis.core.locks',
}
__all__ = [name for name in _EXPORTS if not name.startswith("_")]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
