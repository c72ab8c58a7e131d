"""A train's first tree is written while its tip is read (promotions.scm.github.ahead),
on the tip Patchgate last saw, and taken only when the plan on the tip actually read
writes exactly that tree on exactly that base: the commit is the one it would have been.
Against the emulator over real HTTP, outside a transaction (a read ahead runs beside
the train's database work)."""

import threading
import time

import pytest

from promotions.engine.lanes import drain_lane
from promotions.engine.train_reads import AS_SENT_MAX_BYTES
from promotions.models import Promotion
from promotions.scm.github import budget
from promotions.scm.github.ahead import known_tip, remember_tip
from promotions.scm.github.budget import Ledger, Window
from tests.helpers import Target, file, submit

pytestmark = pytest.mark.django_db(transaction=True)
Status = Promotion.Status
R = "/repos/{owner}/{repo}"


def landed(writer, widgets, files) -> Promotion:
    promotion = submit(writer, widgets, files)
    drain_lane(widgets.pk, "main")
    promotion.refresh_from_db()
    assert promotion.status == Status.COMMITTED, promotion.last_error
    return promotion


def trees_written(github) -> int:
    return github.stats()["by_route"].get(f"POST {R}/git/trees", 0)


def trees_sent_while_reading(github, widgets, watch_seconds: float = 1.5) -> int:
    """Drain the lane with its tip's read hanging: the trees GitHub received meanwhile."""
    github.reset_stats()
    github.inject(
        {"kind": "hang", "seconds": watch_seconds + 0.5, "method": "POST", "path": "/graphql$", "query": "expression"}
    )
    lane = threading.Thread(target=drain_lane, args=(widgets.pk, "main"))
    lane.start()
    deadline = time.monotonic() + watch_seconds
    while trees_written(github) == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    sent, still_reading = trees_written(github), lane.is_alive()
    lane.join()
    assert still_reading, "the read hung all along: what was sent went beside it"
    return sent


def test_a_branch_whose_tip_is_known_has_its_first_tree_written_while_its_tip_is_read(github, widgets, writer):
    first = landed(writer, widgets, [file("notes/a.md", "a\n")])
    assert known_tip("acme/widgets", "main")[0] == first.commit_sha
    queued = submit(writer, widgets, [file("notes/b.md", "b\n"), file("notes/a.md", "a2\n")])
    assert trees_sent_while_reading(github, widgets) == 1
    queued.refresh_from_db()
    assert queued.status == Status.COMMITTED
    # No call more than without it: the read, one tree, one commit, the ref update.
    assert github.stats()["by_route"] == {"POST /graphql": 2, f"POST {R}/git/trees": 1, f"POST {R}/git/commits": 1}
    target = Target(widgets)
    assert [target.read("notes/a.md"), target.read("notes/b.md")] == [b"a2\n", b"b\n"]
    assert target.commits(limit=1)[0].sha == queued.commit_sha
    assert known_tip("acme/widgets", "main")[0] == queued.commit_sha


def test_a_branch_moved_by_another_writer_gets_a_tree_of_its_own_and_keeps_their_change(github, widgets, writer):
    landed(writer, widgets, [file("notes/a.md", "a\n")])
    seen = known_tip("acme/widgets", "main")
    Target(widgets).commit_directly({"theirs.md": b"theirs\n"})
    remember_tip("acme/widgets", "main", *seen)  # as if they had pushed without Patchgate seeing it
    github.reset_stats()
    ours = landed(writer, widgets, [file("notes/b.md", "b\n")])
    assert trees_written(github) == 2  # the one written ahead, on a tip the branch had left
    target = Target(widgets)
    assert [target.read("theirs.md"), target.read("notes/b.md")] == [b"theirs\n", b"b\n"]
    assert target.commits(limit=1)[0].sha == ours.commit_sha


def test_a_plan_that_writes_otherwise_than_sent_takes_its_own_tree(github, widgets, writer):
    Target(widgets).commit_directly({"run.sh": b"echo 1\n"}, mode="100755")
    github.reset_stats()
    landed(writer, widgets, [file("run.sh", "echo 2\n")])  # no mode named: the executable stays one
    assert trees_written(github) == 2  # the guess wrote it 100644
    scm = Target(widgets).scm
    entry = scm.read_entries(scm.branch_head("main"), ["run.sh"])["run.sh"]
    assert (entry.mode, scm.read_blob(entry.sha)) == ("100755", b"echo 2\n")


@pytest.mark.parametrize(
    "files",
    [
        [file("notes/a.md", "a2\n"), file("notes/gone.md")],  # a delete: nothing written if already absent
        [file("notes/big.md", "x" * (AS_SENT_MAX_BYTES + 1))],
        [file("notes/a.bin", bytes([0, 255]), encoding="base64")],  # a blob of its own first
    ],
    ids=["delete", "large", "binary"],
)
def test_no_tree_is_written_ahead_of_a_promotion_unlikely_to_land_as_sent(github, widgets, writer, files):
    landed(writer, widgets, [file("notes/a.md", "a\n")])
    queued = submit(writer, widgets, files)
    assert trees_sent_while_reading(github, widgets, watch_seconds=0.8) == 0
    queued.refresh_from_db()
    assert queued.status == Status.COMMITTED


def test_no_tree_is_written_ahead_on_a_branch_not_seen_lately(github, widgets, writer):
    queued = submit(writer, widgets, [file("notes/a.md", "a\n")])
    assert trees_sent_while_reading(github, widgets, watch_seconds=0.8) == 0
    queued.refresh_from_db()
    assert queued.status == Status.COMMITTED


def test_a_write_ahead_of_its_train_takes_no_unit_held_for_another(settings):
    settings.GITHUB_WRITE_LIMITS = "10/30"
    credential = "ahead test"
    with budget.reserved(credential, "acme/w@main", [3], after=1):
        with budget.ahead_of_its_train():
            budget.spend(credential)
        (row,) = [b for b in budget.overview() if b.credential == credential]
        assert row.held == 4
    (row,) = [b for b in budget.overview() if b.credential == credential]
    assert (row.windows[0].spent, row.windows[0].left) == (1, 9)


def test_a_write_ahead_of_its_train_does_not_go_before_a_lane_waiting_its_turn():
    book = Ledger({}, [Window(4, 10.0)], 0.0)
    book.reserve("first@main", [1], after=1)  # 2 of 4 held
    assert book.reserve("second@main", [3], after=1)[0] == 0  # 4 do not fit: it waits its turn
    assert book.take_one(behind_waiters=True) == book.waiters[0]["due"] > 0
    assert book.take_one() == 0.0  # a write of a train that holds its budget is not kept waiting
