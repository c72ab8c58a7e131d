"""Per-pod request throttling: `settings.PATCHGATE["THROTTLE_RATE"]` (default
120/min) or the pod's own `throttle_rate`. Over the rate: 429 with Retry-After.

Counted as a sliding window over two fixed ones (the previous window's count,
weighted by how much of it still lies within one period, plus the current
window's): one Redis round trip per request with REDIS_URL (INCR and GET in one
pipeline; for a key its process remembers, the key's own round trip: queue_count),
else one INSERT ... ON CONFLICT ... RETURNING on a row per pod, so every web process
sees the same counts. A refused request is taken back out of the
count, as DRF's own throttles do not count it either."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from rest_framework.throttling import BaseThrottle

from .conf import redis_client, round_trip, shared_redis
from .models import Pod, RequestCount

RATE_PATTERN = re.compile(r"(?P<count>[1-9][0-9]*)/(?P<period>s|sec|second|m|min|minute|h|hour|d|day)")
PERIOD_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def rate_problem(rate: str) -> str | None:
    """Why `rate` is not a rate the throttle understands, or None."""
    if not RATE_PATTERN.fullmatch(rate):
        return "must be requests per period, e.g. 120/min, 10/s, 5000/hour or 20000/day"
    return None


def rate_of(pod: Pod) -> str:
    return pod.throttle_rate.strip() or settings.PATCHGATE["THROTTLE_RATE"]


def parse_rate(rate: str) -> tuple[int, int]:
    """(requests, period in seconds) of a rate rate_problem accepts."""
    count, _, period = rate.partition("/")
    return int(count), PERIOD_SECONDS[period[0]]


@dataclass(frozen=True)
class Window:
    limit: int
    period: int
    count: int  # in the current window, this request included
    previous: int  # in the window before
    elapsed: float  # seconds into the current window

    @property
    def allowed(self) -> bool:
        return self.previous * (1 - self.elapsed / self.period) + self.count <= self.limit

    def retry_after(self) -> int:
        """Whole seconds until a request would pass (at most one period)."""
        others = self.count - 1  # the refused request does not count
        room = self.limit - others - 1
        if room >= 0 and self.previous:
            # Still in this window, once enough of the previous one has slid out.
            wait = self.period * (1 - room / self.previous) - self.elapsed
        else:
            # In the next window, where this one's count is the one sliding out.
            wait = self.period - self.elapsed + (max(0, self.period * (1 - (self.limit - 1) / others)) if others else 0)
        return min(self.period, max(1, math.ceil(wait)))


def pod_request_wait(pod: Pod) -> float | None:
    """Count one request of `pod` (REST or MCP, against the same counter). None when
    allowed, else the seconds to wait."""
    window = _count(pod)
    if window.allowed:
        return None
    return window.retry_after()


__all__ = ["redis_client"]  # also used from here by the GitHub call budget (scm.github.budget)


class PodRateThrottle(BaseThrottle):
    def allow_request(self, request, view) -> bool:
        pod = request.user
        if not isinstance(pod, Pod):
            return True  # staff views and the schema: not a pod's budget
        self.seconds = pod_request_wait(pod)
        return self.seconds is None

    def wait(self) -> float | None:
        return self.seconds


@dataclass(frozen=True)
class _Slot:
    """Where one request of a pod is counted: its counter, the current fixed window."""

    key: str
    number: int
    period: int
    limit: int
    elapsed: float  # seconds into the window


def _slot_of(pod: Pod) -> _Slot:
    limit, period = parse_rate(rate_of(pod))
    number, elapsed = divmod(time.time(), period)
    # The pod's creation time: the id of a deleted pod may be given again. The period:
    # a changed rate starts afresh.
    return _Slot(f"{pod.pk}-{pod.created_at.timestamp():.6f}-{period}", int(number), period, limit, elapsed)


def _count(pod: Pod) -> Window:
    counted = pod.__dict__.pop("counted_request", None)  # by queue_count, in its caller's round trip
    slot = counted[0] if counted else _slot_of(pod)
    store = _store()
    count, previous = counted[1] if counted else store(slot, undo=False)
    window = Window(slot.limit, slot.period, count, previous, slot.elapsed)
    if not window.allowed:
        store(slot, undo=True)
    return window


def queue_count(commands: list[tuple], pod: Pod) -> Callable[[list, bool], None]:
    """Count one request of `pod` in a caller's Redis round trip (the key's check,
    promotions.auth): adds the count's three commands to `commands` and returns what to
    call with their results once it has run, and whether the count stands. A count
    that stands is kept on `pod` for its throttle (pod_request_wait) to weigh; one that
    does not (the pod was not the one it was taken for) is taken back."""
    slot = _slot_of(pod)
    commands += _redis_count_commands(slot)

    def settle(results: list, stands: bool) -> None:
        if stands:
            pod.counted_request = (slot, _redis_counts(results))  # type: ignore[attr-defined]
        else:
            _redis_count(slot, undo=True)

    return settle


def _store():
    """count(slot, *, undo) -> (count, previous): Redis when configured, else the database."""
    return _redis_count if shared_redis() else _database_count


def _redis_keys(slot: _Slot) -> tuple[str, str]:
    """The counters of the slot's window and of the window before."""
    return f"patchgate:throttle:{slot.key}:{slot.number}", f"patchgate:throttle:{slot.key}:{slot.number - 1}"


def _redis_count(slot: _Slot, *, undo: bool) -> tuple[int, int]:
    client = shared_redis()
    assert client is not None
    if undo:
        client.decr(_redis_keys(slot)[0])
        return 0, 0
    return _redis_counts(round_trip(client, _redis_count_commands(slot)))


def _redis_count_commands(slot: _Slot) -> list[tuple]:
    """The count's three commands: this window's counter up, its expiry, the window before."""
    current, earlier = _redis_keys(slot)
    return [("INCR", current), ("EXPIRE", current, 2 * slot.period), ("GET", earlier)]


def _redis_counts(results: list) -> tuple[int, int]:
    """(count, previous) from the replies to _redis_count_commands."""
    count, _, previous = results
    return int(count), int(previous or 0)


def _database_count(slot: _Slot, *, undo: bool) -> tuple[int, int]:
    q = connection.ops.quote_name
    table = q(RequestCount._meta.db_table)
    key_, slot_, count_, previous_ = q("key"), q("slot"), q("count"), q("previous")
    with connection.cursor() as cursor:
        if undo:
            cursor.execute(
                f"UPDATE {table} SET {count_} = {count_} - 1 WHERE {key_} = %s AND {slot_} = %s",
                [slot.key, slot.number],
            )
            return 0, 0
        # One statement, so concurrent requests of a pod cannot both read the same count.
        # Right-hand sides see the row as it was: `previous` is computed from the old count.
        cursor.execute(
            f"INSERT INTO {table} ({key_}, {slot_}, {count_}, {previous_}) VALUES (%s, %s, 1, 0) "
            f"ON CONFLICT ({key_}) DO UPDATE SET "
            f"{previous_} = CASE WHEN {table}.{slot_} = excluded.{slot_} THEN {table}.{previous_} "
            f"WHEN {table}.{slot_} = excluded.{slot_} - 1 THEN {table}.{count_} ELSE 0 END, "
            f"{count_} = CASE WHEN {table}.{slot_} = excluded.{slot_} THEN {table}.{count_} + 1 ELSE 1 END, "
            f"{slot_} = excluded.{slot_} "
            f"RETURNING {count_}, {previous_}",
            [slot.key, slot.number],
        )
        count, previous = cursor.fetchone()
    return count, previous
