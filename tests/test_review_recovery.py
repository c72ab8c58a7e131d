"""Pull-request mode when opening the pull request fails after the review branch
exists: a retry reuses the branch (moved to the new commit) instead of failing on
"Reference already exists"; and the pull request's title and body stay within
GitHub's bounds. On every target: local, GitHub REST, GitHub GraphQL."""

import pytest

from promotions.engine.review import MAX_BODY_CHARS, MAX_TITLE_CHARS, pull_request_body, pull_request_title
from promotions.models import Promotion
from promotions.scm.port import ScmRejected, ScmTransientError
from promotions.services.promotions import promotion_retry
from tests.factories import PodFactory, PromotionFactory
from tests.helpers import apply, file, submit

pytestmark = pytest.mark.django_db

Status = Promotion.Status


@pytest.fixture
def writer(target):
    return PodFactory(name="writer", repositories=[target.repository])


def fail_to_open_once(monkeypatch, target, error):
    adapter = type(target.scm)
    real = adapter.open_pull_request
    calls = []

    def open_pull_request(self, *args):
        calls.append(args)
        if len(calls) == 1:
            raise error
        return real(self, *args)

    monkeypatch.setattr(adapter, "open_pull_request", open_pull_request)
    return calls


def open_pulls(target) -> list:
    if target.repository.backend != "github":
        return []
    return list(target.scm.repo.get_pulls(state="open"))


def test_a_lead_retry_reuses_the_review_branch_left_by_a_refused_pull_request(target, writer, lead, monkeypatch):
    calls = fail_to_open_once(monkeypatch, target, ScmRejected("opening a pull request: GitHub answered 422"))
    promotion = apply(submit(writer, target.repository, [file("out/a.md", "a\n")], mode="pull_request"))
    assert promotion.status == Status.FAILED
    review_branch = f"patchgate/{promotion.pk}"
    assert target.head(review_branch) is not None  # left behind by the first attempt

    target.commit_directly({"elsewhere.md": b"main moved on\n"})
    assert promotion_retry(promotion=promotion, acting_user=lead)
    promotion = apply(promotion)

    assert promotion.status == Status.PR_OPEN, promotion.last_error
    assert "already exists" not in promotion.last_error
    assert target.head(review_branch) == promotion.commit_sha
    assert target.read("out/a.md", branch=review_branch) == b"a\n"
    assert target.read("elsewhere.md", branch=review_branch) == b"main moved on\n"  # built on main as it is now
    assert target.read("out/a.md") is None and len(calls) == 2
    if target.repository.backend == "github":
        [pull] = open_pulls(target)
        assert pull.head.ref == review_branch and pull.head.sha == promotion.commit_sha


def test_a_transient_failure_to_open_is_retried_on_the_same_review_branch(target, writer, monkeypatch):
    fail_to_open_once(monkeypatch, target, ScmTransientError("opening a pull request: GitHub answered 502"))
    promotion = apply(submit(writer, target.repository, [file("out/b.md", "b\n")], mode="pull_request"))
    assert promotion.status == Status.RETRYING

    Promotion.objects.filter(pk=promotion.pk).update(not_before=None)
    promotion = apply(promotion)

    assert promotion.status == Status.PR_OPEN, promotion.last_error
    assert target.head(promotion.review_branch) == promotion.commit_sha
    assert len(open_pulls(target)) == (1 if target.repository.backend == "github" else 0)


def test_a_long_title_and_trace_open_a_pull_request_within_githubs_bounds(target, writer):
    summary = "Summarise " + "every quarter " * 40
    trace = "".join(f"Step {i}: looked at the data and kept going.\n" for i in range(3000))  # about 130,000 characters
    promotion = apply(
        submit(writer, target.repository, [file("out/c.md", "c\n")], mode="pull_request", message=summary, trace=trace)
    )

    assert promotion.status == Status.PR_OPEN, promotion.last_error
    if target.repository.backend == "github":
        [pull] = open_pulls(target)
        assert len(pull.title) <= MAX_TITLE_CHARS and pull.title.startswith("Summarise every quarter")
        assert len(pull.body) <= MAX_BODY_CHARS and pull.body.startswith("Step 0: looked")
        assert f"/admin/promotions/promotion/{promotion.pk}/change/" in pull.body


def test_title_and_body_are_cut_with_a_pointer_to_the_whole_trace(db):
    promotion = PromotionFactory(commit_message="x" * 400 + "\n\nbody", reasoning_trace="line\n" * 20_000)
    promotion.repository.trace_path_template = "traces/{promotion_id}.md"

    title, body = pull_request_title(promotion), pull_request_body(promotion)

    assert len(title) == MAX_TITLE_CHARS and title.endswith("…")
    assert len(body) <= MAX_BODY_CHARS and body.startswith("line\nline\n")
    assert f"`traces/{promotion.pk}.md` in this pull request" in body
    short = PromotionFactory(commit_message="Short\n\nmore", reasoning_trace="Why.\n")
    assert (pull_request_title(short), pull_request_body(short)) == ("Short", "Why.\n")


@pytest.mark.parametrize("target", ["github-rest"], indirect=True)
def test_the_emulator_refuses_a_pull_request_over_githubs_bounds_as_github_does(target):
    from github import GithubException

    scm = target.scm
    head = target.commit_directly({"x.md": b"x\n"}, branch="main")
    scm.create_branch("topic", head)
    target.commit_directly({"y.md": b"y\n"}, branch="topic")
    for title, body, field in [("t" * 257, "", "title"), ("ok", "b" * 65_537, "body")]:
        with pytest.raises(GithubException) as refused:
            scm.repo.create_pull(base="main", head="topic", title=title, body=body)
        assert refused.value.status == 422
        [error] = refused.value.data["errors"]
        assert error["field"] == field and error["message"].startswith(f"{field} is too long (maximum is")
    assert scm.repo.create_pull(base="main", head="topic", title="t" * 256, body="b" * 65_536).number == 1
