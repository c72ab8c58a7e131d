"""Several lanes at once in one worker process. Applying a promotion on GitHub is
mostly waiting for answers, so a process drains up to LANE_THREADS lanes (branches)
on threads: a fleet writing to many branches is applied in about the time of one,
with the default two worker processes. Each lane still has one holder at a time
(its lease), so branch order holds; this only decides which process and thread."""

from __future__ import annotations

import functools
import logging
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from django.db import close_old_connections
from django.db.models import Q
from django.utils import timezone

from ..conf import setting
from ..models import BranchLane, Promotion
from . import lanes

log = logging.getLogger(__name__)

Status = Promotion.Status
Lane = tuple[int, str]


def drain_lanes(first: Lane) -> None:
    """Drain `first` and, alongside it, other lanes with work and no holder, up to
    LANE_THREADS at a time, looking for more while any runs (often in the first
    moments, then every DISCOVERY_SECONDS)
    (for at most TASK_SECONDS, well inside django-q2's task timeout); return once all
    of them are drained. A lane another worker takes meanwhile is left to it (its
    lease decides); one found later is drained by its own task."""
    limit = setting("LANE_THREADS")
    started = time.monotonic()
    pool = _pool(limit)
    running = {first: pool.submit(_drain_on_a_thread, first)}
    while running:
        if len(running) < limit and time.monotonic() - started < TASK_SECONDS:
            for lane in idle_lanes_with_work(limit - len(running), exclude=set(running)):
                running[lane] = pool.submit(_drain_on_a_thread, lane)
        # A fleet's promotions arrive within moments of each other: look often at first.
        early = time.monotonic() - started < BURST_SECONDS
        wait(
            running.values(),
            timeout=BURST_DISCOVERY_SECONDS if early else DISCOVERY_SECONDS,
            return_when=FIRST_COMPLETED,
        )
        for lane in [lane for lane, future in running.items() if future.done()]:
            _report(lane, running.pop(lane))


@functools.cache
def _pool(threads: int) -> ThreadPoolExecutor:
    """The process's lane threads, kept between tasks with their database connections
    (a connection per task would cost more than a local commit)."""
    return ThreadPoolExecutor(max_workers=threads, thread_name_prefix="patchgate lane")


DISCOVERY_SECONDS = 0.05
BURST_SECONDS, BURST_DISCOVERY_SECONDS = 0.3, 0.02
TASK_SECONDS = 60


def _report(lane: Lane, future: Future) -> None:
    try:
        future.result()
    except Exception:
        log.exception("draining lane %s failed; the lane clock wakes it again", lane)


def _drain_on_a_thread(lane: Lane) -> None:
    # As Django does around a request: a connection past its age or broken is replaced.
    close_old_connections()
    try:
        lanes.drain_lane(*lane)
    finally:
        close_old_connections()


def idle_lanes_with_work(limit: int, exclude: set[Lane] = frozenset()) -> list[Lane]:  # type: ignore[assignment]
    """Up to `limit` lanes with promotions ready to apply (queued, or a retry that is
    due) and no live lease. Read only: taking one is its lease's business."""
    now = timezone.now()
    ready = (
        Promotion.objects.filter(Q(status=Status.QUEUED) | Q(status=Status.RETRYING, not_before__lte=now))
        .order_by()
        .values_list("repository_id", "branch")
        .distinct()[: limit * 2]
    )
    held = set(BranchLane.objects.filter(lease_until__gte=now).values_list("repository_id", "branch"))
    found: list[Lane] = []
    for lane in ready:
        if lane not in held and lane not in exclude:
            found.append(lane)
            if len(found) == limit:
                break
    return found
