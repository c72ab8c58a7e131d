"""A lane's lease: taken by one worker at a time, and a train's outcomes are recorded
only while it is still held (on PostgreSQL in the same statement as its renewal)."""

import pytest
from django.db import connection

from promotions.engine import lanes
from promotions.engine.landing import LeaseLost, apply_train
from promotions.models import BranchLane, FileChange, Promotion
from tests.helpers import Target, file, submit

pytestmark = pytest.mark.django_db
Status = Promotion.Status


def test_a_lease_is_one_update_once_the_lane_exists(django_assert_num_queries, pod, repository):
    submit(pod, repository, [file("outputs/a.md", "x")])
    first = lanes.Lease(repository.pk, "main")
    assert first.take_reading(None) == []  # taken; the lane's row is made here
    first.release()
    with django_assert_num_queries(1):
        assert first.take_reading(None) == []
    other = lanes.Lease(repository.pk, "main")
    assert other.take_reading(None) is None, "a held lane is not taken"
    first.release()
    assert other.take_reading(None) == []


def test_taking_a_lane_reads_its_waiting_promotions_in_order_and_a_held_lane_reads_none(
    django_assert_num_queries, pod, repository
):
    query = lanes._waiting_query(20)
    first = lanes.Lease(repository.pk, "main")
    assert first.take_reading(query, repository.pk, "main") == [], "taken: nothing waits"
    first.release()
    waiting = [submit(pod, repository, [file(f"outputs/{n}.md", "x")]).pk for n in range(3)]
    with django_assert_num_queries(1 if connection.vendor == "postgresql" else 2):
        rows = first.take_reading(query, repository.pk, "main")
    assert [promotion.pk for promotion in lanes._promotions(rows)] == waiting
    other = lanes.Lease(repository.pk, "main")
    assert other.take_reading(query, repository.pk, "main") is None, "held by the first"
    BranchLane.objects.filter(repository=repository, branch="main").update(lease_until=None)  # ran out
    assert [promotion.pk for promotion in lanes._promotions(other.take_reading(query, repository.pk, "main"))] == (
        waiting
    )
    assert BranchLane.objects.get(repository=repository, branch="main").lease_owner == other.owner


def test_a_worker_whose_lease_was_taken_over_records_no_outcome_and_moves_no_branch(pod, repository):
    target = Target(repository)
    head = target.head()
    promotion = submit(pod, repository, [file("outputs/a.md", "a\n"), file("outputs/b.md", "b\n")])
    lease = lanes.Lease(repository.pk, "main")
    assert lease.take_reading(None) == []
    # Another worker took the lane over (ours ran out while we were away).
    BranchLane.objects.filter(repository=repository, branch="main").update(lease_owner="another worker")
    train = lanes._train_of(lanes._waiting(repository.pk, "main"))
    with pytest.raises(LeaseLost):
        apply_train(repository, "main", train, lease)
    assert lease.lost.is_set()
    assert set(FileChange.objects.filter(promotion=promotion).values_list("status", flat=True)) == {"pending"}
    assert not Promotion.objects.get(pk=promotion.pk).ref_update_sent
    assert target.head() == head, "the branch did not move"
    assert BranchLane.objects.get(repository=repository, branch="main").lease_owner == "another worker"


def test_outcomes_recorded_under_the_lease_give_each_file_its_own(pod, repository):
    submit(pod, repository, [file("outputs/a.md", "a\n")])
    lanes.drain_lane(repository.pk, "main")
    promotion = submit(pod, repository, [file("outputs/a.md", "a\n"), file("outputs/b.md", "b\n")])
    lanes.drain_lane(repository.pk, "main")
    promotion.refresh_from_db()
    rows = {row.path: row for row in FileChange.objects.filter(promotion=promotion)}
    assert promotion.status == Status.COMMITTED
    assert {path: row.status for path, row in rows.items()} == {"outputs/a.md": "unchanged", "outputs/b.md": "created"}
    assert len(rows["outputs/b.md"].new_sha) == 40 and rows["outputs/b.md"].old_sha == ""
    assert rows["outputs/a.md"].old_sha == rows["outputs/a.md"].new_sha != ""
