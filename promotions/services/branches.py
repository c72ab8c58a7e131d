"""Whether a submission's branch exists, read from the git host before anything is
stored: a branch that does not is refused, so its name never reaches the promotions,
the lanes or the admin's filters, unless the request names a `base_branch` to create
it from (the engine creates it with the promotion's commit)."""

from __future__ import annotations

import logging
import time

from django.conf import settings

from ..conf import forget_shared, shared_key, shared_redis
from ..models import Repository
from ..scm import adapter_for
from ..scm.port import ScmError

log = logging.getLogger(__name__)


def missing_branch_errors(repository: Repository, branch: str, base_branch: str | None) -> dict[str, list[str]]:
    """{field: [why]} when `branch` does not exist and `base_branch` cannot create it;
    one read of the host (GitHub: `GET branches/BRANCH`), two when the base is read too.
    A host that cannot answer now is no reason to refuse: the worker reads the branch
    again when it lands the promotion, and retries while the host is down."""
    key = _key(repository, branch)
    if _seen_recently(key):
        return {}
    try:
        scm = adapter_for(repository)
        if scm.branch_head(branch) is not None:
            _remember(key)
            return {}
        if base_branch is None:
            return {
                "branch": [
                    f"Branch '{branch}' does not exist in {repository.full_name}. Name an existing branch, or send "
                    "base_branch to create it from that branch's head."
                ]
            }
        if scm.branch_head(base_branch) is None:
            return {"base_branch": [f"Branch '{base_branch}' does not exist in {repository.full_name} either."]}
    except ScmError as error:
        log.info("branch %s of %s not checked at submission: %s", branch, repository.full_name, error)
    return {}


# Branches seen on the host lately. A pod sends many promotions to one branch: one read
# of the host per branch and minute, not one per submission (a host round trip, and on
# GitHub a request of the rate limit, on every POST). Kept by this process and, with
# Redis, shared by every web process (a fleet's POSTs land on any of them). A branch
# deleted meanwhile is found missing by the worker, which fails the promotion.
SEEN_SECONDS = 60
REDIS_PREFIX = "patchgate:branch-seen:"
_seen: dict[tuple[str, ...], float] = {}


def _key(repository: Repository, branch: str) -> tuple[str, ...]:
    # Where the repository lives is part of it: another host or folder is another branch.
    github = repository.backend == Repository.Backend.GITHUB
    where = settings.GITHUB_API_URL if github else str(settings.LOCAL_REPOS_DIR)
    return (repository.backend, where, repository.full_name, branch)


def _seen_recently(key: tuple[str, ...]) -> bool:
    seen = _seen.get(key)
    if seen is not None and time.monotonic() - seen < SEEN_SECONDS:
        return True
    client = shared_redis()
    if client is None or not client.exists(shared_key(REDIS_PREFIX, key)):
        return False
    _remember_here(key)
    return True


def _remember(key: tuple[str, ...]) -> None:
    _remember_here(key)
    client = shared_redis()
    if client is not None:
        client.set(shared_key(REDIS_PREFIX, key), 1, ex=SEEN_SECONDS)


def _remember_here(key: tuple[str, ...]) -> None:
    now = time.monotonic()
    if len(_seen) > 10_000:
        for old in [old for old, seen in _seen.items() if now - seen >= SEEN_SECONDS]:
            _seen.pop(old, None)
    _seen[key] = now


def forget_branches() -> None:
    """Forget every branch seen (tests: the repositories are made again)."""
    _seen.clear()
    forget_shared(REDIS_PREFIX)
