"""The write budget every process shares per GitHub credential: its rules (sliding
windows, holds, turns, the primary-limit pause), its two stores (the database and
Redis) under concurrent writers, and a fleet of pods on a real worker cluster
against the emulator's secondary limit: every promotion lands, no 403 is drawn."""

import threading
import time
import uuid
from datetime import timedelta

import pytest
import redis
from django.db import connections
from django.utils import timezone

from promotions.engine.lanes import drain_lane
from promotions.models import Promotion, Repository
from promotions.scm.github import budget
from promotions.scm.github.budget import Ledger, Window
from promotions.scm.port import WriteBudgetSpent
from tests.factories import PodFactory, RepositoryFactory
from tests.helpers import Target, apply, file, submit, wait_until_final

Status = Promotion.Status
SPAN = 10 + budget.SAFETY_SECONDS


def ledger(now: float, state: dict | None = None, limits: str = "3/10") -> Ledger:
    windows = [Window(int(n), float(s)) for n, s in (part.split("/") for part in limits.split(","))]
    return Ledger(state or {}, windows, now)


# --- the rules -----------------------------------------------------------------------------


def test_a_window_slides_one_second_longer_than_githubs():
    book = ledger(100.0)
    assert [book.take_one() for _ in range(4)] == [0.0, 0.0, 0.0, 100.0 + SPAN]
    later = ledger(100.0 + SPAN - 0.01, book.state())
    assert later.take_one() == 100.0 + SPAN, "still inside the window and its second of safety"
    assert ledger(100.0 + SPAN + 0.01, book.state()).take_one() == 0.0


def test_every_window_holds():
    book = ledger(0.0, limits="3/10,4/100")
    for moment in (0.0, 20.0):
        book = ledger(moment, book.state(), limits="3/10,4/100")
        book.take_one(), book.take_one()
    assert ledger(40.0, book.state(), limits="3/10,4/100").take_one() == 101.0, "the hour-like window is spent"


def test_a_train_holds_the_longest_prefix_that_fits_and_gives_back_the_rest():
    book = ledger(0.0, limits="8/10")
    count, hold, units, when = book.reserve("acme/w@main", [3, 2, 2, 2], after=1)
    assert (count, units, when) == (3, 8, 0.0) and book.free() == 0
    book.release(hold, used=[0.5, 0.6, 0.7])
    assert book.free() == 5, "the 5 held and not used are free again"


def test_a_lanes_turn_covers_the_train_it_had_then_not_what_its_pods_queued_since():
    book = ledger(0.0, limits="8/10")
    count, hold, _, _ = book.reserve("flood@main", [3, 3, 3], after=1)
    assert count == 2, "3 + 3 + the ref update fit in 8: the third commit keeps the turn"
    book.release(hold, used=[0.0] * 7)
    assert book.reserve("other@main", [1], after=1)[0] == 0
    assert [(w["lane"], w.get("owed")) for w in book.waiters] == [("flood@main", 1), ("other@main", None)]
    turn = ledger(SPAN, book.state(), limits="8/10")
    # Back with its third commit and two promotions its pods queued since: those wait their turn.
    assert turn.reserve("flood@main", [3, 3, 3], after=1)[0] == 1
    assert turn.reserve("other@main", [1], after=1)[0] == 1


def test_a_lane_that_cannot_start_waits_its_turn_and_learns_when():
    book = ledger(0.0, limits="4/10")
    book.reserve("first@main", [3], after=1)
    count, _, _, due = book.reserve("second@main", [2], after=1)
    assert count == 0 and due == pytest.approx(SPAN)
    assert [w["lane"] for w in book.waiters] == ["second@main"]


def test_a_flooding_lane_cannot_jump_the_queue_but_may_fill_a_gap():
    book = ledger(5.0, limits="6/10")
    book.taken = [0.0] * 5  # one unit left until 11
    assert book.reserve("patient@main", [5], after=1)[0] == 0, "needs the whole window"
    # The unit left, taken now, would leave the window only at 16: the patient lane's turn, at 11, would slip.
    assert book.reserve("flood@main", [1], after=0)[0] == 0
    assert [w["lane"] for w in book.waiters] == ["patient@main", "flood@main"]
    turn = ledger(SPAN, book.state(), limits="6/10")
    assert turn.reserve("flood@main", [1], after=0)[0] == 0, "still behind the patient lane"
    assert turn.reserve("patient@main", [5], after=1)[0] == 1

    gap = ledger(0.0, limits="6/10")
    gap.taken = [0.0] * 5
    assert gap.reserve("patient@main", [3], after=1)[0] == 0, "needs 4"
    assert gap.reserve("flood@main", [1], after=0)[0] == 1, "leaves with the others: the patient lane's turn holds"


