"""Exactly once under the faults a real deployment meets: a writer killed while
dulwich holds a lock, an answer lost on a promotion's last allowed attempt, a retry
budget spent only by the promotion's own transient errors, a time bound for what
attempts do not count, and lane order as id order. Each fault is injected at the
exact step, on both backends where it applies."""

import fcntl
import os
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models.signals import post_save
from django.utils import timezone

from promotions.engine.lanes import drain_lane
from promotions.engine.messages import promotion_ids_in
from promotions.merge import blob_sha
from promotions.models import Promotion
from promotions.scm import locks
from promotions.scm.local import repository_path
from promotions.scm.port import ScmRateLimited, ScmTransientError
from tests.factories import PodFactory
from tests.helpers import (
    WorkerKilled,
    apply,
    dead_worker_left,
    drain_until_final,
    fail_chains_carrying,
    file,
    results,
    script,
    submit,
    target_on,
)

pytestmark = pytest.mark.django_db
Status = Promotion.Status


def trailer_count(target, promotion) -> int:
    return sum(promotion.pk in promotion_ids_in(c.message) for c in target.commits())


def in_an_hour():
    return timezone.now() + timedelta(hours=1)


@pytest.fixture
def budget(settings) -> int:
    return settings.PATCHGATE["MAX_TRANSIENT_RETRIES"]


# --- locks left by a killed writer (local backend) -------------------------------------


@pytest.fixture
def local(request):
    return target_on(request, "local", "acme/locks")


def object_lock(content: bytes):
    sha = blob_sha(content)
    lock = repository_path("acme/locks") / "objects" / sha[:2] / f"{sha[2:]}.lock"
    lock.parent.mkdir(exist_ok=True)
    lock.write_bytes(content[:5])  # dulwich writes the object into its lock file, then renames it
    return lock


def test_an_object_lock_left_by_a_killed_writer_is_cleared_and_the_blob_written(local):
    pod = PodFactory(name="after-the-crash", repositories=[local.repository])
    content = b"the same content a killed worker was writing\n"
    lock = object_lock(content)

    promotion = apply(submit(pod, local.repository, [file("out/a.txt", content)]))
    assert promotion.status == Status.COMMITTED and local.read("out/a.txt") == content
    assert not lock.exists()
    again = apply(submit(pod, local.repository, [file("out/b.txt", content)]))
    assert again.status == Status.COMMITTED, "the same content lands again later"


def test_a_branch_lock_left_by_a_killed_writer_is_cleared_and_the_branch_moves(local):
    pod = PodFactory(name="after-the-crash", repositories=[local.repository])
    lock = repository_path("acme/locks") / "refs" / "heads" / "main.lock"
    lock.write_text(local.head() + "\n")

    promotion = apply(submit(pod, local.repository, [file("out/a.txt", "a\n")]))
    assert promotion.status == Status.COMMITTED and local.head() == promotion.commit_sha
    assert not lock.exists()


def test_a_lock_of_a_live_writer_is_kept_and_the_error_says_so(local, monkeypatch):
    pod = PodFactory(name="patient", repositories=[local.repository])
    monkeypatch.setattr(locks, "BUSY_SECONDS", 0.2)
    content = b"written by another live process\n"
    lock = object_lock(content)
    live_writer = os.open(repository_path("acme/locks") / locks.LOCK_FILE, os.O_RDWR | os.O_CREAT)
    fcntl.flock(live_writer, fcntl.LOCK_SH)

    promotion = apply(submit(pod, local.repository, [file("out/a.txt", content)]))
    assert promotion.status == Status.RETRYING and lock.exists()
    assert promotion.last_error == "writing a commit to acme/locks: locks.git stayed busy with other writers for 0.2s"

    os.close(live_writer)  # it dies, its lock file left behind
    [promotion] = drain_until_final([promotion])
    assert promotion.status == Status.COMMITTED and not lock.exists()


# --- an answer lost on the last allowed attempt ----------------------------------------


def test_an_answer_lost_on_the_last_allowed_attempt_is_found_on_the_branch_not_failed(target, monkeypatch, budget):
    pod = PodFactory(name="unlucky", repositories=[target.repository])
    promotion = submit(pod, target.repository, [file("out/a.txt", "a\n")])
    script(
        monkeypatch,
        target,
        target.moves_branch,
        *[("before", ScmTransientError("moving main: GitHub answered 502"))] * (budget - 1),
        ("after", ScmTransientError("moving main: the connection to GitHub failed or was dropped")),
    )
    [promotion] = drain_until_final([promotion])
    assert promotion.status == Status.COMMITTED and promotion.transient_errors == budget
    assert promotion.commit_sha == target.head() and trailer_count(target, promotion) == 1
    assert results(promotion) == ["created"]
    assert promotion.events.last().detail == f"found on the branch as {promotion.commit_sha}"


def test_github_drops_the_answer_after_four_502s_and_the_commit_is_still_found(request, budget):
    target = target_on(request, "github", "acme/lost")
    github = request.getfixturevalue("github")
    update_refs = {"method": "POST", "path": "/graphql$", "query": "updateRefs"}  # the ref update
    github.inject({"kind": "status", "status": 502, **update_refs, "times": budget - 1})
    github.inject({"kind": "drop_after_write", **update_refs})
    pod = PodFactory(name="unlucky", repositories=[target.repository])
    [promotion] = drain_until_final([submit(pod, target.repository, [file("a.txt", "a\n"), file("b.txt", "b\n")])])
    assert promotion.status == Status.COMMITTED and promotion.commit_sha == target.head()
    assert trailer_count(target, promotion) == 1 and results(promotion) == ["created", "created"]


# --- the retry budget -----------------------------------------------------------------


