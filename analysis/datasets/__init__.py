"""Reference data: data sets of frames (:mod:`.frames`), the on-disk store (:mod:`.store`), the importers of extended XYZ, VASP, NEP and DeePMD files (:mod:`.importers`, :mod:`.xyz`, :mod:`.sniff`, :mod:`.archive`) and of what dpdata and ASE read (:mod:`.dpdata_formats`), predictions made elsewhere (:mod:`.predictions`), writing into a data set (:mod:`.writing`) and exports (:mod:`.export`).

Imports only :mod:`analysis.core`.
"""
from __future__ import annotations

from analysis.core.lazy import lazy_exports

#: commands of ``python -m analysis``: name -> ("module:function", one-line help); modules load only when run
COMMANDS: dict[str, tuple[str, str]] = {
    'import': ('analysis.datasets.cli:import_main', 'import reference or prediction files into the data directory'),
    'datasets': ('analysis.datasets.cli:datasets_main', 'list the data sets present'),
    'embed-predictions': ('analysis.datasets.cli:embed_main', 'copy predictions on an embedded data set into the shipped data'),
    'migrate': ('analysis.datasets.store:migrate_main', 'rewrite data sets stored as extended XYZ (older layout) as columns (HDF5)'),
}

_EXPORTS: dict[str, str] = {
    'UNITS': 'analysis.datasets.frames',
    'temperature_label': 'analysis.datasets.frames',
    'frame_element': 'analysis.datasets.frames',
    'make_frame': 'analysis.datasets.frames',
    'frame_energy': 'analysis.datasets.frames',
    'frame_forces': 'analysis.datasets.frames',
    'FrameArrays': 'analysis.datasets.frames',
    'ReferenceSet': 'analysis.datasets.frames',
    'Predictions': 'analysis.datasets.frames',
    'structure_hash': 'analysis.datasets.frames',
    'MANIFEST': 'analysis.datasets.store',
    'check_name': 'analysis.datasets.store',
    'model_slug': 'analysis.datasets.store',
    'atomic_write_bytes': 'analysis.datasets.store',
    'atomic_write_json': 'analysis.datasets.store',
    'DatasetInfo': 'analysis.datasets.store',
    'roots': 'analysis.datasets.store',
    'group_filename': 'analysis.datasets.store',
    'save_dataset': 'analysis.datasets.store',
    'iter_datasets': 'analysis.datasets.store',
    'list_datasets': 'analysis.datasets.store',
    'find_dataset': 'analysis.datasets.store',
    'load_dataset': 'analysis.datasets.store',
    'predictions_dir': 'analysis.datasets.store',
    'save_predictions': 'analysis.datasets.store',
    'load_predictions': 'analysis.datasets.store',
    'ReferenceFormat': 'analysis.datasets.importers',
    'PredictionFormat': 'analysis.datasets.predictions',
    'ENERGY_UNITS': 'analysis.datasets.importers',
    'MAX_PLAUSIBLE_EV': 'analysis.datasets.importers',
    'detect_format': 'analysis.datasets.importers',
    'import_reference': 'analysis.datasets.importers',
    'RawFrame': 'analysis.datasets.importers',
    'import_predictions': 'analysis.datasets.predictions',
    'find_outputs': 'analysis.datasets.predictions',
    'write_frames': 'analysis.datasets.writing',
    'DatasetExistsError': 'analysis.datasets.writing',
    'frame_content_hash': 'analysis.datasets.frames',
    'read_dataset': 'analysis.datasets.store',
    'load_columns': 'analysis.datasets.store',
    'clear_caches': 'analysis.datasets.store',
    'load_arrays': 'analysis.datasets.store',
    'save_columns': 'analysis.datasets.store',
    'migrate_dataset': 'analysis.datasets.store',
    'FrameColumns': 'analysis.datasets.columns',
    'read_xyz': 'analysis.datasets.xyz',
    'import_file': 'analysis.datasets.importers',
    'ARCHIVE_SUFFIXES': 'analysis.datasets.archive',
    'MAX_MEMBERS': 'analysis.datasets.archive',
    'is_archive': 'analysis.datasets.archive',
    'extract_archive': 'analysis.datasets.archive',
    'reference_sources': 'analysis.datasets.archive',
    'temperature_from_path': 'analysis.datasets.archive',
    'import_archive': 'analysis.datasets.archive',
    'import_folder': 'analysis.datasets.archive',
    'FORCE_UNITS': 'analysis.datasets.importers',
    'export_frames': 'analysis.datasets.export',
    'read_xyz_predictions': 'analysis.datasets.xyz',
    'DEFAULT_DATASET': 'analysis.datasets.cli',
    'import_main': 'analysis.datasets.cli',
    'datasets_main': 'analysis.datasets.cli',
    'embed_main': 'analysis.datasets.cli',
}
__all__ = [name for name in _EXPORTS if not name.startswith("_")]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
