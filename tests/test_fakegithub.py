"""The GitHub emulator itself, through PyGithub and plain HTTP: git-exact shas checked
against the git command, GitHub's messages and status codes, the faults and controls,
and every response body validated against GitHub's own OpenAPI description."""

import base64
import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import jwt
import pytest
import requests
from github import Auth, BadCredentialsException, Github, GithubException, RateLimitExceededException
from jsonschema import FormatChecker
from openapi_schema_validator import OAS30Validator

from tests.fakegithub.app_keys import new_app_key
from tests.fakegithub.fixtures import github_emulator, github_emulator_server  # noqa: F401

OCTOKIT_OPENAPI = "@octokit/openapi@23.0.2"
OPENAPI_CACHE = Path(__file__).resolve().parent.parent / "var" / "octokit-openapi" / "23.0.2" / "api.github.com.json"
TOKEN = {"Authorization": "token any"}
AUTHOR = {"name": "Ada Lovelace", "email": "ada@example.invalid", "date": "2026-01-02T03:04:05+02:00"}
COMMITTER = {"name": "Grace Hopper", "email": "grace@example.invalid", "date": "2026-01-03T10:20:30-05:30"}
BINARY = bytes(range(256)) * 3


def client(emulator, **options) -> Github:
    return Github(
        auth=Auth.Token("any"), base_url=emulator.url, retry=None, seconds_between_requests=None, seconds_between_writes=None, **options
    )


@pytest.fixture
def widgets(github_emulator):  # noqa: F811 - the fixture imported above
    github_emulator.create_repository("acme/widgets")
    return client(github_emulator).get_repo("acme/widgets")


class Api:
    """Plain HTTP to the emulator's repository, for exact bodies and headers."""

    def __init__(self, emulator, full_name="acme/widgets"):
        self.base = f"{emulator.url}/repos/{full_name}"

    def __call__(self, method, path, body=None, **options) -> requests.Response:
        return requests.request(method, self.base + path, json=body, headers=TOKEN, timeout=10, **options)


@pytest.fixture
def api(github_emulator, widgets):  # noqa: F811
    return Api(github_emulator)


def error(message, docs, status):
    return {"message": message, "documentation_url": f"https://docs.github.com/rest{docs}", "status": str(status)}


def git(repo: Path, *args, stdin: bytes = b"", env: dict | None = None) -> str:
    done = subprocess.run(["git", *args], cwd=repo, input=stdin, capture_output=True, check=True, env={**os.environ, **(env or {})})
    return done.stdout.decode().strip()


def mktree(repo: Path, lines: list[str]) -> str:
    return git(repo, "mktree", stdin="".join(f"{line}\n" for line in lines).encode())


def fetch_head(repo, branch="main") -> str:
    """PyGithub's ref is lazy: reading its object is the GET."""
    return repo.get_git_ref(f"heads/{branch}").object.sha


def head_of(api) -> str:
    return api("GET", "/git/ref/heads/main").json()["object"]["sha"]


def commit_on(api, parent: str, path: str, text: str, message="change") -> str:
    """A commit that writes one file on top of `parent` (no ref moved)."""
    tree = api("POST", "/git/trees", {"base_tree": parent, "tree": [{"path": path, "mode": "100644", "type": "blob", "content": text}]})
    return api("POST", "/git/commits", {"message": message, "tree": tree.json()["sha"], "parents": [parent]}).json()["sha"]


# --- git-exact objects -------------------------------------------------------------------


