"""Lanes: one branch, one worker at a time. A lease row serializes the work on a
branch across every worker and machine; whoever holds it drains the branch's
ready promotions in id order, a train at a time, renewing the lease from a
heartbeat thread, so that a dead holder is noticed within LANE_LEASE_SECONDS.
The lane clock (`lanes_to_wake`) finds the lanes nobody is working on: retries
that are due, lanes of dead workers, tasks lost with their worker.

Lane order is id order: a promotion is queued inside the transaction that
allocates its id, holding the lane's queueing lock (`lock_for_queueing`), so no
lower id of a branch can become visible after a higher one."""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.db import DatabaseError, IntegrityError, close_old_connections, connection, connections
from django.db.models import Q, Sum
from django.db.models.functions import Length
from django.utils import timezone

from ..conf import setting
from ..models import BranchLane, FileChange, Pod, Promotion, Repository
from ..prepared import PreparedQuery, columns, instance
from ..statements import column_of, update_sql, updated, updates_if
from .landing import LeaseLost, apply_train

log = logging.getLogger(__name__)

Status = Promotion.Status
# A queued promotion's own task normally takes its lane within this long; the clock
# wakes lanes whose queued work is older, so that it rarely doubles that task.
QUEUED_GRACE = timedelta(seconds=2)


def _lane(repository_id: int, branch: str) -> BranchLane:
    try:
        return BranchLane.objects.get_or_create(repository_id=repository_id, branch=branch)[0]
    except IntegrityError:
        return BranchLane.objects.get(repository_id=repository_id, branch=branch)


def _lease_duration() -> timedelta:
    return timedelta(seconds=setting("LANE_LEASE_SECONDS"))


class Lease:
    """One worker's hold on a lane, taken and renewed by conditional UPDATEs of the lane's
    row, found by its unique (repository, branch). The owner names the host and process,
    so an operator can tell who holds a lane."""

    def __init__(self, repository_id: int, branch: str):
        self.repository_id, self.branch = repository_id, branch
        self.owner = f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self.lost = threading.Event()

    def __str__(self) -> str:
        return f"lane {self.repository_id}:{self.branch}"

    def _row(self):
        return BranchLane.objects.filter(repository_id=self.repository_id, branch=self.branch)

    def take_reading(self, query: PreparedQuery | None, *values: object) -> list[tuple] | None:
        """Take the lease if it is free (or ours), then read `query`'s rows for `values`
        ([] without a query): on PostgreSQL in one statement. None when another worker
        holds the lane. The lane's row is made at its first drain."""
        self.lost.clear()
        rows = self._take_reading(query, values)
        if rows is None:
            _lane(self.repository_id, self.branch)
            rows = self._take_reading(query, values)
        return rows

    def _take_reading(self, query: PreparedQuery | None, values: tuple) -> list[tuple] | None:
        now = timezone.now()
        until = now + _lease_duration()
        if connection.vendor == "postgresql":
            taking = (_taking_sql(), [self.owner, until, self.repository_id, self.branch, now, self.owner])
            if query is not None:
                return query.rows_if(taking, *values)
            return [] if updated(taking) else None
        free = Q(lease_until__isnull=True) | Q(lease_until__lt=now) | Q(lease_owner=self.owner)
        if not self._row().filter(free).update(lease_owner=self.owner, lease_until=until):
            return None
        return [] if query is None else query.rows(*values)

    def hold(self) -> bool:
        """Renew the lease if it is still ours. Inside a transaction the renewed row stays
        locked until it commits, so nobody takes the lane over in between."""
        if not self.lost.is_set() and not self._update_mine(self._renewed()):
            self.lost.set()
        return not self.lost.is_set()

    def hold_while(self, updates: list[tuple[str, list]]) -> bool:
        """PostgreSQL: renew the lease and, only if it is still ours, run `updates`
        (statements.updates_if), in one statement. False (and lost) when it is not."""
        if not self.lost.is_set():
            if not updates_if(update_sql(BranchLane, self._renewed(), self._mine()), updates):
                self.lost.set()
        return not self.lost.is_set()

    def _mine(self) -> dict:
        return {"repository_id": self.repository_id, "branch": self.branch, "lease_owner": self.owner}

    def _update_mine(self, values: dict) -> int:
        """Update the lane's row while the lease is ours (on PostgreSQL, prepared)."""
        if connection.vendor == "postgresql":
            return updated(update_sql(BranchLane, values, self._mine()))
        return self._row().filter(lease_owner=self.owner).update(**values)

    @staticmethod
    def _renewed() -> dict:
        return {"lease_until": timezone.now() + _lease_duration()}

    def release(self) -> None:
        self._update_mine({"lease_owner": "", "lease_until": None})

    @contextmanager
    def heartbeat(self) -> Iterator[None]:
        """Renewed from the process's heartbeat thread while the body runs. Not inside a
        transaction (tests): another connection would not see the lane, and the lease
        is renewed at every step anyway."""
        if connection.in_atomic_block:
            yield
            return
        _HEARTBEAT.add(self)
        try:
            yield
        finally:
            _HEARTBEAT.discard(self)


