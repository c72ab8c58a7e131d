"""Reads: what the API, the MCP endpoint and the admin show, in one place."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from django.db.models import QuerySet

from . import scopes
from .conf import setting
from .errors import InvalidRequest, NotFound, OutOfScope, TooLarge
from .merge import is_text
from .models import FileChange, Pod, Promotion, Repository
from .prepared import PreparedQuery, columns, instance
from .scm import adapter_for
from .scm.port import SYMLINK_MODE
from .settling import SETTLED_STATUSES, wait_slot, wait_until
from .validation import branch_problem, path_problem

# What a status document shows of a file: its outcome, never its content.
RESULT_FIELDS = ["promotion_id", "position", "path", "operation", "status", "old_sha", "new_sha", "message"]


def repository_for(pod: Pod, full_name: str | None) -> Repository:
    """The repository a pod's request targets: the named one if granted, else the
    pod's only repository. Raises OutOfScope (not granted) or InvalidRequest
    (several granted, none named). An authenticated pod brings its repositories
    (promotions.auth); another is asked for them."""
    granted = getattr(pod, "granted_repositories", None)
    if granted is None:
        granted = list(pod.repositories.all())
    if full_name:
        repository = next((r for r in granted if r.full_name == full_name), None)
        if repository is None:
            # Unknown and not-granted read the same: no hint which repositories exist.
            raise OutOfScope({"repository": [f"repository '{full_name}' is not granted to this pod"]})
        return repository
    if len(granted) == 1:
        return granted[0]
    if not granted:
        raise OutOfScope({"repository": ["this pod is not granted any repository"]})
    names = sorted(r.full_name for r in granted)
    raise InvalidRequest(
        {"repository": [f"this pod may write to several repositories; name one of: {', '.join(names)}"]}
    )


def promotions_of(pod: Pod, status: str | None = None) -> QuerySet[Promotion]:
    promotions = Promotion.objects.filter(pod=pod).select_related("repository").order_by("-created_at", "-id")
    if status:
        promotions = promotions.filter(status=status)
    return promotions


def promotion_of(pod: Pod, promotion_id: int) -> Promotion | None:
    """A pod's promotion as its status document shows it, in two prepared queries: the
    promotion (no trace) with its repository, and its files' outcomes without their
    content (a 50 MB promotion reads as fast as a small one), on `result_rows`."""
    if not 0 < promotion_id <= MAX_ID:
        return None
    rows = _PROMOTION.rows(pod.pk, promotion_id)
    if not rows:
        return None
    promotion = instance(Promotion, rows[0][: len(_PROMOTION_FIELDS)], _PROMOTION_FIELDS)
    promotion.repository = instance(Repository, rows[0][len(_PROMOTION_FIELDS) :])
    promotion.result_rows = [  # type: ignore[attr-defined]
        instance(FileChange, row, RESULT_FIELDS) for row in _RESULTS.rows(promotion.pk)
    ]
    return promotion


MAX_ID = 2**63 - 1  # a bigint: larger ids are no promotion's
_PROMOTION_FIELDS = [name for name in columns(Promotion) if name != "reasoning_trace"]
_PROMOTION = PreparedQuery(
    lambda pod_id, promotion_id: (
        Promotion.objects.filter(pod_id=pod_id, pk=promotion_id)
        .order_by()
        .values_list(*_PROMOTION_FIELDS, *columns(Repository, "repository__"))
    ),
    -7_000_000_001,
    -7_000_000_002,
)
_RESULTS = PreparedQuery(
    lambda promotion_id: (
        FileChange.objects.filter(promotion_id=promotion_id).order_by("position").values_list(*RESULT_FIELDS)
    ),
    -7_000_000_003,
)


_STATUS = PreparedQuery(
    lambda promotion_id: Promotion.objects.filter(pk=promotion_id).values_list("status"), -7_000_000_004
)


def promotion_wait(*, promotion: Promotion, seconds: float) -> Promotion:
    """Wait at most `seconds` for the promotion to end or to wait for a lead, and
    return it with its status as it settled (named by the notification that woke the
    wait, or read again). Returns at once when this web process has
    no waiting slot left for the pod (promotions.settling): the caller answers with
    the status as it is, and the pod polls its status_url."""

    def settled() -> bool:
        [(promotion.status,)] = _STATUS.rows(promotion.pk)
        return promotion.status in SETTLED_STATUSES

    with wait_slot(promotion.pod_id) as may_wait:
        if may_wait and seconds > 0:
            promotion.status = wait_until(promotion.pk, settled, seconds) or promotion.status
    return promotion


@dataclass(frozen=True)
class FileVersion:
    repository: str
    branch: str
    path: str
    sha: str
    size: int
    encoding: str
    content: str
    commit_sha: str
    mode: str  # 100644, 100755 (executable) or 120000 (a symbolic link: its content is where it points)
    type: str  # "file" or "symlink"


@dataclass(frozen=True)
class FileVersions:
    """Several files read together at one commit of a branch; `missing`: the paths that
    are no file there."""

    repository: str
    branch: str
    commit_sha: str
    files: list[FileVersion]
    missing: list[str]


MAX_FILES_PER_READ = 100


def _read_target(
    pod: Pod, paths_by_field: dict[str, str], branch: str | None, repository: str | None
) -> tuple[Repository, str]:
    """Every rule of a pod's read: valid paths and branch, a granted repository, the
    pod's scope. Returns (repository, branch); raises InvalidRequest, OutOfScope."""
    errors = {}
    for field, path in paths_by_field.items():
        problem = path_problem(path)
        if problem:
            errors[field] = [f"{path!r} {problem}."]
    problem = branch and branch_problem(branch)
    if problem:
        errors["branch"] = [f"{branch!r} {problem}."]
    if errors:
        raise InvalidRequest(errors)
    target = repository_for(pod, repository)
    branch = branch or target.default_branch
    scope_errors = scopes.scope_errors(pod, branch, paths_by_field)
    if scope_errors:
        raise OutOfScope(scope_errors)
    return target, branch