def test_blobs_trees_and_commits_have_the_shas_git_computes(api, tmp_path):
    blob = api("POST", "/git/blobs", {"content": base64.b64encode(BINARY).decode(), "encoding": "base64"})
    assert blob.status_code == 201
    entries = [
        {"path": "docs/guide/intro.md", "mode": "100644", "type": "blob", "content": "héllo wörld\n"},
        {"path": "docs/guide/empty.txt", "mode": "100644", "type": "blob", "content": ""},
        {"path": "bin/run.sh", "mode": "100755", "type": "blob", "content": "#!/bin/sh\necho hi\n"},
        {"path": "data/blob.bin", "mode": "100644", "type": "blob", "sha": blob.json()["sha"]},
        {"path": "link", "mode": "120000", "type": "blob", "content": "docs/guide/intro.md"},
        {"path": "README.md", "mode": "100644", "type": "blob", "sha": None},
    ]
    tree = api("POST", "/git/trees", {"base_tree": head_of(api), "tree": entries})
    assert tree.status_code == 201
    message = "Add files\n\nA body without a final newline."
    made = api(
        "POST", "/git/commits", {"message": message, "tree": tree.json()["sha"], "parents": [], "author": AUTHOR, "committer": COMMITTER}
    )
    assert made.status_code == 201

    repo = tmp_path / "git"
    git(tmp_path, "init", "-q", str(repo))
    hashed = {
        name: git(repo, "hash-object", "-w", "--stdin", stdin=data)
        for name, data in [
            ("intro", "héllo wörld\n".encode()),
            ("empty", b""),
            ("run", b"#!/bin/sh\necho hi\n"),
            ("bin", BINARY),
            ("link", b"docs/guide/intro.md"),
        ]
    }
    assert blob.json()["sha"] == hashed["bin"]
    guide = mktree(repo, [f"100644 blob {hashed['intro']}\tintro.md", f"100644 blob {hashed['empty']}\tempty.txt"])
    docs = mktree(repo, [f"040000 tree {guide}\tguide"])
    bin_dir = mktree(repo, [f"100755 blob {hashed['run']}\trun.sh"])
    data = mktree(repo, [f"100644 blob {hashed['bin']}\tblob.bin"])
    root = mktree(
        repo,
        [f"040000 tree {docs}\tdocs", f"040000 tree {bin_dir}\tbin", f"040000 tree {data}\tdata", f"120000 blob {hashed['link']}\tlink"],
    )
    assert tree.json()["sha"] == root
    dates = {
        "GIT_AUTHOR_NAME": AUTHOR["name"], "GIT_AUTHOR_EMAIL": AUTHOR["email"], "GIT_AUTHOR_DATE": AUTHOR["date"],
        "GIT_COMMITTER_NAME": COMMITTER["name"], "GIT_COMMITTER_EMAIL": COMMITTER["email"], "GIT_COMMITTER_DATE": COMMITTER["date"],
    }  # fmt: skip
    commit = git(repo, "commit-tree", root, stdin=message.encode(), env=dates)
    assert made.json()["sha"] == commit
    assert git(repo, "cat-file", "commit", commit).endswith("\n\n" + message)
    assert made.json()["author"] == {"name": AUTHOR["name"], "email": AUTHOR["email"], "date": "2026-01-02T01:04:05Z"}
    assert made.json()["committer"]["date"] == "2026-01-03T15:50:30Z"

    # The recursive listing is `git ls-tree -r -t -l`, entry for entry, sizes in bytes.
    listed = api("GET", f"/git/trees/{commit}", params={"recursive": "1"}).json()
    expected = []
    for line in git(repo, "ls-tree", "-r", "-t", "-l", commit).splitlines():
        meta, path = line.split("\t")
        mode, kind, sha, size = meta.split()
        expected.append({"path": path, "mode": mode, "type": kind, "sha": sha, **({"size": int(size)} if kind == "blob" else {})})
    assert [{k: v for k, v in e.items() if k != "url"} for e in listed["tree"]] == expected
    assert listed["sha"] == commit and listed["truncated"] is False
    for entry in listed["tree"]:
        assert entry["url"].endswith(f"/git/{entry['type']}s/{entry['sha']}")

    # A child commit, and a deletion that empties a directory: git keeps no empty tree.
    emptied = api("POST", "/git/trees", {"base_tree": root, "tree": [
        {"path": "bin/run.sh", "mode": "100755", "type": "blob", "sha": None},
        {"path": "docs/guide/empty.txt", "mode": "100644", "type": "blob", "sha": None},
    ]}).json()  # fmt: skip
    smaller_guide = mktree(repo, [f"100644 blob {hashed['intro']}\tintro.md"])
    smaller_docs = mktree(repo, [f"040000 tree {smaller_guide}\tguide"])
    assert emptied["sha"] == mktree(
        repo, [f"040000 tree {smaller_docs}\tdocs", f"040000 tree {data}\tdata", f"120000 blob {hashed['link']}\tlink"]
    )
    assert [e["path"] for e in emptied["tree"]] == ["data", "docs", "link"]
    child = api(
        "POST", "/git/commits", {"message": "m", "tree": emptied["sha"], "parents": [commit], "author": AUTHOR, "committer": COMMITTER}
    )
    assert child.json()["sha"] == git(repo, "commit-tree", emptied["sha"], "-p", commit, stdin=b"m", env=dates)
    assert child.json()["parents"][0]["sha"] == commit

    fetched = api("GET", f"/git/blobs/{hashed['bin']}").json()
    assert fetched["size"] == len(BINARY) and base64.b64decode(fetched["content"]) == BINARY
    assert all(len(line) <= 60 for line in fetched["content"].split("\n")) and fetched["content"].endswith("\n")


def test_tree_reads_accept_a_commit_a_tree_or_a_branch(api, widgets):
    head = head_of(api)
    tree_sha = api("GET", f"/git/commits/{head}").json()["tree"]["sha"]
    for name in (head, tree_sha, "main"):
        listed = api("GET", f"/git/trees/{name}")
        assert listed.status_code == 200 and [e["path"] for e in listed.json()["tree"]] == ["README.md"]
    assert widgets.get_git_tree("main").tree[0].path == "README.md"
    readme = listed.json()["tree"][0]["sha"]
    assert api("GET", f"/git/trees/{'0' * 40}").json() == error("Not Found", "/git/trees#get-a-tree", 404)
    assert api("GET", f"/git/trees/{readme}").json()["message"] == "Invalid object requested. SHA must identify a commit or a tree."


