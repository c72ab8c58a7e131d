"""The SCM port: everything the promotion engine needs from a git host.

The engine (promotions.engine) is written once against this interface; the
`local` adapter (a bare repository on disk, through dulwich) and the `github`
adapter (PyGithub) implement it, and the same contract tests run on both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

BLOB_MODE = "100644"
EXECUTABLE_MODE = "100755"
TREE_MODE = "040000"


@dataclass(frozen=True)
class TreeEntry:
    """One path of a commit's tree: `kind` is "blob", "tree" or "commit" (submodule)."""

    path: str
    sha: str
    mode: str
    kind: str


@dataclass(frozen=True)
class TreeWrite:
    """One path to change in a new commit: `content` None deletes the path."""

    path: str
    content: bytes | None
    mode: str = BLOB_MODE
    is_text: bool = True


@dataclass(frozen=True)
class NewCommit:
    """One commit of a chain to write: its changes, message and author (name, email)."""

    writes: list[TreeWrite]
    message: str
    author: tuple[str, str]


@dataclass(frozen=True)
class CommitSummary:
    sha: str
    message: str


@dataclass(frozen=True)
class PullRequest:
    number: int
    url: str


def path_and_parents(path: str) -> list[str]:
    """"a/b/c.txt" -> ["a", "a/b", "a/b/c.txt"]: what read_entries reports for a path."""
    parts = path.split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def write_chain_in_turn(scm: ScmPort, parent_sha: str | None, commits: list[NewCommit]) -> list[str]:
    """`write_chain` for hosts where a commit costs no round trip: one after the other."""
    shas = []
    for commit in commits:
        parent_sha = scm.write_commit(parent_sha, commit.writes, commit.message, commit.author)
        shas.append(parent_sha)
    return shas


class ScmError(Exception):
    """Base of the adapter errors; `str()` is safe to show to a pod (no secrets)."""

    retryable = False


class ScmAuthError(ScmError):
    """Credentials refused: retrying cannot help."""


class ScmNotFound(ScmError):
    """Repository, branch or object missing."""


class ScmRateLimited(ScmError):
    """The host asks us to come back at `retry_at` (a timezone-aware datetime)."""

    retryable = True

    def __init__(self, message: str, retry_at: datetime):
        super().__init__(message)
        self.retry_at = retry_at


class ScmTransientError(ScmError):
    """5xx, timeouts, dropped connections: worth a bounded retry with backoff."""

    retryable = True


class ScmRejected(ScmError):
    """The host refused the content itself (e.g. a path that is a directory)."""


class ScmPort(Protocol):
    def branch_head(self, branch: str) -> str | None:
        """The commit sha the branch points at, or None if the branch does not exist."""

    def read_entries(self, commit_sha: str, paths: list[str]) -> dict[str, TreeEntry]:
        """Entries of `commit_sha`'s tree for each of `paths` and each of their parent
        directories, in one read of the tree; paths that do not exist are absent."""

    def read_blob(self, sha: str) -> bytes:
        """The content of a blob; ScmNotFound when it does not exist."""

    def write_commit(
        self, parent_sha: str, writes: list[TreeWrite], message: str, author: tuple[str, str]
    ) -> str:
        """Create (without moving any ref) one commit on top of `parent_sha` applying
        all `writes`; `author` is (name, email). Returns the new commit sha."""

    def write_chain(self, parent_sha: str | None, commits: list[NewCommit]) -> list[str]:
        """Create (without moving any ref) each commit on top of the one before, the
        first on `parent_sha`. Returns their shas, in order (none for no commits)."""

    def compare_and_swap(self, branch: str, expected_sha: str, new_sha: str) -> bool:
        """Move `branch` from `expected_sha` to `new_sha` only if it still points at
        `expected_sha` and never by force. False when the branch moved meanwhile."""

    def create_branch(self, branch: str, sha: str) -> None:
        """Create `branch` at `sha`; ScmRejected if it already exists."""

    def recent_commits(self, branch: str, limit: int) -> list[CommitSummary]:
        """The newest `limit` commits reachable from `branch`, newest first."""

    def open_pull_request(self, head: str, base: str, title: str, body: str) -> PullRequest | None:
        """Open a pull request from `head` into `base`; None where the host has no
        review system (local: the review branch itself is the record)."""

    def commit_url(self, sha: str) -> str | None:
        """A URL a human can open for the commit, when the host has one."""
