"""django-q2 entry points. A task names a branch lane, not a promotion: whichever
worker holds the lane applies everything ready on it, in order."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task

from . import engine
from .models import BranchLane, Promotion

Status = Promotion.Status


def enqueue_lane(repository_id: int, branch: str) -> None:
    async_task("promotions.tasks.drain_lane", repository_id, branch, task_name=f"lane {repository_id}:{branch}"[:100])


def drain_lane(repository_id: int, branch: str) -> None:
    wake_at = engine.drain_lane(repository_id, branch)
    if wake_at:
        schedule_lane(repository_id, branch, datetime.fromisoformat(wake_at))


def schedule_lane(repository_id: int, branch: str, at: datetime) -> None:
    """Come back to a lane at `at` (a rate limit's reset, a backoff) without any
    worker sleeping in the meantime."""
    Schedule.objects.create(
        name=f"retry lane {repository_id}:{branch} at {at.isoformat()}"[:100],
        func="promotions.tasks.drain_lane",
        args=repr((repository_id, branch)),
        schedule_type=Schedule.ONCE,
        next_run=at,
    )


def sweep_lanes() -> int:
    """Run every minute: wake lanes whose work nobody is doing (a lost task, a worker
    that died holding a lease). Returns how many lanes were woken."""
    now = timezone.now()
    ready = (
        Promotion.objects.filter(
            Q(status=Status.QUEUED) | Q(status=Status.APPLYING) | Q(status=Status.RETRYING, not_before__lte=now)
        )
        .values_list("repository_id", "branch")
        .distinct()
    )
    busy = set(
        BranchLane.objects.filter(lease_until__gte=now).values_list("repository_id", "branch")
    )
    woken = 0
    for repository_id, branch in set(ready) - busy:
        enqueue_lane(repository_id, branch)
        woken += 1
    return woken
