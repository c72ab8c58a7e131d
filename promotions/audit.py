"""Who did what: the actor of every change of state, the one function that moves a
promotion's status (recording an Event), and the audit rows of every operator action
(keys, pods, repositories, a lead's decisions), written in the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

from .errors import StateConflict
from .models import AuditEntry, Event, Pod, Promotion
from .settling import SETTLED_STATUSES, notification
from .statements import update_adding, update_sql

Status = Promotion.Status

# The one map of legal status changes; `transition` refuses anything else.
TRANSITIONS: dict[str, set[str]] = {
    Status.PENDING: {Status.QUEUED, Status.AWAITING_APPROVAL},
    Status.AWAITING_APPROVAL: {Status.QUEUED, Status.REJECTED},
    Status.QUEUED: {Status.APPLYING, Status.FAILED},
    Status.APPLYING: {
        Status.COMMITTED,
        Status.NO_CHANGES,
        Status.CONFLICT,
        Status.FAILED,
        Status.RETRYING,
        Status.QUEUED,
        Status.PR_OPEN,
    },
    Status.RETRYING: {Status.APPLYING, Status.FAILED},
    Status.FAILED: {Status.QUEUED},
    Status.CONFLICT: {Status.QUEUED},
    Status.COMMITTED: set(),
    Status.NO_CHANGES: set(),
    Status.REJECTED: set(),
    Status.PR_OPEN: set(),
}


class IllegalTransition(StateConflict):
    def __init__(self, message: str):
        super().__init__(detail=message)


@dataclass(frozen=True)
class Actor:
    kind: str
    name: str
    pod: Pod | None = None
    user: Any = None

    @classmethod
    def system(cls, name: str = "worker") -> Actor:
        return cls(Event.ActorKind.SYSTEM, name)

    @classmethod
    def command(cls, name: str) -> Actor:
        """A management command: whoever ran it on the server."""
        return cls(Event.ActorKind.SYSTEM, f"manage.py {name}")

    @classmethod
    def of_pod(cls, pod: Pod) -> Actor:
        return cls(Event.ActorKind.POD, pod.name, pod=pod)

    @classmethod
    def of_user(cls, user) -> Actor:
        return cls(Event.ActorKind.USER, user.get_username(), user=user)


def event_values(actor: Actor, from_status: str, to_status: str, detail: str = "") -> dict[str, Any]:
    """An event's values but its promotion's, for the statements that insert it with
    (or after) the promotion's own row: no model instance is built."""
    return {
        "actor_kind": actor.kind,
        "actor_pod_id": actor.pod.pk if actor.pod is not None else None,
        "actor_user_id": actor.user.pk if actor.user is not None else None,
        "actor_name": actor.name,
        "from_status": from_status,
        "to_status": to_status,
        "detail": detail,
    }


def transition(promotion: Promotion, to_status: str, actor: Actor, detail: str = "", **fields) -> bool:
    """Move `promotion` to `to_status` (saving `fields` with it) only if it is still in
    the status this object holds: two workers or two clicks cannot both move it.
    Returns False when someone else moved it first."""
    from_status = promotion.status
    if to_status not in TRANSITIONS[from_status]:
        raise IllegalTransition(f"a {from_status} promotion cannot become {to_status}")
    now = timezone.now()
    if to_status in Promotion.FINAL_STATUSES:
        fields.setdefault("finished_at", now)
    values = {"status": to_status, "updated_at": now, **fields}
    event = event_values(actor, from_status, to_status, detail)
    if connection.vendor == "postgresql":
        # The engine moves every promotion at least twice: one round trip each.
        update = update_sql(Promotion, values, {"pk": promotion.pk, "status": from_status})
        then = notification(promotion.pk, to_status) if to_status in SETTLED_STATUSES else None
        if not update_adding(update, (Event, event), link="promotion", then=then, model=Promotion):
            return False
    else:
        with transaction.atomic():
            if not Promotion.objects.filter(pk=promotion.pk, status=from_status).update(**values):
                return False
            Event.objects.create(promotion=promotion, **event)
    promotion.status = to_status
    promotion.updated_at = now
    for name, value in fields.items():
        setattr(promotion, name, value)
    return True


Changes = dict[str, list[Any]]


def record_audit(
    actor: Actor, action: str, target: models.Model, changes: Changes | None = None, detail: str = ""
) -> AuditEntry:
    """One row of the audit log; call it inside the action's transaction. `changes`
    maps a field to [before, after] (JSON values)."""
    return AuditEntry.objects.create(
        actor_kind=actor.kind,
        actor_pod=actor.pod,
        actor_user=actor.user,
        actor_name=actor.name,
        action=action,
        object_type=target._meta.model_name or "",
        object_id=str(target.pk),
        object_repr=str(target)[:200],
        changes=changes or {},
        detail=detail,
    )
