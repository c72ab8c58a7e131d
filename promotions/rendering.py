"""HTML for the leads' admin: a reasoning trace as sanitised Markdown, each file
of a promotion as a coloured unified diff, a status as a coloured badge."""

from __future__ import annotations

from dataclasses import dataclass

import markdown
import nh3
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from .merge import is_text, unified_diff
from .models import FileChange, Promotion
from .scm import adapter_for
from .scm.port import ScmError, ScmPort

Status = Promotion.Status
FileStatus = FileChange.Status

STATUS_COLOURS = {
    Status.PENDING: "#6c757d",
    Status.QUEUED: "#0d6efd",
    Status.APPLYING: "#0d6efd",
    Status.RETRYING: "#fd7e14",
    Status.AWAITING_APPROVAL: "#b58100",
    Status.COMMITTED: "#198754",
    Status.NO_CHANGES: "#6c757d",
    Status.CONFLICT: "#dc3545",
    Status.FAILED: "#dc3545",
    Status.REJECTED: "#6f42c1",
    Status.PR_OPEN: "#20c997",
}

# Files whose change is in a commit: their diff is read from the blobs written.
LANDED_FILE_STATUSES = frozenset({FileStatus.CREATED, FileStatus.UPDATED, FileStatus.DELETED, FileStatus.MERGED})


def status_badge(status: str) -> SafeString:
    return format_html(
        '<span class="pg-badge" data-status="{}" style="background:{}">{}</span>',
        status,
        STATUS_COLOURS.get(status, "#6c757d"),
        status.replace("_", " "),
    )


def markdown_html(text: str) -> SafeString:
    """A pod's Markdown as HTML a browser can show safely: raw HTML in the text is
    shown as text, and nh3 removes whatever unsafe markup Markdown itself could make
    (javascript: links, say)."""
    converter = markdown.Markdown(extensions=["fenced_code", "tables", "sane_lists"])
    converter.preprocessors.deregister("html_block")
    converter.inlinePatterns.deregister("html")
    return mark_safe(nh3.clean(converter.convert(text)))


def _diff_line_class(line: str) -> str:
    if line.startswith(("+++", "---")):
        return "pg-diff-file"
    if line.startswith("@@"):
        return "pg-diff-hunk"
    if line.startswith("+"):
        return "pg-diff-add"
    if line.startswith("-"):
        return "pg-diff-del"
    return "pg-diff-context"


def diff_html(diff: str) -> SafeString:
    lines = diff.splitlines()
    return format_html(
        '<pre class="pg-diff">{}</pre>',
        format_html_join("", '<span class="{}">{}\n</span>', ((_diff_line_class(line), line) for line in lines)),
    )


@dataclass(frozen=True)
class FileDiff:
    change: FileChange
    diff: str = ""
    note: str = ""

    @property
    def landed(self) -> bool:
        return self.change.status in LANDED_FILE_STATUSES

    @property
    def html(self) -> SafeString:
        return diff_html(self.diff) if self.diff else SafeString("")


def file_diffs(promotion: Promotion) -> list[FileDiff]:
    """What each file changed (from the blobs of its commit) or, not landed yet,
    what it would change against the branch as it is now."""
    files = list(promotion.files.all())
    try:
        scm = adapter_for(promotion.repository)
        current = _current_shas(scm, promotion.branch, [f.path for f in files if f.status not in LANDED_FILE_STATUSES])
        return [_file_diff(scm, change, current) for change in files]
    except ScmError as error:
        return [FileDiff(change, note=f"could not read the repository: {error}") for change in files]


def _current_shas(scm: ScmPort, branch: str, paths: list[str]) -> dict[str, str]:
    head = scm.branch_head(branch) if paths else None
    if head is None:
        return {}
    entries = scm.read_entries(head, paths)
    return {path: entries[path].sha for path in paths if path in entries and entries[path].kind == "blob"}


def _file_diff(scm: ScmPort, change: FileChange, current: dict[str, str]) -> FileDiff:
    if change.status in LANDED_FILE_STATUSES:
        before_sha = change.old_sha
        after = scm.read_blob(change.new_sha) if change.new_sha else b""
    else:
        before_sha = current.get(change.path, "")
        after = b"" if change.operation == FileChange.Operation.DELETE else bytes(change.content)
    before = scm.read_blob(before_sha) if before_sha else b""
    if before == after:
        return FileDiff(change, note="no difference")
    if not (is_text(before) and is_text(after)):
        return FileDiff(change, note=f"binary content: {len(before)} bytes before, {len(after)} after")
    return FileDiff(change, diff=unified_diff(before, after, f"a/{change.path}", f"b/{change.path}"))
