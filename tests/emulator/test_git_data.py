"""The Git Data API of the emulator (blobs, trees, commits, refs), through PyGithub
and plain HTTP: every sha is the one the `git` command computes, GitHub's messages
and status codes, and a ref update is a compare-and-swap."""

import base64
import threading
import time

import pytest
from github import GithubException

from tests.emulator.helpers import AUTHOR, BINARY, COMMITTER, commit_on, error, fetch_head, git, head_of, mktree


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
        "POST",
        "/git/commits",
        {"message": message, "tree": tree.json()["sha"], "parents": [], "author": AUTHOR, "committer": COMMITTER},
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
        [
            f"040000 tree {docs}\tdocs",
            f"040000 tree {bin_dir}\tbin",
            f"040000 tree {data}\tdata",
            f"120000 blob {hashed['link']}\tlink",
        ],
    )
    assert tree.json()["sha"] == root
    dates = {
        **{f"GIT_AUTHOR_{key.upper()}": value for key, value in AUTHOR.items()},
        **{f"GIT_COMMITTER_{key.upper()}": value for key, value in COMMITTER.items()},
    }
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
        expected.append(
            {"path": path, "mode": mode, "type": kind, "sha": sha, **({"size": int(size)} if kind == "blob" else {})}
        )
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
        "POST",
        "/git/commits",
        {"message": "m", "tree": emptied["sha"], "parents": [commit], "author": AUTHOR, "committer": COMMITTER},
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
    assert (
        api("GET", f"/git/trees/{readme}").json()["message"]
        == "Invalid object requested. SHA must identify a commit or a tree."
    )


def test_tree_creation_errors_are_githubs(api):
    head = head_of(api)
    blob = {"path": "a", "mode": "100644", "type": "blob"}
    cases = [
        ({"base_tree": "f" * 40, "tree": [{**blob, "content": "a"}]}, "base_tree is not a valid tree oid"),
        (
            {"tree": [{**blob, "content": "a", "sha": None}]},
            "Must supply either tree.sha or tree.content. Request will be rejected if both are present.",
        ),
        ({"tree": [{**blob, "sha": "e" * 40}]}, f"tree.sha {'e' * 40} is not a valid blob"),
        ({"tree": [{**blob, "mode": "100600", "content": "a"}]}, "Must supply a valid tree.mode"),
        ({"tree": []}, "Invalid tree info"),
        ({"base_tree": head, "tree": [{**blob, "path": "missing.txt", "sha": None}]}, "GitRPC::BadObjectState"),
    ]
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
    assert (
        api("POST", "/git/commits", {"message": "m", "tree": "a" * 40}).json()["message"] == "Tree SHA does not exist"
    )
    bad_parent = api("POST", "/git/commits", {"message": "m", "tree": tree.sha, "parents": ["b" * 40]}).json()
    assert bad_parent["message"] == "Parent SHA does not exist or is not a commit object"


def test_ref_updates_are_fast_forward_only_unless_forced(api, widgets):
    base = head_of(api)
    ahead = commit_on(api, base, "a.txt", "a\n")
    sideways = commit_on(api, base, "b.txt", "b\n")
    ref = widgets.get_git_ref("heads/main")
    ref.edit(ahead)
    assert head_of(api) == ahead
    refused = api("PATCH", "/git/refs/heads/main", {"sha": sideways, "force": False})
    assert (refused.status_code, refused.json()) == (
        422,
        error("Update is not a fast forward", "/git/refs#update-a-reference", 422),
    )
    assert api("PATCH", "/git/refs/heads/main", {"sha": sideways, "force": True}).json()["object"]["sha"] == sideways
    assert api("PATCH", "/git/refs/heads/nope", {"sha": base}).json()["message"] == "Reference does not exist"
    assert api("PATCH", "/git/refs/heads/main", {"sha": "c" * 40}).json()["message"] == "Object does not exist"


def test_refs_are_created_read_listed_and_deleted(api, widgets):
    head = head_of(api)
    created = widgets.create_git_ref("refs/heads/feature/x", head)
    assert (created.ref, created.object.sha, created.object.type) == ("refs/heads/feature/x", head, "commit")
    assert created.url.endswith("/repos/acme/widgets/git/refs/heads/feature/x")
    again = api("POST", "/git/refs", {"ref": "refs/heads/feature/x", "sha": head})
    assert (again.status_code, again.json()) == (
        422,
        error("Reference already exists", "/git/refs#create-a-reference", 422),
    )
    assert (
        api("POST", "/git/refs", {"ref": "refs/heads/y", "sha": "d" * 40}).json()["message"] == "Object does not exist"
    )
    assert [r["ref"] for r in api("GET", "/git/matching-refs/heads/").json()] == [
        "refs/heads/feature/x",
        "refs/heads/main",
    ]
    assert api("GET", "/git/refs/heads/feature/x").json()["object"]["sha"] == head
    assert [b.name for b in widgets.get_branches()] == ["feature/x", "main"]
    assert widgets.get_branch("feature/x").commit.sha == head
    assert api("DELETE", "/git/refs/heads/feature/x").status_code == 204
    missing = api("GET", "/git/ref/heads/feature/x")
    assert (missing.status_code, missing.json()) == (404, error("Not Found", "/git/refs#get-a-reference", 404))
    with pytest.raises(GithubException) as raised:
        fetch_head(widgets, "feature/x")
    assert raised.value.status == 404


def test_racing_ref_updates_have_exactly_one_winner(api, github_emulator):
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