def test_tree_creation_errors_are_githubs(api):
    head = head_of(api)
    cases = [
        ({"base_tree": "f" * 40, "tree": [{"path": "a", "mode": "100644", "type": "blob", "content": "a"}]},
         "base_tree is not a valid tree oid"),
        ({"tree": [{"path": "a", "mode": "100644", "type": "blob", "content": "a", "sha": None}]},
         "Must supply either tree.sha or tree.content. Request will be rejected if both are present."),
        ({"tree": [{"path": "a", "mode": "100644", "type": "blob", "sha": "e" * 40}]}, f"tree.sha {'e' * 40} is not a valid blob"),
        ({"tree": [{"path": "a", "mode": "100600", "type": "blob", "content": "a"}]}, "Must supply a valid tree.mode"),
        ({"tree": []}, "Invalid tree info"),
        ({"base_tree": head, "tree": [{"path": "missing.txt", "mode": "100644", "type": "blob", "sha": None}]}, "GitRPC::BadObjectState"),
    ]  # fmt: skip
    for body, message in cases:
        answer = api("POST", "/git/trees", body)
        assert (answer.status_code, answer.json()) == (422, error(message, "/git/trees#create-a-tree", 422)), body


def test_commit_messages_and_default_signatures(api, widgets):
    head = head_of(api)
    tree = widgets.get_git_commit(head).tree
    made = widgets.create_git_commit("exact message", tree, [widgets.get_git_commit(head)])
    assert made.message == "exact message"
    assert made.author.name == made.committer.name == "Patchgate Emulator"
    assert made.author.email.endswith("@users.noreply.github.com")
    assert abs(made.author.date.timestamp() - time.time()) < 5
    assert made.parents[0].sha == head
    assert api("POST", "/git/commits", {"message": "m", "tree": "a" * 40}).json()["message"] == "Tree SHA does not exist"
    bad_parent = api("POST", "/git/commits", {"message": "m", "tree": tree.sha, "parents": ["b" * 40]}).json()
    assert bad_parent["message"] == "Parent SHA does not exist or is not a commit object"


# --- refs ------------------------------------------------------------------------------


def test_ref_updates_are_fast_forward_only_unless_forced(api, widgets):
    base = head_of(api)
    ahead = commit_on(api, base, "a.txt", "a\n")
    sideways = commit_on(api, base, "b.txt", "b\n")
    ref = widgets.get_git_ref("heads/main")
    ref.edit(ahead)
    assert head_of(api) == ahead
    refused = api("PATCH", "/git/refs/heads/main", {"sha": sideways, "force": False})
    assert (refused.status_code, refused.json()) == (422, error("Update is not a fast forward", "/git/refs#update-a-reference", 422))
    assert api("PATCH", "/git/refs/heads/main", {"sha": sideways, "force": True}).json()["object"]["sha"] == sideways
    assert api("PATCH", "/git/refs/heads/nope", {"sha": base}).json()["message"] == "Reference does not exist"
    assert api("PATCH", "/git/refs/heads/main", {"sha": "c" * 40}).json()["message"] == "Object does not exist"


def test_refs_are_created_read_listed_and_deleted(api, widgets):
    head = head_of(api)
    created = widgets.create_git_ref("refs/heads/feature/x", head)
    assert (created.ref, created.object.sha, created.object.type) == ("refs/heads/feature/x", head, "commit")
    assert created.url.endswith("/repos/acme/widgets/git/refs/heads/feature/x")
    again = api("POST", "/git/refs", {"ref": "refs/heads/feature/x", "sha": head})
    assert (again.status_code, again.json()) == (422, error("Reference already exists", "/git/refs#create-a-reference", 422))
    assert api("POST", "/git/refs", {"ref": "refs/heads/y", "sha": "d" * 40}).json()["message"] == "Object does not exist"
    assert [r["ref"] for r in api("GET", "/git/matching-refs/heads/").json()] == ["refs/heads/feature/x", "refs/heads/main"]
    assert api("GET", "/git/refs/heads/feature/x").json()["object"]["sha"] == head
    assert [b.name for b in widgets.get_branches()] == ["feature/x", "main"]
    assert widgets.get_branch("feature/x").commit.sha == head
    assert api("DELETE", "/git/refs/heads/feature/x").status_code == 204
    missing = api("GET", "/git/ref/heads/feature/x")
    assert (missing.status_code, missing.json()) == (404, error("Not Found", "/git/refs#get-a-reference", 404))
    with pytest.raises(GithubException) as raised:
        fetch_head(widgets, "feature/x")
    assert raised.value.status == 404


def test_racing_ref_updates_have_exactly_one_winner(api, github_emulator):  # noqa: F811
    for race_number in range(5):
        base = head_of(api)
        candidates = [commit_on(api, base, f"racer{i}.txt", f"{race_number} {i}\n") for i in range(8)]
        gate = threading.Barrier(len(candidates))
        outcomes = {}

        def race(sha, gate=gate, outcomes=outcomes):
            gate.wait()
            outcomes[sha] = api("PATCH", "/git/refs/heads/main", {"sha": sha, "force": False})

        threads = [threading.Thread(target=race, args=(sha,)) for sha in candidates]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        winners = [sha for sha, answer in outcomes.items() if answer.status_code == 200]
        assert len(winners) == 1 and head_of(api) == winners[0]
        losers = [answer.json()["message"] for answer in outcomes.values() if answer.status_code != 200]
        assert losers == ["Update is not a fast forward"] * (len(candidates) - 1)


