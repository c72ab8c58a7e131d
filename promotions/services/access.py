"""Who may write where: pods and their settings, their API keys (issued, rotated,
revoked; only a hash is kept), and the repositories Patchgate writes to. Every
action takes its actor and writes an audit row in the same transaction."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from ..audit import Actor, Changes, record_audit
from ..auth import access_changed
from ..errors import InvalidRequest
from ..keys import hash_key, new_raw_key
from ..models import ApiKey, Pod, Repository
from ..scm import adapter_for
from ..scm.local import init_repository
from ..scm.port import ScmError, ScmNotFound
from ..throttling import rate_problem
from ..validation import branch_problem, repository_name_problem, trace_path

# --- keys -------------------------------------------------------------------------


def key_issue(*, pod: Pod, actor: Actor, label: str = "") -> str:
    """Create a key for `pod`; the clear text is returned once and never stored."""
    raw_key = new_raw_key()
    with transaction.atomic():
        api_key = ApiKey.objects.create(pod=pod, label=label, prefix=raw_key[:12], key_hash=hash_key(raw_key))
        record_audit(actor, "key.issue", api_key, detail=f"for pod {pod.name}" + (f" ({label})" if label else ""))
    return raw_key


def key_revoke(*, api_key: ApiKey, actor: Actor) -> bool:
    """Revoke a key (it answers 401 from then on). False when it already was."""
    with transaction.atomic():
        revoked = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        if revoked:
            access_changed()  # an UPDATE sends no signal
            api_key.refresh_from_db(fields=["revoked_at"])
            record_audit(actor, "key.revoke", api_key, detail=f"of pod {api_key.pod.name}")
    return bool(revoked)


def key_rotate(*, api_key: ApiKey, actor: Actor) -> str:
    """A new key for the same pod and label, the old one revoked at the same moment.
    Returns the new clear-text key (shown once)."""
    with transaction.atomic():
        raw_key = key_issue(pod=api_key.pod, actor=actor, label=api_key.label)
        key_revoke(api_key=api_key, actor=actor)
        record_audit(actor, "key.rotate", api_key, detail=f"replaced by {raw_key[:12]}…")
    return raw_key


# --- pods ---------------------------------------------------------------------------


def pod_check(pod: Pod) -> None:
    """Raises InvalidRequest naming each field that keeps `pod` from being saved."""
    errors: dict[str, list[str]] = {}
    if not pod.name.strip():
        errors["name"] = ["Must not be empty."]
    rate = pod.throttle_rate.strip()
    problem = rate and rate_problem(rate)
    if problem:
        errors["throttle_rate"] = [f"Throttle rate {problem}."]
    if errors:
        raise InvalidRequest(errors)


def pod_create(
    *,
    name: str,
    actor: Actor,
    repositories: Iterable[Repository] = (),
    require_approval: bool = False,
    branch_globs: Iterable[str] = (),
    allowed_path_globs: Iterable[str] = (),
    denied_path_globs: Iterable[str] = (),
) -> tuple[Pod, str]:
    """A new pod with its scopes and a first key. Returns (pod, clear-text key)."""
    if Pod.objects.filter(name=name).exists():
        raise InvalidRequest({"name": [f"pod '{name}' already exists"]})
    pod = Pod(
        name=name,
        require_approval=require_approval,
        branch_globs="\n".join(branch_globs),
        allowed_path_globs="\n".join(allowed_path_globs),
        denied_path_globs="\n".join(denied_path_globs),
    )
    repositories = list(repositories)
    with transaction.atomic():
        pod_save(
            pod=pod, actor=actor, changes=_initial_values(pod, repositories=sorted(r.full_name for r in repositories))
        )
        pod.repositories.set(repositories)
        raw_key = key_issue(pod=pod, actor=actor, label="initial")
    return pod, raw_key


def pod_save(*, pod: Pod, actor: Actor, changes: Changes) -> None:
    """Save a new or changed pod (name, scopes, limits, approval) and record what
    changed (`changes`: field -> [before, after], as the caller saw them)."""
    pod_check(pod)
    created = pod.pk is None
    with transaction.atomic():
        pod.save()
        record_audit(actor, "pod.create" if created else "pod.change", pod, changes)


# --- repositories -----------------------------------------------------------------


# Settings that decide where Patchgate writes: changing one re-checks the repository.
WHERE_FIELDS = frozenset({"full_name", "backend", "default_branch"})


class RepositoryUnreachable(InvalidRequest):
    """The backend does not answer for this repository or its default branch."""


def repository_check(repository: Repository, changed: set[str]) -> None:
    """Raises InvalidRequest naming each field that keeps `repository` from being
    saved; a new one, or one whose `changed` fields move where Patchgate writes,
    must answer (RepositoryUnreachable)."""
    errors: dict[str, list[str]] = {}
    problem = repository_name_problem(repository.full_name)
    if problem:
        errors["full_name"] = [f"{repository.full_name!r} {problem}."]
    problem = branch_problem(repository.default_branch)
    if problem:
        errors["default_branch"] = [f"{repository.default_branch!r} {problem}."]
    if repository.commit_path not in Repository.CommitPath.values:
        errors["commit_path"] = [f"Must be one of: {', '.join(Repository.CommitPath.values)}."]
    if repository.trace_path_template:
        try:
            trace_path(repository.trace_path_template, promotion_id=1, pod="pod")
        except ValueError as problem_text:
            errors["trace_path_template"] = [f"Trace path template: {problem_text}."]
    if errors:
        raise InvalidRequest(errors)
    if repository.pk is None or WHERE_FIELDS & changed:
        repository_check_reachable(repository)


def repository_check_reachable(repository: Repository) -> None:
    """Patchgate can write there: the repository answers with its default branch.
    A `local` repository not yet on disk passes, since saving it creates it."""
    branch = repository.default_branch
    try:
        head = adapter_for(repository).branch_head(branch)
    except ScmNotFound as error:
        if repository.backend == Repository.Backend.LOCAL:
            return
        raise RepositoryUnreachable({"full_name": [str(error)]}) from None
    except ScmError as error:
        raise RepositoryUnreachable({"full_name": [str(error)]}) from None
    if head is None:
        raise RepositoryUnreachable({"default_branch": [f"branch {branch} not found in {repository.full_name}"]})


def repository_register(
    *, full_name: str, backend: str, actor: Actor, default_branch: str = "main", commit_path: str = "auto"
) -> tuple[Repository, bool]:
    """Register a target repository, or find it registered with the same settings.
    Returns (repository, created). `commit_path` (github: auto, graphql or rest) is
    the new repository's; a registered one keeps its own (the admin changes it)."""
    repository = Repository.objects.filter(full_name=full_name).first()
    if repository is not None:
        if repository.backend != backend or repository.default_branch != default_branch:
            raise InvalidRequest(
                {
                    "full_name": [
                        f"already registered ({repository.backend}, default branch {repository.default_branch})"
                    ]
                }
            )
        return repository, False
    repository = Repository(
        full_name=full_name, backend=backend, default_branch=default_branch, commit_path=commit_path
    )
    repository_save(repository=repository, actor=actor, changes=_initial_values(repository))
    return repository, True


def repository_save(*, repository: Repository, actor: Actor, changes: Changes) -> None:
    """Save a new or changed repository after checking its settings (and that it
    answers, when where it lives changed); a `local` one is created on disk with an
    initial commit if it is not there yet."""
    repository_check(repository, set(changes))
    created = repository.pk is None
    with transaction.atomic():
        repository.save()
        record_audit(actor, "repository.register" if created else "repository.change", repository, changes)
        if repository.backend == Repository.Backend.LOCAL:
            init_repository(repository.full_name, repository.default_branch)


def _initial_values(obj, **extra) -> Changes:
    """The audit's 'before -> after' of a new object: every set field from nothing."""
    fields = [f for f in obj._meta.concrete_fields if not f.primary_key and not f.auto_created]
    values = {f.name: f.value_from_object(obj) for f in fields if f.name != "created_at"}
    values.update(extra)
    return {name: [None, value] for name, value in values.items() if value not in ("", None, [], False)}