def test_a_hold_never_given_back_is_spent_at_its_expiry():
    book = ledger(0.0)
    book.reserve("crashed@main", [2], after=1)
    expired = ledger(budget.HOLD_SECONDS + 1, book.state())
    assert expired.holds == {} and expired.taken == [budget.HOLD_SECONDS] * 3
    assert expired.take_one() == budget.HOLD_SECONDS + SPAN


def test_a_lane_that_does_not_come_back_for_its_turn_loses_it():
    book = ledger(0.0)
    book.taken = [0.0] * 3
    book.reserve("gone@main", [1], after=1)
    later = ledger(SPAN + budget.WAITER_GRACE_SECONDS + 1, book.state())
    assert later.waiters == []


def test_near_the_primary_limit_writes_pause_until_its_reset():
    book = ledger(0.0)
    book.pause(500.0)
    assert book.take_one() == 500.0 and book.reserve("lane@main", [1], after=1)[3] == 500.0


def test_a_bad_setting_names_the_variable(settings):
    settings.GITHUB_WRITE_LIMITS = "80 per minute"
    with pytest.raises(budget.ScmError, match="GITHUB_WRITE_LIMITS: '80 per minute' is not N/SECONDS"):
        budget.windows()
    settings.GITHUB_WRITE_LIMITS = "off"
    assert budget.windows() == []


# --- the stores, shared by concurrent writers ---------------------------------------------------


@pytest.fixture(params=["database", "redis"])
def store(request, settings, transactional_db):
    """A fresh credential in the database, or in Redis when it answers on 127.0.0.1."""
    if request.param == "redis":
        url = "redis://127.0.0.1:6379/0"
        try:
            redis.Redis.from_url(url).ping()
        except redis.RedisError:
            pytest.skip("no Redis on 127.0.0.1:6379")
        settings.REDIS_URL = url
    else:
        settings.REDIS_URL = ""
    settings.GITHUB_WRITE_LIMITS = "10/30"
    return f"test {uuid.uuid4().hex[:12]}"


def test_concurrent_writers_never_take_more_than_the_window(store):
    granted, refused = [], []

    def writer():
        for _ in range(8):
            try:
                budget.spend(store)
                granted.append(1)
            except WriteBudgetSpent as spent:
                refused.append(spent.retry_at)
        connections.close_all()

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (len(granted), len(refused)) == (10, 22)
    assert all(timezone.now() < when < timezone.now() + timedelta(seconds=32) for when in refused)


def test_a_reservation_is_drawn_on_by_the_writes_and_its_rest_given_back(store):
    with budget.reserved(store, "acme/w@main", [3, 3, 3, 3], after=1) as fits:
        assert fits == 3, "3 commits of 3 and the ref update fit in 10"
        for _ in range(5):
            budget.spend(store)  # drawn on the hold: no trip to the store
        with pytest.raises(WriteBudgetSpent):
            budget.reserved(store, "other@main", [1], after=1).__enter__()
    (row,) = [b for b in budget.overview() if b.credential == store]
    assert (row.windows[0].spent, row.windows[0].left, row.held) == (5, 5, 0)
    # The fourth commit, which did not fit, keeps its lane's turn, ahead of the newcomer.
    assert row.waiting == ["acme/w@main", "other@main"] and row.windows[0].next_refill > timezone.now()


# --- over real HTTP: the emulator's secondary limit ------------------------------------------


@pytest.fixture
def limited(github, settings):
    """The emulator answering writes past 12 in any 4 seconds per credential as GitHub's
    secondary limit does, and Patchgate's budget set alike."""
    github.set_write_limits("12/4")
    settings.GITHUB_WRITE_LIMITS = "12/4"
    return github


def fleet(github, repositories: int, branches: int, pods: int) -> list:
    names = [f"acme/fleet{r}" for r in range(repositories)]
    for name in names:
        github.create_repository(name)
    targets = [RepositoryFactory(full_name=name, backend=Repository.Backend.GITHUB) for name in names]
    for target in targets:
        scm = Target(target).scm
        for b in range(1, branches):
            scm.create_branch(f"lane-{b}", scm.branch_head("main"))
    return [
        (
            PodFactory(name=f"pod-{p}", repositories=targets),
            targets[p % repositories],
            "main" if p % branches == 0 else f"lane-{p % branches}",
        )
        for p in range(pods)
    ]