# --- commits and the contents API ----------------------------------------------------------


def test_commit_lists_are_paginated_like_githubs(api, widgets):
    head = head_of(api)
    for number in range(5):
        head = commit_on(api, head, "n.txt", f"{number}\n", message=f"commit {number}")
        api("PATCH", "/git/refs/heads/main", {"sha": head})
    assert widgets.get_commits(sha="main").totalCount == 6
    assert [c.commit.message for c in widgets.get_commits(sha="main")][:2] == ["commit 4", "commit 3"]
    first = api("GET", "/commits", params={"sha": "main", "per_page": 2})
    assert [c["commit"]["message"] for c in first.json()] == ["commit 4", "commit 3"]
    assert 'page=2>; rel="next"' in first.headers["Link"] and 'page=3>; rel="last"' in first.headers["Link"]
    last = api("GET", "/commits", params={"sha": "main", "per_page": 2, "page": 3})
    assert [c["commit"]["message"] for c in last.json()] == ["commit 0", "Initial commit"]
    assert 'rel="next"' not in last.headers["Link"] and 'rel="first"' in last.headers["Link"]
    assert widgets.get_commit("main").sha == head


def test_the_contents_api_checks_the_file_sha(api, widgets):
    created = widgets.create_file("notes/a.txt", "add a", "one\n", branch="main")
    sha = created["content"].sha
    assert widgets.get_contents("notes/a.txt", ref="main").decoded_content == b"one\n"
    assert [item.path for item in widgets.get_contents("notes")] == ["notes/a.txt"]
    content = api("PUT", "/contents/notes/a.txt", {"message": "again", "content": base64.b64encode(b"two\n").decode()})
    docs = "/repos/contents#create-or-update-file-contents"
    assert (content.status_code, content.json()) == (422, error('Invalid request.\n\n"sha" wasn\'t supplied.', docs, 422))
    stale = api("PUT", "/contents/notes/a.txt", {"message": "m", "content": "dHdvCg==", "sha": "1" * 40})
    assert (stale.status_code, stale.json()) == (409, error(f"notes/a.txt does not match {'1' * 40}", docs, 409))
    updated = widgets.update_file("notes/a.txt", "change a", "two\n", sha)
    assert updated["commit"].parents[0].sha == created["commit"].sha
    missing = api("GET", "/contents/notes/b.txt")
    assert (missing.status_code, missing.json()) == (404, error("Not Found", "/repos/contents#get-repository-content", 404))

    delete_docs = "/repos/contents#delete-a-file"
    assert api("DELETE", "/contents/notes/a.txt", {"message": "rm"}).json() == error(
        'Invalid request.\n\n"sha" wasn\'t supplied.', delete_docs, 422
    )
    assert api("DELETE", "/contents/notes/b.txt", {"message": "rm", "sha": sha}).json() == error("Not Found", delete_docs, 404)
    assert api("DELETE", "/contents/notes/a.txt", {"message": "rm", "sha": sha}).status_code == 409
    widgets.delete_file("notes/a.txt", "rm a", updated["content"].sha)
    assert [c.commit.message for c in widgets.get_commits(sha="main")] == ["rm a", "change a", "add a", "Initial commit"]


# --- pull requests -------------------------------------------------------------------------


