"""Every write Patchgate makes to its own records goes through these functions,
whether it comes from the API, the admin, a command or the worker."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from .globs import first_match, glob_lines
from .models import ApiKey, Event, FileChange, Pod, Promotion, Repository
from .scm import adapter_for
from .scm.port import ScmError, ScmNotFound

Status = Promotion.Status

KEY_PREFIX = "pgk_"

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


class IllegalTransition(Exception):
    pass


@dataclass(frozen=True)
class Actor:
    kind: str
    name: str
    pod: Pod | None = None
    user: object | None = None

    @classmethod
    def system(cls, name: str = "worker") -> Actor:
        return cls(Event.ActorKind.SYSTEM, name)

    @classmethod
    def of_pod(cls, pod: Pod) -> Actor:
        return cls(Event.ActorKind.POD, pod.name, pod=pod)

    @classmethod
    def of_user(cls, user) -> Actor:
        return cls(Event.ActorKind.USER, user.get_username(), user=user)


def record_event(promotion: Promotion, actor: Actor, from_status: str, to_status: str, detail: str = "") -> Event:
    return Event.objects.create(
        promotion=promotion,
        actor_kind=actor.kind,
        actor_pod=actor.pod,
        actor_user=actor.user,
        actor_name=actor.name,
        from_status=from_status,
        to_status=to_status,
        detail=detail,
    )


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
    with transaction.atomic():
        moved = Promotion.objects.filter(pk=promotion.pk, status=from_status).update(
            status=to_status, updated_at=now, **fields
        )
        if not moved:
            return False
        record_event(promotion, actor, from_status, to_status, detail)
    promotion.status = to_status
    promotion.updated_at = now
    for name, value in fields.items():
        setattr(promotion, name, value)
    return True


# --- pods, keys and repositories -------------------------------------------------


def hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def issue_api_key(pod: Pod, label: str = "") -> str:
    """Create a key for `pod`; the clear text is returned once and never stored."""
    raw_key = KEY_PREFIX + secrets.token_urlsafe(32)
    ApiKey.objects.create(pod=pod, label=label, prefix=raw_key[:12], key_hash=hash_key(raw_key))
    return raw_key


def create_pod(name: str, repositories: list[Repository] = (), require_approval: bool = False) -> tuple[Pod, str]:
    with transaction.atomic():
        pod = Pod.objects.create(name=name, require_approval=require_approval)
        pod.repositories.set(repositories)
        return pod, issue_api_key(pod, label="initial")


def revoke_api_key(api_key: ApiKey) -> None:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])


def rotate_api_key(api_key: ApiKey) -> str:
    """A new key for the same pod and label, the old one revoked at the same moment.
    Returns the new clear-text key (shown once)."""
    with transaction.atomic():
        raw_key = issue_api_key(api_key.pod, api_key.label)
        revoke_api_key(api_key)
    return raw_key


class RepositoryUnreachable(Exception):
    """The backend does not answer for this repository or its default branch."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field  # the setting to correct: full_name or default_branch


def add_repository(full_name: str, backend: str, default_branch: str = "main") -> tuple[Repository, bool]:
    """Register a target repository (or find it registered), as `save_repository` does."""
    repository = Repository.objects.filter(full_name=full_name).first()
    created = repository is None
    if created:
        repository = Repository(full_name=full_name, backend=backend, default_branch=default_branch)
    check_reachable(repository)
    save_repository(repository)
    return repository, created


def check_reachable(repository: Repository) -> None:
    """Patchgate can write there: the repository answers with its default branch.
    A `local` repository not yet on disk passes, since saving it creates it."""
    branch = repository.default_branch
    try:
        head = adapter_for(repository).branch_head(branch)
    except ScmNotFound as error:
        if repository.backend == Repository.Backend.LOCAL:
            return
        raise RepositoryUnreachable(str(error), "full_name") from None
    except ScmError as error:
        raise RepositoryUnreachable(str(error), "full_name") from None
    if head is None:
        raise RepositoryUnreachable(f"branch {branch} not found in {repository.full_name}", "default_branch")


def save_repository(repository: Repository) -> None:
    """Save a repository's settings (after `check_reachable`); a `local` one is created
    on disk with an initial commit if it is not there yet."""
    from .scm.local import init_repository

    with transaction.atomic():
        repository.save()
        if repository.backend == Repository.Backend.LOCAL:
            init_repository(repository.full_name, repository.default_branch)


# --- promotions ------------------------------------------------------------------


@dataclass(frozen=True)
class FileRequest:
    path: str
    operation: str
    encoding: str
    content: bytes | None
    base_given: bool
    base_sha: str | None


@dataclass(frozen=True)
class PromotionRequest:
    repository: Repository
    branch: str
    commit_message: str
    reasoning_trace: str
    metadata: dict
    atomic: bool
    mode: str
    files: list[FileRequest]
    idempotency_key: str | None = None

    def paths_breaking_base_policy(self) -> list[str]:
        """Files written without saying which version was read, where the repository
        requires it (deleting or creating only is a base too)."""
        if not self.repository.require_base:
            return []
        return [f.path for f in self.files if not f.base_given]

    def fingerprint(self) -> str:
        """What makes two requests 'the same body' for idempotent replays."""
        canonical = {
            "repository": self.repository.full_name,
            "branch": self.branch,
            "commit_message": self.commit_message,
            "reasoning_trace": self.reasoning_trace,
            "metadata": self.metadata,
            "atomic": self.atomic,
            "mode": self.mode,
            "files": [
                [f.path, f.operation, f.base_given, f.base_sha, hashlib.sha256(f.content or b"").hexdigest()]
                for f in self.files
            ],
        }
        return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


