"""A worker killed at any point leaves no lost and no doubled commit: the next
worker finds a promotion left in `applying` and reconciles it by its
Promotion-Id trailer on the branch."""

from datetime import timedelta

import pytest
from django.utils import timezone

from promotions import tasks
from promotions.engine.lanes import drain_lane
from promotions.engine.messages import promotion_ids_in
from promotions.models import BranchLane, Promotion
from tests.factories import PodFactory
from tests.helpers import file, results, submit

pytestmark = pytest.mark.django_db
Status = Promotion.Status


class WorkerKilled(BaseException):
    """Not an Exception: nothing in the engine may catch it, as with SIGKILL."""


def kill_at(monkeypatch, target, point):
    """On GraphQL's path the commit and the ref move are one request: killed "after the
    commit, before the ref" is killed before that request."""
    adapter = type(target.scm)
    real_write, real_move = getattr(adapter, target.makes_commits), getattr(adapter, target.moves_branch)

    def killed(self, *args):
        raise WorkerKilled()

    def after_ref_before_db(self, *args):
        real_move(self, *args)
        raise WorkerKilled()

    if point == "before_commit":
        monkeypatch.setattr(adapter, target.makes_commits, killed)
    elif point == "after_commit_before_ref":
        monkeypatch.setattr(adapter, target.moves_branch, killed)
    else:
        monkeypatch.setattr(adapter, target.moves_branch, after_ref_before_db)
    return lambda: (
        monkeypatch.setattr(adapter, target.makes_commits, real_write),
        monkeypatch.setattr(adapter, target.moves_branch, real_move),
    )


def trailer_count(target, promotion_id):
    return sum(promotion_id in promotion_ids_in(c.message) for c in target.commits())


@pytest.mark.parametrize("point", ["before_commit", "after_commit_before_ref", "after_ref_before_db"])
def test_each_crash_point_leaves_exactly_one_commit(target, point, monkeypatch, inline_worker):
    pod = PodFactory(name="crashy", repositories=[target.repository])
    before = len(target.commits())
    promotion = submit(pod, target.repository, [file("out/a.txt", "a\n"), file("out/b.txt", "b\n")])

    revive = kill_at(monkeypatch, target, point)
    with pytest.raises(WorkerKilled):
        drain_lane(target.repository.pk, "main")
    promotion.refresh_from_db()
    assert promotion.status == Status.APPLYING
    # The dead worker's lease runs out; the minute sweep hands the lane to a live worker.
    BranchLane.objects.update(lease_owner="dead-worker", lease_until=timezone.now() - timedelta(seconds=1))
    revive()
    assert tasks.sweep_lanes() == 1

    promotion.refresh_from_db()
    assert promotion.status == Status.COMMITTED
    assert results(promotion) == ["created", "created"]
    assert len(target.commits()) == before + 1
    assert target.commits()[0].sha == promotion.commit_sha
    assert trailer_count(target, promotion.pk) == 1
    assert [e.to_status for e in promotion.events.all()][-1] == Status.COMMITTED


def test_a_live_lease_is_not_taken_over(target):
    pod = PodFactory(name="patient", repositories=[target.repository])
    promotion = submit(pod, target.repository, [file("x.txt", "x\n")])
    BranchLane.objects.create(
        repository=target.repository,
        branch="main",
        lease_owner="busy",
        lease_until=timezone.now() + timedelta(minutes=1),
    )
    drain_lane(target.repository.pk, "main")
    promotion.refresh_from_db()
    assert promotion.status == Status.QUEUED
    assert tasks.sweep_lanes() == 0


def test_replaying_after_success_adds_nothing(target):
    pod = PodFactory(name="twice", repositories=[target.repository])
    promotion = submit(pod, target.repository, [file("y.txt", "y\n")])
    drain_lane(target.repository.pk, "main")
    head = target.head()
    drain_lane(target.repository.pk, "main")
    promotion.refresh_from_db()
    assert promotion.status == Status.COMMITTED and target.head() == head