def test_crashed_workers_and_rate_limit_waits_do_not_spend_the_retry_budget(target, monkeypatch, budget):
    pod = PodFactory(name="weathered", repositories=[target.repository])
    promotion = submit(pod, target.repository, [file("out/a.txt", "a\n")])
    for _ in range(budget):
        script(monkeypatch, target, target.makes_commits, ("before", WorkerKilled()))
        with pytest.raises(WorkerKilled):
            drain_lane(target.repository.pk, "main")
        dead_worker_left(target.repository)
    for _ in range(budget):
        script(monkeypatch, target, target.makes_commits, ("before", ScmRateLimited("rate limited", in_an_hour())))
        drain_lane(target.repository.pk, "main")
        Promotion.objects.filter(pk=promotion.pk).update(not_before=timezone.now())  # the hour has passed
    script(monkeypatch, target, target.makes_commits, ("before", ScmTransientError("GitHub answered 502")))
    drain_lane(target.repository.pk, "main")

    promotion.refresh_from_db()
    assert promotion.status == Status.RETRYING and promotion.transient_errors == 1
    [promotion] = drain_until_final([promotion])
    assert promotion.status == Status.COMMITTED and promotion.attempts == 2 * budget + 2
    assert trailer_count(target, promotion) == 1


def test_one_promotions_transient_errors_never_fail_its_train_mates(target, monkeypatch, budget):
    pods = [PodFactory(name=name, repositories=[target.repository]) for name in ("first", "flaky", "third")]
    train = [
        submit(pod, target.repository, [file(f"{pod.name}.txt", f"{pod.name}\n")], message=pod.name) for pod in pods
    ]
    fail_chains_carrying(monkeypatch, target, "flaky", ScmTransientError("writing the commits: GitHub answered 502"))

    first, flaky, third = drain_until_final(train)
    assert (first.status, flaky.status, third.status) == (Status.COMMITTED, Status.FAILED, Status.COMMITTED)
    assert (first.transient_errors, flaky.transient_errors, third.transient_errors) == (0, budget, 0)
    assert flaky.last_error == f"writing the commits: GitHub answered 502 (gave up after {budget} transient errors)"
    assert [f.status for f in flaky.files.all()] == ["skipped"] and flaky.files.get().new_sha == ""
    history = [c.sha for c in target.commits()]
    assert history.index(third.commit_sha) < history.index(first.commit_sha), "third lands after first"


def test_past_its_time_bound_a_promotion_fails_only_if_its_commit_is_not_on_the_branch(target, monkeypatch):
    pod = PodFactory(name="slow", repositories=[target.repository])
    long_ago = timezone.now() - timedelta(hours=2)

    waiting = submit(pod, target.repository, [file("out/a.txt", "a\n")])
    script(monkeypatch, target, target.makes_commits, ("before", ScmRateLimited("rate limited", in_an_hour())))
    drain_lane(target.repository.pk, "main")
    Promotion.objects.filter(pk=waiting.pk).update(started_at=long_ago)
    [waiting] = drain_until_final([waiting])
    assert waiting.status == Status.FAILED
    assert waiting.last_error == "not landed 60 minutes after its first attempt (rate limits, worker crashes)"
    assert [(f.status, f.new_sha) for f in waiting.files.all()] == [("skipped", "")]

    landed = submit(pod, target.repository, [file("out/b.txt", "b\n")])
    script(monkeypatch, target, target.moves_branch, ("after", WorkerKilled()))
    with pytest.raises(WorkerKilled):
        drain_lane(target.repository.pk, "main")
    Promotion.objects.filter(pk=landed.pk).update(started_at=long_ago)
    dead_worker_left(target.repository)
    [landed] = drain_until_final([landed])
    assert landed.status == Status.COMMITTED and landed.commit_sha == target.head()


# --- lane order is id order --------------------------------------------------------------


@pytest.mark.skipif("os.environ.get('DATABASE_URL', 'sqlite').startswith('sqlite')")
@pytest.mark.django_db(transaction=True)
def test_overlapping_submissions_land_in_id_order(request):
    """SQLite runs one writing transaction at a time, so there is nothing to race there."""
    target = target_on(request, "local", "acme/order")
    early, late = (PodFactory(name=name, repositories=[target.repository]) for name in ("early", "late"))
    allocated, go_on = threading.Event(), threading.Event()

    def hold_early_open(sender, instance, created, **kwargs):
        if created and instance.commit_message == "early":
            allocated.set()
            go_on.wait(10)

    def submitting(pod):
        # Large enough to be written in a transaction of its own (services.rows), which the hook holds open.
        content = "x\n" * (600_000 if pod.name == "early" else 1)
        try:
            submit(pod, target.repository, [file(f"{pod.name}.txt", content)], message=pod.name)
        finally:
            connection.close()

    post_save.connect(hold_early_open, sender=Promotion)
    try:
        threads = [threading.Thread(target=submitting, args=(early,))]
        threads[0].start()
        assert allocated.wait(10)
        threads.append(threading.Thread(target=submitting, args=(late,)))
        threads[1].start()
        time.sleep(0.5)  # the later submission commits now, if nothing holds it
        drain_lane(target.repository.pk, "main")  # a worker lands what it sees
        go_on.set()
        for thread in threads:
            thread.join(10)
    finally:
        post_save.disconnect(hold_early_open, sender=Promotion)
    drain_lane(target.repository.pk, "main")

    promotions = list(Promotion.objects.order_by("id"))
    assert [p.commit_message for p in promotions] == ["early", "late"]
    history = [c.sha for c in target.commits()]
    assert history.index(promotions[1].commit_sha) < history.index(promotions[0].commit_sha)
