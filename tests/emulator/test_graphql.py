"""The emulator's GraphQL endpoint over real HTTP: every request validated against
GitHub's published schema and refused in GitHub's words, the reads Patchgate and its
tests use, and createCommitOnBranch's signed commits (their shas and signatures
checked with `git` itself), exact compare-and-swap and errors."""

import base64
import subprocess

import pytest
import requests

from github_emulator import signing
from tests.emulator.helpers import TOKEN, commit_on, git, graphql, head_of, registered_app_jwt

pytestmark = pytest.mark.usefixtures("github_graphql_schema")

COMMIT = """mutation ($input: CreateCommitOnBranchInput!) {
  createCommitOnBranch(input: $input) { commit { oid message signature { isValid wasSignedByGitHub } } ref { name } }
}"""


def commit_input(head, additions=(), deletions=(), branch="main", headline="Add files", body=None) -> dict:
    message = {"headline": headline, **({"body": body} if body else {})}
    return {
        "input": {
            "branch": {"repositoryNameWithOwner": "acme/widgets", "branchName": branch},
            "expectedHeadOid": head,
            "message": message,
            "fileChanges": {
                "additions": [{"path": p, "contents": base64.b64encode(data).decode()} for p, data in additions],
                "deletions": [{"path": p} for p in deletions],
            },
        }
    }


# --- refused as GitHub refuses ------------------------------------------------------------


def test_an_unknown_field_is_refused_in_githubs_words(github_emulator, api):
    answer = graphql(github_emulator, "{ viewer { login nickname } }")
    assert answer == {
        "errors": [
            {
                "message": "Field 'nickname' doesn't exist on type 'User'",
                "locations": [{"line": 1, "column": 18}],
                "path": ["query", "viewer", "nickname"],
                "extensions": {"code": "undefinedField", "typeName": "User", "fieldName": "nickname"},
            }
        ]
    }


def test_a_literal_of_the_wrong_type_and_an_unknown_argument_are_refused(github_emulator, api):
    answer = graphql(github_emulator, 'query Find { repository(owner: 42, name: "widgets", fork: true) { id } }')
    assert [(e["message"], e["path"], e["extensions"]["code"]) for e in answer["errors"]] == [
        (
            "Argument 'owner' on Field 'repository' has an invalid value (42). Expected type 'String!'.",
            ["query Find", "repository", "owner"],
            "argumentLiteralsIncompatible",
        ),
        (
            "Field 'repository' doesn't accept argument 'fork'",
            ["query Find", "repository", "fork"],
            "argumentNotAccepted",
        ),
    ]
    assert "data" not in answer


def test_a_missing_argument_and_a_selection_on_a_scalar_are_refused(github_emulator, api):
    answer = graphql(github_emulator, '{ repository(owner: "acme") { name { length } } }')
    assert sorted(e["message"] for e in answer["errors"]) == [
        "Field 'repository' is missing required arguments: name",
        "Selections can't be made on scalars (field 'name' returns String! but has selections [length])",
    ]


def test_a_variable_of_the_wrong_shape_is_refused_with_the_problem_path(github_emulator, api):
    head = head_of(api)
    wrong = commit_input(head)
    del wrong["input"]["expectedHeadOid"]
    wrong["input"]["message"]["subject"] = "no such field"
    answer = graphql(github_emulator, COMMIT, wrong)
    (error,) = answer["errors"]
    assert error["message"] == (
        "Variable $input of type CreateCommitOnBranchInput! was provided invalid value for expectedHeadOid "
        "(Expected value to not be null)"
    )
    assert error["extensions"]["problems"] == [
        {"path": ["expectedHeadOid"], "explanation": "Expected value to not be null"},
        {"path": ["message", "subject"], "explanation": "Field is not defined on CommitMessage"},
    ]
    assert head_of(api) == head and github_emulator.stats()["writes"] == 0


def test_a_number_where_githubs_scalar_wants_a_string_is_refused(github_emulator, api):
    answer = graphql(github_emulator, COMMIT, {"input": {**commit_input(head_of(api))["input"], "expectedHeadOid": 7}})
    assert answer["errors"][0]["extensions"]["problems"] == [
        {"path": ["expectedHeadOid"], "explanation": "Could not coerce value 7 to GitObjectID"}
    ]


