"""Waiting for a promotion to settle (final, or waiting for a lead's approval) while
a pod's request holds its web thread (`"wait": N`).

- Woken when it settles, not on a timer: on PostgreSQL the transition that settles
  it sends a NOTIFY (delivered when its transaction commits) and the waiting request
  LISTENs on its own database connection; other databases re-read the status every
  POLL_SECONDS.
- Bounded per web process: at most MAX_WAITING_REQUESTS waiting requests, and
  MAX_WAITING_PER_POD of one pod; beyond them a request does not wait at all and
  answers 202 with its status_url at once. A pod's burst of waits can then never
  take the threads other pods, /healthz and the admin need.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import connection

from .conf import setting
from .models import Promotion

POLL_SECONDS = 0.05
# A pod waiting on a promotion stops waiting in these: nothing more happens without a lead.
SETTLED_STATUSES = Promotion.FINAL_STATUSES | {Promotion.Status.AWAITING_APPROVAL}

_lock = threading.Lock()
_waiting: Counter[int] = Counter()  # pod id -> its requests waiting in this process


def channel(promotion_id: int) -> str:
    return f"patchgate_promotion_{int(promotion_id)}"


def notification(promotion_id: int, status: str) -> tuple[str, list[str]]:
    """The SQL expression (PostgreSQL) that wakes whoever waits for this promotion, for
    the statement that settles it in `status`: delivered, with the status, when that
    statement's transaction commits."""
    return "pg_notify(%s, %s)", [channel(promotion_id), status]


@contextmanager
def wait_slot(pod_id: int) -> Iterator[bool]:
    """Yields whether this request may wait (a slot was free); the slot is given back
    on exit."""
    with _lock:
        taken = sum(_waiting.values()) < setting("MAX_WAITING_REQUESTS") and _waiting[pod_id] < setting(
            "MAX_WAITING_PER_POD"
        )
        if taken:
            _waiting[pod_id] += 1
    try:
        yield taken
    finally:
        if taken:
            with _lock:
                _waiting[pod_id] -= 1
                if not _waiting[pod_id]:
                    del _waiting[pod_id]


def wait_until(promotion_id: int, settled: Callable[[], bool], seconds: float) -> str | None:
    """Return once `settled()` is true or `seconds` have passed: the status the
    promotion's notification named when one ended the wait (no read then), else None."""
    deadline = time.monotonic() + seconds
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        # Notifications reach a connection only between transactions.
        while not settled() and time.monotonic() < deadline:
            time.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))
        return None
    name = connection.ops.quote_name(channel(promotion_id))
    with connection.cursor() as cursor:
        cursor.execute(f"LISTEN {name}")
    try:
        # Listening before the first read: a settling in between is not missed.
        while not settled():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            # This promotion's notification names the status it settled in: no read
            # then. Any other (a late one of an earlier wait on this connection) leads
            # to a read of the status, which decides.
            for notification in connection.connection.notifies(timeout=remaining, stop_after=1):
                if notification.channel == channel(promotion_id) and notification.payload in SETTLED_STATUSES:
                    return notification.payload
        return None
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"UNLISTEN {name}")
