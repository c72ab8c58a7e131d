"""The github adapter through PyGithub against the emulator, over real HTTP: the call
budget, and each class of GitHub error handled as the engine expects. (The engine's
scenarios run on this adapter too, in test_engine_contract and test_crash_recovery.)"""

import json
import threading
import time
from datetime import timedelta
from io import StringIO
from urllib.parse import urlsplit

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from promotions import tasks
from promotions.api.schema import SEED_BATCH
from promotions.engine.lanes import drain_lane
from promotions.engine.messages import promotion_ids_in
from promotions.models import GitHubWriteBudget, Promotion, Repository
from promotions.scm import adapter_for
from promotions.scm.github import refs
from promotions.scm.port import ScmTransientError, TreeWrite
from tests.factories import RepositoryFactory
from tests.helpers import GITHUB_TOKEN, Target, apply, client_for, file, new_app_key, results, submit

pytestmark = pytest.mark.django_db
Status = Promotion.Status
# The branch and its touched paths (one GraphQL read), a tree, a commit, the ref update.
MAX_CALLS_PER_BATCH = 4
UPDATE_REFS = {"kind": "drop_after_write", "method": "POST", "path": "/graphql$", "query": "updateRefs"}


def calls_made(emulator, action) -> tuple[object, int]:
    emulator.reset_stats()
    outcome = action()
    return outcome, emulator.stats()["requests"]


def texts_shown(promotion, caplog) -> list[str]:
    """Everything a pod, a lead or the logs get to see of a promotion's failure."""
    return [promotion.last_error, *promotion.events.values_list("detail", flat=True), caplog.text]


def run_lane_again(promotion):
    """What the scheduled retry does once its time has come."""
    Promotion.objects.filter(pk=promotion.pk).update(not_before=timezone.now() - timedelta(seconds=1))
    return apply(promotion)


@pytest.mark.parametrize("count", [1, 23, 500])
def test_a_batch_of_text_files_costs_at_most_five_calls(github, widgets, writer, count):
    names = [f"outputs/batch/file{i:03}.md" for i in range(count)]
    submitted, calls = calls_made(github, lambda: submit(writer, widgets, [file(n, f"v1 {n}\n") for n in names]))
    assert calls <= 1  # submission reads the branch's head (it must exist), unless this process saw it lately
    created, calls = calls_made(github, lambda: apply(submitted))
    assert created.status == Status.COMMITTED and set(results(created)) == {"created"}
    assert calls <= MAX_CALLS_PER_BATCH

    submitted = submit(writer, widgets, [file(n, f"v2 {n}\n") for n in names])
    updated, calls = calls_made(github, lambda: apply(submitted))
    assert updated.status == Status.COMMITTED and set(results(updated)) == {"updated"}
    assert calls <= MAX_CALLS_PER_BATCH
    target = Target(widgets)
    assert [c.sha for c in target.commits(limit=2)] == [updated.commit_sha, created.commit_sha]
    assert target.read(names[-1]) == f"v2 {names[-1]}\n".encode()


def test_binary_files_cost_one_blob_each_and_land_byte_for_byte(github, widgets, writer):
    payload = bytes(range(256))
    submitted = submit(writer, widgets, [file("a.bin", payload, encoding="base64"), file("t.txt", "t\n")])
    promotion, calls = calls_made(github, lambda: apply(submitted))
    assert promotion.status == Status.COMMITTED
    assert calls == MAX_CALLS_PER_BATCH + 1
    assert Target(widgets).read("a.bin") == payload