def test_parallel_contents_writes_to_one_branch_conflict_as_on_github(api, github_emulator):  # noqa: F811
    """GitHub documents that its contents endpoints must be used serially: a write that
    finds the branch moved since it read it answers 409, even for another file."""
    github_emulator.set_latency(200)
    head = head_of(api)
    gate = threading.Barrier(2)
    answers = {}

    def write(name):
        gate.wait()
        answers[name] = api("PUT", f"/contents/{name}", {"message": name, "content": "eAo="})

    threads = [threading.Thread(target=write, args=(name,)) for name in ("one.txt", "two.txt")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(answer.status_code for answer in answers.values())
    assert statuses == [201, 409]
    [winner] = [a for a in answers.values() if a.status_code == 201]
    [loser] = [a for a in answers.values() if a.status_code == 409]
    assert loser.json()["message"] == f"is at {winner.json()['commit']['sha']} but expected {head}"
    assert head_of(api) == winner.json()["commit"]["sha"]


def test_pull_requests_are_opened_read_and_listed(api, widgets, github_emulator):  # noqa: F811
    head = head_of(api)
    widgets.create_git_ref("refs/heads/feature", commit_on(api, head, "f.txt", "f\n"))
    pull = widgets.create_pull(base="main", head="feature", title="Add f", body="Because.")
    assert (pull.number, pull.title, pull.body, pull.state, pull.head.ref, pull.base.ref) == (
        1,
        "Add f",
        "Because.",
        "open",
        "feature",
        "main",
    )
    assert pull.html_url == f"{github_emulator.url}/_web/acme/widgets/pull/1"
    assert widgets.get_pull(1).head.sha == widgets.get_branch("feature").commit.sha
    assert [p.number for p in widgets.get_pulls(state="open", head="acme:feature", base="main")] == [1]
    assert list(widgets.get_pulls(state="open", head="acme:other")) == []

    docs = "/pulls/pulls#create-a-pull-request"
    duplicate = api("POST", "/pulls", {"title": "t", "head": "feature", "base": "main"})
    exists = [{"resource": "PullRequest", "code": "custom", "message": "A pull request already exists for acme:feature."}]
    assert (duplicate.status_code, duplicate.json()) == (422, {**error("Validation Failed", docs, 422), "errors": exists})
    widgets.create_git_ref("refs/heads/same", head)
    nothing = api("POST", "/pulls", {"title": "t", "head": "same", "base": "main"}).json()
    assert nothing["errors"] == [{"resource": "PullRequest", "code": "custom", "message": "No commits between main and same"}]
    absent = api("POST", "/pulls", {"title": "t", "head": "absent", "base": "main"}).json()
    assert absent["errors"] == [{"resource": "PullRequest", "field": "head", "code": "invalid"}]


# --- requests GitHub refuses -------------------------------------------------------------


def test_githubs_answers_to_malformed_or_unauthenticated_requests(api, github_emulator):  # noqa: F811
    unauthenticated = requests.post(f"{api.base}/git/blobs", json={"content": "x"}, timeout=5)
    assert (unauthenticated.status_code, unauthenticated.json()) == (401, error("Requires authentication", "", 401))
    broken = requests.post(f"{api.base}/git/blobs", data="{nope", headers=TOKEN, timeout=5)
    assert (broken.status_code, broken.json()) == (400, error("Problems parsing JSON", "/git/blobs#create-a-blob", 400))
    missing = api("PATCH", "/git/refs/heads/main", {"force": True})
    assert missing.json() == error('Invalid request.\n\n"sha" wasn\'t supplied.', "/git/refs#update-a-reference", 422)
    assert requests.get(f"{github_emulator.url}/no/such/route", timeout=5).json() == error("Not Found", "", 404)
    assert requests.get(f"{github_emulator.url}/repos/acme/absent", timeout=5).json() == error(
        "Not Found", "/repos/repos#get-a-repository", 404
    )
    taken = requests.post(f"{github_emulator.url}/orgs/acme/repos", json={"name": "widgets"}, headers=TOKEN, timeout=5)
    name_taken = [{"resource": "Repository", "code": "custom", "field": "name", "message": "name already exists on this account"}]
    assert (taken.status_code, taken.json()["message"], taken.json()["errors"]) == (422, "Repository creation failed.", name_taken)


def test_every_answer_carries_githubs_headers(api):
    answers = [api("GET", ""), api("GET", "/git/ref/heads/nope")]
    for answer in answers:
        assert answer.headers["Content-Type"] == "application/json; charset=utf-8"
        assert answer.headers["X-RateLimit-Limit"] == "5000" and answer.headers["X-RateLimit-Resource"] == "core"
        assert int(answer.headers["X-RateLimit-Reset"]) > time.time()
        assert int(answer.headers["X-RateLimit-Used"]) + int(answer.headers["X-RateLimit-Remaining"]) == 5000
        assert len(answer.headers["X-GitHub-Request-Id"].split(":")) == 5
    assert int(answers[1].headers["X-RateLimit-Used"]) == int(answers[0].headers["X-RateLimit-Used"]) + 1


def test_repositories_made_through_the_api_and_the_user(github_emulator):  # noqa: F811
    github = client(github_emulator)
    assert github.get_user().login == "patchgate-emulator"
    made = github.get_user().create_repo("tools", auto_init=True)
    assert (made.full_name, made.default_branch) == ("patchgate-emulator/tools", "main")
    readme = made.get_contents("README.md")
    assert readme.decoded_content == b"# tools\n" and made.get_commits()[0].commit.message == "Initial commit"
    bare = requests.post(f"{github_emulator.url}/orgs/acme/repos", json={"name": "bare"}, headers=TOKEN, timeout=5)
    assert bare.status_code == 201 and bare.json()["owner"]["login"] == "acme"
    assert (
        requests.get(f"{github_emulator.url}/repos/acme/bare/git/ref/heads/main", timeout=5).json()["message"] == "Git Repository is empty."
    )


# --- faults, latency, statistics ------------------------------------------------------------


def test_bad_credentials(widgets, github_emulator):  # noqa: F811
    github_emulator.inject({"kind": "bad_credentials"})
    with pytest.raises(BadCredentialsException) as raised:
        fetch_head(widgets)
    assert raised.value.status == 401 and raised.value.data == error("Bad credentials", "", 401)
    assert fetch_head(widgets)  # consumed: the next request is answered


def test_rate_limits_as_pygithub_sees_them(widgets, github_emulator):  # noqa: F811
    github_emulator.inject({"kind": "secondary_rate_limit", "retry_after": 60, "method": "GET", "path": "/git/ref/"})
    with pytest.raises(RateLimitExceededException) as raised:
        fetch_head(widgets)
    assert raised.value.status == 403 and raised.value.headers["retry-after"] == "60"
    assert raised.value.data["message"].startswith("You have exceeded a secondary rate limit. Please wait a few minutes")
    assert raised.value.data["documentation_url"].endswith("#about-secondary-rate-limits")

    github_emulator.inject({"kind": "primary_rate_limit", "reset_in": 120})
    with pytest.raises(RateLimitExceededException) as raised:
        fetch_head(widgets)
    assert raised.value.status == 403 and raised.value.headers["x-ratelimit-remaining"] == "0"
    assert abs(int(raised.value.headers["x-ratelimit-reset"]) - (time.time() + 120)) < 5
    assert raised.value.data["message"].startswith("API rate limit exceeded for user ID 1.")

    # PyGithub 2.10 names only a 403 a rate limit: a 429 is a plain GithubException.
    github_emulator.inject({"kind": "primary_rate_limit", "status": 429, "reset_in": 30})
    with pytest.raises(GithubException) as raised:
        fetch_head(widgets)
    assert raised.value.status == 429 and raised.value.headers["x-ratelimit-remaining"] == "0"


def test_a_status_fault_answers_without_side_effect(api, widgets, github_emulator):  # noqa: F811
    head = head_of(api)
    github_emulator.inject({"kind": "status", "status": 502, "method": "POST", "path": "/git/refs$"})
    with pytest.raises(GithubException) as raised:
        widgets.create_git_ref("refs/heads/x", head)
    assert raised.value.status == 502 and raised.value.data["message"] == "Server Error"
    assert api("GET", "/git/ref/heads/x").status_code == 404
    assert widgets.create_git_ref("refs/heads/x", head).ref == "refs/heads/x"


def test_faults_fire_on_the_nth_match_for_times_requests(api, github_emulator):  # noqa: F811
    github_emulator.inject({"kind": "status", "status": 500, "path": "/git/ref/heads/main$", "nth": 2, "times": 2})
    github_emulator.inject({"kind": "status", "status": 503, "path": "/git/ref/heads/main$"})
    statuses = [api("GET", "/git/ref/heads/main").status_code for _ in range(5)]
    assert statuses == [200, 500, 500, 503, 200]


def test_a_dropped_answer_after_the_write(api, widgets, github_emulator):  # noqa: F811
    ahead = commit_on(api, head_of(api), "d.txt", "d\n")
    github_emulator.inject({"kind": "drop_after_write", "method": "PATCH", "path": "/git/refs/heads/main$"})
    with pytest.raises(requests.exceptions.ConnectionError):
        widgets.get_git_ref("heads/main").edit(ahead)
    assert head_of(api) == ahead


def test_a_hanging_answer_times_the_client_out(widgets, github_emulator):  # noqa: F811
    github_emulator.inject({"kind": "hang", "seconds": 5, "path": "/git/ref/"})
    impatient = client(github_emulator, timeout=1, lazy=True).get_repo("acme/widgets")  # PyGithub takes whole seconds
    started = time.monotonic()
    with pytest.raises(requests.exceptions.Timeout):
        fetch_head(impatient)
    assert time.monotonic() - started < 4


def test_latency_and_statistics(api, github_emulator):  # noqa: F811
    github_emulator.reset_stats()
    head = head_of(api)
    api("GET", f"/git/trees/{head}", params={"recursive": "1"})
    api("PATCH", "/git/refs/heads/main", {"sha": "0" * 40})  # refused: not a write
    api("POST", "/git/blobs", {"content": "x"})
    controls = f"{github_emulator.url}/_emulator"
    stats = requests.get(f"{controls}/stats", timeout=5).json()
    assert (
        stats
        == github_emulator.stats()
        == {
            "requests": 4,
            "writes": 1,
            "by_route": {
                "GET /repos/{owner}/{repo}/git/ref/{ref}": 1,
                "GET /repos/{owner}/{repo}/git/trees/{tree_sha}": 1,
                "PATCH /repos/{owner}/{repo}/git/refs/{ref}": 1,
                "POST /repos/{owner}/{repo}/git/blobs": 1,
            },
            "by_credential": {"token": 4},
        }
    )
    assert requests.post(f"{controls}/reset-stats", timeout=5).ok
    assert requests.post(f"{controls}/latency", json={"ms": 150}, timeout=5).ok
    started = time.monotonic()
    api("GET", "")
    assert time.monotonic() - started >= 0.15
    github_emulator.set_latency(0)
    assert requests.post(f"{controls}/faults", json={"kind": "bad_credentials", "times": 3}, timeout=5).ok
    assert api("GET", "").status_code == 401
    assert requests.delete(f"{controls}/faults", timeout=5).ok
    assert api("GET", "").status_code == 200
    assert github_emulator.stats()["requests"] == 3
    assert requests.post(f"{controls}/faults", json={"kind": "nonsense"}, timeout=5).status_code == 400
    assert requests.post(f"{controls}/reset", timeout=5).ok
    assert api("GET", "").status_code == 404 and github_emulator.stats()["requests"] == 1


def test_the_command_line_serves_until_terminated():
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakegithub", "--host", "127.0.0.1", "--port", "0", "--latency-ms", "1", "--repo", "acme/widgets"],
        cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = process.stdout.readline().strip()
        assert urlsplit(url).hostname == "127.0.0.1"
        assert requests.get(f"{url}/user", headers=TOKEN, timeout=5).json()["login"] == "patchgate-emulator"
        main = requests.get(f"{url}/repos/acme/widgets/branches/main", headers=TOKEN, timeout=5)
        assert main.status_code == 200 and len(main.json()["commit"]["sha"]) == 40
    finally:
        process.terminate()
    assert process.wait(timeout=10) == 0


# --- conformance with GitHub's OpenAPI description -------------------------------------------


@pytest.fixture(scope="session")
def github_openapi() -> dict:
    """GitHub's official description, from the npm package, fetched once into var/."""
    if not OPENAPI_CACHE.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip(f"npm is missing: cannot fetch {OCTOKIT_OPENAPI}")
        OPENAPI_CACHE.parent.mkdir(parents=True, exist_ok=True)
        packed = subprocess.run(
            [npm, "pack", OCTOKIT_OPENAPI, "--pack-destination", str(OPENAPI_CACHE.parent)], capture_output=True, text=True, timeout=300
        )
        if packed.returncode != 0:
            pytest.skip(f"could not fetch {OCTOKIT_OPENAPI} from the npm registry: {packed.stderr.strip()[-500:]}")
        tarball = OPENAPI_CACHE.parent / packed.stdout.strip().splitlines()[-1]
        with tarfile.open(tarball) as archive:
            OPENAPI_CACHE.write_bytes(archive.extractfile("package/generated/api.github.com.json").read())
        tarball.unlink()
    return json.loads(OPENAPI_CACHE.read_text(), object_hook=null_allowed)


def null_allowed(schema: dict) -> dict:
    """OpenAPI 3.0's `nullable` on a schema without a `type` (GitHub's commit author:
    a user, an empty object, or null) is lost on the validator: say it in JSON Schema."""
    if schema.get("nullable") is True and "type" not in schema and any(key in schema for key in ("oneOf", "anyOf", "allOf")):
        return {"anyOf": [{"enum": [None]}, {key: value for key, value in schema.items() if key != "nullable"}]}
    return schema


def response_validator(spec: dict, template: str, method: str, status: int) -> OAS30Validator:
    answer = spec["paths"][template][method.lower()]["responses"][str(status)]
    if "$ref" in answer:
        answer = spec["components"]["responses"][answer["$ref"].rsplit("/", 1)[1]]
    schema = answer["content"]["application/json"]["schema"]
    # The schema's `#/components/...` references resolve within the whole description.
    return OAS30Validator({**schema, "components": spec["components"]}, format_checker=FORMATS)


FORMATS = FormatChecker()
FORMATS.checkers = dict(OAS30Validator.FORMAT_CHECKER.checkers)


@FORMATS.checks("uri")
def is_absolute_url(value) -> bool:
    parts = urlsplit(value)
    return not isinstance(value, str) or bool(parts.scheme in ("http", "https", "git") and parts.netloc)


def registered_app_jwt(emulator, app_id: int, installation_id: int) -> dict:
    """Headers with the JWT of a GitHub App registered in the emulator, as PyGithub signs it."""
    private, public = new_app_key()
    emulator.register_app(app_id, public, installation_id)
    issued = int(time.time()) - 60
    token = jwt.encode({"iat": issued, "exp": issued + 600, "iss": str(app_id)}, private, algorithm="RS256")
    return {"Authorization": f"Bearer {token}"}


def test_every_answer_matches_githubs_openapi_description(github_openapi, github_emulator):  # noqa: F811
    github_emulator.create_repository("acme/widgets")
    api = Api(github_emulator)
    R = "/repos/{owner}/{repo}"
    head = head_of(api)
    blob = api("POST", "/git/blobs", {"content": "YmluYXJ5", "encoding": "base64"})
    tree = api("POST", "/git/trees", {"base_tree": head, "tree": [
        {"path": "dir/a.txt", "mode": "100644", "type": "blob", "content": "a\n"},
        {"path": "dir/b.bin", "mode": "100755", "type": "blob", "sha": blob.json()["sha"]},
    ]})  # fmt: skip
    commit = api("POST", "/git/commits", {"message": "m", "tree": tree.json()["sha"], "parents": [head], "author": AUTHOR})
    sha = commit.json()["sha"]
    created_file = api("PUT", "/contents/new.txt", {"message": "new", "content": "bmV3Cg=="})
    updated_file = api("PUT", "/contents/new.txt", {"message": "upd", "content": "dXBkCg==", "sha": created_file.json()["content"]["sha"]})
    new_ref = api("POST", "/git/refs", {"ref": "refs/heads/feature", "sha": head})
    moved_ref = api("PATCH", "/git/refs/heads/feature", {"sha": sha})
    pull = api("POST", "/pulls", {"title": "t", "head": "feature", "base": "main", "body": None})
    app_jwt = registered_app_jwt(github_emulator, app_id=7, installation_id=70)
    answers = [
        (
            "POST",
            "/app/installations/{installation_id}/access_tokens",
            requests.post(f"{github_emulator.url}/app/installations/70/access_tokens", headers=app_jwt, timeout=5),
        ),
        (
            "POST",
            "/app/installations/{installation_id}/access_tokens",
            requests.post(f"{github_emulator.url}/app/installations/71/access_tokens", headers=app_jwt, timeout=5),
        ),
        (
            "POST",
            "/app/installations/{installation_id}/access_tokens",
            requests.post(f"{github_emulator.url}/app/installations/70/access_tokens", headers=TOKEN, timeout=5),
        ),
        ("GET", "/user", requests.get(f"{github_emulator.url}/user", headers=TOKEN, timeout=5)),
        (
            "POST",
            "/orgs/{org}/repos",
            requests.post(f"{github_emulator.url}/orgs/acme/repos", json={"name": "x"}, headers=TOKEN, timeout=5),
        ),
        (
            "POST",
            "/user/repos",
            requests.post(f"{github_emulator.url}/user/repos", json={"name": "y", "auto_init": True}, headers=TOKEN, timeout=5),
        ),
        ("GET", R, api("GET", "")),
        ("GET", R, requests.get(f"{github_emulator.url}/repos/acme/absent", timeout=5)),
        ("GET", f"{R}/branches", api("GET", "/branches")),
        ("GET", f"{R}/branches/{{branch}}", api("GET", "/branches/main")),
        ("GET", f"{R}/branches/{{branch}}", api("GET", "/branches/absent")),
        ("GET", f"{R}/git/ref/{{ref}}", api("GET", "/git/ref/heads/main")),
        ("GET", f"{R}/git/ref/{{ref}}", api("GET", "/git/ref/heads/absent")),
        ("GET", f"{R}/git/matching-refs/{{ref}}", api("GET", "/git/matching-refs/heads")),
        ("POST", f"{R}/git/refs", new_ref),
        ("POST", f"{R}/git/refs", api("POST", "/git/refs", {"ref": "refs/heads/feature", "sha": head})),
        ("PATCH", f"{R}/git/refs/{{ref}}", moved_ref),
        ("PATCH", f"{R}/git/refs/{{ref}}", api("PATCH", "/git/refs/heads/feature", {"sha": head})),
        ("GET", f"{R}/git/trees/{{tree_sha}}", api("GET", f"/git/trees/{sha}", params={"recursive": "1"})),
        ("GET", f"{R}/git/trees/{{tree_sha}}", api("GET", f"/git/trees/{'0' * 40}")),
        ("POST", f"{R}/git/trees", tree),
        (
            "POST",
            f"{R}/git/trees",
            api("POST", "/git/trees", {"base_tree": "f" * 40, "tree": [{"path": "a", "mode": "100644", "type": "blob", "content": ""}]}),
        ),
        ("POST", f"{R}/git/blobs", blob),
        ("GET", f"{R}/git/blobs/{{file_sha}}", api("GET", f"/git/blobs/{blob.json()['sha']}")),
        ("POST", f"{R}/git/commits", commit),
        ("POST", f"{R}/git/commits", api("POST", "/git/commits", {"message": "m", "tree": "a" * 40})),
        ("GET", f"{R}/git/commits/{{commit_sha}}", api("GET", f"/git/commits/{sha}")),
        ("GET", f"{R}/commits", api("GET", "/commits", params={"sha": "main"})),
        ("GET", f"{R}/commits/{{ref}}", api("GET", f"/commits/{sha}")),
        ("GET", f"{R}/contents/{{path}}", api("GET", "/contents/new.txt")),
        ("GET", f"{R}/contents/{{path}}", api("GET", "/contents/absent.txt")),
        ("PUT", f"{R}/contents/{{path}}", created_file),
        ("PUT", f"{R}/contents/{{path}}", updated_file),
        ("PUT", f"{R}/contents/{{path}}", api("PUT", "/contents/new.txt", {"message": "m", "content": "eA=="})),
        (
            "DELETE",
            f"{R}/contents/{{path}}",
            api("DELETE", "/contents/new.txt", {"message": "rm", "sha": updated_file.json()["content"]["sha"]}),
        ),
        ("POST", f"{R}/pulls", pull),
        ("POST", f"{R}/pulls", api("POST", "/pulls", {"title": "t", "head": "feature", "base": "main"})),
        ("GET", f"{R}/pulls/{{pull_number}}", api("GET", "/pulls/1")),
        ("GET", f"{R}/pulls/{{pull_number}}", api("GET", "/pulls/9")),
        ("GET", f"{R}/pulls", api("GET", "/pulls", params={"state": "open", "head": "acme:feature"})),
    ]
    expected = [201, 404, 401, 200, 201, 201, 200, 404, 200, 200, 404, 200, 404, 200, 201, 422, 200, 422, 200, 404, 201, 422, 201, 200, 201, 422]
    expected += [200, 200, 200, 200, 404, 201, 200, 422, 200, 201, 422, 200, 404, 200]
    assert [answer.status_code for _, _, answer in answers] == expected
    failures = []
    for method, template, answer in answers:
        validator = response_validator(github_openapi, template, method, answer.status_code)
        failures += [
            f"{method} {template} {answer.status_code}: {e.json_path}: {e.message[:300]}" for e in validator.iter_errors(answer.json())
        ]
    assert failures == [], "\n".join(failures)
    assert api("GET", "/pulls", params={"head": "acme:feature"}).json()[0]["number"] == 1
