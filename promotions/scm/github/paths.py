"""Which way commits reach a GitHub branch, from the repository's `commit_path`:

- `rest`: the Git Data API (tree, commit, then one ref update per train): the pod is
  the git author, file modes are kept; unsigned, so a branch whose ruleset requires
  signatures refuses it.
- `graphql`: createCommitOnBranch (graphql.py): one signed write per commit and an
  exact compare-and-swap; GitHub is the author, every file is written 100644. A
  commit that must keep another mode (an executable, a symlink) takes REST instead
  where the branch allows unsigned commits.
- `auto` (the default): GraphQL where the branch requires signatures (a
  `required_signatures` rule in GET /repos/{o}/{r}/rules/branches/{branch}, read at
  most once a minute per branch, shared by the worker processes through Redis), REST elsewhere.
"""

from __future__ import annotations

import threading
import time
from urllib.parse import quote

from django.conf import settings
from github import GithubException
from github.Requester import Requester

from ...conf import forget_shared, shared_key, shared_redis
from ..port import BLOB_MODE, NewCommit
from .errors import translated_errors

AUTO, GRAPHQL, REST = "auto", "graphql", "rest"
# Rulesets change rarely; a minute-old answer costs at most a minute of refusals. Kept per
# process and, with Redis, shared by every worker process (a branch's lanes move between them).
RULES_CACHE_SECONDS = 60
RULES_REDIS_PREFIX = "patchgate:branch-rules:"

_rules: dict[tuple[str, str, str], tuple[float, bool]] = {}
_rules_lock = threading.Lock()


def signatures_required(requester: Requester, full_name: str, branch: str) -> bool:
    """Whether an active ruleset requires signed commits on `branch`. A host without
    rulesets (404: an older Enterprise Server) requires none."""
    key = (settings.GITHUB_API_URL, full_name.lower(), branch)
    with _rules_lock:
        cached = _rules.get(key)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    shared = _shared(key)
    if shared is not None:
        return shared
    with translated_errors(f"reading the rules of {branch} in {full_name}"):
        try:
            _, rules = requester.requestJsonAndCheck(
                "GET", f"/repos/{full_name}/rules/branches/{quote(branch)}", parameters={"per_page": 100}
            )
        except GithubException as error:
            if error.status != 404:
                raise
            rules = []
    required = any(isinstance(rule, dict) and rule.get("type") == "required_signatures" for rule in rules or [])
    _keep(key, required)
    client = shared_redis()
    if client is not None:
        client.set(shared_key(RULES_REDIS_PREFIX, key), int(required), ex=RULES_CACHE_SECONDS)
    return required


def _keep(key: tuple[str, str, str], required: bool) -> None:
    with _rules_lock:
        _rules[key] = (time.monotonic() + RULES_CACHE_SECONDS, required)


def _shared(key: tuple[str, str, str]) -> bool | None:
    """What another worker process read of these rules lately (with Redis), kept here too."""
    client = shared_redis()
    found = client.get(shared_key(RULES_REDIS_PREFIX, key)) if client is not None else None
    if found is None:
        return None
    _keep(key, found == b"1")
    return found == b"1"


def forget_rules() -> None:
    """Read every branch's rules again on next use (tests; a ruleset known changed)."""
    with _rules_lock:
        _rules.clear()
    forget_shared(RULES_REDIS_PREFIX)


def plain_files_only(commits: list[NewCommit]) -> bool:
    """Whether createCommitOnBranch can write `commits` without changing a file's mode."""
    return all(w.content is None or w.mode == BLOB_MODE for commit in commits for w in commit.writes)


class CommitPath:
    """The choice for one repository; the rules are read only when the choice needs them."""

    def __init__(self, setting: str, requester: Requester, full_name: str):
        self.setting, self.requester, self.full_name = setting, requester, full_name

    def signed_only(self, branch: str) -> bool:
        """Whether commits onto `branch` take the signed path, which keeps no modes."""
        return self.setting != REST and signatures_required(self.requester, self.full_name, branch)

    def graphql_for(self, branch: str, commits: list[NewCommit]) -> bool:
        if self.setting == REST or not plain_files_only(commits):
            return False
        return self.setting == GRAPHQL or self.signed_only(branch)
