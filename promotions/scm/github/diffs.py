"""What a commit changed, from GitHub's "get a commit"
(https://docs.github.com/rest/commits/commits#get-a-commit): every file's `patch`
in one request per 300 files, rather than two blob reads per file.

GitHub's limits, followed here as that page states them: the files come 300 a page
(PyGithub follows the Link header), "up to a limit of 3000 files" (the others are
not listed), and "diffs with binary data will have no `patch` property"; very large
diffs lose their `patch` too (GitHub gives no threshold), so a file without one gets
a note instead. A rename is one entry (`previous_filename`): both paths get a note.
"""

from __future__ import annotations

from github.Commit import Commit

from ..port import FilePatch

FILES_PER_PAGE = 300  # GitHub's largest page of a commit's files


def commit_patches(commit: Commit) -> dict[str, FilePatch]:
    """Each file of `commit`, read by iterating its pages (each one a request)."""
    patches: dict[str, FilePatch] = {}
    for file in commit.files:
        patches.update(_patches(file.raw_data))
    return patches


def _patches(data: dict) -> dict[str, FilePatch]:
    path, status, patch = data["filename"], data.get("status"), data.get("patch")
    previous = data.get("previous_filename")
    if status == "renamed" and previous:
        renamed = FilePatch(path, patch, f"renamed from {previous}" + ("" if patch else ", unchanged"))
        moved = FilePatch(previous, None, f"renamed to {path} (GitHub shows the two paths as one rename)")
        return {path: renamed, previous: moved}
    if patch is not None:
        return {path: FilePatch(path, patch)}
    if status == "changed":
        return {path: FilePatch(path, None, "only the file mode changed")}
    counts = f"{data.get('additions', 0)} lines added, {data.get('deletions', 0)} removed"
    return {path: FilePatch(path, None, f"GitHub shows no diff for this file: binary, empty or too large ({counts})")}
