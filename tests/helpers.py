"""Helpers the tests share (fixtures live in conftest.py and tests/plugins/):
an API client for a pod, a target repository on each backend with one interface
(commit directly as another writer would, read files and history), promotions
submitted through the service, report data at controlled times, App key pairs, and
faults injected at one exact step of the SCM port (a call fails before it reaches the
host, or after with its answer lost, or the worker dies there)."""

from __future__ import annotations

import time as clock
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from urllib.parse import quote

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from promotions.conf import shared_redis
from promotions.engine.lanes import drain_lane
from promotions.models import BranchLane, Promotion
from promotions.scm import adapter_for
from promotions.scm.port import TreeWrite
from promotions.services.promotions import FileRequest, PromotionRequest, promotion_submit
from tests.factories import FileChangeFactory, PromotionFactory, RepositoryFactory

OTHER_WRITER = ("Someone Else", "someone@example.invalid")


class Target:
    def __init__(self, repository):
        self.repository = repository

    @property
    def scm(self):
        return adapter_for(self.repository)

    @property
    def lands_directly(self) -> bool:
        """GraphQL's path: each commit is made on the branch itself, no ref moves after."""
        return self.repository.backend == "github" and self.repository.commit_path == "graphql"

    @property
    def makes_commits(self) -> str:
        """The adapter method through which the engine makes the commits of a train."""
        return "commit_onto_branch" if self.lands_directly else "write_chain"

    @property
    def moves_branch(self) -> str:
        """The adapter method through which the engine moves the branch."""
        return "commit_onto_branch" if self.lands_directly else "compare_and_swap"

    def reset(self, sha: str, branch="main") -> None:
        """Another writer force-moves the branch (`git push --force`), e.g. back to an ancestor."""
        if self.repository.backend == "github":
            scm = self.scm
            url = f"{scm.repo.url}/git/refs/heads/{branch}"
            scm.github.requester.requestJsonAndCheck("PATCH", url, input={"sha": sha, "force": True})
        else:
            self.scm.repo.refs[f"refs/heads/{branch}".encode()] = sha.encode()

    def head(self, branch="main") -> str:
        return self.scm.branch_head(branch)

    def commit_directly(
        self, files: dict[str, bytes | None], message="direct change", branch="main", mode="100644"
    ) -> str:
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
    data = {
        "path": path,
        "operation": "upsert",
        "encoding": "utf-8",
        "content": content,
        "base_given": False,
        "base_sha": None,
    }
    if content is None:
        data["operation"] = "delete"
    if "base_sha" in extra:
        data["base_given"] = True
    data.update(extra)
    if isinstance(data["content"], str):
        data["content"] = data["content"].encode()
    return FileRequest(**data)


def submit(pod, repository, files, branch="main", message="change", **options):
    request = PromotionRequest(
        repository=repository.full_name,
        branch=branch,
        commit_message=message,
        reasoning_trace=options.pop("trace", ""),
        metadata=options.pop("metadata", {}),
        atomic=options.pop("atomic", True),
        mode=options.pop("mode", Promotion.Mode.DIRECT),
        files=files,
        idempotency_key=options.pop("idempotency_key", None),
        base_branch=options.pop("base_branch", None),
    )
    return promotion_submit(pod=pod, request=request)[0]


def apply(promotion) -> Promotion:
    drain_lane(promotion.repository_id, promotion.branch)
    promotion.refresh_from_db()
    return promotion


def results(promotion) -> list[str]:
    return [f.status for f in promotion.files.all()]


GITHUB_TOKEN = "ghp_emulatedTokenNeverShown0123456789"
BACKENDS = ["local", "github"]
# The engine's contract holds on each way commits land: a local bare repository, and
# GitHub through the REST Git Data API and through GraphQL's createCommitOnBranch.
TARGETS = ["local", "github-rest", "github-graphql"]
LEAD_USERNAME = "ada"
LEAD_PASSWORD = "correct horse battery staple"


def key_queries() -> int:
    """Queries a request spends on its key once the key is known: none where Redis lets
    the process remember it (promotions.auth), else one."""
    return 0 if shared_redis() is not None else 1


def client_for(pod) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {pod.raw_key}")
    return client


