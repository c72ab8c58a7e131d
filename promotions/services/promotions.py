"""Promotions: a pod submits one (every rule of a submission is checked here, so
no caller can skip one), and a lead approves, rejects or retries it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import NamedTuple

from django.db import IntegrityError, transaction

from .. import scopes, selectors
from ..audit import Actor, IllegalTransition, event_values, record_audit, transition
from ..conf import setting
from ..engine.outcomes import settle_files
from ..errors import IdempotencyMismatch, InvalidRequest, NotAllowed, OutOfScope, TooLarge
from ..globs import first_match, glob_lines
from ..models import FileChange, Pod, Promotion, Repository
from ..tasks import wake_lane
from ..validation import branch_problem, idempotency_key_problem, path_problem, path_twins, twin_problem
from .branches import missing_branch_errors
from .rows import insert_submission

Status = Promotion.Status
MAX_COMMIT_MESSAGE = 10_000
FILE_MODES = FileChange.Mode.values  # a regular or an executable file, as git writes them


@dataclass(frozen=True)
class FileRequest:
    """One file of a submission, its content decoded. `base_given` tells a left-out
    base_sha (last writer wins) from a null one (create only)."""

    path: str
    operation: str = FileChange.Operation.UPSERT
    encoding: str = FileChange.Encoding.UTF8
    content: bytes | None = None
    base_given: bool = False
    base_sha: str | None = None
    mode: str = ""  # "" keeps an existing file's mode (a new file: 100644)


@dataclass(frozen=True)
class PromotionRequest:
    """What a pod asks for, as it asked: the repository by name (None: its only one),
    the branch (None: the repository's default), the mode (None: the repository's)."""

    files: list[FileRequest]
    commit_message: str
    repository: str | None = None
    branch: str | None = None
    reasoning_trace: str = ""
    metadata: dict = field(default_factory=dict)
    atomic: bool = True
    mode: str | None = None
    wait: int = 0
    idempotency_key: str | None = None
    base_branch: str | None = None  # where to create `branch` from if it does not exist


def promotion_submit(*, pod: Pod, request: PromotionRequest) -> tuple[Promotion, bool]:
    """Check every rule, record the promotion and its files in one transaction and
    queue it once that commits. Returns (promotion, created); a replay of an
    idempotency key returns the original promotion with created False.

    Raises InvalidRequest (400), OutOfScope (403), TooLarge (413) or
    IdempotencyMismatch (422), naming the request's fields; nothing is stored then."""
    _check_request(request)
    repository = selectors.repository_for(pod, request.repository)
    branch = request.branch or repository.default_branch
    paths_by_field = {f"files[{index}].path": file.path for index, file in enumerate(request.files)}
    scope_errors = scopes.scope_errors(pod, branch, paths_by_field)
    # The base is read into a branch the pod may read: it must be one the pod may use.
    base_problem = request.base_branch is not None and scopes.branch_problem(pod, request.base_branch)
    if base_problem:
        scope_errors["base_branch"] = [base_problem]
    if scope_errors:
        raise OutOfScope(scope_errors)
    _check_sizes(request.files)
    _check_base_policy(repository, request.files)
    # Hashing every file's content is for replays only: without a key there are none.
    fingerprint = _fingerprint(repository, branch, request) if request.idempotency_key else ""
    if request.idempotency_key:
        existing = _replayed_promotion(pod, request.idempotency_key, fingerprint)
        if existing:
            return existing, False
    missing = missing_branch_errors(repository, branch, request.base_branch)
    if missing:
        raise InvalidRequest(missing)
    try:
        promotion = _record(pod, repository, branch, request, fingerprint)
    except IntegrityError:
        # A concurrent request with the same idempotency key won the race.
        if request.idempotency_key:
            existing = _replayed_promotion(pod, request.idempotency_key, fingerprint)
            if existing:
                return existing, False
        raise
    return promotion, True


