"""What a commit changed, as GitHub's "get a commit" lists it in `files`
(https://docs.github.com/rest/commits/commits#get-a-commit, schema `diff-entry`):
one entry per changed path against the first parent, in git's path order, renames
found as git finds them by default (50% similar), and each text file's `patch` as
git itself prints its hunks (3 lines of context, the function line after `@@`, `\\
No newline at end of file`), without the `diff --git`, `index`, `---` and `+++`
header lines and without the final newline, as GitHub gives it. Binary files have
no `patch`, and neither do changes without a hunk (an empty new file, a pure rename
or mode change)."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from dulwich.diff_tree import CHANGE_ADD, CHANGE_DELETE, CHANGE_RENAME, RenameDetector, TreeChange, tree_changes
from dulwich.objects import Commit

from .shapes import Urls
from .store import SUBMODULE_MODE, Repository

# git's default rename detection (`diff.renames`: 50% similar, `diff.renameLimit` 1000).
RENAME_THRESHOLD, RENAME_LIMIT = 50, 1000
# The diff of a commit is git's own, never shaped by whoever runs the emulator.
GIT_ENV = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "LC_ALL": "C"}
GIT_DIFF = ["git", "diff", "--no-index", "--no-renames", "--no-color", "--no-ext-diff", "--no-textconv", "-U3"]
SECTION = re.compile(rb"^diff --git ", re.MULTILINE)


@dataclass(frozen=True)
class FileChange:
    status: str  # GitHub's word: added, removed, modified, renamed or changed (the mode only)
    path: str
    sha: str  # the blob written, or for a removal the blob removed
    previous_path: str | None
    patch: str | None
    additions: int
    deletions: int


def commit_changes(repo: Repository, commit: Commit) -> list[FileChange]:
    """Every path `commit` changed against its first parent (all of them for a root
    commit), sorted as git sorts paths."""
    store = repo.git.object_store
    parent = store[commit.parents[0]] if commit.parents else None
    parent_tree = parent.tree if isinstance(parent, Commit) else None
    changes = list(tree_changes(store, parent_tree, commit.tree))
    # Submodule entries name commits of other repositories: nothing to compare.
    if not any(SUBMODULE_MODE in (side.mode for side in (c.old, c.new) if side and side.mode) for c in changes):
        detector = RenameDetector(store, rename_threshold=RENAME_THRESHOLD, max_files=RENAME_LIMIT)
        changes = list(tree_changes(store, parent_tree, commit.tree, rename_detector=detector))
    changes.sort(key=_git_order)
    pairs = [(_content(repo, change.old), _content(repo, change.new)) for change in changes]
    # A file on one side only needs no diff algorithm: only those on both go to git.
    both = [index for index, (before, after) in enumerate(pairs) if before is not None and after is not None]
    patches = [one_sided_patch(before, after) for before, after in pairs]
    for index, patch in zip(both, git_patches([pairs[index] for index in both]), strict=True):
        patches[index] = patch
    return [_file_change(change, patch) for change, patch in zip(changes, patches, strict=True)]


def _git_order(change: TreeChange) -> bytes:
    """Where `git diff` lists a change: at its path; a rename at the first of its two."""
    return min(side.path for side in (change.old, change.new) if side is not None and side.path is not None)


def _content(repo: Repository, side) -> bytes | None:
    if side is None or side.sha is None:
        return None
    if side.mode == SUBMODULE_MODE:
        return f"Subproject commit {side.sha.decode()}\n".encode()
    return repo.blob_data(side.sha.decode())


def _file_change(change: TreeChange, patch: str | None) -> FileChange:
    lines = patch.split("\n") if patch else []
    additions = sum(line.startswith("+") for line in lines)
    deletions = sum(line.startswith("-") for line in lines)
    old, new = change.old, change.new
    side = old if change.type == CHANGE_DELETE else new
    assert side is not None and side.path is not None and side.sha is not None  # what tree_changes reports
    if change.type in (CHANGE_ADD, CHANGE_DELETE, CHANGE_RENAME):
        status = {CHANGE_ADD: "added", CHANGE_DELETE: "removed", CHANGE_RENAME: "renamed"}[change.type]
    else:
        status = "changed" if old is not None and old.sha == side.sha else "modified"
    previous = old.path.decode() if change.type == CHANGE_RENAME and old is not None and old.path else None
    return FileChange(status, side.path.decode(), side.sha.decode(), previous, patch or None, additions, deletions)


def one_sided_patch(before: bytes | None, after: bytes | None) -> str | None:
    """The one hunk git prints for a file added (`before` None) or removed: every
    line, "" for an empty file, None for binary content (a NUL byte in the first
    8000, git's test)."""
    content = after if before is None else before
    if content is None:
        return ""
    if b"\0" in content[:8000]:
        return None
    if not content:
        return ""
    lines = content.decode("utf-8", "replace").split("\n")
    complete = lines[-1] == ""
    if complete:
        lines.pop()
    count = "" if len(lines) == 1 else f",{len(lines)}"
    header, sign = (f"@@ -0,0 +1{count} @@", "+") if before is None else (f"@@ -1{count} +0,0 @@", "-")
    hunk = [header, *(sign + line for line in lines)]
    return "\n".join(hunk if complete else [*hunk, "\\ No newline at end of file"])


def git_patches(pairs: list[tuple[bytes | None, bytes | None]]) -> list[str | None]:
    """The hunks `git diff` prints for each (before, after) pair (None: the file does
    not exist on that side), in one run of git over two folders; "" when there are
    none, None for binary content."""
    if not pairs:
        return []
    with tempfile.TemporaryDirectory(prefix="github-emulator-diff-") as work:
        root = Path(work)
        for side, index in (("a", 0), ("b", 1)):
            (root / side).mkdir()
            for number, pair in enumerate(pairs):
                content = pair[index]
                if content is not None:
                    (root / side / str(number)).write_bytes(content)
        done = subprocess.run([*GIT_DIFF, "a", "b"], cwd=root, capture_output=True, env=GIT_ENV, check=False)
    if done.returncode not in (0, 1):  # 1: there are differences
        raise RuntimeError(f"git diff failed: {done.stderr.decode(errors='replace')}")
    patches: list[str | None] = [""] * len(pairs)
    for section in SECTION.split(done.stdout)[1:]:
        header, _, body = section.partition(b"\n")
        number = int(header.rsplit(b"/", 1)[1])
        lines = body.split(b"\n")[:-1]  # every line ends with a newline
        first_hunk = next((i for i, line in enumerate(lines) if line.startswith(b"@@ ")), len(lines))
        if any(line.startswith(b"Binary files ") for line in lines[:first_hunk]):
            patches[number] = None
        else:
            patches[number] = b"\n".join(lines[first_hunk:]).decode("utf-8", "replace")
    return patches


def stats(changes: list[FileChange]) -> dict:
    additions, deletions = sum(c.additions for c in changes), sum(c.deletions for c in changes)
    return {"total": additions + deletions, "additions": additions, "deletions": deletions}


def diff_entry(urls: Urls, repo: Repository, commit_sha: str, change: FileChange) -> dict:
    path = quote(change.path)
    entry = {
        "sha": change.sha,
        "filename": change.path,
        "status": change.status,
        "additions": change.additions,
        "deletions": change.deletions,
        "changes": change.additions + change.deletions,
        "blob_url": urls.html(repo, f"/blob/{commit_sha}/{path}"),
        "raw_url": urls.html(repo, f"/raw/{commit_sha}/{path}"),
        "contents_url": urls.repo(repo, f"/contents/{path}?ref={commit_sha}"),
    }
    if change.patch:
        entry["patch"] = change.patch
    if change.previous_path:
        entry["previous_filename"] = change.previous_path
    return entry
