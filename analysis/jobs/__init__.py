"""The persistent job queue (:mod:`.queue`) and its command-line front ends: model evaluations run by workers.

Imports :mod:`analysis.core`, :mod:`analysis.datasets` and :mod:`analysis.models`.
"""
from __future__ import annotations

from analysis.core.lazy import lazy_exports

#: commands of ``python -m analysis``: name -> ("module:function", one-line help); modules load only when run
COMMANDS: dict[str, tuple[str, str]] = {
    'worker': ('analysis.jobs.cli:worker_main', 'run queued model evaluations (the job worker)'),
    'evaluate': ('analysis.jobs.cli:evaluate_main', 'evaluate a model on a data set through the job queue'),
    'jobs': ('analysis.jobs.cli:jobs_main', 'list, show or cancel evaluation and fit jobs'),
    'fit': ('analysis.jobs.cli:fit_main', 'fit a model per element (MACE, DeePMD, NEP) through the job queue and score its test frames'),
    'experiment': ('analysis.jobs.smearing:experiment_main', 'the smearing experiment: relabel at another smearing, refit, compare'),
}

_EXPORTS: dict[str, str] = {
    'State': 'analysis.jobs.queue',
    'STATES': 'analysis.jobs.queue',
    'DEFAULT_CHUNK_FRAMES': 'analysis.jobs.queue',
    'DEFAULT_BATCH_SIZE': 'analysis.jobs.queue',
    'HEARTBEAT_S': 'analysis.jobs.queue',
    'STALE_AFTER_S': 'analysis.jobs.queue',
    'JobRecord': 'analysis.jobs.queue',
    'jobs_dir': 'analysis.jobs.queue',
    'chunk_dir': 'analysis.jobs.queue',
    'job_key': 'analysis.jobs.queue',
    'submit_job': 'analysis.jobs.queue',
    'get_job': 'analysis.jobs.queue',
    'list_jobs': 'analysis.jobs.queue',
    'cancel_job': 'analysis.jobs.queue',
    'clear_finished': 'analysis.jobs.queue',
    'requeue_stale': 'analysis.jobs.queue',
    'claim_job': 'analysis.jobs.queue',
    'Worker': 'analysis.jobs.queue',
    'live_workers': 'analysis.jobs.queue',
    'wait_for': 'analysis.jobs.queue',
    'run_worker': 'analysis.jobs.queue',
    'worker_main': 'analysis.jobs.cli',
    'evaluate_main': 'analysis.jobs.cli',
    'jobs_main': 'analysis.jobs.cli',
    'fit_main': 'analysis.jobs.cli',
    'submit_fit': 'analysis.jobs.fit_jobs',
}
__all__ = [name for name in _EXPORTS if not name.startswith("_")]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