def test_a_train_costs_one_tree_and_one_commit_per_promotion(github, widgets, writer):
    queued = [
        submit(writer, widgets, [file(f"t/{i}.txt", f"{i}\n"), file(f"t/{i}.bin", bytes([i, 255]), encoding="base64")])
        for i in range(5)
    ]
    github.reset_stats()
    drain_lane(widgets.pk, "main")
    landed = [Promotion.objects.get(pk=p.pk) for p in queued]
    assert [p.status for p in landed] == [Status.COMMITTED] * 5
    R = "/repos/{owner}/{repo}"
    assert github.stats()["by_route"] == {
        # The branch with every touched path (and the repository's node id), read at once;
        # the ref moved by updateRefs, one write as the REST PATCH it replaces.
        "POST /graphql": 2,
        f"POST {R}/git/blobs": 5,
        f"POST {R}/git/trees": 5,
        f"POST {R}/git/commits": 5,
    }
    assert github.stats()["writes"] == 16  # 15 blobs, trees and commits, and one ref update
    target = Target(widgets)
    assert [c.sha for c in target.commits(limit=5)] == [p.commit_sha for p in reversed(landed)]
    assert [target.read(f"t/{i}.bin") for i in range(5)] == [bytes([i, 255]) for i in range(5)]
    assert [target.read(f"t/{i}.txt") for i in range(5)] == [f"{i}\n".encode() for i in range(5)]


