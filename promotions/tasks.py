"""django-q2 entry points. A task names a branch lane, not a promotion: whichever
worker holds the lane applies everything ready on it, in order."""

from __future__ import annotations

import functools
import threading

from django_q.brokers import Broker, get_broker
from django_q.conf import Conf
from django_q.tasks import async_task

from .conf import round_trip, shared_redis
from .engine import lanes, threads


def enqueue_lane(repository_id: int, branch: str) -> None:
    """Wake the lane: a Redis broker hands the task to a waiting worker at once, the
    ORM broker at its next poll (Q_CLUSTER's `poll`). A drained lane leaves no result
    row behind (`save=False`; failures are still kept)."""
    async_task(
        "promotions.tasks.drain_lane",
        repository_id,
        branch,
        task_name=f"lane {repository_id}:{branch}"[:100],
        broker=_broker(),
        save=False,
    )


def wake_lane(repository_id: int, branch: str) -> None:
    """enqueue_lane, unless a drain of the lane is already queued and not yet started
    (with Redis: a flag set here and cleared by the drain before it looks for work, so
    whatever was committed before the flag was found set is drained). A fleet
    submitting to one branch then queues one task per drain, not one per promotion.
    The flag expires: a lost task delays the lane only until then (and the lane clock
    wakes lanes with work anyway)."""
    client = shared_redis()
    if (
        client is None
        or round_trip(client, [("SET", _wake_flag(repository_id, branch), 1, "NX", "EX", WAKE_FLAG_SECONDS)])[0]
    ):
        enqueue_lane(repository_id, branch)


WAKE_FLAG_SECONDS = 30


def _wake_flag(repository_id: int, branch: str) -> str:
    return f"patchgate:lane-woken:{repository_id}:{branch}"


@functools.cache
def _broker() -> Broker:
    # django-q2 makes a broker (for Redis: a connection pool) per call unless given one.
    return get_broker()


def drain_lane(repository_id: int, branch: str) -> None:
    client = shared_redis()
    if client is not None:
        client.delete(_wake_flag(repository_id, branch))  # before looking for work: see wake_lane
    if Conf.SYNC:  # a task run inline (tests): this lane only, on the caller's thread
        lanes.drain_lane(repository_id, branch)
    else:
        threads.start_drain((repository_id, branch))


def sweep_lanes() -> int:
    """Wake the lanes whose work nobody is doing (a retry that is due, a worker that
    died holding a lease, a lost task). Each worker process's lane clock calls it every
    LANE_CLOCK_SECONDS; a minute schedule too, as a backstop. Returns how many it woke."""
    woken = lanes.lanes_to_wake()
    for repository_id, branch in woken:
        enqueue_lane(repository_id, branch)
    return len(woken)


def start_lane_clock(sender=None, **kwargs) -> None:
    """Connected to django-q2's `post_spawn`: each worker process runs the lane clock
    in a daemon thread, so retries run when due and a dead worker's lanes are taken
    over within seconds, whatever the scheduler's 30-second tick. Tasks run inline
    (django-q2's `sync`, in tests) announce a worker for each task: no clock then."""
    if Conf.SYNC:
        return
    clock = threading.Thread(target=lanes.run_clock, args=(threading.Event(), enqueue_lane), daemon=True)
    clock.name = "patchgate lane clock"
    clock.start()