def file_for_pod(*, pod: Pod, path: str, branch: str | None = None, repository: str | None = None) -> FileVersion:
    """A file as `pod` may read it: in a granted repository, within its scope.
    Raises InvalidRequest, OutOfScope or NotFound naming the field."""
    target, branch = _read_target(pod, {"path": path}, branch, repository)
    versions = current_files(target, branch, [path])
    if not versions.files:
        raise NotFound(detail=f"'{path}' not found on {target.full_name}@{branch}")
    return versions.files[0]


def files_for_pod(
    *, pod: Pod, paths: list[str], branch: str | None = None, repository: str | None = None
) -> FileVersions:
    """Several files as `pod` may read them, every rule of file_for_pod applied to each
    (`paths[i]`), read together at one commit (on GitHub in one request). A path that
    is no file is listed in `missing`; at most MAX_FILES_PER_READ paths and
    MAX_PROMOTION_BYTES of content (TooLarge naming `paths`)."""
    if not paths:
        raise InvalidRequest({"paths": ["Give at least one path."]})
    if len(paths) > MAX_FILES_PER_READ:
        raise InvalidRequest({"paths": [f"{len(paths)} paths; at most {MAX_FILES_PER_READ} in one read."]})
    seen: dict[str, int] = {}
    for index, path in enumerate(paths):
        if path in seen:
            raise InvalidRequest({f"paths[{index}]": [f"{path!r} is given twice (also paths[{seen[path]}])."]})
        seen[path] = index
    target, branch = _read_target(pod, {f"paths[{i}]": path for i, path in enumerate(paths)}, branch, repository)
    versions = current_files(target, branch, paths)
    size, limit = sum(version.size for version in versions.files), setting("MAX_PROMOTION_BYTES")
    if size > limit:
        raise TooLarge({"paths": [f"these files hold {size} bytes; at most {limit} in one read: ask for fewer."]})
    return versions


def current_files(repository: Repository, branch: str, paths: list[str]) -> FileVersions:
    """The files as they are on the branch tip, each with the blob sha a pod sends back
    as base_sha. Raises NotFound when the branch does not exist."""
    found = adapter_for(repository).read_files(branch, paths)
    if found is None:
        raise NotFound(detail=f"branch '{branch}' not found in {repository.full_name}")
    head, files = found
    versions = []
    for path in paths:
        if path not in files:
            continue
        data = files[path].content
        text = is_text(data)
        versions.append(
            FileVersion(
                repository=repository.full_name,
                branch=branch,
                path=path,
                sha=files[path].sha,
                size=len(data),
                encoding="utf-8" if text else "base64",
                content=data.decode("utf-8") if text else base64.b64encode(data).decode(),
                commit_sha=head,
                mode=files[path].mode,
                type="symlink" if files[path].mode == SYMLINK_MODE else "file",
            )
        )
    missing = [path for path in paths if path not in files]
    return FileVersions(repository.full_name, branch, head, versions, missing)