class _Heartbeat:
    """One thread per process renews every lease its lanes hold, every quarter of the
    lease's duration (a thread per lane would cost each drain a thread's start)."""

    def __init__(self) -> None:
        self.leases: set[Lease] = set()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def add(self, lease: Lease) -> None:
        with self.lock:
            self.leases.add(lease)
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._beat, name="patchgate lease heartbeat", daemon=True)
                self.thread.start()

    def discard(self, lease: Lease) -> None:
        with self.lock:
            self.leases.discard(lease)

    def _beat(self) -> None:
        """Until no lease is held: the thread then ends (the next lease starts another)."""
        while True:
            time.sleep(setting("LANE_LEASE_SECONDS") / 4)
            with self.lock:
                leases = list(self.leases)
                if not leases:
                    self.thread = None
                    return
            try:
                for lease in leases:
                    if not lease.hold() and lease in self.leases:
                        log.warning("lease of %s lost", lease)
            except DatabaseError:
                log.exception("could not renew the leases of this process")
            finally:
                connections.close_all()  # this thread's own: a beat every few seconds needs no kept connection


_HEARTBEAT = _Heartbeat()


@functools.cache
def _taking_sql() -> str:
    """PostgreSQL: the UPDATE that takes a lane's lease if it is free or ours; its
    parameters: the owner and the lease's end, the lane, now and the owner again."""
    owner, until = column_of(BranchLane, "lease_owner"), column_of(BranchLane, "lease_until")
    return (
        f"UPDATE {connection.ops.quote_name(BranchLane._meta.db_table)} SET {owner} = %s, {until} = %s "
        f"WHERE {column_of(BranchLane, 'repository')} = %s AND {column_of(BranchLane, 'branch')} = %s "
        f"AND ({until} IS NULL OR {until} < %s OR {owner} = %s)"
    )


