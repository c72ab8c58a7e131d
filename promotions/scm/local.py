"""The `local` adapter: a bare git repository on disk, written through dulwich.

Inspectable with plain git (`git --git-dir var/repos/demo/sandbox.git log -p`).
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path

from django.conf import settings
from dulwich.errors import NotTreeError
from dulwich.file import FileLocked
from dulwich.objects import Blob, Commit, Tree
from dulwich.object_store import tree_lookup_path
from dulwich.repo import Repo

from .port import (
    BLOB_MODE,
    CommitSummary,
    NewCommit,
    PullRequest,
    ScmNotFound,
    ScmRejected,
    TreeEntry,
    TreeWrite,
    path_and_parents,
    write_chain_in_turn,
)

_KIND_BY_MODE_PREFIX = {"04": "tree", "16": "commit"}


def _kind(mode: int) -> str:
    return _KIND_BY_MODE_PREFIX.get(f"{mode:06o}"[:2], "blob")


def _branch_ref(branch: str) -> bytes:
    return b"refs/heads/" + branch.encode()


def repository_path(full_name: str) -> Path:
    return Path(settings.LOCAL_REPOS_DIR) / f"{full_name}.git"


def init_repository(full_name: str, branch: str) -> Path:
    """Create the bare repository with one initial commit on `branch` (idempotent)."""
    path = repository_path(full_name)
    if (path / "HEAD").exists():
        return path
    path.mkdir(parents=True, exist_ok=True)
    repo = Repo.init_bare(str(path))
    adapter = LocalAdapter(full_name)
    readme = f"# {full_name}\n\nPromoted into by Patchgate.\n".encode()
    sha = adapter.write_commit(
        None, [TreeWrite("README.md", readme)], "Initial commit", ("Patchgate", "patchgate@" + settings.COMMIT_EMAIL_DOMAIN)
    )
    repo.refs.set_symbolic_ref(b"HEAD", _branch_ref(branch))
    repo.refs.add_if_new(_branch_ref(branch), sha.encode())
    return path


class LocalAdapter:
    def __init__(self, full_name: str):
        self.full_name = full_name
        path = repository_path(full_name)
        if not (path / "HEAD").exists() and not (path / "objects").exists():
            raise ScmNotFound(f"repository {full_name} not found")
        self.repo = Repo(str(path))

    def branch_head(self, branch: str) -> str | None:
        sha = self.repo.refs.as_dict().get(_branch_ref(branch))
        return sha.decode() if sha else None

    def read_entries(self, commit_sha: str, paths: list[str]) -> dict[str, TreeEntry]:
        root = self.repo[commit_sha.encode()].tree
        wanted = {prefix for path in paths for prefix in path_and_parents(path)}
        entries = {}
        for path in wanted:
            try:
                mode, sha = tree_lookup_path(self.repo.__getitem__, root, path.encode())
            except (KeyError, NotTreeError):
                continue
            entries[path] = TreeEntry(path, sha.decode(), f"{mode:06o}", _kind(mode))
        return entries

    def read_blob(self, sha: str) -> bytes:
        try:
            obj = self.repo[sha.encode()]
        except KeyError:
            raise ScmNotFound(f"blob {sha} not found") from None
        if not isinstance(obj, Blob):
            raise ScmNotFound(f"blob {sha} not found")
        return obj.data

    def write_commit(self, parent_sha: str | None, writes: list[TreeWrite], message: str, author: tuple[str, str]) -> str:
        store = self.repo.object_store
        root = self.repo[parent_sha.encode()].tree if parent_sha else None
        tree_sha = self._write_tree(root, [(w.path.split("/"), w) for w in writes])
        commit = Commit()
        commit.tree = tree_sha or self._empty_tree()
        commit.parents = [parent_sha.encode()] if parent_sha else []
        identity = f"{author[0]} <{author[1]}>".encode()
        commit.author = commit.committer = identity
        commit.author_time = commit.commit_time = int(time.time())
        commit.author_timezone = commit.commit_timezone = 0
        commit.encoding = b"UTF-8"
        commit.message = message.encode()
        store.add_object(commit)
        return commit.id.decode()

    def write_chain(self, parent_sha: str | None, commits: list[NewCommit]) -> list[str]:
        return write_chain_in_turn(self, parent_sha, commits)

    def _empty_tree(self) -> bytes:
        tree = Tree()
        self.repo.object_store.add_object(tree)
        return tree.id

    def _write_tree(self, tree_sha: bytes | None, writes: list[tuple[list[str], TreeWrite]]) -> bytes | None:
        """Apply writes (split paths) below one tree; returns None when it ends up empty,
        since git keeps no empty directories."""
        tree = self.repo[tree_sha] if tree_sha else Tree()
        if not isinstance(tree, Tree):
            raise ScmRejected("a parent of the path is a file")
        tree = tree.copy()
        nested: dict[bytes, list[tuple[list[str], TreeWrite]]] = defaultdict(list)
        for parts, write in writes:
            name = parts[0].encode()
            if len(parts) > 1:
                nested[name].append((parts[1:], write))
            elif write.content is None:
                if name in tree:
                    del tree[name]
            else:
                blob = Blob.from_string(write.content)
                self.repo.object_store.add_object(blob)
                tree[name] = (int(write.mode or BLOB_MODE, 8), blob.id)
        for name, child_writes in nested.items():
            existing = tree[name][1] if name in tree else None
            if existing is not None and _kind(tree[name][0]) != "tree":
                raise ScmRejected(f"{name.decode()} is a file, not a directory")
            child = self._write_tree(existing, child_writes)
            if child is None:
                if name in tree:
                    del tree[name]
            else:
                tree[name] = (0o040000, child)
        if not len(tree):
            return None
        self.repo.object_store.add_object(tree)
        return tree.id

    def compare_and_swap(self, branch: str, expected_sha: str, new_sha: str) -> bool:
        try:
            return self.repo.refs.set_if_equals(_branch_ref(branch), expected_sha.encode(), new_sha.encode())
        except FileLocked:
            # Another process is moving this ref right now: the branch moved.
            return False

    def create_branch(self, branch: str, sha: str) -> None:
        if not self.repo.refs.add_if_new(_branch_ref(branch), sha.encode()):
            raise ScmRejected(f"branch {branch} already exists")

    def recent_commits(self, branch: str, limit: int) -> list[CommitSummary]:
        head = self.branch_head(branch)
        if head is None:
            return []
        walker = self.repo.get_walker(include=[head.encode()], max_entries=limit)
        return [
            CommitSummary(entry.commit.id.decode(), entry.commit.message.decode("utf-8", "replace")) for entry in walker
        ]

    def open_pull_request(self, head: str, base: str, title: str, body: str) -> PullRequest | None:
        # A local repository has no review system: the review branch is the record.
        return None

    def commit_url(self, sha: str) -> str | None:
        return None