def _check_request(request: PromotionRequest) -> None:
    errors: dict[str, list[str]] = {}
    if not request.commit_message.strip():
        errors["commit_message"] = ["Must not be blank."]
    elif len(request.commit_message) > MAX_COMMIT_MESSAGE:
        errors["commit_message"] = [f"At most {MAX_COMMIT_MESSAGE} characters."]
    for name, value in (("branch", request.branch), ("base_branch", request.base_branch)):
        problem = value is not None and branch_problem(value)
        if problem:
            errors[name] = [f"{value!r} {problem}."]
    problem = request.idempotency_key is not None and idempotency_key_problem(request.idempotency_key)
    if problem:
        errors["Idempotency-Key"] = [problem]
    if request.mode is not None and request.mode not in Promotion.Mode.values:
        errors["mode"] = [f"Must be one of: {', '.join(Promotion.Mode.values)}."]
    max_files = setting("MAX_FILES_PER_PROMOTION")
    if not request.files:
        errors["files"] = ["At least one file."]
    elif len(request.files) > max_files:
        errors["files"] = [f"At most {max_files} files per promotion; got {len(request.files)}."]
    seen: set[str] = set()
    duplicates: set[str] = set()
    for index, file in enumerate(request.files):
        problem = path_problem(file.path)
        if problem:
            errors[f"files[{index}].path"] = [f"{file.path!r} {problem}."]
        if file.path in seen:
            duplicates.add(file.path)
        seen.add(file.path)
        deleting = file.operation == FileChange.Operation.DELETE
        if file.mode and (deleting or file.mode not in FILE_MODES):
            errors[f"files[{index}].mode"] = [
                "Must be left out when operation is 'delete'."
                if deleting
                else f"Must be one of: {', '.join(FILE_MODES)}."
            ]
        if deleting != (file.content is None):
            errors[f"files[{index}].content"] = [
                "Must be left out when operation is 'delete'." if deleting else "This field is required."
            ]
    if duplicates and "files" not in errors:
        errors["files"] = [f"Duplicate paths in one batch: {', '.join(sorted(duplicates))}."]
    # Case and normalisation twins, and a file that is also a folder (`t/fd`, `t/fd/x`).
    index_of = {file.path: index for index, file in enumerate(request.files)}
    for earlier, later in path_twins(file.path for file in request.files):
        errors.setdefault(f"files[{index_of[later]}].path", []).append(f"{later!r} {twin_problem(later, earlier)}.")
    if errors:
        raise InvalidRequest(errors)


def _check_sizes(files: list[FileRequest]) -> None:
    """Decoded sizes over the limits (413, not 400), by request field."""
    max_file, max_total = setting("MAX_FILE_BYTES"), setting("MAX_PROMOTION_BYTES")
    sizes = [len(file.content or b"") for file in files]
    errors = {
        f"files[{index}].content": [f"{size} bytes once decoded; at most {max_file} per file."]
        for index, size in enumerate(sizes)
        if size > max_file
    }
    if sum(sizes) > max_total:
        errors["files"] = [f"{sum(sizes)} bytes once decoded; at most {max_total} per promotion."]
    if errors:
        raise TooLarge(errors)


def _check_base_policy(repository: Repository, files: list[FileRequest]) -> None:
    """Where the repository requires it, every file says which version was read
    (deleting or creating only is a base too)."""
    if not repository.require_base:
        return
    unbased = [f.path for f in files if not f.base_given]
    if unbased:
        raise InvalidRequest(
            {"files": [f"{repository.full_name} requires base_sha on every file; missing for: {', '.join(unbased)}"]}
        )


def _fingerprint(repository: Repository, branch: str, request: PromotionRequest) -> str:
    """What makes two requests 'the same body' for idempotent replays."""
    canonical = {
        "repository": repository.full_name,
        "branch": branch,
        "commit_message": request.commit_message,
        "reasoning_trace": request.reasoning_trace,
        "metadata": request.metadata,
        "atomic": request.atomic,
        "mode": request.mode or repository.default_mode,
        # Only when given, so that the fingerprints of earlier requests stay the same.
        **({"base_branch": request.base_branch} if request.base_branch is not None else {}),
        "files": [
            # A mode only when given, so that the fingerprints of earlier requests stay the same.
            [f.path, f.operation, f.base_given, f.base_sha, hashlib.sha256(f.content or b"").hexdigest()]
            + ([f.mode] if f.mode else [])
            for f in request.files
        ],
    }
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


def _record(pod: Pod, repository: Repository, branch: str, request: PromotionRequest, fingerprint: str) -> Promotion:
    """The promotion, born in the status its first transition would give it (queued,
    or awaiting approval), its files, and the two events that transition and the
    submission record: inserted together, nothing read back (services.rows). The rows
    written are kept on `promotion.result_rows` (SubmittedFile) for the answer."""
    actor = Actor.of_pod(pod)
    policy = approval_policy(pod, repository, [file.path for file in request.files])
    status = Status.AWAITING_APPROVAL if policy else Status.QUEUED
    promotion = Promotion(
        pod=pod,
        repository=repository,
        branch=branch,
        base_branch=request.base_branch or "",
        commit_message=request.commit_message,
        reasoning_trace=request.reasoning_trace,
        metadata=request.metadata,
        atomic=request.atomic,
        mode=request.mode or repository.default_mode,
        idempotency_key=request.idempotency_key,
        request_fingerprint=fingerprint,
        status=status,
    )
    rows = [
        {
            "position": position,
            "path": file.path,
            "operation": file.operation,
            "encoding": file.encoding,
            "content": file.content,
            "base_given": file.base_given,
            "base_sha": file.base_sha,
            "mode": file.mode,
        }
        for position, file in enumerate(request.files)
    ]
    moved = (
        event_values(Actor.system("approval policy"), Status.PENDING, status, policy)
        if policy
        else event_values(actor, Status.PENDING, status)
    )
    insert_submission(promotion, rows, [event_values(actor, "", Status.PENDING, "submitted"), moved])
    if not policy:
        _enqueue_on_commit(promotion)
    # The answer never shows the content: a caller waiting for the outcome does not hold it.
    promotion.result_rows = [SubmittedFile(file.path, file.operation) for file in request.files]  # type: ignore[attr-defined]
    return promotion