def test_a_parse_error_names_the_token(github_emulator, api):
    assert graphql(github_emulator, "{ viewer { login } ] }") == {
        "errors": [{"message": 'Parse error on "]" (RBRACKET) at [1, 20]', "locations": [{"line": 1, "column": 20}]}]
    }


def test_an_unknown_repository_is_not_found_with_data(github_emulator, api):
    answer = graphql(github_emulator, '{ repository(owner: "acme", name: "nope") { id } }')
    assert answer == {
        "data": {"repository": None},
        "errors": [
            {
                "type": "NOT_FOUND",
                "path": ["repository"],
                "locations": [{"line": 1, "column": 3}],
                "message": "Could not resolve to a Repository with the name 'acme/nope'.",
            }
        ],
    }


# --- reads ------------------------------------------------------------------------------------


def test_reads_the_viewer_a_refs_target_and_a_file(github_emulator, api):
    query = """{ viewer { login }
      repository(owner: "acme", name: "widgets") {
        ref(qualifiedName: "refs/heads/main") { name prefix target { oid ... on Commit { messageHeadline } } }
        object(expression: "main:README.md") { ... on Blob { text byteSize isBinary } }
      } }"""
    data = graphql(github_emulator, query, path="/api/graphql")["data"]
    assert data["viewer"] == {"login": "patchgate-emulator"}
    assert data["repository"]["ref"] == {
        "name": "main",
        "prefix": "refs/heads/",
        "target": {"oid": head_of(api), "messageHeadline": "Initial commit"},
    }
    assert data["repository"]["object"] == {"text": "# widgets\n", "byteSize": 10, "isBinary": False}


def test_queries_are_reads_and_mutations_writes(github_emulator, api):
    github_emulator.reset_stats()
    graphql(github_emulator, "{ viewer { login } }")
    graphql(github_emulator, COMMIT, commit_input(head_of(api), [("a.txt", b"a\n")]))
    stats = github_emulator.stats()
    assert stats["writes"] == 1 and stats["by_route"]["POST /graphql"] == 2


# --- createCommitOnBranch ---------------------------------------------------------------------


