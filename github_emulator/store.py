"""The emulated repositories: real git objects in a dulwich object store, so every
sha is the one git computes, and refs guarded by one lock per repository so that
concurrent updates behave as compare-and-swap, as on GitHub."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TypeVar

from dulwich.objects import Blob, Commit, ObjectID, ShaFile, Tree
from dulwich.refs import Ref
from dulwich.repo import MemoryRepo

from . import signing

T = TypeVar("T", bound=ShaFile)

TREE_MODE = 0o40000
SUBMODULE_MODE = 0o160000
SYMLINK_MODE = 0o120000
FULL_SHA = re.compile(r"[0-9a-f]{40}")


class Refused(Exception):
    """GitHub refuses the request: `status` and GitHub's own `message`."""

    def __init__(self, status: int, message: str, errors: list | None = None):
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors


@dataclass(frozen=True)
class Signature:
    name: str
    email: str
    when: datetime  # timezone-aware: its offset is the one written in the object

    def as_git(self) -> tuple[bytes, int, int]:
        offset = self.when.utcoffset()
        assert offset is not None, "a Signature's time is timezone-aware"
        return f"{self.name} <{self.email}>".encode(), int(self.when.timestamp()), int(offset.total_seconds())


@dataclass(frozen=True)
class Entry:
    """One tree entry, with its full path from the root."""

    path: str
    mode: int
    sha: str

    @property
    def kind(self) -> str:
        if self.mode == TREE_MODE:
            return "tree"
        return "commit" if self.mode == SUBMODULE_MODE else "blob"


@dataclass
class App:
    """A registered GitHub App: the public half of its key."""

    id: str
    public_key: str


@dataclass(frozen=True)
class Installation:
    """An App installed on an account: its tokens reach that account's repositories
    only. `owner` None (the Python API's shortcut) reaches every account."""

    id: str
    app_id: str
    owner: str | None
    created_at: datetime

    def reaches(self, owner: str) -> bool:
        return self.owner is None or self.owner.lower() == owner.lower()


@dataclass
class PullRequest:
    number: int
    id: int
    title: str
    body: str | None
    head: str
    base: str
    draft: bool
    head_sha: str  # kept for when the head branch is gone
    created_at: datetime
    state: str = "open"


