"""Several lanes at once in one worker process. Applying a promotion on GitHub is
mostly waiting for answers, so a process drains up to LANE_THREADS lanes (branches)
on threads of its own.

A lane's task hands the lane to one of those threads and returns at once, so the
worker process takes the next task (another branch) without waiting: each lane
starts within moments of its promotion, and nothing polls for lanes. When every
thread of the process is busy, the task waits for one, leaving the tasks behind it
to the other worker processes. Each lane still has one holder at a time (its
lease), so branch order holds; this only decides which process and thread.

A worker process that stops (django-q2 recycles it, or the cluster stops) finishes
the lanes its threads hold before it exits (`threading._shutdown` joins them); one
killed leaves its leases to run out, and the lane clock wakes those lanes."""

from __future__ import annotations

import functools
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from django.db import close_old_connections

from ..conf import setting
from . import lanes

log = logging.getLogger(__name__)

Lane = tuple[int, str]


def start_drain(lane: Lane) -> Future:
    """Drain `lane` on a thread of this process, once one is free; returns its future."""
    threads = setting("LANE_THREADS")
    free = _free_threads(threads)
    free.acquire()
    try:
        return _pool(threads).submit(_drain_on_a_thread, lane, free)
    except BaseException:
        free.release()
        raise


@functools.cache
def _pool(threads: int) -> ThreadPoolExecutor:
    """The process's lane threads, kept between tasks with their database connections
    (a connection per task would cost more than a local commit)."""
    return ThreadPoolExecutor(max_workers=threads, thread_name_prefix="patchgate lane")


@functools.cache
def _free_threads(threads: int) -> threading.Semaphore:
    return threading.Semaphore(threads)


def _drain_on_a_thread(lane: Lane, free: threading.Semaphore) -> None:
    # As Django does around a request: a connection past its age or broken is replaced.
    close_old_connections()
    try:
        lanes.drain_lane(*lane)
    except Exception:
        log.exception("draining lane %s failed; the lane clock wakes it again", lane)
    finally:
        close_old_connections()
        free.release()