@pytest.mark.e2e
def test_a_fleet_under_the_secondary_limit_lands_everything_and_draws_no_403(transactional_db, limited, request):
    pods = fleet(limited, repositories=2, branches=4, pods=8)
    request.getfixturevalue("worker_cluster")  # started after the settings above, which its workers take
    submitted = [
        submit(pod, repository, [file(f"out/{pod.name}-{n}.md", f"{pod.name} {n}\n")], branch=branch)
        for n in range(2)
        for pod, repository, branch in pods
    ]
    landed = wait_until_final([p.pk for p in submitted], timeout=180)
    assert [p.status for p in landed] == [Status.COMMITTED] * len(submitted), [p.last_error for p in landed]
    stats = limited.stats()
    assert stats["rate_limited"] == 0, "no secondary-limit answer drawn"
    assert stats["writes"] > 12, "more writes than one window allows: the budget had to wait"
    assert sum(p.budget_wait_seconds for p in landed) > 0
    for pod, repository, branch in pods:
        assert Target(repository).read(f"out/{pod.name}-1.md", branch=branch) == f"{pod.name} 1\n".encode()


def test_a_pod_flooding_one_branch_does_not_starve_the_others(limited, settings, db):
    (flooder, repository, flood_branch), *others = fleet(limited, repositories=1, branches=3, pods=3)
    settings.PATCHGATE = {**settings.PATCHGATE, "TRAIN_MAX": 4}
    flood = [submit(flooder, repository, [file(f"flood/{n}.md", f"{n}\n")], branch=flood_branch) for n in range(24)]
    light = [submit(pod, repository, [file(f"{pod.name}.md", "x\n")], branch=branch) for pod, _, branch in others]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not all(p.is_final for p in light):
        # What workers do when the lane clock wakes each lane whose turn has come.
        for branch in [flood_branch, *(branch for _, _, branch in others)]:
            drain_lane(repository.pk, branch)
        for promotion in light:
            promotion.refresh_from_db()
        time.sleep(0.2)
    assert [p.status for p in light] == [Status.COMMITTED] * 2
    landed_flood = Promotion.objects.filter(pk__in=[p.pk for p in flood], status=Status.COMMITTED).count()
    assert landed_flood < len(flood), "the light pods landed while the flood was still landing"
    assert limited.stats()["rate_limited"] == 0


def test_near_the_primary_limit_writes_stop_before_github_refuses_them(github, settings, db):
    settings.GITHUB_WRITE_LIMITS = "80/60"
    github.create_repository("acme/widgets")
    repository = RepositoryFactory(full_name="acme/widgets", backend=Repository.Backend.GITHUB)
    pod = PodFactory(name="writer", repositories=[repository])
    github.emulator.rate_used = 5000 - budget.PRIMARY_FLOOR - 1  # GitHub says 51, then 50 left
    promotion = apply(submit(pod, repository, [file("a.txt", "a\n")]))
    assert promotion.status == Status.RETRYING and "write budget" in promotion.last_error
    reset = github.emulator.rate_window_start + 3600
    assert abs(promotion.not_before.timestamp() - reset) < 2, "back when GitHub's hour resets"
    assert github.stats()["writes"] == 0 and github.stats()["rate_limited"] == 0


# --- what leads see --------------------------------------------------------------------------


def test_the_admin_shows_each_credentials_budget(admin_client, settings, transactional_db):
    settings.REDIS_URL = ""
    settings.GITHUB_WRITE_LIMITS = "80/60,500/3600"
    budget.spend("installation 77")
    page = admin_client.get("/admin/reports/github-write-budget/").content.decode()
    assert "installation 77" in page and "80/60s" in page and "500/3600s" in page
    assert '<td class="number">1</td>' in page and '<td class="number">79</td>' in page
    assert 'href="/admin/reports/github-write-budget/"' in admin_client.get("/admin/").content.decode()
    settings.GITHUB_WRITE_LIMITS = "nonsense"
    assert "is not N/SECONDS" in admin_client.get("/admin/reports/github-write-budget/").content.decode()


def test_the_pod_activity_report_shows_the_time_spent_waiting_for_the_budget(admin_client, db):
    repository = RepositoryFactory(full_name="acme/widgets")
    pod = PodFactory(name="patient", repositories=[repository])
    for waited in (1.25, 2.5):
        Promotion.objects.create(
            pod=pod, repository=repository, branch="main", commit_message="m", budget_wait_seconds=waited
        )
    page = admin_client.get("/admin/reports/pods/").content.decode()
    assert "s waiting for write budget" in page and "3.75" in page