class IdempotencyMismatch(Exception):
    """The key was used before with a different body."""


def submit_promotion(pod: Pod, request: PromotionRequest) -> tuple[Promotion, bool]:
    """Record the promotion and its files in one transaction and queue it once that
    commits. Returns (promotion, created); a replay of an idempotency key returns the
    original promotion with created False."""
    fingerprint = request.fingerprint()
    if request.idempotency_key:
        existing = _replayed_promotion(pod, request.idempotency_key, fingerprint)
        if existing:
            return existing, False
    try:
        with transaction.atomic():
            promotion = Promotion.objects.create(
                pod=pod,
                repository=request.repository,
                branch=request.branch,
                commit_message=request.commit_message,
                reasoning_trace=request.reasoning_trace,
                metadata=request.metadata,
                atomic=request.atomic,
                mode=request.mode,
                idempotency_key=request.idempotency_key,
                request_fingerprint=fingerprint,
            )
            FileChange.objects.bulk_create(
                FileChange(
                    promotion=promotion,
                    position=position,
                    path=file.path,
                    operation=file.operation,
                    encoding=file.encoding,
                    content=file.content,
                    base_given=file.base_given,
                    base_sha=file.base_sha,
                )
                for position, file in enumerate(request.files)
            )
            actor = Actor.of_pod(pod)
            record_event(promotion, actor, "", Status.PENDING, "submitted")
            policy = approval_policy(pod, request)
            if policy:
                transition(promotion, Status.AWAITING_APPROVAL, Actor.system("approval policy"), policy)
            else:
                transition(promotion, Status.QUEUED, actor)
                _enqueue_on_commit(promotion)
    except IntegrityError:
        # A concurrent request with the same idempotency key won the race.
        if request.idempotency_key:
            existing = _replayed_promotion(pod, request.idempotency_key, fingerprint)
            if existing:
                return existing, False
        raise
    return promotion, True


def approval_policy(pod: Pod, request: PromotionRequest) -> str | None:
    """Which policy makes this promotion wait for a lead's approval, or None."""
    repository = request.repository
    if pod.require_approval:
        return f"pod {pod.name} requires approval"
    if repository.require_approval:
        return f"repository {repository.full_name} requires approval"
    globs = glob_lines(repository.approval_path_globs)
    for file in request.files:
        glob = first_match(globs, file.path)
        if glob:
            return f"{file.path} matches {glob}, which requires approval in {repository.full_name}"
    return None


def _replayed_promotion(pod: Pod, key: str, fingerprint: str) -> Promotion | None:
    existing = Promotion.objects.filter(pod=pod, idempotency_key=key).first()
    if existing and existing.request_fingerprint != fingerprint:
        raise IdempotencyMismatch(f"Idempotency-Key {key!r} was already used with a different body")
    return existing


def _enqueue_on_commit(promotion: Promotion) -> None:
    from .tasks import enqueue_lane

    repository_id, branch = promotion.repository_id, promotion.branch
    transaction.on_commit(lambda: enqueue_lane(repository_id, branch))


def requeue(promotion: Promotion, actor: Actor, detail: str = "") -> bool:
    """Queue a promotion again (a retry after failure or conflict, or an approval)."""
    with transaction.atomic():
        moved = transition(promotion, Status.QUEUED, actor, detail, not_before=None, last_error="")
        if moved:
            promotion.files.update(status=FileChange.Status.PENDING, old_sha="", new_sha="", message="")
            _enqueue_on_commit(promotion)
    return moved


# --- a lead's decisions (the admin) ----------------------------------------------

APPROVE_PERMISSION = "promotions.approve_promotion"
RETRY_PERMISSION = "promotions.change_promotion"
RETRYABLE_STATUSES = frozenset({Status.FAILED, Status.CONFLICT})


def can_approve(user) -> bool:
    # A Pod has no is_staff: pods never decide, least of all on their own work.
    return getattr(user, "is_staff", False) and user.has_perm(APPROVE_PERMISSION)


def can_retry(user) -> bool:
    return getattr(user, "is_staff", False) and user.has_perm(RETRY_PERMISSION)


def _require_status(promotion: Promotion, allowed, verb: str) -> None:
    # `transition` alone would let a retry approve, or an approval retry.
    if promotion.status not in allowed:
        raise IllegalTransition(f"promotion #{promotion.pk} is {promotion.status}: it cannot be {verb}")


def approve(promotion: Promotion, user) -> bool:
    """Let a promotion waiting for approval land. Pods cannot call this: only a staff
    user holding the approve permission, so a pod never approves its own work."""
    if not can_approve(user):
        raise PermissionDenied("approving needs the 'approve promotion' permission")
    _require_status(promotion, {Status.AWAITING_APPROVAL}, "approved")
    return requeue(promotion, Actor.of_user(user), "approved")


def reject(promotion: Promotion, user, reason: str) -> bool:
    """Refuse a promotion waiting for approval; nothing of it lands."""
    if not can_approve(user):
        raise PermissionDenied("rejecting needs the 'approve promotion' permission")
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": ["Say why the promotion is rejected."]})
    _require_status(promotion, {Status.AWAITING_APPROVAL}, "rejected")
    return transition(promotion, Status.REJECTED, Actor.of_user(user), reason, last_error=f"rejected: {reason}")


def retry(promotion: Promotion, user) -> bool:
    """Queue a failed or conflicted promotion again: the worker re-reads the branch."""
    if not can_retry(user):
        raise PermissionDenied("retrying needs the 'change promotion' permission")
    _require_status(promotion, RETRYABLE_STATUSES, "retried")
    return requeue(promotion, Actor.of_user(user), "retried")
