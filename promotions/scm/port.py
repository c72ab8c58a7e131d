"""The SCM port: everything the promotion engine needs from a git host.

The engine (promotions.engine) is written once against this interface; the
`local` adapter (a bare repository on disk, through dulwich) and the `github`
adapter (PyGithub) implement it, and the same contract tests run on both.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

BLOB_MODE = "100644"
EXECUTABLE_MODE = "100755"
SYMLINK_MODE = "120000"
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


@dataclass(frozen=True)
class FilePatch:
    """What a commit changed in one path, as the host shows it: `patch` is git's
    hunks (from the first `@@` line on, without the file's header lines), or None
    when the host shows none, and then `note` says why (binary, too large, ...)."""

    path: str
    patch: str | None
    note: str = ""


@dataclass(frozen=True)
class FileRead:
    """A file as it is on a branch: its blob sha (a pod's base_sha), mode and content."""

    path: str
    sha: str
    mode: str
    content: bytes


def path_and_parents(path: str) -> list[str]:
    """ "a/b/c.txt" -> ["a", "a/b", "a/b/c.txt"]: what read_entries reports for a path."""
    parts = path.split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def parent_directories(paths: list[str]) -> set[str]:
    """The root ("") and every directory above each of `paths`: the directories
    read_entries lists with `siblings`."""
    return {""} | {parent for path in paths for parent in path_and_parents(path)[:-1]}


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


class WriteBudgetSpent(ScmRateLimited):
    """Our own budget of the host's writes, shared by every process, is spent: nothing
    was sent. Come back at `retry_at`, when it allows the write."""


class ScmTransientError(ScmError):
    """5xx, timeouts, dropped connections: worth a bounded retry with backoff."""

    retryable = True


class ScmRejected(ScmError):
    """The host refused the content itself (e.g. a path that is a directory)."""


class ScmPort(Protocol):
    # Whether a read waits on a network round trip (GitHub), so that the engine starts
    # a train's first read before its own database work rather than after it.
    reads_over_network: bool

    def branch_head(self, branch: str) -> str | None:
        """The commit sha the branch points at, or None if the branch does not exist."""

    def read_entries(self, commit_sha: str, paths: list[str], siblings: bool = False) -> dict[str, TreeEntry]:
        """Entries of `commit_sha`'s tree for each of `paths` and each of their parent
        directories, in one read of the tree; paths that do not exist are absent. With
        `siblings`, also every entry directly inside the root and inside each of those
        parent directories (what a checkout puts beside each path: its case twins), in
        the same read."""

    def read_tip(
        self, branch: str, paths: list[str], siblings: bool = False, expected: list[TreeWrite] | None = None
    ) -> tuple[str, dict[str, TreeEntry]] | None:
        """The branch's head and read_entries of it, read together (on GitHub in one
        request: a train's first round trip); None when the branch does not exist.
        `expected`: the writes the train's first commit will likely have; a host across
        the network may write them onto the branch's last known tip meanwhile, for
        write_chain to take if the plan made on the tip read has exactly those writes
        on exactly that tip."""

    def read_files(self, branch: str, paths: list[str]) -> tuple[str, dict[str, FileRead]] | None:
        """The branch's head and each of `paths` that is a file there, read together (on
        GitHub in one request, whatever the repository's size); None when the branch
        does not exist."""

    def read_blob(self, sha: str) -> bytes:
        """The content of a blob; ScmNotFound when it does not exist."""

    def write_commit(
        self, parent_sha: str | None, writes: list[TreeWrite], message: str, author: tuple[str, str]
    ) -> str:
        """Create (without moving any ref) one commit on top of `parent_sha` applying
        all `writes`; `author` is (name, email). Returns the new commit sha."""

    def write_chain(self, parent_sha: str | None, commits: list[NewCommit]) -> list[str]:
        """Create (without moving any ref) each commit on top of the one before, the
        first on `parent_sha`. Returns their shas, in order (none for no commits)."""

    def compare_and_swap(self, branch: str, expected_sha: str, new_sha: str) -> bool:
        """Move `branch` from `expected_sha` to `new_sha` only if it still points at
        `expected_sha` and never by force. False when the branch moved meanwhile."""

    def modes_kept(self, branch: str) -> bool:
        """False when every commit onto `branch` must take a path that writes each file
        as 100644 (GitHub: the branch requires signed commits, which only its
        createCommitOnBranch makes); a file of another mode cannot land there."""

    def lands_directly(self, branch: str, commits: list[NewCommit]) -> bool:
        """True when `commits` go onto `branch` through commit_onto_branch (each commit
        made on the branch itself), False when through write_chain and compare_and_swap."""

    def commit_onto_branch(self, branch: str, expected_sha: str, commits: list[NewCommit]) -> list[str]:
        """Make each commit on `branch` itself, in order: the first only if the branch
        points exactly at `expected_sha` (an exact compare-and-swap: a branch reset to
        an ancestor is seen too), each next one on the one before. Returns the shas
        landed, in order: fewer than `commits` (or none) when the branch moved."""

    def reserve_writes(self, branch: str, commits: list[NewCommit], review: bool) -> AbstractContextManager[int]:
        """Hold the host's write budget for the longest prefix of `commits` it allows now,
        with the writes that land them (the ref update, or with `review` the review
        branch and pull request): yields its length and gives back what was not used on
        exit. Raises WriteBudgetSpent when not even the first fits. A host without a
        budget yields len(commits)."""

    def create_branch(self, branch: str, sha: str) -> None:
        """Create `branch` at `sha`; ScmRejected if it already exists."""

    def move_branch(self, branch: str, sha: str) -> None:
        """Point the existing `branch` at `sha` whatever it held (a forced update): only
        for the review branches Patchgate makes and alone writes, never a pod's branch."""

    def recent_commits(self, branch: str, limit: int) -> list[CommitSummary]:
        """The newest `limit` commits reachable from `branch`, newest first."""

    def open_pull_request(self, head: str, base: str, title: str, body: str) -> PullRequest | None:
        """Open a pull request from `head` into `base`; None where the host has no
        review system (local: the review branch itself is the record)."""

    def commit_url(self, sha: str) -> str | None:
        """A URL a human can open for the commit, when the host has one."""

    def commit_diffs(self, sha: str) -> dict[str, FilePatch]:
        """What commit `sha` changed against its first parent, by path, read in as few
        requests as the host allows (GitHub: one per 300 files, so two for the largest
        promotion). A host may list only part of a very large commit: the paths it
        leaves out are absent."""
