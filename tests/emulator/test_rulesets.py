"""Rulesets in the emulator, through GitHub's own endpoints (answers held to GitHub's
OpenAPI description): which rules apply to a branch, and an unsigned commit refused
on a branch that requires signatures, as GitHub refuses it, while a signed one lands."""

import base64

import pytest
import requests

from tests.emulator.helpers import TOKEN, commit_on, graphql, head_of, mismatches

R = "/repos/{owner}/{repo}"
SIGNED_MAIN = {
    "name": "signed main",
    "target": "branch",
    "enforcement": "active",
    "conditions": {"ref_name": {"include": ["~DEFAULT_BRANCH", "refs/heads/release/*"], "exclude": []}},
    "rules": [{"type": "required_signatures"}, {"type": "deletion"}],
}
VIOLATION = "Repository rule violations found\n\nCommits must have verified signatures.\n\n"


@pytest.fixture
def signed_main(api):
    answer = api("POST", "/rulesets", SIGNED_MAIN)
    assert answer.status_code == 201, answer.text
    return answer


def test_rulesets_are_created_listed_and_read_as_github_gives_them(github_openapi, api, signed_main):
    ruleset = signed_main.json()
    assert (
        ruleset["name"] == "signed main" and ruleset["enforcement"] == "active" and ruleset["source"] == "acme/widgets"
    )
    listed = api("GET", "/rulesets")
    one = api("GET", f"/rulesets/{ruleset['id']}")
    assert [r["id"] for r in listed.json()] == [ruleset["id"]] and one.json() == ruleset
    assert api("GET", "/rulesets/999999").status_code == 404
    rules = api("GET", "/rules/branches/main")
    assert (
        mismatches(
            github_openapi,
            [
                ("POST", f"{R}/rulesets", signed_main),
                ("GET", f"{R}/rulesets", listed),
                ("GET", f"{R}/rulesets/{{ruleset_id}}", one),
                ("GET", f"{R}/rules/branches/{{branch}}", rules),
            ],
        )
        == []
    )


def test_the_rules_of_a_branch_follow_the_ref_name_conditions(api, signed_main):
    ruleset_id = signed_main.json()["id"]
    info = {"ruleset_source_type": "Repository", "ruleset_source": "acme/widgets", "ruleset_id": ruleset_id}
    assert api("GET", "/rules/branches/main").json() == [
        {"type": "required_signatures", **info},
        {"type": "deletion", **info},
    ]
    assert len(api("GET", "/rules/branches/release/1.0").json()) == 2
    assert api("GET", "/rules/branches/release/1.0/hotfix").json() == []  # `*` stays within a segment
    assert api("GET", "/rules/branches/feature").json() == []


def test_an_evaluating_or_disabled_ruleset_applies_no_rule(api):
    for enforcement in ("evaluate", "disabled"):
        assert (
            api("POST", "/rulesets", {**SIGNED_MAIN, "name": enforcement, "enforcement": enforcement}).status_code
            == 201
        )
    assert api("GET", "/rules/branches/main").json() == []
    head = head_of(api)
    assert api("PATCH", "/git/refs/heads/main", {"sha": commit_on(api, head, "x.txt", "x\n")}).status_code == 200


def test_a_ruleset_without_name_or_with_an_unknown_enforcement_is_refused(api):
    assert api("POST", "/rulesets", {"enforcement": "active"}).json()["message"] == (
        'Invalid request.\n\n"name" wasn\'t supplied.'
    )
    answer = api("POST", "/rulesets", {"name": "x", "enforcement": "always"})
    assert answer.status_code == 422 and "enforcement" in answer.json()["message"]
    assert api("GET", "/rulesets").json() == []


def test_an_unsigned_commit_is_refused_on_a_protected_branch_as_github_refuses_it(api, signed_main):
    head = head_of(api)
    unsigned = commit_on(api, head, "x.txt", "x\n")
    moved = api("PATCH", "/git/refs/heads/main", {"sha": unsigned})
    assert moved.status_code == 422
    assert moved.json() == {
        "message": VIOLATION,
        "documentation_url": "https://docs.github.com/rest/git/refs#update-a-reference",
        "status": "422",
    }
    created = api("POST", "/git/refs", {"ref": "refs/heads/release/2", "sha": unsigned})
    assert created.status_code == 422 and created.json()["message"] == VIOLATION
    put = api("PUT", "/contents/y.txt", {"message": "y", "content": base64.b64encode(b"y\n").decode()})
    assert put.status_code == 409 and put.json()["message"] == VIOLATION
    assert head_of(api) == head
    # Elsewhere the same commits land, and a new protected branch may start from a commit already on one.
    assert api("POST", "/git/refs", {"ref": "refs/heads/feature", "sha": unsigned}).status_code == 201
    assert api("POST", "/git/refs", {"ref": "refs/heads/release/3", "sha": head}).status_code == 201


def test_a_signed_commit_lands_on_a_protected_branch(github_emulator, api, signed_main):
    head = head_of(api)
    mutation = (
        """mutation ($input: CreateCommitOnBranchInput!) { createCommitOnBranch(input: $input) { commit { oid } } }"""
    )
    variables = {
        "input": {
            "branch": {"repositoryNameWithOwner": "acme/widgets", "branchName": "main"},
            "expectedHeadOid": head,
            "message": {"headline": "signed"},
            "fileChanges": {"additions": [{"path": "s.txt", "contents": base64.b64encode(b"s\n").decode()}]},
        }
    }
    answer = requests.post(
        f"{github_emulator.url}/graphql", json={"query": mutation, "variables": variables}, headers=TOKEN, timeout=10
    )
    assert "errors" not in answer.json(), answer.text
    assert head_of(api) == answer.json()["data"]["createCommitOnBranch"]["commit"]["oid"] != head


def test_graphql_update_refs_refuses_an_unsigned_commit_and_takes_a_signed_one(github_emulator, api, signed_main):
    """As the REST ref update: the rule is on what lands on the branch, whatever moves it."""
    head = head_of(api)
    repository = graphql(github_emulator, '{ repository(owner: "acme", name: "widgets") { id } }')["data"]
    mutation = "mutation ($input: UpdateRefsInput!) { updateRefs(input: $input) { clientMutationId } }"
    preview = {**TOKEN, "Accept": "application/vnd.github.update-refs-preview+json"}

    def move(after):
        update = {"name": "refs/heads/main", "beforeOid": head, "afterOid": after}
        variables = {"input": {"repositoryId": repository["repository"]["id"], "refUpdates": [update]}}
        return graphql(github_emulator, mutation, variables, headers=preview)

    refused = move(commit_on(api, head, "x.txt", "x\n"))
    assert refused["data"] == {"updateRefs": None}
    assert [(e["type"], e["message"]) for e in refused["errors"]] == [("UNPROCESSABLE", VIOLATION)]
    assert head_of(api) == head
    api("POST", "/git/refs", {"ref": "refs/heads/work", "sha": head})  # unprotected: signed commits made there
    commit = "mutation ($input: CreateCommitOnBranchInput!) { createCommitOnBranch(input: $input) { commit { oid } } }"
    made = graphql(
        github_emulator,
        commit,
        {
            "input": {
                "branch": {"repositoryNameWithOwner": "acme/widgets", "branchName": "work"},
                "expectedHeadOid": head,
                "message": {"headline": "signed"},
                "fileChanges": {"additions": [{"path": "s.txt", "contents": base64.b64encode(b"s\n").decode()}]},
            }
        },
    )["data"]["createCommitOnBranch"]["commit"]["oid"]
    assert "errors" not in move(made) and head_of(api) == made
