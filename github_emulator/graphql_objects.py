"""What the emulated GraphQL API resolves (https://docs.github.com/graphql/reference):
`viewer`, `repository` with its refs and git objects (`ref`, `defaultBranchRef`,
`object(expression:)`, commits and their `file(path:)`, trees, blobs), and the mutations
`createCommitOnBranch` (https://docs.github.com/graphql/reference/mutations#createcommitonbranch)
and `updateRefs` (https://docs.github.com/graphql/reference/mutations#updaterefs).

Objects are dicts keyed by field name; a value that takes the field's arguments is a
function. A field the emulator does not resolve is an error naming it, never a
silent null. Errors carry GitHub's `type` (NOT_FOUND, STALE_DATA, UNPROCESSABLE).
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timezone
from typing import Any

from dulwich.objects import Blob, Commit, Tree

from . import rulesets, shapes, signing
from .core import Call
from .store import Entry, Refused, Repository, Signature

# git's own test for binary content: a NUL in the first 8,000 bytes.
BINARY_PROBE = 8000
STALE_DATA = 'Expected branch to point to "{expected}" but it did not. Pull and try again.'


class GitHubError(Exception):
    """An error GitHub reports in `errors[]` with its `type`."""

    def __init__(self, type_: str, message: str):
        super().__init__(message)
        self.type, self.message = type_, message


def _date(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def query_root(call: Call) -> dict:
    return {
        "viewer": lambda info: viewer(call),
        "repository": lambda info, owner, name, followRenames=True: repository(call, owner, name),
    }


def mutation_root(call: Call) -> dict:
    return {
        "createCommitOnBranch": lambda info, input: create_commit_on_branch(call, input),
        "updateRefs": lambda info, input: update_refs(call, input),
    }


def viewer(call: Call) -> dict:
    signature = call.caller_signature()
    name, email = signature.name, signature.email
    login = name if name.endswith("[bot]") else shapes.LOGIN
    return {
        "__typename": "User",
        "id": shapes.node_id("User", shapes.account_id(login)),
        "databaseId": shapes.account_id(login),
        "login": login,
        "name": name,
        "email": email,
        "url": f"{call.urls.web}/{login}",
    }


def repository(call: Call, owner: str, name: str) -> dict:
    try:
        found = call.repo(owner, name)
    except Refused:
        raise GitHubError("NOT_FOUND", f"Could not resolve to a Repository with the name '{owner}/{name}'.") from None
    urls = call.urls
    return {
        "__typename": "Repository",
        "id": shapes.node_id("Repository", found.id),
        "databaseId": found.id,
        "name": found.name,
        "nameWithOwner": found.full_name,
        "owner": {"__typename": "User" if found.owner == shapes.LOGIN else "Organization", "login": found.owner},
        "url": urls.html(found),
        "isEmpty": found.is_empty,
        "defaultBranchRef": lambda info: ref(urls, found, f"refs/heads/{found.default_branch}"),
        "ref": lambda info, qualifiedName: ref(urls, found, _qualified(found, qualifiedName)),
        "object": lambda info, expression=None, oid=None: git_object(urls, found, *_resolved(found, expression, oid)),
    }


def _qualified(repo: Repository, name: str) -> str:
    """A fully qualified ref first, then a short name (as GitHub's `Repository.ref` documents)."""
    if repo.ref(name):
        return name
    return next((f"{prefix}{name}" for prefix in ("refs/heads/", "refs/tags/") if repo.ref(f"{prefix}{name}")), name)


def _resolved(repo: Repository, expression: str | None, oid: str | None) -> tuple[str | None, str]:
    """`rev:path` or `rev` (HEAD is the default branch) or an oid -> (sha, path of it)."""
    if oid:
        return oid, ""
    revision, colon, path = (expression or "").partition(":")
    sha = repo.resolve(repo.default_branch if revision in ("", "HEAD") else revision)
    if not colon or sha is None:
        return sha, ""
    root = repo.root_tree(sha)
    entry = repo.lookup(root, path.strip("/")) if root else None
    return (entry.sha, entry.path) if entry else (None, "")


def ref(urls: shapes.Urls, repo: Repository, name: str) -> dict | None:
    sha = repo.ref(name)
    if sha is None:
        return None
    prefix = "refs/heads/" if name.startswith("refs/heads/") else "refs/tags/" if name.startswith("refs/tags/") else ""
    return {
        "__typename": "Ref",
        "id": shapes.node_id("Ref", f"{repo.id}:{name}"),
        "name": name.removeprefix(prefix),
        "prefix": prefix,
        "target": lambda info: git_object(urls, repo, sha, ""),
    }


def git_object(urls: shapes.Urls, repo: Repository, sha: str | None, path: str) -> dict | None:
    found = repo.object(sha)
    if isinstance(found, Commit):
        return commit(urls, repo, found)
    if isinstance(found, Tree):
        return tree(urls, repo, found.id.decode(), path)
    if isinstance(found, Blob):
        return blob(repo, found)
    return None


def _common(kind: str, sha: str) -> dict:
    return {"__typename": kind, "id": shapes.node_id(kind, sha), "oid": sha, "abbreviatedOid": sha[:7]}


def _actor(identity: bytes, seconds: int) -> dict:
    person = shapes.person(identity, seconds)
    return {"name": person["name"], "email": person["email"], "date": person["date"]}


def commit(urls: shapes.Urls, repo: Repository, found: Commit) -> dict:
    sha = found.id.decode()
    message = found.message.decode()
    headline, _, body = message.partition("\n")
    return {
        **_common("Commit", sha),
        "message": message,
        "messageHeadline": headline,
        "messageBody": body.strip("\n"),
        "author": _actor(found.author, found.author_time),
        "committer": _actor(found.committer, found.commit_time),
        "authoredDate": _date(found.author_time),
        "committedDate": _date(found.commit_time),
        "committedViaWeb": bool(found.gpgsig),
        "url": urls.html(repo, f"/commit/{sha}"),
        "commitUrl": urls.html(repo, f"/commit/{sha}"),
        "tree": lambda info: tree(urls, repo, found.tree.decode(), ""),
        "file": lambda info, path: _file(urls, repo, found, path),
        "parents": lambda info, **page: _connection(
            [git_object(urls, repo, parent.decode(), "") or {} for parent in found.parents]
        ),
        "signature": lambda info: _signature(found),
    }


def _file(urls: shapes.Urls, repo: Repository, found: Commit, path: str) -> dict | None:
    """`Commit.file(path:)`: the tree entry at `path` in the commit, or null."""
    entry = repo.lookup(found.tree.decode(), path.strip("/"))
    return _entry(urls, repo, entry) if entry is not None and entry.path else None


def _signature(found: Commit) -> dict | None:
    if not found.gpgsig:
        return None
    verification = signing.verification(found)
    return {
        "__typename": "SshSignature",
        "email": signing.WEB_FLOW[1],
        "isValid": verification["verified"],
        "payload": verification["payload"],
        "signature": verification["signature"],
        "state": "VALID" if verification["verified"] else "INVALID",
        "wasSignedByGitHub": True,
        "keyFingerprint": None,
        "verifiedAt": verification["verified_at"],
        "signer": None,
    }


def _connection(nodes: list[dict]) -> dict:
    return {
        "totalCount": len(nodes),
        "nodes": nodes,
        "edges": [
            {"cursor": base64.b64encode(f"cursor:{i}".encode()).decode(), "node": n} for i, n in enumerate(nodes)
        ],
        "pageInfo": {"hasNextPage": False, "hasPreviousPage": False, "startCursor": None, "endCursor": None},
    }


def tree(urls: shapes.Urls, repo: Repository, sha: str, path: str) -> dict:
    prefix = f"{path}/" if path else ""
    return {
        **_common("Tree", sha),
        "entries": lambda info: [_entry(urls, repo, e) for e in repo.entries(sha, prefix=prefix)],
    }


def _entry(urls: shapes.Urls, repo: Repository, entry: Entry) -> dict:
    name = entry.path.rpartition("/")[2]
    return {
        "name": name,
        "path": entry.path,
        "mode": entry.mode,
        "type": entry.kind,
        "oid": entry.sha,
        "size": len(repo.blob_data(entry.sha)) if entry.kind == "blob" else 0,
        "extension": f".{name.rpartition('.')[2]}" if "." in name else None,
        "isGenerated": False,
        "object": lambda info: None if entry.kind == "commit" else git_object(urls, repo, entry.sha, entry.path),
    }


def blob(repo: Repository, found: Blob) -> dict:
    data = found.data
    binary = b"\0" in data[:BINARY_PROBE]
    return {
        **_common("Blob", found.id.decode()),
        "byteSize": len(data),
        "isBinary": binary,
        "isTruncated": False,
        "text": None if binary else data.decode("utf-8", errors="replace"),
    }


# --- createCommitOnBranch --------------------------------------------------------------


def _branch_of(call: Call, branch: dict) -> tuple[Repository, str]:
    """The branch by Ref id, or by repositoryNameWithOwner and branchName."""
    if branch.get("id"):
        try:
            decoded = base64.b64decode(branch["id"] + "==").decode()
            repo_id, _, name = decoded.partition("Ref")[2].partition(":")
            found = next(r for r in call.emulator.repos.values() if str(r.id) == repo_id)
        except (binascii.Error, UnicodeDecodeError, StopIteration):
            raise GitHubError(
                "NOT_FOUND", f"Could not resolve to a node with the global id of '{branch['id']}'"
            ) from None
        return found, name.removeprefix("refs/heads/")
    full_name, name = str(branch.get("repositoryNameWithOwner") or ""), str(branch.get("branchName") or "")
    if not full_name or not name:
        raise GitHubError(
            "UNPROCESSABLE", "Either branch id or repositoryNameWithOwner and branchName must be provided"
        )
    owner, _, repo_name = full_name.partition("/")
    try:
        return call.repo(owner, repo_name), name
    except Refused:
        raise GitHubError("NOT_FOUND", f"Could not resolve to a Repository with the name '{full_name}'.") from None


def _edits(repo: Repository, head: str, changes: dict) -> list[tuple[str, int, str | None]]:
    additions, deletions = changes.get("additions") or [], changes.get("deletions") or []
    paths = [item["path"] for item in [*additions, *deletions]]
    for path in paths:
        parts = path.split("/")
        if not path or any(part in ("", ".", "..") for part in parts):
            raise GitHubError("UNPROCESSABLE", f"Invalid path: {path!r}")
    if len(set(paths)) != len(paths):
        raise GitHubError("UNPROCESSABLE", "A path was given more than once in additions and deletions")
    base_tree = repo.root_tree(head)
    edits: list[tuple[str, int, str | None]] = []
    for deletion in deletions:
        if base_tree is None or repo.lookup(base_tree, deletion["path"]) is None:
            raise GitHubError(
                "UNPROCESSABLE", f"A path was requested for deletion which does not exist as of commit oid `{head}`"
            )
        edits.append((deletion["path"], 0o100644, None))
    for addition in additions:
        # No file modes on this path: every file it writes is a plain file (100644).
        edits.append((addition["path"], 0o100644, repo.add_blob(base64.b64decode(addition["contents"]))))
    return edits


def create_commit_on_branch(call: Call, given: dict[str, Any]) -> dict:
    """One signed commit on the branch, only if the branch still points exactly at
    `expectedHeadOid` when it moves (GitHub's STALE_DATA otherwise)."""
    repo, branch = _branch_of(call, given["branch"])
    ref_name, expected = f"refs/heads/{branch}", given["expectedHeadOid"]
    headline, body = given["message"]["headline"], given["message"].get("body")
    message = f"{headline}\n\n{body}" if body else headline
    stale = GitHubError("STALE_DATA", STALE_DATA.format(expected=expected))
    with repo.lock:
        head = repo.branch_head(branch)
        if head is None:
            raise GitHubError("NOT_FOUND", f"Could not resolve to a Ref with the name '{ref_name}'.")
        if head != expected:
            raise stale
        edits = _edits(repo, head, given.get("fileChanges") or {})
        tree_sha = repo.edit_tree(repo.root_tree(head), edits) if edits else repo.root_tree(head)
        author = call.caller_signature()
        committer = Signature(*signing.WEB_FLOW, author.when)
        created = repo.add_commit(message, tree_sha or repo.empty_tree(), [head], author, committer, signed=True)
    # GitHub writes the objects between reading the branch and moving it: a write that
    # moves the branch meanwhile makes this one stale, as on GitHub.
    call.emulator.server_work()
    with repo.lock:
        if repo.branch_head(branch) != expected:
            raise stale
        repo.set_ref(ref_name, created.id.decode())
    return {
        "clientMutationId": given.get("clientMutationId"),
        "commit": commit(call.urls, repo, created),
        "ref": ref(call.urls, repo, ref_name),
    }


# --- updateRefs --------------------------------------------------------------------------

ZERO_OID = "0" * 40


class RefUpdateRefused(Exception):
    """A ref update GitHub refuses without saying why: a stale `beforeOid`, or a
    non-fast-forward without `force`. GitHub documents no error for either; the one report
    (https://github.com/orgs/community/discussions/213655) is of a generic error with no
    `type`, which is what graphql.execution_error answers for an exception that is not a
    GitHubError: the emulator gives a client no more to go on than GitHub does."""


def _repository_by_id(call: Call, node_id: str) -> Repository:
    found = next((r for r in call.emulator.repos.values() if shapes.node_id("Repository", r.id) == node_id), None)
    if found is None:
        raise GitHubError("NOT_FOUND", f"Could not resolve to a node with the global id of '{node_id}'")
    return found


def _check_ref_update(repo: Repository, update: dict) -> None:
    """One RefUpdate checked as GitHub documents it, with the repository's lock held."""
    name, before, after = update["name"], update.get("beforeOid"), update["afterOid"]
    if not name.startswith("refs/") or name.count("/") < 2:
        raise GitHubError("UNPROCESSABLE", f"{name} is not a valid ref name.")
    current = repo.ref(name)
    if before is not None and (current or ZERO_OID) != before:
        raise RefUpdateRefused(f"{name} points at {current or 'nothing'}, not at {before}")
    if after == ZERO_OID:
        return
    kind = repo.kind_of(after)
    if kind is None:
        raise GitHubError("UNPROCESSABLE", "Object does not exist")
    if current and not update.get("force") and kind == "commit" and not repo.is_ancestor(current, after):
        raise RefUpdateRefused(f"{name}: {after} is not a fast forward of {current}")
    try:
        rulesets.check_new_commits(repo, name, current, after, 422)
    except Refused as refusal:
        # As the REST ref update words it; GitHub documents no GraphQL type for a rule violation.
        raise GitHubError("UNPROCESSABLE", refusal.message) from None


def update_refs(call: Call, given: dict[str, Any]) -> dict:
    """Every update or none: each ref must point exactly at its `beforeOid` (the zero oid:
    must not exist), move forward unless `force`, and put no unsigned commit on a branch
    whose ruleset requires signatures; `afterOid` zero deletes the ref."""
    repo = _repository_by_id(call, given["repositoryId"])
    with repo.lock:  # the checks and the moves are one step
        for update in given["refUpdates"]:
            _check_ref_update(repo, update)
        for update in given["refUpdates"]:
            if update["afterOid"] == ZERO_OID:
                repo.delete_ref(update["name"])
            else:
                repo.set_ref(update["name"], update["afterOid"])
    return {"clientMutationId": given.get("clientMutationId")}
