"""The `local` adapter: a bare git repository on disk, written through dulwich.

Inspectable with plain git (`git --git-dir var/repos/demo/sandbox.git log -p`).
"""

from __future__ import annotations

import time
from collections import defaultdict
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import cast

from django.conf import settings
from dulwich.diff_tree import TreeEntry as DiffTreeEntry
from dulwich.diff_tree import tree_changes
from dulwich.errors import NotTreeError
from dulwich.object_store import tree_lookup_path
from dulwich.objects import Blob, Commit, ObjectID, ShaFile, Tree
from dulwich.refs import Ref
from dulwich.repo import Repo

from ..merge import file_patch, is_text
from .locks import writing
from .port import (
    BLOB_MODE,
    CommitSummary,
    FilePatch,
    FileRead,
    NewCommit,
    PullRequest,
    ScmNotFound,
    ScmRejected,
    TreeEntry,
    TreeWrite,
    parent_directories,
    path_and_parents,
    write_chain_in_turn,
)

_KIND_BY_MODE_PREFIX = {"04": "tree", "16": "commit"}


def _kind(mode: int) -> str:
    return _KIND_BY_MODE_PREFIX.get(f"{mode:06o}"[:2], "blob")


def _branch_ref(branch: str) -> Ref:
    return Ref(b"refs/heads/" + branch.encode())


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
        None,
        [TreeWrite("README.md", readme)],
        "Initial commit",
        ("Patchgate", "patchgate@" + settings.COMMIT_EMAIL_DOMAIN),
    )
    repo.refs.set_symbolic_ref(Ref(b"HEAD"), _branch_ref(branch))
    repo.refs.add_if_new(_branch_ref(branch), ObjectID(sha.encode()))
    return path


