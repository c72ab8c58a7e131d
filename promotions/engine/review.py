"""Pull-request mode's own pieces: the review branch `patchgate/<id>`, which an attempt
whose pull request failed to open may have left behind, and the pull request's title
and body within GitHub's bounds (a longer one is refused with 422: "title is too
long (maximum is 256 characters)", "body is too long (maximum is 65536 characters)")."""

from __future__ import annotations

from django.conf import settings
from django.utils.text import slugify

from ..models import Promotion
from ..scm.port import ScmPort, ScmRejected
from ..validation import trace_path

MAX_TITLE_CHARS = 256
MAX_BODY_CHARS = 65_536


def review_branch_of(promotion: Promotion) -> str:
    return f"patchgate/{promotion.pk}"


def place_review_branch(scm: ScmPort, branch: str, sha: str) -> None:
    """Point the review branch at `sha`. One left by an earlier attempt (its pull request
    did not open, then a retry) is reused when it holds `sha`, else moved there: it is
    Patchgate's own branch, which nobody else writes. Raises the host's refusal when
    the branch cannot be made at all."""
    try:
        scm.create_branch(branch, sha)
    except ScmRejected:
        held = scm.branch_head(branch)
        if held is None:
            raise
        if held != sha:
            scm.move_branch(branch, sha)


def pull_request_title(promotion: Promotion) -> str:
    """The commit message's first line, cut to GitHub's 256 characters."""
    title = promotion.commit_message.strip().splitlines()[0].strip()
    return title if len(title) <= MAX_TITLE_CHARS else title[: MAX_TITLE_CHARS - 1].rstrip() + "…"


def pull_request_body(promotion: Promotion) -> str:
    """The reasoning trace, cut to fit GitHub's 65,536 characters with a pointer to
    where the whole of it is: the trace file of the commit, or the promotion's page."""
    trace = promotion.reasoning_trace
    if len(trace) <= MAX_BODY_CHARS:
        return trace
    pointer = f"\n\n---\n*The reasoning trace is cut here. The whole of it: {_whole_trace_at(promotion)}.*"
    kept = trace[: MAX_BODY_CHARS - len(pointer)]
    return kept[: kept.rfind("\n") + 1 or len(kept)].rstrip() + pointer


def _whole_trace_at(promotion: Promotion) -> str:
    page = f"{settings.PUBLIC_URL}/admin/promotions/promotion/{promotion.pk}/change/"
    template = promotion.repository.trace_path_template
    try:
        path = trace_path(template, promotion.pk, slugify(promotion.pod.name)) if template else ""
    except ValueError:
        path = ""
    return f"`{path}` in this pull request, and {page}" if path else page
