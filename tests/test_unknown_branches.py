"""A branch that does not exist is refused at submission (nothing stored, so it never
reaches the lanes or the admin's filters) unless the request names `base_branch`:
then the branch is created from that base's head with the promotion's commit. And a
git host that refuses Patchgate's credentials is said to, not "could not be reached".
On every target: local, GitHub REST, GitHub GraphQL."""

import json

import pytest

from promotions.errors import InvalidRequest, OutOfScope
from promotions.mcp.tools import call_tool, tool_specs
from promotions.models import BranchLane, Event, Promotion
from tests.factories import PodFactory
from tests.helpers import apply, client_for, file, results, submit

pytestmark = pytest.mark.django_db

Status = Promotion.Status


@pytest.fixture
def writer(target):
    return PodFactory(name="writer", repositories=[target.repository])


def test_an_unknown_branch_is_refused_naming_branch_and_nothing_is_stored(target, writer):
    with pytest.raises(InvalidRequest) as refused:
        submit(writer, target.repository, [file("a.md", "a\n")], branch="feature/typo")

    assert "does not exist" in refused.value.errors["branch"][0]
    assert "base_branch" in refused.value.errors["branch"][0]
    assert not Promotion.objects.exists() and not Event.objects.exists() and not BranchLane.objects.exists()
    assert target.head("feature/typo") is None


def test_the_api_answers_400_naming_branch(target, writer):
    body = {"branch": "nope", "commit_message": "m", "files": [{"path": "a.md", "content": "a\n"}]}
    response = client_for(writer).post("/api/v1/promotions", body, format="json")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["branch"]
    assert not Promotion.objects.filter(branch="nope").exists()


def test_base_branch_creates_the_branch_from_the_base_head_with_the_commit(target, writer):
    main_head = target.commit_directly({"shared.md": b"on main\n"})

    promotion = apply(
        submit(writer, target.repository, [file("task.md", "mine\n")], branch="task/1", base_branch="main")
    )

    assert promotion.status == Status.COMMITTED and results(promotion) == ["created"]
    assert promotion.base_branch == "main"
    assert target.head("task/1") == promotion.commit_sha
    assert [c.sha for c in target.commits("task/1", limit=2)] == [promotion.commit_sha, main_head]
    assert target.read("task.md", branch="task/1") == b"mine\n"
    assert target.read("shared.md", branch="task/1") == b"on main\n"
    assert target.head() == main_head and target.read("task.md") is None


def test_promotions_queued_for_a_new_branch_land_as_one_chain_on_it(target, writer):
    first = submit(writer, target.repository, [file("t/1.md", "1\n")], branch="task/2", base_branch="main")
    second = submit(writer, target.repository, [file("t/2.md", "2\n")], branch="task/2", base_branch="main")

    apply(first)
    second.refresh_from_db()

    assert (first.status, second.status) == (Status.COMMITTED, Status.COMMITTED)
    assert [c.sha for c in target.commits("task/2", limit=2)] == [second.commit_sha, first.commit_sha]


def test_base_branch_is_ignored_when_the_branch_exists(target, writer):
    apply(submit(writer, target.repository, [file("t.md", "1\n")], branch="task/3", base_branch="main"))
    target.commit_directly({"other.md": b"x\n"})
    main_head = target.head()

    again = apply(submit(writer, target.repository, [file("t.md", "2\n")], branch="task/3", base_branch="main"))

    assert again.status == Status.COMMITTED and results(again) == ["updated"]
    assert target.read("other.md", branch="task/3") is None and target.head() == main_head


def test_an_unknown_base_branch_is_refused_naming_base_branch(target, writer):
    with pytest.raises(InvalidRequest) as refused:
        submit(writer, target.repository, [file("a.md", "a\n")], branch="task/4", base_branch="trunk")

    assert list(refused.value.errors) == ["base_branch"] and not Promotion.objects.exists()


def test_a_base_branch_outside_the_pods_branches_is_out_of_scope(target):
    scoped = PodFactory(name="scoped", repositories=[target.repository], branch_globs="pods/**")
    target.scm.create_branch("private", target.head())

    with pytest.raises(OutOfScope) as refused:
        submit(scoped, target.repository, [file("a.md", "a\n")], branch="pods/x", base_branch="private")

    assert list(refused.value.errors) == ["base_branch"] and target.head("pods/x") is None


def test_pull_request_mode_into_a_new_branch_opens_the_review_on_it(target, writer):
    main_head = target.head()

    promotion = apply(
        submit(
            writer, target.repository, [file("r.md", "r\n")], branch="task/5", base_branch="main", mode="pull_request"
        )
    )

    assert promotion.status == Status.PR_OPEN, promotion.last_error
    assert target.head("task/5") == main_head
    assert target.read("r.md", branch=promotion.review_branch) == b"r\n"
    if target.repository.backend == "github":
        [pull] = list(target.scm.repo.get_pulls(state="open"))
        assert pull.base.ref == "task/5"


def test_the_mcp_tool_takes_base_branch(db):
    properties = tool_specs()["promote_files"].tool.input_schema["properties"]
    assert properties["base_branch"]["type"] == "string" and "create it" in properties["base_branch"]["description"]


# --- credentials the host refuses ------------------------------------------------------


@pytest.mark.parametrize("target", ["github-rest"], indirect=True)
def test_a_github_401_on_get_file_says_the_credentials_were_refused(target, writer, github):
    github.inject({"kind": "bad_credentials", "times": 10})

    response = client_for(writer).get("/api/v1/files", {"path": "README.md"})
    tool = call_tool(writer, "get_file", {"path": "README.md"})

    assert response.status_code == 502
    detail = response.json()["detail"]
    assert detail.startswith("The git host refused Patchgate's credentials") and "could not be reached" not in detail
    assert "401" in detail and "Bad credentials" in detail
    assert tool.is_error and json.loads(tool.content[0].text) == {"detail": detail}