class LocalAdapter:
    reads_over_network = False

    def __init__(self, full_name: str):
        self.full_name = full_name
        self.path = path = repository_path(full_name)
        if not (path / "HEAD").exists() and not (path / "objects").exists():
            raise ScmNotFound(f"repository {full_name} not found")
        self.repo = Repo(str(path))

    def _commit(self, sha: str) -> Commit:
        commit = self.repo[ObjectID(sha.encode())]
        if not isinstance(commit, Commit):
            raise ScmNotFound(f"commit {sha} not found")
        return commit

    def branch_head(self, branch: str) -> str | None:
        sha = self.repo.refs.as_dict().get(_branch_ref(branch))
        return sha.decode() if sha else None

    def read_entries(self, commit_sha: str, paths: list[str], siblings: bool = False) -> dict[str, TreeEntry]:
        root = self._commit(commit_sha).tree
        wanted = {prefix for path in paths for prefix in path_and_parents(path)}
        entries = {}
        for path in wanted:
            try:
                mode, sha = tree_lookup_path(self.repo.__getitem__, root, path.encode())
            except (KeyError, NotTreeError):
                continue
            entries[path] = TreeEntry(path, sha.decode(), f"{mode:06o}", _kind(mode))
        if siblings:
            for directory in parent_directories(paths):
                found = entries.get(directory)
                if directory and (found is None or found.kind != "tree"):
                    continue
                tree = self.repo[found.sha.encode() if found else root]
                for item in tree.iteritems() if isinstance(tree, Tree) else []:
                    name = item.path.decode("utf-8", "replace")
                    path = f"{directory}/{name}" if directory else name
                    entries[path] = TreeEntry(path, item.sha.decode(), f"{item.mode:06o}", _kind(item.mode))
        return entries

    def read_tip(
        self, branch: str, paths: list[str], siblings: bool = False, expected: list[TreeWrite] | None = None
    ) -> tuple[str, dict[str, TreeEntry]] | None:
        head = self.branch_head(branch)  # on this disk, nothing is gained by writing ahead
        return None if head is None else (head, self.read_entries(head, paths, siblings))

    def read_files(self, branch: str, paths: list[str]) -> tuple[str, dict[str, FileRead]] | None:
        head = self.branch_head(branch)
        if head is None:
            return None
        entries = self.read_entries(head, paths)
        found = [entries[path] for path in paths if path in entries and entries[path].kind == "blob"]
        return head, {e.path: FileRead(e.path, e.sha, e.mode, self.read_blob(e.sha)) for e in found}

    def read_blob(self, sha: str) -> bytes:
        try:
            obj = self.repo[sha.encode()]
        except KeyError:
            raise ScmNotFound(f"blob {sha} not found") from None
        if not isinstance(obj, Blob):
            raise ScmNotFound(f"blob {sha} not found")
        return obj.data

    def write_commit(
        self, parent_sha: str | None, writes: list[TreeWrite], message: str, author: tuple[str, str]
    ) -> str:
        what = f"writing a commit to {self.full_name}"
        return writing(self.path, what, lambda: self._write_commit(parent_sha, writes, message, author))

    def _write_commit(
        self, parent_sha: str | None, writes: list[TreeWrite], message: str, author: tuple[str, str]
    ) -> str:
        store = self.repo.object_store
        root = self._commit(parent_sha).tree if parent_sha else None
        tree_sha = self._write_tree(root, [(w.path.split("/"), w) for w in writes])
        commit = Commit()
        commit.tree = tree_sha or self._empty_tree()
        commit.parents = [ObjectID(parent_sha.encode())] if parent_sha else []
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
        found = self.repo[ObjectID(tree_sha)] if tree_sha else Tree()
        if not isinstance(found, Tree):
            raise ScmRejected("a parent of the path is a file")
        tree = cast(Tree, found.copy())
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
                tree[name] = (0o040000, ObjectID(child))
        if not len(tree):
            return None
        self.repo.object_store.add_object(tree)
        return tree.id

    def compare_and_swap(self, branch: str, expected_sha: str, new_sha: str) -> bool:
        ref, expected, new = _branch_ref(branch), ObjectID(expected_sha.encode()), ObjectID(new_sha.encode())
        return writing(
            self.path, f"moving {branch} of {self.full_name}", lambda: self.repo.refs.set_if_equals(ref, expected, new)
        )

    def modes_kept(self, branch: str) -> bool:
        return True

    def lands_directly(self, branch: str, commits: list[NewCommit]) -> bool:
        return False  # a chain and one exact compare-and-swap cost nothing more here

    def commit_onto_branch(self, branch: str, expected_sha: str, commits: list[NewCommit]) -> list[str]:
        shas = self.write_chain(expected_sha, commits)
        return shas if not shas or self.compare_and_swap(branch, expected_sha, shas[-1]) else []

    def reserve_writes(self, branch: str, commits: list[NewCommit], review: bool) -> AbstractContextManager[int]:
        return nullcontext(len(commits))  # no host to be limited by

    def create_branch(self, branch: str, sha: str) -> None:
        ref, new = _branch_ref(branch), ObjectID(sha.encode())
        what = f"creating {branch} in {self.full_name}"
        created = writing(self.path, what, lambda: self.repo.refs.add_if_new(ref, new))
        if not created:
            raise ScmRejected(f"branch {branch} already exists")

    def move_branch(self, branch: str, sha: str) -> None:
        ref, new = _branch_ref(branch), ObjectID(sha.encode())
        writing(self.path, f"moving {branch} of {self.full_name}", lambda: self.repo.refs.set_if_equals(ref, None, new))

    def recent_commits(self, branch: str, limit: int) -> list[CommitSummary]:
        head = self.branch_head(branch)
        if head is None:
            return []
        walker = self.repo.get_walker(include=[ObjectID(head.encode())], max_entries=limit)
        return [
            CommitSummary(entry.commit.id.decode(), entry.commit.message.decode("utf-8", "replace")) for entry in walker
        ]

    def open_pull_request(self, head: str, base: str, title: str, body: str) -> PullRequest | None:
        # A local repository has no review system: the review branch is the record.
        return None

    def commit_url(self, sha: str) -> str | None:
        return None

    def commit_diffs(self, sha: str) -> dict[str, FilePatch]:
        """The parent's tree and the commit's tree compared by dulwich, each changed
        file diffed as the engine diffs (no rename detection: one path, one change)."""
        commit = self._object(sha.encode())
        if not isinstance(commit, Commit):
            raise ScmNotFound(f"commit {sha} not found in {self.full_name}")
        parent = self._object(commit.parents[0]) if commit.parents else None
        parent_tree = parent.tree if isinstance(parent, Commit) else None
        patches = {}
        for change in tree_changes(self.repo.object_store, parent_tree, commit.tree):
            old, new = change.old, change.new
            named = new if new is not None and new.path else old
            if named is None or named.path is None:
                continue
            path = named.path.decode("utf-8", "replace")
            before, after = self._side(old), self._side(new)
            if before == after:
                one_sided = old is None or new is None or None in (old.sha, new.sha)
                patches[path] = FilePatch(path, None, "an empty file" if one_sided else "only the file mode changed")
            elif not (is_text(before) and is_text(after)):
                patches[path] = FilePatch(path, None, f"binary content: {len(before)} bytes before, {len(after)} after")
            else:
                patches[path] = FilePatch(path, file_patch(before, after))
        return patches

    def _side(self, entry: DiffTreeEntry | None) -> bytes:
        """A file's content on one side of a change: nothing where it does not exist,
        and a submodule's commit as git shows it."""
        if entry is None or entry.sha is None or entry.mode is None:
            return b""
        if _kind(entry.mode) == "commit":
            return b"Subproject commit " + entry.sha + b"\n"
        blob = self._object(entry.sha)
        return blob.data if isinstance(blob, Blob) else b""

    def _object(self, sha: bytes) -> ShaFile | None:
        try:
            return self.repo.object_store[ObjectID(sha)]
        except KeyError:
            return None