def lock_for_queueing(repository_id: int, branch: str) -> None:
    """Call inside the transaction that creates a promotion, before its row: until that
    transaction ends, no other promotion of the branch gets an id. PostgreSQL takes a
    transaction-level advisory lock; SQLite already runs one writing transaction at a time."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(*queueing_lock(repository_id, branch))


def queueing_lock(repository_id: int, branch: str) -> tuple[str, list[int]]:
    """The statement lock_for_queueing runs (PostgreSQL), for a caller that sends it in
    one round trip with the INSERTs that follow, so the lock is never held across a round
    trip to the client (promotions.services.rows)."""
    digest = hashlib.blake2b(f"patchgate lane {repository_id}:{branch}".encode(), digest_size=8).digest()
    return "SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest, "big", signed=True)]


def drain_lane(repository_id: int, branch: str) -> None:
    """Apply every ready promotion of one branch in id order. Safe to call any number
    of times from any worker: whoever does not get the lease leaves at once."""
    lease = Lease(repository_id, branch)
    while (waiting := lease.take_reading(_waiting_query(setting("TRAIN_MAX")), repository_id, branch)) is not None:
        try:
            with lease.heartbeat():
                _drain_while_leased(lease, _promotions(waiting))
        except LeaseLost:
            log.warning("lease of %s lost; another worker carries on", lease)
            return
        finally:
            lease.release()
        # Work queued while we held the lease found it taken and left it to us.
        if not _due(repository_id, branch):
            break


WAITING = [Status.QUEUED, Status.RETRYING, Status.APPLYING]


def _lane_promotions(repository_id: int, branch: str):
    return Promotion.objects.filter(repository_id=repository_id, branch=branch)


def _due(repository_id: int, branch: str) -> bool:
    """Whether the lane's first waiting promotion can be tried now (one waiting for a
    retry holds back those after it)."""
    head = _HEAD.rows(repository_id, branch)
    if not head:
        return False
    status, not_before = head[0]
    return not (status == Status.RETRYING and not_before is not None and not_before > timezone.now())


_HEAD = PreparedQuery(
    lambda repository_id, branch: (
        _lane_promotions(repository_id, branch)
        .filter(status__in=WAITING)
        .order_by("id")
        .values_list("status", "not_before")[:1]
    ),
    -7_001_002,
    "\x00lane head\x00",
)


def _drain_while_leased(lease: Lease, waiting: list[Promotion]) -> None:
    """Train after train until none is ready, from the lane's `waiting` promotions as
    the lease was taken; the lease is renewed before each next train (and inside
    the transaction that records a train's outcomes)."""
    renew = False
    while True:
        train = _train_of(waiting)
        if not train:
            return
        if renew and not lease.hold():
            raise LeaseLost()
        renew = True
        apply_train(train[0].repository, lease.branch, train, lease)
        waiting = _waiting(lease.repository_id, lease.branch)


def _train_of(waiting: list[Promotion]) -> list[Promotion]:
    """The first `waiting` promotions (in id order), up to the first that is not due (a
    promotion waiting for a retry holds back those after it) and with a pull-request
    promotion alone."""
    train: list[Promotion] = []
    now = timezone.now()
    for promotion in waiting:
        if promotion.status == Status.RETRYING and promotion.not_before and promotion.not_before > now:
            break
        if promotion.mode == Promotion.Mode.PULL_REQUEST and train:
            break
        train.append(promotion)
        if promotion.mode == Promotion.Mode.PULL_REQUEST:
            break
    return _within_bytes(train)


_PROMOTION, _POD, _REPOSITORY = columns(Promotion), columns(Pod, "pod__"), columns(Repository, "repository__")


@functools.cache
def _waiting_query(limit: int) -> PreparedQuery:
    """A lane's first `limit` waiting promotions with their pods and repository: read
    before every train, compiled once."""
    return PreparedQuery(
        lambda repository_id, branch: (
            _lane_promotions(repository_id, branch)
            .filter(status__in=WAITING)
            .order_by("id")
            .values_list(*_PROMOTION, *_POD, *_REPOSITORY)[:limit]
        ),
        -7_001_001,
        "\x00lane branch\x00",
    )


def _waiting(repository_id: int, branch: str) -> list[Promotion]:
    return _promotions(_waiting_query(setting("TRAIN_MAX")).rows(repository_id, branch))


def _promotions(rows: list[tuple]) -> list[Promotion]:
    """_waiting_query's rows as select_related("pod", "repository") would give them, the
    repository shared."""
    pod_at, repository_at = len(_PROMOTION), len(_PROMOTION) + len(_POD)
    promotions, repository = [], None
    for row in rows:
        promotion = instance(Promotion, row[:pod_at])
        promotion.pod = instance(Pod, row[pod_at:repository_at])
        promotion.repository = repository = repository or instance(Repository, row[repository_at:])
        promotions.append(promotion)
    return promotions


def _within_bytes(train: list[Promotion]) -> list[Promotion]:
    """The train cut where its content passes TRAIN_MAX_BYTES (decoded, as stored): a
    worker holds one train's files at a time, so its memory stays bounded whatever
    arrives. The first promotion rides alone if it is larger."""
    if len(train) < 2:
        return train
    sizes = dict(
        FileChange.objects.filter(promotion__in=train)
        .order_by()
        .values("promotion")
        .annotate(size=Sum(Length("content")))
        .values_list("promotion", "size")
    )
    kept: list[Promotion] = []
    total = 0
    for promotion in train:
        total += sizes.get(promotion.pk) or 0
        if kept and total > setting("TRAIN_MAX_BYTES"):
            break
        kept.append(promotion)
    return kept


def lanes_to_wake() -> list[tuple[int, str]]:
    """Lanes with work due and no live holder: a retry whose time has come, work left
    by a worker that died (its lease ran out), a queued promotion whose task was lost.
    Each is claimed with a conditional UPDATE, so that many clocks wake it once per
    lease period."""
    now = timezone.now()
    ready = (
        Promotion.objects.filter(
            Q(status=Status.QUEUED, updated_at__lte=now - QUEUED_GRACE)
            | Q(status=Status.APPLYING)
            | Q(status=Status.RETRYING, not_before__lte=now)
        )
        .values_list("repository_id", "branch")
        .distinct()
    )
    idle = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    unclaimed = Q(woken_at__isnull=True) | Q(woken_at__lt=now - _lease_duration())
    # Lanes being worked on are the common case (a fleet applying): skipped in one read.
    held = set(BranchLane.objects.exclude(idle).values_list("repository_id", "branch"))
    woken = []
    for repository_id, branch in sorted(set(ready) - held):
        if not _due(repository_id, branch):
            continue
        lane = _lane(repository_id, branch)
        if BranchLane.objects.filter(idle, unclaimed, pk=lane.pk).update(woken_at=now):
            woken.append((repository_id, branch))
    return woken


def run_clock(stop: threading.Event, wake) -> None:
    """Every LANE_CLOCK_SECONDS until `stop`, call `wake(repository_id, branch)` for each
    lane to wake. A database error is logged and the clock goes on."""
    while not stop.wait(setting("LANE_CLOCK_SECONDS")):
        close_old_connections()
        try:
            for repository_id, branch in lanes_to_wake():
                wake(repository_id, branch)
        except DatabaseError:
            log.exception("the lane clock could not read the lanes")