class SubmittedFile(NamedTuple):
    """A file row as its submission wrote it, for the answer (api.serializers)."""

    path: str
    operation: str
    status: str = FileChange.Status.PENDING
    old_sha: str = ""
    new_sha: str = ""
    message: str = ""


def approval_policy(pod: Pod, repository: Repository, paths: list[str]) -> str | None:
    """Which policy makes this promotion wait for a lead's approval, or None."""
    if pod.require_approval:
        return f"pod {pod.name} requires approval"
    if repository.require_approval:
        return f"repository {repository.full_name} requires approval"
    globs = glob_lines(repository.approval_path_globs)
    for path in paths:
        glob = first_match(globs, path)
        if glob:
            return f"{path} matches {glob}, which requires approval in {repository.full_name}"
    return None


def _replayed_promotion(pod: Pod, key: str, fingerprint: str) -> Promotion | None:
    existing = Promotion.objects.filter(pod=pod, idempotency_key=key).first()
    if existing and existing.request_fingerprint != fingerprint:
        raise IdempotencyMismatch(detail=f"Idempotency-Key {key!r} was already used with a different body")
    return existing


def _enqueue_on_commit(promotion: Promotion) -> None:
    repository_id, branch = promotion.repository_id, promotion.branch
    transaction.on_commit(lambda: wake_lane(repository_id, branch))


def promotion_requeue(*, promotion: Promotion, actor: Actor, detail: str = "") -> bool:
    """Queue a promotion again (a retry after failure or conflict, or an approval)."""
    with transaction.atomic():
        moved = transition(
            promotion, Status.QUEUED, actor, detail, not_before=None, last_error="", transient_errors=0, started_at=None
        )
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


def _decided(promotion: Promotion, actor: Actor, action: str, moved: bool, detail: str = "") -> bool:
    if moved:
        record_audit(actor, f"promotion.{action}", promotion, detail=detail)
    return moved


def promotion_approve(*, promotion: Promotion, acting_user) -> bool:
    """Let a promotion waiting for approval land. Pods cannot call this: only a staff
    user holding the approve permission, so a pod never approves its own work."""
    if not can_approve(acting_user):
        raise NotAllowed(detail="approving needs the 'approve promotion' permission")
    _require_status(promotion, {Status.AWAITING_APPROVAL}, "approved")
    actor = Actor.of_user(acting_user)
    with transaction.atomic():
        return _decided(
            promotion, actor, "approve", promotion_requeue(promotion=promotion, actor=actor, detail="approved")
        )


def promotion_reject(*, promotion: Promotion, acting_user, reason: str) -> bool:
    """Refuse a promotion waiting for approval; nothing of it lands."""
    if not can_approve(acting_user):
        raise NotAllowed(detail="rejecting needs the 'approve promotion' permission")
    reason = reason.strip()
    if not reason:
        raise InvalidRequest({"reason": ["Say why the promotion is rejected."]})
    _require_status(promotion, {Status.AWAITING_APPROVAL}, "rejected")
    actor = Actor.of_user(acting_user)
    with transaction.atomic():
        moved = transition(promotion, Status.REJECTED, actor, reason, last_error=f"rejected: {reason}")
        if moved:
            settle_files(promotion, f"rejected by {actor.name}: {reason}")
        return _decided(promotion, actor, "reject", moved, reason)


def retry_refusal(promotion: Promotion) -> str | None:
    """Why a retry cannot change this promotion's outcome, or None when it can: a failed
    one (the host, the credentials or the branch may have changed since), or a conflict
    the branch alone can undo (a file to create that now exists, a twin name). A file
    that changed since the pod read it conflicts again on every retry: the request
    carries the same base_sha and content, and only the pod can redo its edit."""
    if promotion.status not in RETRYABLE_STATUSES:
        return f"promotion #{promotion.pk} is {promotion.status}: it cannot be retried"
    stale = promotion.files.filter(status=FileChange.Status.CONFLICT, base_sha__isnull=False).exclude(base_sha="")
    path = stale.values_list("path", flat=True).first() if promotion.status == Status.CONFLICT else None
    if path is None:
        return None
    return (
        f"promotion #{promotion.pk} cannot be retried: '{path}' changed on the branch since the pod read it, and a "
        "retry sends the same base_sha and content, so it would conflict again. The pod must read the file again "
        "(getFile) and promote its edit anew."
    )


def promotion_retry(*, promotion: Promotion, acting_user) -> bool:
    """Queue a failed or conflicted promotion again, where that can change its outcome
    (retry_refusal): the worker re-reads the branch."""
    if not can_retry(acting_user):
        raise NotAllowed(detail="retrying needs the 'change promotion' permission")
    refusal = retry_refusal(promotion)
    if refusal:
        raise IllegalTransition(refusal)
    actor = Actor.of_user(acting_user)
    with transaction.atomic():
        return _decided(
            promotion, actor, "retry", promotion_requeue(promotion=promotion, actor=actor, detail="retried")
        )
