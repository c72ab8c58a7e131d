"""One interface over a target repository for the contract tests, whatever its
backend: commit directly (as another writer would), read files and history."""

from __future__ import annotations

from promotions import engine, services
from promotions.merge import blob_sha
from promotions.models import Promotion
from promotions.scm import adapter_for
from promotions.scm.port import TreeWrite

OTHER_WRITER = ("Someone Else", "someone@example.invalid")


class Target:
    def __init__(self, repository):
        self.repository = repository

    @property
    def scm(self):
        return adapter_for(self.repository)

    def head(self, branch="main") -> str:
        return self.scm.branch_head(branch)

    def commit_directly(self, files: dict[str, bytes | None], message="direct change", branch="main", mode="100644") -> str:
        """Another writer moves the branch, outside Patchgate."""
        scm = self.scm
        head = scm.branch_head(branch)
        sha = scm.write_commit(head, [TreeWrite(p, c, mode) for p, c in files.items()], message, OTHER_WRITER)
        assert scm.compare_and_swap(branch, head, sha)
        return sha

    def read(self, path: str, branch="main") -> bytes | None:
        scm = self.scm
        entry = scm.read_entries(scm.branch_head(branch), [path]).get(path)
        return scm.read_blob(entry.sha) if entry else None

    def entry(self, path: str, branch="main"):
        scm = self.scm
        return scm.read_entries(scm.branch_head(branch), [path]).get(path)

    def sha_of(self, path: str, branch="main") -> str | None:
        entry = self.entry(path, branch)
        return entry.sha if entry else None

    def commits(self, branch="main", limit=100):
        return self.scm.recent_commits(branch, limit)


def file(path, content=None, **extra):
    data = {"path": path, "operation": "upsert", "encoding": "utf-8", "content": content, "base_given": False, "base_sha": None}
    if content is None:
        data["operation"] = "delete"
    if "base_sha" in extra:
        data["base_given"] = True
    data.update(extra)
    if isinstance(data["content"], str):
        data["content"] = data["content"].encode()
    return services.FileRequest(**data)


def submit(pod, repository, files, branch="main", message="change", **options):
    request = services.PromotionRequest(
        repository=repository,
        branch=branch,
        commit_message=message,
        reasoning_trace=options.pop("trace", ""),
        metadata=options.pop("metadata", {}),
        atomic=options.pop("atomic", True),
        mode=options.pop("mode", Promotion.Mode.DIRECT),
        files=files,
        idempotency_key=options.pop("idempotency_key", None),
    )
    return services.submit_promotion(pod, request)[0]


def apply(promotion) -> Promotion:
    engine.drain_lane(promotion.repository_id, promotion.branch)
    promotion.refresh_from_db()
    return promotion


def results(promotion) -> list[str]:
    return [f.status for f in promotion.files.all()]


__all__ = ["Target", "file", "submit", "apply", "results", "blob_sha"]
