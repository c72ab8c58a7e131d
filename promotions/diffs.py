"""What a promotion's page shows of each file's change, asking the git host as
little as possible:

- a file in the promotion's commit (committed, pr_open): what the commit changed.
  The first view reads it for every such file in one port call (`commit_diffs`: one
  GitHub request per 300 files) and keeps it as FileDiff rows; a commit never
  changes, so later views cost no request at all.
- any other file (waiting for approval, queued, in conflict...): what it would
  change on the branch as it is now, read for that one file when the lead opens it
  (a few requests), never kept, since the branch moves.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.safestring import SafeString

from .merge import clip, file_patch, is_text
from .models import FileChange, FileDiff, Promotion
from .rendering import diff_html
from .scm import adapter_for
from .scm.port import FilePatch, ScmError

FileStatus = FileChange.Status

# Files whose change is in the promotion's commit.
LANDED_FILE_STATUSES = frozenset({FileStatus.CREATED, FileStatus.UPDATED, FileStatus.DELETED, FileStatus.MERGED})


@dataclass(frozen=True)
class ShownDiff:
    """One file's change as the page shows it: `patch` (git's hunks) or a `note`;
    neither for a file not landed, whose diff is read when the lead opens it."""

    change: FileChange
    landed: bool
    patch: str = ""
    note: str = ""

    @property
    def html(self) -> SafeString:
        return diff_html(self.patch)


def is_landed(promotion: Promotion, change: FileChange) -> bool:
    return bool(promotion.commit_sha) and change.status in LANDED_FILE_STATUSES


def promotion_diffs(promotion: Promotion) -> list[ShownDiff]:
    """Every file of the promotion, in order: the landed ones with what the commit
    changed (from the host the first time only), the others still to be read."""
    files = list(promotion.files.select_related("diff"))
    landed = [change for change in files if is_landed(promotion, change)]
    kept = {change.pk: change.diff for change in landed if hasattr(change, "diff")}
    missing = [change for change in landed if change.pk not in kept]
    if missing:
        try:
            kept.update(_read_and_keep(promotion, missing))
        except ScmError as error:  # nothing kept: the next view asks again
            kept.update({change.pk: FileDiff(change=change, note=_unreadable(error)) for change in missing})
    return [
        ShownDiff(change, True, kept[change.pk].patch, kept[change.pk].note)
        if change.pk in kept
        else ShownDiff(change, False)
        for change in files
    ]


def file_diff(promotion: Promotion, change: FileChange) -> ShownDiff:
    """One file's change: the kept one if it landed, else what it would change on
    the branch now (on GitHub: the branch, its tree, and the file's blob)."""
    if is_landed(promotion, change):
        return next(shown for shown in promotion_diffs(promotion) if shown.change.pk == change.pk)
    after = b"" if change.operation == FileChange.Operation.DELETE else bytes(change.content or b"")
    try:
        scm = adapter_for(promotion.repository)
        head = scm.branch_head(promotion.branch)
        entry = scm.read_entries(head, [change.path]).get(change.path) if head else None
        before = scm.read_blob(entry.sha) if entry is not None and entry.kind == "blob" else b""
    except ScmError as error:
        return ShownDiff(change, False, note=_unreadable(error))
    if before == after:
        return ShownDiff(change, False, note="no difference")
    if not (is_text(before) and is_text(after)):
        return ShownDiff(change, False, note=f"binary content: {len(before)} bytes before, {len(after)} after")
    return ShownDiff(change, False, patch=file_patch(before, after))


def _read_and_keep(promotion: Promotion, files: list[FileChange]) -> dict[int, FileDiff]:
    patches = adapter_for(promotion.repository).commit_diffs(promotion.commit_sha)
    unlisted = FilePatch(
        "", None, f"the git host lists no change of it in {promotion.commit_sha[:12]} (GitHub: 3,000 at most)"
    )
    rows = []
    for change in files:
        shown = patches.get(change.path, unlisted)
        rows.append(FileDiff(change=change, patch=clip(shown.patch or ""), note=shown.note[:500]))
    # Two leads opening the page at once both read, and one row per file is kept.
    FileDiff.objects.bulk_create(rows, ignore_conflicts=True)
    return {row.change_id: row for row in rows}


def _unreadable(error: ScmError) -> str:
    return f"could not read the repository: {error}"
