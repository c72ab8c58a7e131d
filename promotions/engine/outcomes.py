"""Recording what became of a promotion the engine took up: landed, retried later
(charged to its own retry budget or not), put back behind another, or failed, and
what each of its files says then: every file of a final promotion has a final
status, and only what happened to it."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from ..audit import Actor, transition
from ..conf import setting
from ..models import BranchLane, FileChange, Promotion
from ..scm.port import ScmPort

Status = Promotion.Status
FileStatus = FileChange.Status
WORKER = Actor.system("worker")
# Waits that no budget bounds (checking a commit the host does not let us read) stop growing here.
MAX_WAIT = timedelta(minutes=5)


def take_up(train: list[Promotion]) -> None:
    """Mark the train `applying`. A promotion found there already was left by a worker
    that died or lost its lane: taking it up again costs it nothing but the attempt."""
    now = timezone.now()
    for promotion in train:
        started_at = promotion.started_at or now
        if promotion.status == Status.APPLYING:
            promotion.attempts += 1
            promotion.started_at = started_at
            Promotion.objects.filter(pk=promotion.pk).update(attempts=promotion.attempts, started_at=started_at)
        else:
            waited = _budget_waited(promotion, now)
            attempts = promotion.attempts + 1
            transition(promotion, Status.APPLYING, WORKER, attempts=attempts, started_at=started_at, **waited)


def _budget_waited(promotion: Promotion, now: datetime) -> dict:
    """A promotion taken up after waiting for the write budget adds that wait to its total."""
    if promotion.budget_wait_since is None:
        return {}
    waited = (now - promotion.budget_wait_since).total_seconds()
    return {"budget_wait_seconds": promotion.budget_wait_seconds + max(waited, 0.0), "budget_wait_since": None}


def finish(promotion: Promotion, status: str, commit_sha: str, scm: ScmPort, detail: str = "") -> None:
    error = "some files could not be applied; see their messages" if status == Status.FAILED else ""
    transition(
        promotion,
        status,
        WORKER,
        detail or (f"commit {commit_sha}" if commit_sha else error),
        commit_sha=commit_sha,
        commit_url=(scm.commit_url(commit_sha) or "") if commit_sha else "",
        last_error=error,
        not_before=None,
    )


def retry_at(promotions: list[Promotion], error: str, when: datetime, **fields) -> None:
    """Back to the queue at `when` (the lane clock wakes the branch then; no worker sleeps)."""
    for promotion in promotions:
        transition(
            promotion,
            Status.RETRYING,
            WORKER,
            f"{error}; next attempt at {when.isoformat()}",
            not_before=when,
            last_error=error,
            **fields,
        )


def wait_for_budget(promotions: list[Promotion], error: str, when: datetime) -> None:
    """Back to the queue until the git host's write budget allows them at `when`: not
    charged (nothing was sent), and the time counts as waiting for the budget. Their
    lane may be woken as soon as that time comes, however lately the clock woke it."""
    now = timezone.now()
    for promotion in promotions:
        retry_at([promotion], error, when, budget_wait_since=promotion.budget_wait_since or now)
    for repository_id, branch in {(p.repository_id, p.branch) for p in promotions}:
        BranchLane.objects.filter(repository_id=repository_id, branch=branch).update(woken_at=None)


def backoff(errors: int) -> datetime:
    """When to try again after the `errors`th transient error."""
    seconds = setting("RETRY_BASE_SECONDS") * 2 ** max(errors - 1, 0)
    return timezone.now() + min(timedelta(seconds=seconds), MAX_WAIT)


def charge(promotion: Promotion, error: str) -> bool:
    """Count a transient error of the promotion's own and retry it with backoff.
    False when that spends its budget: the caller gives it up (after checking)."""
    errors = promotion.transient_errors + 1
    if errors >= setting("MAX_TRANSIENT_RETRIES"):
        promotion.transient_errors = errors
        Promotion.objects.filter(pk=promotion.pk).update(transient_errors=errors)
        return False
    retry_at([promotion], error, backoff(errors), transient_errors=errors)
    return True


def wait_behind(promotions: list[Promotion], ahead: Promotion) -> None:
    """Not tried this time: they land after `ahead`, which waits for a retry."""
    for promotion in promotions:
        transition(promotion, Status.QUEUED, WORKER, f"waits behind #{ahead.pk}, which will be retried")


def fail(promotions: list[Promotion], error: str) -> None:
    for promotion in promotions:
        with transaction.atomic():
            if transition(promotion, Status.FAILED, WORKER, error, last_error=error, not_before=None):
                settle_files(promotion, f"the promotion failed: {error}")


def settle_files(promotion: Promotion, why: str) -> None:
    """A promotion ends without its commit: every file not refused for a reason of
    its own (conflict, error) is `skipped`, with why, and carries no sha it never wrote."""
    promotion.files.exclude(status__in=[FileStatus.CONFLICT, FileStatus.ERROR]).update(
        status=FileStatus.SKIPPED, old_sha="", new_sha="", message=f"not applied: {why}"
    )