def target_on(request, backend: str, full_name: str) -> Target:
    """A fresh registered repository on `backend` (created in the emulator for github);
    `github-rest` and `github-graphql` also fix the repository's commit path."""
    backend, _, commit_path = backend.partition("-")
    if commit_path == "graphql":
        request.getfixturevalue("github_graphql_schema")
    if backend == "github":
        request.getfixturevalue("github").create_repository(full_name)
    return Target(RepositoryFactory(full_name=full_name, backend=backend, commit_path=commit_path or "auto"))


def new_app_key() -> tuple[str, str]:
    """A fresh RSA key pair as GitHub issues for an App: (private PEM, public PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    public = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def day(days_ago: int, hour: int = 12) -> datetime:
    return datetime.combine(timezone.now().date() - timedelta(days=days_ago), time(hour), tzinfo=UTC)


def promoted(pod, repository, status, created, seconds=None, files=()):
    """A promotion requested at `created`, finished `seconds` later, with files in these statuses."""
    promotion = PromotionFactory(pod=pod, repository=repository, status=status)
    for file_status in files:
        FileChangeFactory(promotion=promotion, status=file_status)
    finished = created + timedelta(seconds=seconds) if seconds is not None else None
    # created_at is auto_now_add: set the controlled times afterwards.
    Promotion.objects.filter(pk=promotion.pk).update(created_at=created, finished_at=finished)
    return promotion


def database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    credentials = quote(db["USER"] or "") + (f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else "")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def wait_until_final(promotion_ids, timeout=120) -> list[Promotion]:
    deadline = clock.monotonic() + timeout
    while clock.monotonic() < deadline:
        promotions = list(Promotion.objects.filter(pk__in=promotion_ids).order_by("id"))
        if all(p.is_final for p in promotions):
            return promotions
        clock.sleep(0.2)
    pending = Promotion.objects.filter(pk__in=promotion_ids).exclude(status__in=Promotion.FINAL_STATUSES)
    raise AssertionError(f"not final after {timeout}s: {list(pending.values_list('id', 'status'))}")


class WorkerKilled(BaseException):
    """Not an Exception: nothing in the engine may catch it, as with SIGKILL."""


def script(monkeypatch, target, method: str, *steps):
    """The next calls of the adapter's `method` follow `steps`, then behave: each step
    is ("before", error) to raise instead of calling, ("after", error) to raise once
    the call is done (the host did it; the answer is lost), or None to let it through."""
    adapter = type(target.scm)
    real = getattr(adapter, method)
    pending = list(steps)

    def scripted(self, *args, **kwargs):
        step = pending.pop(0) if pending else None
        if step is None:
            return real(self, *args, **kwargs)
        when, error = step
        if when == "before":
            raise error
        real(self, *args, **kwargs)
        raise error

    monkeypatch.setattr(adapter, method, scripted)
    return pending


def fail_chains_carrying(monkeypatch, target, marker: str, error: BaseException) -> None:
    """Every chain of commits holding a commit whose message contains `marker` fails
    before it reaches the host."""
    adapter = type(target.scm)
    real = getattr(adapter, target.makes_commits)

    def making_commits(self, *args):
        if any(marker in commit.message for commit in args[-1]):
            raise error
        return real(self, *args)

    monkeypatch.setattr(adapter, target.makes_commits, making_commits)


def dead_worker_left(repository, branch="main") -> None:
    """The lane's holder died: its lease has run out."""
    BranchLane.objects.filter(repository=repository, branch=branch).update(
        lease_owner="dead-worker", lease_until=timezone.now() - timedelta(seconds=1)
    )


def drain_until_final(promotions: list[Promotion], rounds: int = 20) -> list[Promotion]:
    """Drain the lane as the lane clock would, each retry's time come at once, until
    every promotion is final."""
    ids = [p.pk for p in promotions]
    for _ in range(rounds):
        current = list(Promotion.objects.filter(pk__in=ids).order_by("id"))
        if all(p.is_final for p in current):
            return current
        Promotion.objects.filter(pk__in=ids, status=Promotion.Status.RETRYING).update(
            not_before=timezone.now() - timedelta(seconds=1)
        )
        drain_lane(current[0].repository_id, current[0].branch)
    raise AssertionError(f"not final after {rounds} rounds: {[(p.pk, p.status) for p in current]}")
