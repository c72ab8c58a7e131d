"""A worker process applies several branches at once (the git host's answers are
waits), and a train stops at a size in bytes as well as in promotions, so a worker's
memory stays bounded whatever arrives."""

import gc
import threading
import time
from concurrent.futures import wait

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
    threads._free_threads.cache_clear()
    gc.collect()  # the threads' connections close with them


def test_a_train_stops_where_its_content_passes_the_byte_limit(settings, pod, repository):
    settings.PATCHGATE = {**settings.PATCHGATE, "TRAIN_MAX_BYTES": 10}
    first, second, third = (submit(pod, repository, [file(f"outputs/{n}.md", "123456")]) for n in range(3))
    assert lanes._train_of(lanes._waiting(repository.pk, "main")) == [first]  # 6 bytes; 12 would pass 10
    settings.PATCHGATE = {**settings.PATCHGATE, "TRAIN_MAX_BYTES": 12}
    assert lanes._train_of(lanes._waiting(repository.pk, "main")) == [first, second]


def test_a_promotion_larger_than_the_byte_limit_rides_alone(settings, pod, repository):
    settings.PATCHGATE = {**settings.PATCHGATE, "TRAIN_MAX_BYTES": 4}
    large = submit(pod, repository, [file("outputs/large.md", "123456")])
    submit(pod, repository, [file("outputs/small.md", "1")])
    assert lanes._train_of(lanes._waiting(repository.pk, "main")) == [large]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("lane_threads_stopped_after")
def test_lane_tasks_return_at_once_and_their_branches_are_applied_at_the_same_time(request, pod, github):
    """Four branches on GitHub with a 150 ms round trip: one after the other they take
    four times a lane's time; each lane's task hands it to a thread of the process and
    returns, so the four are applied in about the time of one."""
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
    drains = [threads.start_drain((target.repository.pk, branch)) for branch in branches]
    handed_over = time.monotonic() - started
    wait(drains)
    together = time.monotonic() - started
    github.set_latency(0)
    alone.refresh_from_db()
    assert alone.status == Status.COMMITTED
    assert [Promotion.objects.get(pk=p.pk).status for p in promotions] == [Status.COMMITTED] * 4
    assert handed_over < one_lane / 2, f"the tasks took {handed_over:.2f} s to hand over four lanes"
    assert together < 2 * one_lane, f"four lanes in {together:.2f} s, one in {one_lane:.2f} s"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("lane_threads_stopped_after")
def test_a_task_waits_for_a_free_thread_when_all_are_busy(settings, pod, repository):
    settings.PATCHGATE = {**settings.PATCHGATE, "LANE_THREADS": 1}
    release = threading.Event()
    busy = threads._pool(1).submit(release.wait)  # the one thread, taken
    threads._free_threads(1).acquire()
    handed = threading.Event()
    submit(pod, repository, [file("outputs/a.md", "x")])
    waiting = threading.Thread(target=lambda: (threads.start_drain((repository.pk, "main")), handed.set()))
    waiting.start()
    assert not handed.wait(0.3), "a task hands its lane over only when a thread is free"
    release.set()
    busy.result()
    threads._free_threads(1).release()
    assert handed.wait(5)
    waiting.join()