def test_a_commit_on_branch_is_signed_and_its_sha_is_gits(github_emulator, api, tmp_path):
    head = head_of(api)
    binary = bytes(range(256))
    answer = graphql(
        github_emulator,
        COMMIT,
        commit_input(head, [("docs/a.md", b"# A\n"), ("img.bin", binary)], ["README.md"], body="Why.\n\nPod: w"),
    )
    commit = answer["data"]["createCommitOnBranch"]["commit"]
    assert commit["message"] == "Add files\n\nWhy.\n\nPod: w"
    assert commit["signature"] == {"isValid": True, "wasSignedByGitHub": True}
    assert head_of(api) == commit["oid"]

    rest = api("GET", f"/commits/{commit['oid']}").json()
    verification = rest["commit"]["verification"]
    assert verification["verified"] is True and verification["reason"] == "valid"
    assert (
        rest["commit"]["committer"]["name"] == "GitHub" and rest["commit"]["committer"]["email"] == "noreply@github.com"
    )
    # The signed object, rebuilt from GitHub's payload and signature, hashes to the commit's sha
    # and verifies with git (SSH signatures, the emulator's key as an allowed signer).
    header, _, message = verification["payload"].partition("\n\n")
    signature = verification["signature"].rstrip("\n").replace("\n", "\n ")
    raw = f"{header}\ngpgsig {signature}\n\n{message}".encode()
    repo = tmp_path / "check"
    git(tmp_path, "init", "-q", str(repo))
    assert git(repo, "hash-object", "-t", "commit", "-w", "--stdin", "--literally", stdin=raw) == commit["oid"]
    (tmp_path / "signers").write_text(f"noreply@github.com {signing.PUBLIC_KEY}\n")
    verified = subprocess.run(
        [
            "git",
            "-c",
            "gpg.format=ssh",
            "-c",
            f"gpg.ssh.allowedSignersFile={tmp_path / 'signers'}",
            "verify-commit",
            commit["oid"],
        ],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    assert verified.returncode == 0, verified.stderr
    tree = api("GET", f"/git/trees/{commit['oid']}?recursive=1").json()["tree"]
    assert {(e["path"], e["mode"]) for e in tree if e["type"] == "blob"} == {
        ("docs/a.md", "100644"),
        ("img.bin", "100644"),
    }
    assert base64.b64decode(api("GET", "/contents/img.bin").json()["content"]) == binary


def test_a_file_written_over_an_executable_becomes_a_plain_file(github_emulator, api):
    entry = {"path": "run.sh", "mode": "100755", "type": "blob", "content": "#!/bin/sh\n"}
    tree = api("POST", "/git/trees", {"base_tree": head_of(api), "tree": [entry]}).json()["sha"]
    made = api("POST", "/git/commits", {"message": "exe", "tree": tree, "parents": [head_of(api)]}).json()["sha"]
    api("PATCH", "/git/refs/heads/main", {"sha": made})
    graphql(github_emulator, COMMIT, commit_input(made, [("run.sh", b"#!/bin/sh\necho hi\n")]))
    listing = api("GET", "/git/trees/main?recursive=1").json()["tree"]
    assert next(e["mode"] for e in listing if e["path"] == "run.sh") == "100644"


def test_an_expected_head_that_is_not_the_branch_is_stale_data(github_emulator, api):
    first = head_of(api)
    moved = commit_on(api, first, "theirs.txt", "theirs\n")
    api("PATCH", "/git/refs/heads/main", {"sha": moved})
    answer = graphql(github_emulator, COMMIT, commit_input(first, [("mine.txt", b"mine\n")]))
    assert answer["data"] == {"createCommitOnBranch": None}
    assert answer["errors"] == [
        {
            "type": "STALE_DATA",
            "path": ["createCommitOnBranch"],
            "locations": [{"line": 2, "column": 3}],
            "message": f'Expected branch to point to "{first}" but it did not. Pull and try again.',
        }
    ]
    # Exact: a branch reset back to an ancestor of what we expect is stale too.
    api("PATCH", "/git/refs/heads/main", {"sha": first, "force": True})
    assert (
        graphql(github_emulator, COMMIT, commit_input(moved, [("m.txt", b"m\n")]))["errors"][0]["type"] == "STALE_DATA"
    )
    assert head_of(api) == first


def test_deleting_a_missing_path_aborts_the_commit(github_emulator, api):
    head = head_of(api)
    answer = graphql(github_emulator, COMMIT, commit_input(head, [("a.txt", b"a\n")], ["nope.txt"]))
    assert answer["errors"][0]["type"] == "UNPROCESSABLE"
    assert answer["errors"][0]["message"] == (
        f"A path was requested for deletion which does not exist as of commit oid `{head}`"
    )
    assert head_of(api) == head


def test_a_missing_branch_or_repository_is_not_found(github_emulator, api):
    head = head_of(api)
    assert graphql(github_emulator, COMMIT, commit_input(head, branch="nope"))["errors"][0]["type"] == "NOT_FOUND"
    other = commit_input(head)
    other["input"]["branch"]["repositoryNameWithOwner"] = "acme/nope"
    assert graphql(github_emulator, COMMIT, other)["errors"][0]["message"] == (
        "Could not resolve to a Repository with the name 'acme/nope'."
    )


# --- signatures of REST commits ------------------------------------------------------------------


def test_git_data_commits_are_signed_only_for_an_app_installation_naming_no_author(github_emulator, api):
    tokens = requests.post(
        f"{github_emulator.url}/app/installations/7/access_tokens", headers=registered_app_jwt(github_emulator, 77, 7)
    )
    bot = {"Authorization": f"token {tokens.json()['token']}"}
    head = head_of(api)
    tree = api(
        "POST",
        "/git/trees",
        {"base_tree": head, "tree": [{"path": "x", "mode": "100644", "type": "blob", "content": "x"}]},
    ).json()["sha"]
    made = {}
    for who, headers, extra in [
        ("token", TOKEN, {}),
        ("app", bot, {}),
        ("app with author", bot, {"author": {"name": "Pod", "email": "pod@example.invalid"}}),
    ]:
        body = {"message": who, "tree": tree, "parents": [head], **extra}
        answer = requests.post(f"{api.base}/git/commits", json=body, headers=headers, timeout=5)
        assert answer.status_code == 201, answer.text
        made[who] = answer.json()
    assert {who: c["verification"]["reason"] for who, c in made.items()} == {
        "token": "unsigned",
        "app": "valid",
        "app with author": "unsigned",
    }
    assert made["app"]["author"]["name"] == "app-77[bot]" and made["app"]["committer"]["name"] == "GitHub"
