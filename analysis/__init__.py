"""MLFF Error Atlas analysis package: data, metrics, electronic analysis, models and jobs.

No Dash, Flask or Plotly imports here: everything is usable from Python and ``python -m analysis``.
The package is laid out by concern (see docs/architecture.md), ground layer first:

==================  ==============================================================
``core``            exceptions, configuration, the Metal-43 table, process checks
``datasets``        data sets of frames, the store, the importers
``metrics``         energy and force errors, the per-element shift, distributions
``models``          the model registry, evaluation, the per-frame cache
``reference``       the GPAW reference pipeline (calculators, tiers, EOS, sampling)
``electronic``      smearing, eigenvalues, the eigenvalue-sum protocols, descriptors
``jobs``            the persistent job queue
``views``           cached loaders for the dashboard pages
==================  ==============================================================

What a notebook reaches for is re-exported here, imported on first use::

    from analysis import load_dataset, compute_metrics_table
    table = compute_metrics_table(load_dataset("metal43-gpaw"), ...)
"""
from __future__ import annotations

from analysis.core.lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # data
    "ReferenceSet": "analysis.datasets.frames",
    "Predictions": "analysis.datasets.frames",
    "make_frame": "analysis.datasets.frames",
    "structure_hash": "analysis.datasets.frames",
    "load_dataset": "analysis.datasets.store",
    "save_dataset": "analysis.datasets.store",
    "list_datasets": "analysis.datasets.store",
    "load_predictions": "analysis.datasets.store",
    "save_predictions": "analysis.datasets.store",
    "import_reference": "analysis.datasets.importers",
    "import_predictions": "analysis.datasets.predictions",
    "InputFileError": "analysis.core.errors",
    "METAL43": "analysis.core.elements",
    # metrics
    "compute_metrics_table": "analysis.metrics.tables",
    "per_element_energy_shift": "analysis.metrics.tables",
    "distribution_stats": "analysis.metrics.tables",
    "per_frame_errors": "analysis.metrics.tables",
    # models and jobs
    "get_spec": "analysis.models.registry",
    "available_models": "analysis.models.registry",
    "evaluate_frames": "analysis.models.evaluate",
    "submit_job": "analysis.jobs.queue",
    "wait_for": "analysis.jobs.queue",
    # electronic
    "fermi_level": "analysis.electronic.smearing",
    "band_energy": "analysis.electronic.smearing",
    "eigenvalue_sum_vs_fermi_shift": "analysis.electronic.smearing",
    "read_vasp": "analysis.electronic.eigenvalues",
    "load_curves": "analysis.electronic.protocols",
    "compute_descriptors": "analysis.electronic.descriptors",
}
__all__ = ["__version__", *_EXPORTS]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
