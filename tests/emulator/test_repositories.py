"""Repositories, branches, commits, the contents API and pull requests of the
emulator, through PyGithub and plain HTTP, with GitHub's messages, status codes and
pagination."""

import base64
import os
import shutil
import threading
from pathlib import Path

import requests

from tests.emulator.helpers import BINARY, TOKEN, client, commit_on, error, git, head_of


def test_repositories_made_through_the_api_and_the_user(github_emulator):
    github = client(github_emulator)
    assert github.get_user().login == "patchgate-emulator"
    made = github.get_user().create_repo("tools", auto_init=True)
    assert (made.full_name, made.default_branch) == ("patchgate-emulator/tools", "main")
    readme = made.get_contents("README.md")
    assert readme.decoded_content == b"# tools\n" and made.get_commits()[0].commit.message == "Initial commit"
    bare = requests.post(f"{github_emulator.url}/orgs/acme/repos", json={"name": "bare"}, headers=TOKEN, timeout=5)
    assert bare.status_code == 201 and bare.json()["owner"]["login"] == "acme"
    assert (
        requests.get(f"{github_emulator.url}/repos/acme/bare/git/ref/heads/main", timeout=5).json()["message"]
        == "Git Repository is empty."
    )


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
    assert (content.status_code, content.json()) == (
        422,
        error('Invalid request.\n\n"sha" wasn\'t supplied.', docs, 422),
    )
    stale = api("PUT", "/contents/notes/a.txt", {"message": "m", "content": "dHdvCg==", "sha": "1" * 40})
    assert (stale.status_code, stale.json()) == (409, error(f"notes/a.txt does not match {'1' * 40}", docs, 409))
    updated = widgets.update_file("notes/a.txt", "change a", "two\n", sha)
    assert updated["commit"].parents[0].sha == created["commit"].sha
    missing = api("GET", "/contents/notes/b.txt")
    assert (missing.status_code, missing.json()) == (
        404,
        error("Not Found", "/repos/contents#get-repository-content", 404),
    )

    delete_docs = "/repos/contents#delete-a-file"
    assert api("DELETE", "/contents/notes/a.txt", {"message": "rm"}).json() == error(
        'Invalid request.\n\n"sha" wasn\'t supplied.', delete_docs, 422
    )
    assert api("DELETE", "/contents/notes/b.txt", {"message": "rm", "sha": sha}).json() == error(
        "Not Found", delete_docs, 404
    )
    assert api("DELETE", "/contents/notes/a.txt", {"message": "rm", "sha": sha}).status_code == 409
    widgets.delete_file("notes/a.txt", "rm a", updated["content"].sha)
    assert [c.commit.message for c in widgets.get_commits(sha="main")] == [
        "rm a",
        "change a",
        "add a",
        "Initial commit",
    ]


def test_parallel_contents_writes_to_one_branch_conflict_as_on_github(api, github_emulator):
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


def test_pull_requests_are_opened_read_and_listed(api, widgets, github_emulator):
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
    exists = [
        {"resource": "PullRequest", "code": "custom", "message": "A pull request already exists for acme:feature."}
    ]
    assert (duplicate.status_code, duplicate.json()) == (
        422,
        {**error("Validation Failed", docs, 422), "errors": exists},
    )
    widgets.create_git_ref("refs/heads/same", head)
    nothing = api("POST", "/pulls", {"title": "t", "head": "same", "base": "main"}).json()
    assert nothing["errors"] == [
        {"resource": "PullRequest", "code": "custom", "message": "No commits between main and same"}
    ]
    absent = api("POST", "/pulls", {"title": "t", "head": "absent", "base": "main"}).json()
    assert absent["errors"] == [{"resource": "PullRequest", "field": "head", "code": "invalid"}]


# --- a commit's files: what git diff prints ---------------------------------------------

BEFORE = {
    "src/app.py": "".join(f"line {n}\n" for n in range(1, 8))
    + "def main():\n"
    + "".join(f"    step {n}\n" for n in range(20)),
    "notes.txt": "one\ntwo\nthree",
    "gone.md": "bye\nfor now",
    "old/name.txt": "".join(f"row {n}\n" for n in range(20)),
    "run.sh": "echo hi\n",
    "logo.bin": BINARY,
}
AFTER = {
    **{path: content for path, content in BEFORE.items() if path not in ("gone.md", "old/name.txt")},
    "src/app.py": BEFORE["src/app.py"].replace("    step 12\n", "    step twelve\n    step 12.5\n"),
    "notes.txt": "one\ntwo\nthree\nfour\n",
    "new/name.txt": BEFORE["old/name.txt"].replace("row 3\n", "row three\n"),
    "logo.bin": BINARY[::-1],
    "empty.txt": "",
    "added.md": "# Added\n",
    "added.txt": "first\r\nsecond",
}
EXECUTABLE_AFTER = {"run.sh"}


def tree_entry(api, path: str, content, executable: bool) -> dict:
    entry = {"path": path, "mode": "100755" if executable else "100644", "type": "blob"}
    if isinstance(content, bytes):
        blob = api("POST", "/git/blobs", {"content": base64.b64encode(content).decode(), "encoding": "base64"})
        return {**entry, "sha": blob.json()["sha"]}
    return {**entry, "content": content}


