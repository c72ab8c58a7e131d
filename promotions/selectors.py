"""Reads: what the API and the admin show, in one place."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from django.db.models import QuerySet

from .merge import is_text
from .models import Pod, Promotion, Repository
from .scm import adapter_for


class RepositoryNotGranted(Exception):
    pass


class RepositoryRequired(Exception):
    pass


def repository_for(pod: Pod, full_name: str | None) -> Repository:
    """The repository a pod's request targets: the named one if granted, else the
    pod's only repository."""
    granted = pod.repositories.all()
    if full_name:
        repository = granted.filter(full_name=full_name).first()
        if repository is None:
            # Unknown and not-granted read the same: no hint which repositories exist.
            raise RepositoryNotGranted(f"repository '{full_name}' is not granted to this pod")
        return repository
    names = sorted(r.full_name for r in granted)
    if len(names) == 1:
        return granted.get()
    if not names:
        raise RepositoryNotGranted("this pod is not granted any repository")
    raise RepositoryRequired(f"this pod may write to several repositories; name one of: {', '.join(names)}")


def promotions_of(pod: Pod, status: str | None = None) -> QuerySet[Promotion]:
    promotions = Promotion.objects.filter(pod=pod).select_related("repository").order_by("-created_at", "-id")
    if status:
        promotions = promotions.filter(status=status)
    return promotions


def promotion_of(pod: Pod, promotion_id: int) -> Promotion | None:
    return promotions_of(pod).prefetch_related("files").filter(pk=promotion_id).first()


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


class FileNotFound(Exception):
    pass


def current_file(repository: Repository, branch: str, path: str) -> FileVersion:
    """The file as it is on the branch tip, with the blob sha a pod sends back as base_sha."""
    scm = adapter_for(repository)
    head = scm.branch_head(branch)
    if head is None:
        raise FileNotFound(f"branch '{branch}' not found in {repository.full_name}")
    entry = scm.read_entries(head, [path]).get(path)
    if entry is None or entry.kind != "blob":
        raise FileNotFound(f"'{path}' not found on {repository.full_name}@{branch}")
    data = scm.read_blob(entry.sha)
    text = is_text(data)
    return FileVersion(
        repository=repository.full_name,
        branch=branch,
        path=path,
        sha=entry.sha,
        size=len(data),
        encoding="utf-8" if text else "base64",
        content=data.decode("utf-8") if text else base64.b64encode(data).decode(),
        commit_sha=head,
    )