def test_the_seed_batch_through_the_api_is_one_commit(github, widgets, writer, transactional_db, inline_worker):
    seed = SEED_BATCH.value
    before = Target(widgets).head()
    response = client_for(writer).post("/api/v1/promotions", {**seed, "wait": 10}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "committed"
    assert [(r["path"], r["status"]) for r in body["results"]] == [(f["path"], "created") for f in seed["files"]]
    commits = Target(widgets).commits(limit=2)
    assert commits[0].sha == body["commit_sha"] and commits[1].sha == before
    assert body["commit_url"] == f"{github.url}/_web/acme/widgets/commit/{body['commit_sha']}"


APP_ID, INSTALLATION_ID = 4242, 777


@pytest.fixture
def as_github_app(github, settings):
    """The github backend authenticated as an installed GitHub App instead of a token.
    Returns the app's private key (PEM)."""
    private, public = new_app_key()
    github.register_app(APP_ID, public, INSTALLATION_ID)
    settings.GITHUB_TOKEN = ""
    settings.GITHUB_APP_ID, settings.GITHUB_APP_INSTALLATION_ID = str(APP_ID), str(INSTALLATION_ID)
    return private


@pytest.mark.parametrize("key_given_as", ["pem text", "path"])
def test_a_github_app_commits_with_its_installation_token(
    github, as_github_app, widgets, writer, settings, tmp_path, key_given_as
):
    if key_given_as == "path":
        key_file = tmp_path / "app.pem"
        key_file.write_text(as_github_app)
        settings.GITHUB_APP_PRIVATE_KEY = str(key_file)
    else:
        settings.GITHUB_APP_PRIVATE_KEY = as_github_app
    github.reset_stats()
    promotion = apply(submit(writer, widgets, [file("app.txt", "by the app\n")]))
    assert promotion.status == Status.COMMITTED and Target(widgets).read("app.txt") == b"by the app\n"
    stats = github.stats()
    assert stats["by_route"]["POST /app/installations/{installation_id}/access_tokens"] == 1
    # The JWT only fetched the installation token; every repository call used that token.
    assert stats["by_credential"] == {"app": 1, "installation": stats["requests"] - 1}


def test_a_github_app_with_the_wrong_key_fails_without_retry(as_github_app, widgets, writer, settings, caplog):
    settings.GITHUB_APP_PRIVATE_KEY, _ = new_app_key()
    promotion = apply(submit(writer, widgets, [file("a.txt", "a\n")]))
    assert promotion.status == Status.FAILED and promotion.attempts == 1
    assert "401 A JSON web token could not be decoded" in promotion.last_error
    assert not any("PRIVATE KEY" in text for text in texts_shown(promotion, caplog))


def test_bad_credentials_fail_at_once_with_a_clear_message(github, widgets, writer, caplog):
    github.inject({"kind": "bad_credentials", "times": 100})
    promotion = apply(submit(writer, widgets, [file("a.txt", "a\n")]))
    assert promotion.status == Status.FAILED
    assert promotion.attempts == 1 and promotion.not_before is None
    assert "401" in promotion.last_error and "Bad credentials" in promotion.last_error
    assert not any(GITHUB_TOKEN in text for text in texts_shown(promotion, caplog))


@pytest.mark.parametrize(
    "fault, wait_seconds",
    [
        ({"kind": "secondary_rate_limit", "retry_after": 90}, 90),
        ({"kind": "primary_rate_limit", "reset_in": 300}, 300),
        ({"kind": "primary_rate_limit", "status": 429, "reset_in": 120}, 120),
    ],
)
def test_rate_limits_are_waited_out_by_the_lane_clock_not_a_worker(
    github, widgets, writer, fault, wait_seconds, transactional_db, inline_worker
):
    github.inject({**fault, "method": "POST", "path": "/git/trees$"})
    started = time.monotonic()
    response = client_for(writer).post(
        "/api/v1/promotions", {"commit_message": "m", "files": [{"path": "a.txt", "content": "a\n"}]}, format="json"
    )
    promotion = Promotion.objects.get(pk=response.json()["id"])
    assert time.monotonic() - started < 10, "the worker must not sleep through a rate limit"
    assert promotion.status == Status.RETRYING and "rate limit" in promotion.last_error.lower()
    expected = timezone.now() + timedelta(seconds=wait_seconds)
    assert abs((promotion.not_before - expected).total_seconds()) < 5
    assert promotion.transient_errors == 0, "a rate limit is not the promotion's error"
    assert tasks.sweep_lanes() == 0, "not due yet"

    Promotion.objects.filter(pk=promotion.pk).update(not_before=timezone.now() - timedelta(seconds=1))
    GitHubWriteBudget.objects.update(state={})  # and the writes paused until GitHub's reset
    assert tasks.sweep_lanes() == 1  # the lane clock of any worker wakes it once due
    promotion.refresh_from_db()
    assert promotion.status == Status.COMMITTED and Target(widgets).read("a.txt") == b"a\n"


def test_server_errors_are_retried_with_backoff_then_land_once(github, widgets, writer):
    github.inject({"kind": "status", "status": 502, "method": "POST", "path": "/git/commits$"})
    promotion = apply(submit(writer, widgets, [file("a.txt", "a\n")]))
    assert promotion.status == Status.RETRYING and "502" in promotion.last_error
    assert promotion.not_before > timezone.now()

    promotion = run_lane_again(promotion)
    assert promotion.status == Status.COMMITTED and promotion.attempts == 2
    assert sum(promotion.pk in promotion_ids_in(c.message) for c in Target(widgets).commits()) == 1


def test_server_errors_are_retried_a_bounded_number_of_times(github, widgets, writer, settings):
    github.inject({"kind": "status", "status": 503, "times": 1000})
    promotion = apply(submit(writer, widgets, [file("a.txt", "a\n")]))
    tries = 1
    while promotion.status == Status.RETRYING:
        promotion = run_lane_again(promotion)
        tries += 1
    assert promotion.status == Status.FAILED and "gave up" in promotion.last_error
    assert tries == settings.PATCHGATE["MAX_TRANSIENT_RETRIES"]


def test_a_hanging_github_times_out_and_is_retried(github, widgets, writer, settings):
    settings.GITHUB_TIMEOUT_SECONDS = 1
    promotion = submit(writer, widgets, [file("a.txt", "a\n")])
    github.inject({"kind": "hang", "seconds": 5, "method": "POST", "path": "/graphql$", "query": "expression"})
    started = time.monotonic()
    promotion = apply(promotion)
    assert time.monotonic() - started < 4
    assert promotion.status == Status.RETRYING and "did not answer within 1s" in promotion.last_error
    assert run_lane_again(promotion).status == Status.COMMITTED


def test_a_dropped_answer_to_the_ref_update_is_reconciled_not_doubled(github, widgets, writer):
    """The ref moved but the answer never came back: the retry finds the commit by its trailer."""
    github.inject(UPDATE_REFS)
    promotion = apply(submit(writer, widgets, [file("a.txt", "a\n"), file("b.txt", "b\n")]))
    assert promotion.status == Status.RETRYING and "dropped" in promotion.last_error
    target = Target(widgets)
    head_after_drop = target.head()

    promotion = run_lane_again(promotion)
    assert promotion.status == Status.COMMITTED and promotion.commit_sha == head_after_drop
    assert results(promotion) == ["created", "created"]
    assert target.head() == head_after_drop
    assert sum(promotion.pk in promotion_ids_in(c.message) for c in target.commits()) == 1
    assert promotion.events.last().detail == f"found on the branch as {head_after_drop}"


def test_missing_repository_and_missing_branch_fail_clearly(github, writer, branches_deleted_after_submission):
    gone = RepositoryFactory(full_name="acme/gone", backend=Repository.Backend.GITHUB)
    writer.repositories.add(gone)
    promotion = apply(submit(writer, gone, [file("a.txt", "a\n")]))
    assert promotion.status == Status.FAILED
    assert "repository acme/gone" in promotion.last_error and "404" in promotion.last_error

    widgets = Repository.objects.get(full_name="acme/widgets")
    promotion = apply(submit(writer, widgets, [file("a.txt", "a\n")], branch="nowhere"))
    assert promotion.status == Status.FAILED and promotion.last_error == "branch nowhere not found in acme/widgets"


def test_a_stale_ref_update_is_refused_and_the_branch_kept(github, widgets):
    scm = adapter_for(widgets)
    base = scm.branch_head("main")
    theirs = Target(widgets).commit_directly({"theirs.txt": b"theirs\n"})
    ours = scm.write_commit(base, [], "ours", ("Pod", "pod@example.invalid"))
    assert scm.compare_and_swap("main", base, ours) is False
    assert scm.branch_head("main") == theirs


def test_a_ref_update_after_a_reset_to_an_ancestor_is_refused_and_the_reset_kept(github, widgets):
    """GitHub's REST ref update would take our commit here (it descends from the branch's
    new head); updateRefs compares the exact head we read."""
    target, scm = Target(widgets), adapter_for(widgets)
    ancestor = scm.branch_head("main")
    read = target.commit_directly({"dropped.txt": b"dropped\n"})
    ours = scm.write_commit(read, [], "ours", ("Pod", "pod@example.invalid"))
    target.reset(ancestor)
    github.reset_stats()
    assert scm.compare_and_swap("main", read, ours) is False
    assert scm.branch_head("main") == ancestor
    # The refused mutation and the branch read that tells why (GitHub's error does not).
    assert github.stats()["by_route"] == {"POST /graphql": 1, "GET /repos/{owner}/{repo}/branches/{branch}": 2}


def test_a_refusal_that_left_the_branch_in_place_is_retried_not_taken_for_a_move(github, widgets):
    """GitHub's generic error says neither why nor whether it was a timeout: the branch read
    after it tells that nothing moved, so the engine retries with backoff."""
    scm = adapter_for(widgets)
    head = scm.branch_head("main")
    sideways = scm.write_commit(None, [TreeWrite("x.txt", b"x\n")], "unrelated", ("Pod", "pod@example.invalid"))
    with pytest.raises(ScmTransientError, match="the branch did not move: Something went wrong"):
        scm.compare_and_swap("main", head, sideways)  # no common history: not a fast-forward
    assert scm.branch_head("main") == head


def test_a_repository_id_github_no_longer_knows_is_retried_and_asked_again(github, widgets, settings):
    """The node id is kept per process; a repository replaced meanwhile has a new one."""
    scm = adapter_for(widgets)
    head = scm.branch_head("main")
    ours = scm.write_commit(head, [], "ours", ("Pod", "pod@example.invalid"))
    refs._ids[(settings.GITHUB_API_URL, "acme/widgets")] = "UjJfa2dEZWxldGVk"  # a repository deleted since
    with pytest.raises(ScmTransientError, match="node id"):
        scm.compare_and_swap("main", head, ours)
    assert scm.branch_head("main") == head
    assert scm.compare_and_swap("main", head, ours) is True and scm.branch_head("main") == ours


def test_pull_request_mode_opens_a_pull_request(github, widgets, writer):
    promotion = apply(
        submit(
            writer, widgets, [file("p.md", "p\n")], message="Add p\n\nDetails.", trace="## Why\n", mode="pull_request"
        )
    )
    assert promotion.status == Status.PR_OPEN
    assert promotion.pull_request_url == f"{github.url}/_web/acme/widgets/pull/1"
    pull = adapter_for(widgets).github.get_repo("acme/widgets").get_pull(1)
    assert (pull.title, pull.body, pull.head.ref, pull.base.ref) == (
        "Add p",
        "## Why\n",
        f"patchgate/{promotion.pk}",
        "main",
    )
    assert pull.head.sha == promotion.commit_sha
    assert Target(widgets).read("p.md") is None


def run_addrepo(*args) -> str:
    out = StringIO()
    call_command("addrepo", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_addrepo_registers_a_reachable_github_repository_only(github):
    github.create_repository("acme/site")
    assert "Registered: acme/site (github, main)" in run_addrepo("acme/site", "--backend", "github")
    with pytest.raises(CommandError, match="acme/absent was not registered: .*404"):
        run_addrepo("acme/absent", "--backend", "github")
    with pytest.raises(CommandError, match="branch trunk not found in acme/site2"):
        github.create_repository("acme/site2")
        run_addrepo("acme/site2", "--backend", "github", "--default-branch", "trunk")
    assert list(Repository.objects.values_list("full_name", flat=True)) == ["acme/site"]


def test_blob_reads_decode_githubs_base64(github, widgets, writer):
    payload = b"\xff\xfe" * 100
    promotion = apply(submit(writer, widgets, [file("w.bin", payload, encoding="base64")]))
    sha = promotion.files.get().new_sha
    assert adapter_for(widgets).read_blob(sha) == payload


def test_threads_sharing_a_connection_each_send_their_own_request(github, widgets):
    """One client (and connection) serves every lane of a process: a request started on
    one thread is sent as it was started, whatever another thread starts meanwhile."""
    from promotions.scm.github.client import _BudgetedHTTP

    address = urlsplit(github.url)
    connection = _BudgetedHTTP(address.hostname, address.port, timeout=5)
    connection.request("GET", "/repos/acme/widgets", None, {})
    other = threading.Thread(target=lambda: connection.request("GET", "/repos/acme/missing", None, {}))
    other.start()
    other.join()
    response = connection.getresponse()
    assert response.status == 200
    assert json.loads(response.read())["full_name"] == "acme/widgets"


@pytest.fixture
def counted_reads_ahead(monkeypatch):
    """The tips read ahead of a train's database work (engine.train_reads), counted."""
    from promotions.engine import train_reads

    started = []
    executor = train_reads.reads_ahead()

    class Counting:
        def submit(self, *args):
            started.append(args[1])  # the branch
            return executor.submit(*args)

    monkeypatch.setattr(train_reads, "reads_ahead", lambda: Counting())
    return started


def test_a_train_read_ahead_costs_no_call_more(github, widgets, writer, transactional_db, counted_reads_ahead):
    queued = [submit(writer, widgets, [file(f"t/{i}.txt", f"{i}\n")]) for i in range(3)]
    github.reset_stats()
    drain_lane(widgets.pk, "main")
    assert counted_reads_ahead == ["main"]  # outside a transaction, the tip is read beside take-up
    landed = [Promotion.objects.get(pk=p.pk) for p in queued]
    assert [p.status for p in landed] == [Status.COMMITTED] * 3
    assert github.stats()["by_route"] == {
        "POST /graphql": 2,
        "POST /repos/{owner}/{repo}/git/trees": 3,
        "POST /repos/{owner}/{repo}/git/commits": 3,
    }
    assert [c.sha for c in Target(widgets).commits(limit=3)] == [p.commit_sha for p in reversed(landed)]


def test_a_train_cut_after_its_read_ahead_reads_again(github, widgets, writer, transactional_db, counted_reads_ahead):
    spent, kept = (submit(writer, widgets, [file(f"cut/{name}.txt", f"{name}\n")]) for name in ("spent", "kept"))
    Promotion.objects.filter(pk=spent.pk).update(transient_errors=5)  # given up before landing: the train is cut
    github.reset_stats()
    drain_lane(widgets.pk, "main")
    assert counted_reads_ahead == ["main"]
    spent.refresh_from_db()
    kept.refresh_from_db()
    assert (spent.status, kept.status) == (Status.FAILED, Status.COMMITTED)
    assert github.stats()["by_route"]["POST /graphql"] == 3  # the read ahead, the read of the cut train, the ref
    target = Target(widgets)
    assert target.read("cut/kept.txt") == b"kept\n"
    assert target.read("cut/spent.txt") is None
