"""HTML for the leads' admin: a reasoning trace as sanitised Markdown, a file's
patch as a coloured diff, a status as a coloured badge. Nothing here reads the git
host (promotions.diffs does, as little as it can)."""

from __future__ import annotations

import functools

import nh3
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

from .models import Promotion

Status = Promotion.Status

STATUS_COLOURS: dict[str, str] = {
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


def status_badge(status: str) -> SafeString:
    return format_html(
        '<span class="pg-badge" data-status="{}" style="background:{}">{}</span>',
        status,
        STATUS_COLOURS.get(status, "#6c757d"),
        status.replace("_", " "),
    )


# A trace is rendered as Markdown up to here (cut at a line end), the rest shown as plain
# text. markdown-it-py parses in time linear in its input (CommonMark's pathological
# cases included; Python-Markdown took seconds for 16 KB of brackets), about 0.4 s at
# worst for this much, and a trace may hold 1 MB.
MARKDOWN_CHARS = 32_000


@functools.cache
def _markdown() -> MarkdownIt:
    """CommonMark with tables; raw HTML shown as text, and no images: `![alt](url)`
    stays a link to the image, so the lead's browser fetches nothing by itself."""
    return MarkdownIt("commonmark", {"html": False}).enable("table").disable("image")


def markdown_html(text: str) -> SafeString:
    """A pod's Markdown as HTML a browser can show safely, in bounded time: nh3 removes
    whatever unsafe markup Markdown itself could make (javascript: links, say), and past
    MARKDOWN_CHARS the trace goes on as preformatted plain text."""
    head, rest = _cut_at_line(text, MARKDOWN_CHARS)
    html = mark_safe(nh3.clean(_markdown().render(head)))
    if not rest:
        return html
    note = f"The trace goes on as plain text: Markdown is rendered for its first {MARKDOWN_CHARS:,} characters."
    return format_html('{}<p class="help pg-trace-cut">{}</p><pre class="pg-trace-rest">{}</pre>', html, note, rest)


def _cut_at_line(text: str, limit: int) -> tuple[str, str]:
    if len(text) <= limit:
        return text, ""
    cut = text.rfind("\n", 0, limit) + 1 or limit
    return text[:cut], text[cut:]


def _diff_line_class(line: str) -> str:
    """A patch has no file header lines (`---`, `+++`): a line that starts so is a
    removed or added line."""
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