def commit_files(api, parent: str, files: dict, executable: set[str], message: str) -> str:
    """A commit on `parent` holding exactly `files` (and the README of the first commit)."""
    readme = api("GET", f"/git/trees/{parent}").json()["tree"][0]
    entries = [tree_entry(api, path, content, path in executable) for path, content in files.items()]
    tree = api("POST", "/git/trees", {"tree": [{k: readme[k] for k in ("path", "mode", "type", "sha")}, *entries]})
    made = api("POST", "/git/commits", {"message": message, "tree": tree.json()["sha"], "parents": [parent]})
    return made.json()["sha"]


def written_by_git(work: Path, files: dict, executable: set[str]) -> None:
    for leftover in work.glob("*"):
        if leftover.name not in (".git", "README.md"):
            shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
    for path, content in files.items():
        target = work / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content if isinstance(content, bytes) else content.encode())
        target.chmod(0o755 if path in executable else 0o644)


def git_diff_sections(work: Path) -> list[tuple[str, str | None]]:
    """(path, patch) per file of `git diff -M HEAD~1 HEAD`, cut as GitHub cuts it:
    the hunks only, without the final newline; None for a binary file or no hunk."""
    shown = git(work, "diff", "-M", "HEAD~1", "HEAD", env={"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull})
    sections = []
    for section in shown.split("diff --git ")[1:]:
        lines = section.split("\n")
        path = lines[0].rsplit(" b/", 1)[1]
        first_hunk = next((i for i, line in enumerate(lines) if line.startswith("@@ ")), len(lines))
        binary = any(line.startswith("Binary files ") for line in lines[:first_hunk])
        patch = "\n".join(lines[first_hunk:]).removesuffix("\n")
        sections.append((path, None if binary else patch or None))
    return sections


def test_a_commits_files_carry_the_patches_git_prints(api, widgets, tmp_path):
    head = head_of(api)
    before = commit_files(api, head, BEFORE, set(), "before")
    after = commit_files(api, before, AFTER, EXECUTABLE_AFTER, "after")

    work = tmp_path / "work"
    git(tmp_path, "init", "-q", str(work))
    (work / "README.md").write_text("# widgets\n")
    for files, executable, message in [(BEFORE, set(), "before"), (AFTER, EXECUTABLE_AFTER, "after")]:
        written_by_git(work, files, executable)
        git(work, "add", "-A")
        git(work, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "-m", message)
    assert git(work, "rev-parse", "HEAD^{tree}") == api("GET", f"/git/commits/{after}").json()["tree"]["sha"]

    answer = api("GET", f"/commits/{after}").json()
    files = answer["files"]
    assert [(f["filename"], f.get("patch")) for f in files] == git_diff_sections(work)
    statuses = {f["filename"]: (f["status"], f.get("previous_filename")) for f in files}
    assert statuses == {
        "added.md": ("added", None),
        "added.txt": ("added", None),
        "empty.txt": ("added", None),
        "gone.md": ("removed", None),
        "logo.bin": ("modified", None),
        "new/name.txt": ("renamed", "old/name.txt"),
        "notes.txt": ("modified", None),
        "run.sh": ("changed", None),
        "src/app.py": ("modified", None),
    }
    app = next(f for f in files if f["filename"] == "src/app.py")
    assert app["patch"].startswith("@@ -18,7 +18,8 @@ def main():\n") and not app["patch"].endswith("\n")
    assert (app["additions"], app["deletions"], app["changes"]) == (2, 1, 3)
    assert next(f for f in files if f["filename"] == "notes.txt")["patch"].count("\\ No newline at end of file") == 1
    for file in files:
        assert "patch" not in file or not file["patch"].startswith(("diff --git", "---", "+++", "index "))
        removed = file["status"] == "removed"
        blob = git(work, "rev-parse", f"HEAD{'~1' if removed else ''}:{file['filename']}")
        assert file["sha"] == blob
        assert file["raw_url"].endswith(f"/raw/{after}/{file['filename']}")
    assert answer["stats"] == {
        "additions": sum(f["additions"] for f in files),
        "deletions": sum(f["deletions"] for f in files),
        "total": sum(f["changes"] for f in files),
    }
    assert [f.filename for f in widgets.get_commit(after).files] == [f["filename"] for f in files]


def test_a_commit_of_many_files_pages_them_by_300_up_to_3000(api, widgets, github_emulator):
    head = head_of(api)
    many = {f"out/file{n:04}.md": f"file {n}\n" for n in range(3005)}
    sha = commit_files(api, head, many, set(), "many")

    first = api("GET", f"/commits/{sha}")
    assert len(first.json()["files"]) == 300 and first.json()["stats"]["additions"] == 3005
    assert 'page=2>; rel="next"' in first.headers["Link"] and 'page=10>; rel="last"' in first.headers["Link"]
    smaller = api("GET", f"/commits/{sha}", params={"per_page": 1000, "page": 2})
    assert [f["filename"] for f in smaller.json()["files"]] == [f"out/file{n:04}.md" for n in range(300, 600)]
    github_emulator.reset_stats()
    listed = [f.filename for f in widgets.get_commit(sha).files]
    assert listed == [f"out/file{n:04}.md" for n in range(3000)]  # GitHub stops at 3000
    assert github_emulator.stats()["requests"] == 10
