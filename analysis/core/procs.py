"""Whether a process on this host still runs, judged by its pid and start time.

Pids are reused, so a process is named by (pid, start time); a zombie (killed, not yet reaped by
its parent) counts as gone. Used by the job queue (worker liveness) and by the reference
pipeline (frame claims).
"""
from __future__ import annotations


def process_start(pid: int) -> float | None:
    """Creation time of process ``pid`` (s since the epoch), or None when there is no such process."""
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def running_here(pid: int, start: float | None) -> bool:
    """Whether process ``pid`` of this host runs and, when ``start`` is given, is the one started then."""
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return start is None or abs(proc.create_time() - start) < 1e-3
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
