"""A worker process applies several branches at once (the git host's answers are
waits), and a train stops at a size in bytes as well as in promotions, so a worker's
memory stays bounded whatever arrives."""

import gc
import time

import pytest

from promotions.conf import setting
from promotions.engine import lanes, threads
from promotions.models import Promotion
from tests.helpers import file, submit, target_on

Status = Promotion.Status


@pytest.fixture
def lane_threads_stopped_after():
    """The lane threads keep their database connections between tasks: stopped after
    the test, so that the test database can be dropped."""
    yield
    threads._pool(setting("LANE_THREADS")).shutdown(wait=True)
    threads._pool.cache_clear()
    gc.collect()  # the threads' connections close with them


def test_a_train_stops_where_its_content_passes_the_byte_limit(settings, pod, repository):
    settings.PATCHGATE = {**settings.PATCHGATE, "TRAIN_MAX_BYTES": 10}
    first, second, third = (submit(pod, repository, [file(f"outputs/{n}.md", "123456")]) for n in range(3))
    assert lanes._next_train(repository.pk, "main") == [first]  # 6 bytes; 12 would pass 10
    settings.PATCHGATE = {**settings.PATCHGATE, "TRAIN_MAX_BYTES": 12}
    assert lanes._next_train(repository.pk, "main") == [first, second]


def test_a_promotion_larger_than_the_byte_limit_rides_alone(settings, pod, repository):
    settings.PATCHGATE = {**settings.PATCHGATE, "TRAIN_MAX_BYTES": 4}
    large = submit(pod, repository, [file("outputs/large.md", "123456")])
    submit(pod, repository, [file("outputs/small.md", "1")])
    assert lanes._next_train(repository.pk, "main") == [large]


def test_idle_lanes_with_work_skip_held_lanes_and_the_excluded(pod, repository):
    for branch in ("main", "one", "two"):
        submit(pod, repository, [file(f"outputs/{branch}.md", "x")], branch=branch, base_branch="main")
    lane = lanes._lane(repository.pk, "one")
    assert lanes.Lease(lane).take()
    found = threads.idle_lanes_with_work(10, exclude={(repository.pk, "two")})
    assert found == [(repository.pk, "main")]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("lane_threads_stopped_after")
def test_one_task_applies_other_branches_at_the_same_time(request, pod, github):
    """Four branches on GitHub with a 150 ms round trip: one after the other they take
    four times a lane's time; drained from one task on threads, about one."""
    target = target_on(request, "github", "acme/fleet")
    pod.repositories.add(target.repository)
    branches = [f"lane-{n}" for n in range(4)]
    for branch in branches:
        target.scm.create_branch(branch, target.head())
    github.set_latency(150)
    alone = submit(pod, target.repository, [file("solo.md", "solo\n")], branch="main")
    started = time.monotonic()
    lanes.drain_lane(target.repository.pk, "main")
    one_lane = time.monotonic() - started
    promotions = [submit(pod, target.repository, [file(f"{b}.md", f"{b}\n")], branch=b) for b in branches]
    started = time.monotonic()
    threads.drain_lanes((target.repository.pk, branches[0]))
    together = time.monotonic() - started
    github.set_latency(0)
    alone.refresh_from_db()
    assert alone.status == Status.COMMITTED
    assert [Promotion.objects.get(pk=p.pk).status for p in promotions] == [Status.COMMITTED] * 4
    assert together < 2 * one_lane, f"four lanes in {together:.2f} s, one in {one_lane:.2f} s"
