"""A train's first tree, written while its tip is read: the round trip a commit on
GitHub cannot otherwise avoid (tree, then commit, then ref, each needing the one
before) is taken off the way to the commit whenever the branch is where Patchgate last
saw it and the train lands as sent.

- The tip (head and root tree) each branch was last read at or moved to is remembered
  for TIP_SECONDS: in Redis when there is one (a branch's lanes move between worker
  processes), else by the process.
- The tree is written on that tip with the writes the first commit is expected to have
  (engine.train_reads: every file as sent, none deleted). write_chain takes it only if
  the plan made on the tip actually read has exactly those writes on exactly that tree,
  so the commit is the one it would have written anyway; otherwise the tree is left
  unreferenced (GitHub collects it) and the train writes its own.
- It is a write like any other: it takes a unit of the shared write budget, never one
  held for another train, and is not made while lanes wait their turn for the budget
  (budget.ahead_of_its_train).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass

from django.conf import settings

from ...conf import forget_shared, setting, shared_key, shared_redis
from ..port import TreeWrite

# A tip older than this is not trusted for a guess (the guess is checked all the same).
TIP_SECONDS = 60
TIPS_REDIS_PREFIX = "patchgate:github-tip:"

# Without Redis: (API, repository, branch) -> head, tree, when it goes stale.
_tips: dict[tuple[str, str, str], tuple[str, str, float]] = {}
_tips_lock = threading.Lock()


def _key(full_name: str, branch: str) -> tuple[str, str, str]:
    return settings.GITHUB_API_URL, full_name.lower(), branch


def remember_tip(full_name: str, branch: str, head: str, tree: str) -> None:
    """`branch` was seen at `head`, whose root tree is `tree`."""
    key = _key(full_name, branch)
    client = shared_redis()
    if client is not None:
        client.set(shared_key(TIPS_REDIS_PREFIX, key), f"{head} {tree}", ex=TIP_SECONDS)
        return
    with _tips_lock:
        _tips[key] = (head, tree, time.monotonic() + TIP_SECONDS)


def known_tip(full_name: str, branch: str) -> tuple[str, str] | None:
    """(head, root tree) where `branch` was last seen, by any process with Redis."""
    key = _key(full_name, branch)
    client = shared_redis()
    if client is None:
        with _tips_lock:
            known = _tips.get(key)
        return known[:2] if known is not None and known[2] > time.monotonic() else None
    found = client.get(shared_key(TIPS_REDIS_PREFIX, key))
    if found is None:
        return None
    head, tree = (found.decode() if isinstance(found, bytes) else found).split(" ")
    return head, tree


def forget_tips() -> None:
    """Tests: a process's tips, and what Redis shares, outlive a test's repositories."""
    with _tips_lock:
        _tips.clear()
    forget_shared(TIPS_REDIS_PREFIX)


@dataclass(frozen=True)
class TreeAhead:
    """A tree being written on `base_tree` with `writes` (its sha, or None where it
    could not be written)."""

    base_tree: str
    writes: list[TreeWrite]
    sha: Future[str | None]

    def sha_for(self, base_tree: str | None, writes: list[TreeWrite]) -> str | None:
        """The tree's sha if it is exactly the tree of `writes` on `base_tree`."""
        if base_tree != self.base_tree or writes != self.writes:
            return None
        with suppress(Exception):
            return self.sha.result()
        return None


def write_ahead(
    base_tree: str, writes: list[TreeWrite], write: Callable[[str, list[TreeWrite]], str | None]
) -> TreeAhead:
    """Start `write(base_tree, writes)` on a thread of its own."""
    return TreeAhead(base_tree, writes, _writers().submit(write, base_tree, writes))


@functools.cache
def _writers() -> ThreadPoolExecutor:
    """A thread per lane a worker process applies at once."""
    return ThreadPoolExecutor(max_workers=setting("LANE_THREADS"), thread_name_prefix="tree ahead")
