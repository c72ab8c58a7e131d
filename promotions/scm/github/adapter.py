"""The GitHub adapter of the SCM port: reads and writes through the Git Data API
(see the package's docstring for the call budget of a batch)."""

from __future__ import annotations

import base64
import functools
import itertools
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, suppress
from urllib.parse import quote

from django.db import connection
from github import GithubException, InputGitAuthor, InputGitTreeElement
from github.GitCommit import GitCommit
from github.GitRef import GitRef
from github.GitTree import GitTree

from ..port import (
    CommitSummary,
    FilePatch,
    FileRead,
    NewCommit,
    PullRequest,
    TreeEntry,
    TreeWrite,
    parent_directories,
    path_and_parents,
)
from . import ahead, budget, graphql, paths, reads, refs
from .client import client, credentials, web_url
from .diffs import FILES_PER_PAGE, commit_patches
from .errors import translated_errors

# Reads made beside another (a branch's rules beside its tip), on threads of their own.
_BESIDE = ThreadPoolExecutor(max_workers=4, thread_name_prefix="github beside")
_REST = paths.REST


def _result_or_none(read: Future):
    """A read made beside another, or None if it failed: it is made again, and its error
    raised, where it is needed."""
    with suppress(Exception):
        return read.result()
    return None


class GitHubAdapter:
    reads_over_network = True

    def __init__(self, full_name: str, commit_path: str = paths.REST):
        self.full_name = full_name
        with translated_errors(f"finding the GitHub credentials of {full_name}"):
            self.github = client(full_name)
            self.budget_key = credentials(full_name).key
        self.repo = self.github.get_repo(full_name)
        self.commit_path = paths.CommitPath(commit_path, self.github.requester, full_name)
        # commit sha -> its root tree sha, from every tree read and commit written.
        self.tree_of: dict[str, str] = {}
        self.tree_ahead: ahead.TreeAhead | None = None

    # --- reads -----------------------------------------------------------------

    def branch_head(self, branch: str) -> str | None:
        with translated_errors(f"reading branch {branch} of {self.full_name}"):
            try:
                head = self.repo.get_branch(branch).commit
            except GithubException as error:
                if error.status != 404:
                    raise
                head = None
        if head is None:
            self._require_repository()
            return None
        self.tree_of[head.sha] = head.commit.tree.sha
        return head.sha

    def _require_repository(self) -> None:
        """A missing branch and a missing repository both answer 404: tell them apart."""
        with translated_errors(f"repository {self.full_name}"):
            self.github.withLazy(False).get_repo(self.full_name)

    def read_entries(self, commit_sha: str, paths: list[str], siblings: bool = False) -> dict[str, TreeEntry]:
        """Every path and its parents in one GraphQL request (reads.py): the cost grows
        with the batch, never with the repository, and no listing is ever cut."""
        wanted = sorted({prefix for path in paths for prefix in path_and_parents(path)})
        if not wanted:
            return {}
        listed = parent_directories(paths) if siblings else None
        with translated_errors(f"reading {len(paths)} path(s) of {commit_sha[:12]} in {self.full_name}"):
            return reads.entries(self.github.requester, self.full_name, commit_sha, wanted, listed)

    def read_tip(
        self, branch: str, paths: list[str], siblings: bool = False, expected: list[TreeWrite] | None = None
    ) -> tuple[str, dict[str, TreeEntry]] | None:
        """The branch's head and every path of it, in one GraphQL request by the branch's
        name (the head's root tree comes with it), with the rules the commit path may ask
        for next read at the same time (kept, paths.py), and the `expected` first tree
        written on the branch's last known tip (ahead.py): a train's first round trip.
        A branch the request does not find is looked up as branch_head does, which tells
        a missing branch from a missing repository."""
        wanted = sorted({prefix for path in paths for prefix in path_and_parents(path)})
        listed = parent_directories(paths) if siblings else None
        requester = self.github.requester
        rules = None
        # Not inside a transaction (tests): what a request does in the database (the write
        # budget watches every answer) must stay on this thread's connection.
        beside = not connection.in_atomic_block
        if beside and (self.commit_path.setting != _REST or expected):
            with translated_errors(f"authenticating to {self.full_name}"):
                if requester.auth is not None:
                    requester.auth.token  # noqa: B018  (an App's installation token, fetched once, before two reads race for it)
        if beside and self.commit_path.setting != _REST:
            rules = _BESIDE.submit(self.commit_path.signed_only, branch)
        self.tree_ahead = self._write_ahead(branch, expected) if beside and expected else None
        with translated_errors(f"reading branch {branch} of repository {self.full_name}"):
            found = reads.entries_at(requester, self.full_name, f"refs/heads/{branch}", wanted, listed)
        if rules is not None:
            _result_or_none(rules)
        if found is None:
            head = self.branch_head(branch)
            return None if head is None else (head, self.read_entries(head, paths, siblings))
        head, tree, entries = found
        self.tree_of[head] = tree
        ahead.remember_tip(self.full_name, branch, head, tree)
        return head, entries

    def _write_ahead(self, branch: str, writes: list[TreeWrite]) -> ahead.TreeAhead | None:
        """The first commit's tree, written on the branch's last known tip (ahead.py);
        not where a write would need a blob of its own (more writes a wrong guess wastes)."""
        known = None if any(_needs_blob(w) for w in writes) else ahead.known_tip(self.full_name, branch)
        return (
            None if known is None else ahead.write_ahead(known[1], writes, functools.partial(self._tree_ahead, branch))
        )

    def _tree_ahead(self, branch: str, base_tree: str, writes: list[TreeWrite]) -> str | None:
        if self.lands_directly(branch, [NewCommit(writes, "", ("", ""))]):
            return None  # commits made on the branch itself: no tree to write
        with budget.ahead_of_its_train(), translated_errors(f"writing a tree ahead in {self.full_name}"):
            return self._write_tree(self.second_repo, base_tree, writes)

    def read_files(self, branch: str, paths: list[str]) -> tuple[str, dict[str, FileRead]] | None:
        """One GraphQL request for the head and every file's content as text; a binary
        file (or one GitHub gives cut or re-encoded) costs a blob read more."""
        with translated_errors(f"reading {len(paths)} file(s) of {branch} in {self.full_name}"):
            found = reads.files(self.github.requester, self.full_name, branch, paths)
        if found is None:
            return None  # GitHub found the repository (else NOT_FOUND) but not the branch
        head, files = found
        return head, {
            path: FileRead(path, entry.sha, entry.mode, self.read_blob(entry.sha) if data is None else data)
            for path, (entry, data) in files.items()
        }

    def read_blob(self, sha: str) -> bytes:
        with translated_errors(f"reading blob {sha[:12]} of {self.full_name}"):
            return base64.b64decode(self.repo.get_git_blob(sha).content)

    def recent_commits(self, branch: str, limit: int) -> list[CommitSummary]:
        with translated_errors(f"listing the commits of {branch} in {self.full_name}"):
            try:
                commits = list(itertools.islice(self.repo.get_commits(sha=branch), limit))
            except GithubException as error:
                if error.status in (404, 409):  # no such branch; an empty repository
                    return []
                raise
        return [CommitSummary(c.sha, c.commit.message) for c in commits]

    def commit_url(self, sha: str) -> str | None:
        return f"{web_url()}/{self.full_name}/commit/{sha}"

    def commit_diffs(self, sha: str) -> dict[str, FilePatch]:
        with translated_errors(f"reading what commit {sha[:12]} changed in {self.full_name}"):
            return commit_patches(self.repo.get_commit(sha, commit_files_per_page=FILES_PER_PAGE))

    # --- the write budget (budget.py) ---------------------------------------------

    def reserve_writes(self, branch: str, commits: list[NewCommit], review: bool) -> AbstractContextManager[int]:
        """What landing `commits` writes: one mutation each on the signed path; else a
        tree, a commit and a blob per binary file each, then the ref update. With
        `review`, the review branch and the pull request instead of the ref update."""
        direct = bool(commits) and self.lands_directly(branch, commits)
        costs = [1 if direct else 2 + sum(_needs_blob(w) for w in commit.writes) for commit in commits]
        after = 2 if review else 0 if direct else 1
        return budget.reserved(self.budget_key, f"{self.full_name}@{branch}", costs, after)

    # --- writes ----------------------------------------------------------------

    def write_commit(
        self, parent_sha: str | None, writes: list[TreeWrite], message: str, author: tuple[str, str]
    ) -> str:
        return self.write_chain(parent_sha, [NewCommit(writes, message, author)])[0]

    def write_chain(self, parent_sha: str | None, commits: list[NewCommit]) -> list[str]:
        """One tree and one commit per commit of the chain, overlapped: while commit k
        is created, the tree of k+1 (on the tree of k) is built over a second
        connection, so a chain of n costs n + 1 round trips in a row instead of 2n."""
        if not commits:
            return []
        with translated_errors(f"writing {len(commits)} commit(s) to {self.full_name}"):
            base = self._tree_sha(parent_sha) if parent_sha else None
            written_ahead, self.tree_ahead = self.tree_ahead, None
            tree = (written_ahead and written_ahead.sha_for(base, commits[0].writes)) or self._write_tree(
                self.repo, base, commits[0].writes
            )
            shas = []
            with ThreadPoolExecutor(max_workers=1) as trees:
                for index, commit in enumerate(commits):
                    following = commits[index + 1] if index + 1 < len(commits) else None
                    next_tree = (
                        trees.submit(self._write_tree, self.second_repo, tree, following.writes) if following else None
                    )
                    parent = [self._lazy(GitCommit, "git/commits", parent_sha)] if parent_sha else []
                    created = self.repo.create_git_commit(
                        commit.message,
                        self._lazy(GitTree, "git/trees", tree),
                        parent,
                        author=InputGitAuthor(*commit.author),
                    )
                    parent_sha = created.sha
                    self.tree_of[parent_sha] = tree
                    shas.append(parent_sha)
                    if next_tree:
                        tree = next_tree.result()
        return shas

    @functools.cached_property
    def second_repo(self):
        """The repository through its own client: PyGithub's connection is not shared
        between threads."""
        return client(self.full_name, connection=1).get_repo(self.full_name)

    def _write_tree(self, repo, base_tree: str | None, writes: list[TreeWrite]) -> str:
        """The sha of `base_tree` with `writes` applied (the base itself when there are
        none: GitHub refuses an empty edit)."""
        if base_tree and not writes:
            return base_tree
        elements = [self._tree_element(repo, write) for write in writes]
        if base_tree:
            return repo.create_git_tree(elements, self._lazy(GitTree, "git/trees", base_tree)).sha
        return repo.create_git_tree(elements).sha

    def _tree_sha(self, commit_sha: str) -> str:
        if commit_sha not in self.tree_of:
            self.tree_of[commit_sha] = self.repo.get_git_commit(commit_sha).tree.sha
        return self.tree_of[commit_sha]

    def _tree_element(self, repo, write: TreeWrite) -> InputGitTreeElement:
        if write.content is None:
            return InputGitTreeElement(write.path, write.mode, "blob", sha=None)
        text = _utf8(write.content) if write.is_text else None
        if text is not None:
            # Inline: GitHub makes the blob of exactly these UTF-8 bytes, no extra call.
            return InputGitTreeElement(write.path, write.mode, "blob", content=text)
        blob = repo.create_git_blob(base64.b64encode(write.content).decode(), "base64")
        return InputGitTreeElement(write.path, write.mode, "blob", sha=blob.sha)

    def _lazy(self, kind, collection: str, sha: str):
        """A PyGithub object known by its sha alone, so passing it costs no request."""
        return kind(self.github.requester, url=f"{self.repo.url}/{collection}/{sha}", attributes={"sha": sha})

    # The signed path (paths.py, graphql.py): each commit made on the branch itself.

    def modes_kept(self, branch: str) -> bool:
        return not self.commit_path.signed_only(branch)

    def lands_directly(self, branch: str, commits: list[NewCommit]) -> bool:
        return self.commit_path.graphql_for(branch, commits)

    def commit_onto_branch(self, branch: str, expected_sha: str, commits: list[NewCommit]) -> list[str]:
        return graphql.commit_onto_branch(self.github.requester, self.full_name, branch, expected_sha, commits)

    def compare_and_swap(self, branch: str, expected_sha: str, new_sha: str) -> bool:
        """GraphQL's updateRefs (refs.py): the branch moves only from exactly `expected_sha`,
        so a reset to an ancestor is seen too. GitHub names no error for a refused swap, so
        after any refusal the branch is read: elsewhere, False (it moved); at `new_sha`,
        True (ours is on it); still at `expected_sha`, the refusal was for another reason
        (refs.refusal)."""
        what = f"moving {branch} of {self.full_name}"
        with translated_errors(what):
            errors = refs.update_branch(self.github.requester, self.full_name, branch, expected_sha, new_sha)
        if not errors:
            if new_sha in self.tree_of:
                ahead.remember_tip(self.full_name, branch, new_sha, self.tree_of[new_sha])
            return True
        head = self.branch_head(branch)
        if head != expected_sha:
            return head == new_sha
        raise refs.refusal(what, self.full_name, errors)

    def _ref(self, branch: str) -> GitRef:
        """The branch's ref, known by its name alone (no request)."""
        url = f"{self.repo.url}/git/refs/heads/{quote(branch)}"
        return GitRef(self.github.requester, url=url, attributes={"ref": f"refs/heads/{branch}"})

    def create_branch(self, branch: str, sha: str) -> None:
        with translated_errors(f"creating branch {branch} in {self.full_name}"):
            self.repo.create_git_ref(f"refs/heads/{branch}", sha)

    def move_branch(self, branch: str, sha: str) -> None:
        with translated_errors(f"moving branch {branch} of {self.full_name}"):
            self._ref(branch).edit(sha, force=True)

    def open_pull_request(self, head: str, base: str, title: str, body: str) -> PullRequest | None:
        with translated_errors(f"opening a pull request from {head} into {base} in {self.full_name}"):
            try:
                pull = self.repo.create_pull(base=base, head=head, title=title, body=body)
            except GithubException as error:
                # Opened by an attempt whose answer was lost: use that one.
                if error.status != 422 or "already exists" not in str(error.data):
                    raise
                owner = self.full_name.split("/")[0]
                opened = next(iter(self.repo.get_pulls(state="open", head=f"{owner}:{head}", base=base)), None)
                if opened is None:
                    raise
                pull = opened
        return PullRequest(pull.number, pull.html_url)


def _needs_blob(write: TreeWrite) -> bool:
    """Content a tree cannot take inline (as _tree_element decides): a blob of its own."""
    return write.content is not None and (not write.is_text or _utf8(write.content) is None)


def _utf8(content: bytes) -> str | None:
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return None
