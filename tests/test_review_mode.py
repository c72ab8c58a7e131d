"""Pull-request mode on the local adapter, the repository's default mode, and the
reasoning trace committed as a file."""

import pytest

from promotions.engine.messages import promotion_ids_in
from promotions.models import Promotion
from tests.helpers import Target

pytestmark = pytest.mark.django_db(transaction=True)
Status = Promotion.Status

BODY = {
    "branch": "main",
    "commit_message": "Add the summary\n\nLonger text.",
    "reasoning_trace": "## Why\n\nThe task asked for a summary.\n",
    "files": [{"path": "outputs/summary.md", "content": "# Summary\n"}],
}


def submit(api, **overrides):
    response = api.post("/api/v1/promotions", {**BODY, **overrides}, format="json")
    assert response.status_code in (200, 202), response.json()
    return Promotion.objects.get(pk=response.json()["id"])


def test_pull_request_mode_lands_on_a_review_branch_only(api, repository, inline_worker):
    target = Target(repository)
    main_before = target.head()

    promotion = submit(api, mode="pull_request")

    assert promotion.status == Status.PR_OPEN
    assert promotion.review_branch == f"patchgate/{promotion.pk}"
    assert target.head(promotion.review_branch) == promotion.commit_sha
    assert target.read("outputs/summary.md", branch=promotion.review_branch) == b"# Summary\n"
    assert target.head() == main_before
    assert promotion.events.last().detail == f"review branch patchgate/{promotion.pk}"


def test_repository_default_mode_applies_when_the_request_names_none(api, repository, inline_worker):
    repository.default_mode = Promotion.Mode.PULL_REQUEST
    repository.save()

    by_default = submit(api)
    explicit_direct = submit(api, mode="direct", files=[{"path": "outputs/other.md", "content": "x\n"}])

    assert (by_default.mode, by_default.status) == (Promotion.Mode.PULL_REQUEST, Status.PR_OPEN)
    assert (explicit_direct.mode, explicit_direct.status) == (Promotion.Mode.DIRECT, Status.COMMITTED)
    assert Target(repository).read("outputs/other.md") == b"x\n"


def test_direct_is_the_default_of_a_plain_repository(api, inline_worker):
    assert submit(api).mode == Promotion.Mode.DIRECT


def test_trace_file_is_in_the_same_commit_but_not_a_result(api, repository, inline_worker):
    repository.trace_path_template = "traces/{promotion_id}.md"
    repository.save()
    target = Target(repository)

    promotion = submit(api)

    assert promotion.status == Status.COMMITTED
    assert target.head() == promotion.commit_sha
    assert target.read(f"traces/{promotion.pk}.md") == BODY["reasoning_trace"].encode()
    assert target.read("outputs/summary.md") == b"# Summary\n"
    assert [f.path for f in promotion.files.all()] == ["outputs/summary.md"]
    [commit] = target.commits(limit=1)
    assert promotion_ids_in(commit.message) == {promotion.pk}


def test_trace_file_follows_pull_request_mode(api, repository, inline_worker):
    repository.trace_path_template = "traces/{pod}-{promotion_id}.md"
    repository.save()

    promotion = submit(api, mode="pull_request")

    target = Target(repository)
    assert target.read(f"traces/writer-{promotion.pk}.md", branch=promotion.review_branch) is not None
    assert target.read(f"traces/writer-{promotion.pk}.md") is None


def test_no_trace_file_without_changes_or_without_trace(api, repository, inline_worker):
    repository.trace_path_template = "traces/{promotion_id}.md"
    repository.save()
    target = Target(repository)

    first = submit(api, reasoning_trace="")
    assert first.status == Status.COMMITTED
    assert target.read(f"traces/{first.pk}.md") is None

    unchanged = submit(api)
    assert unchanged.status == Status.NO_CHANGES
    assert target.read(f"traces/{unchanged.pk}.md") is None
    assert target.head() == first.commit_sha


@pytest.mark.parametrize("template", ["traces/{unknown}.md", "../traces/{promotion_id}.md", "traces/{promotion_id}/"])
def test_a_template_giving_no_valid_path_skips_the_trace_file(api, repository, inline_worker, template):
    repository.trace_path_template = template
    repository.save()

    promotion = submit(api)

    target = Target(repository)
    assert promotion.status == Status.COMMITTED
    assert target.read("outputs/summary.md") == b"# Summary\n"
    assert target.entry("traces") is None