@dataclass
class Repository:
    owner: str
    name: str
    id: int
    created_at: datetime
    default_branch: str = "main"
    git: MemoryRepo = field(default_factory=MemoryRepo)
    # Held around every read-then-write of refs (and pull request numbering).
    lock: threading.RLock = field(default_factory=threading.RLock)
    pulls: list[PullRequest] = field(default_factory=list)
    rulesets: list = field(default_factory=list)  # rulesets.Ruleset, in creation order

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    # --- objects ---------------------------------------------------------------

    def object(self, sha: str | None) -> ShaFile | None:
        if not sha or not FULL_SHA.fullmatch(sha):
            return None
        try:
            return self.git.object_store[ObjectID(sha.encode())]
        except KeyError:
            return None

    def kind_of(self, sha: str | None) -> str | None:
        found = self.object(sha)
        return found.type_name.decode() if found else None

    def add_blob(self, data: bytes) -> str:
        blob = Blob.from_string(data)
        self.git.object_store.add_object(blob)
        return blob.id.decode()

    def blob_data(self, sha: str) -> bytes:
        return self._typed(sha, Blob).data

    def _typed(self, sha: str, kind: type[T]) -> T:
        """The object `sha`, which the caller knows to be a `kind`."""
        found = self.git.object_store[ObjectID(sha.encode())]
        assert isinstance(found, kind), f"{sha} is a {found.type_name.decode()}"
        return found

    def resolve(self, name: str) -> str | None:
        """What GitHub accepts where it takes a tree-ish or commit-ish: a full sha of
        an existing object, a branch or tag name, or a qualified ref."""
        if self.object(name):
            return name
        for candidate in (name, f"refs/heads/{name}", f"refs/tags/{name}", f"refs/{name}"):
            sha = self.ref(candidate)
            if sha:
                return sha
        return None

    def root_tree(self, sha: str | None) -> str | None:
        """The tree of a tree or commit sha; None for anything else."""
        found = self.object(sha)
        if isinstance(found, Commit):
            return found.tree.decode()
        return sha if isinstance(found, Tree) else None

    def entries(self, tree_sha: str, recursive: bool = False, prefix: str = "") -> list[Entry]:
        """In git's order (`git ls-tree [-r -t]`): a directory before its content."""
        listed = []
        for item in self._typed(tree_sha, Tree).iteritems():
            entry = Entry(prefix + item.path.decode(), item.mode, item.sha.decode())
            listed.append(entry)
            if recursive and entry.mode == TREE_MODE:
                listed.extend(self.entries(entry.sha, True, entry.path + "/"))
        return listed

    def lookup(self, tree_sha: str, path: str) -> Entry | None:
        """The entry at `path` below a tree; the root itself for an empty path."""
        if not path:
            return Entry("", TREE_MODE, tree_sha)
        parent, _, name = path.rpartition("/")
        container = self.lookup(tree_sha, parent) if parent else Entry("", TREE_MODE, tree_sha)
        if container is None or container.mode != TREE_MODE:
            return None
        tree = self._typed(container.sha, Tree)
        try:
            mode, sha = tree[name.encode()]
        except KeyError:
            return None
        return Entry(path, mode, sha.decode())

    def edit_tree(self, base_tree: str | None, edits: list[tuple[str, int, str | None]]) -> str | None:
        """Apply (path, mode, sha or None to delete) edits to a tree; the new root
        tree's sha, or None when nothing is left (git keeps no empty trees)."""
        tree = Tree()
        if base_tree:
            for item in self._typed(base_tree, Tree).iteritems():
                tree.add(item.path, item.mode, item.sha)
        nested: dict[str, list[tuple[str, int, str | None]]] = {}
        for path, mode, sha in edits:
            name, slash, rest = path.partition("/")
            if slash:
                nested.setdefault(name, []).append((rest, mode, sha))
            elif sha is not None:
                tree.add(name.encode(), mode, ObjectID(sha.encode()))
            elif name.encode() in tree:
                del tree[name.encode()]
            else:
                raise Refused(422, "GitRPC::BadObjectState")
        for name, inner in nested.items():
            key = name.encode()
            current = tree[key] if key in tree else None
            subtree = current[1].decode() if current and current[0] == TREE_MODE else None
            edited = self.edit_tree(subtree, inner)
            if edited is None:
                del tree[key]
            else:
                tree.add(key, TREE_MODE, ObjectID(edited.encode()))
        if not len(tree):
            return None
        self.git.object_store.add_object(tree)
        return tree.id.decode()

    def add_files(self, files: Iterable[tuple[str, bytes]]) -> str:
        """The sha of a new root tree holding `files` (path, content), built bottom-up in
        one pass: a repository of 100,000 files in seconds, not one edit per file."""
        root: dict = {}
        for path, data in files:
            *directories, name = path.split("/")
            node = root
            for directory in directories:
                node = node.setdefault(directory, {})
            node[name] = self.add_blob(data)
        return self._add_nested_tree(root)

    def _add_nested_tree(self, node: dict) -> str:
        tree = Tree()
        for name, value in node.items():
            if isinstance(value, dict):
                tree.add(name.encode(), TREE_MODE, ObjectID(self._add_nested_tree(value).encode()))
            else:
                tree.add(name.encode(), 0o100644, ObjectID(value.encode()))
        self.git.object_store.add_object(tree)
        return tree.id.decode()

    def empty_tree(self) -> str:
        """What a commit records when its last file is deleted."""
        tree = Tree()
        self.git.object_store.add_object(tree)
        return tree.id.decode()

    def add_commit(
        self, message: str, tree: str, parents: list[str], author: Signature, committer: Signature, signed: bool = False
    ) -> Commit:
        """A new commit object; `signed` ones carry GitHub's signature (signing.py)."""
        commit = Commit()
        commit.tree = ObjectID(tree.encode())
        commit.parents = [ObjectID(parent.encode()) for parent in parents]
        commit.author, commit.author_time, commit.author_timezone = author.as_git()
        commit.committer, commit.commit_time, commit.commit_timezone = committer.as_git()
        commit.message = message.encode()  # exactly as given: GitHub adds no newline
        if signed:
            signing.sign(commit)
        self.git.object_store.add_object(commit)
        return commit

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        seen, pending = set(), [descendant]
        while pending:
            sha = pending.pop()
            if sha == ancestor:
                return True
            if sha not in seen:
                seen.add(sha)
                pending.extend(parent.decode() for parent in self._typed(sha, Commit).parents)
        return False

    def history(self, start: str) -> list[Commit]:
        """Newest first, as `git log` orders them (by commit date)."""
        return [walk.commit for walk in self.git.get_walker(include=[ObjectID(start.encode())])]

    # --- refs ------------------------------------------------------------------

    @property
    def is_empty(self) -> bool:
        return not self.refs()

    def refs(self, prefix: str = "refs/") -> dict[str, str]:
        every = self.git.refs.as_dict()
        return {name.decode(): sha.decode() for name, sha in sorted(every.items()) if name.decode().startswith(prefix)}

    def ref(self, name: str) -> str | None:
        return self.refs().get(name)

    def set_ref(self, name: str, sha: str) -> None:
        self.git.refs[Ref(name.encode())] = ObjectID(sha.encode())

    def delete_ref(self, name: str) -> None:
        del self.git.refs[Ref(name.encode())]

    def branch_head(self, branch: str) -> str | None:
        return self.ref(f"refs/heads/{branch}")


def now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)
