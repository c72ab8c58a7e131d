"""Git's own objects and refs through GitHub's Git Data API: references
(https://docs.github.com/rest/git/refs), trees, blobs and commits
(https://docs.github.com/rest/git/trees, /git/blobs, /git/commits). Every sha is
the one git computes; a ref update without force is a compare-and-swap."""

from __future__ import annotations

import base64
import binascii

from dulwich.objects import Commit

from . import limits, rulesets, shapes, signing
from .core import Call, user_signature
from .store import Refused, Repository, Signature

VALID_MODES = {"100644", "100755", "040000", "160000", "120000"}


def get_ref(call: Call, owner: str, repo: str, ref: str):
    found = call.repo(owner, repo, with_commits=True)
    sha = found.ref(f"refs/{ref}")
    if sha is None:
        raise Refused(404, "Not Found")
    return 200, shapes.ref(call.urls, found, f"refs/{ref}", sha)


def get_refs(call: Call, owner: str, repo: str, ref: str):
    """The older refs/ path: the ref itself when it exists, else the refs it prefixes."""
    found = call.repo(owner, repo, with_commits=True)
    if found.ref(f"refs/{ref}"):
        return get_ref(call, owner, repo, ref)
    matching = [shapes.ref(call.urls, found, name, sha) for name, sha in found.refs(f"refs/{ref}").items()]
    if not matching:
        raise Refused(404, "Not Found")
    return 200, matching


def matching_refs(call: Call, owner: str, repo: str, ref: str):
    found = call.repo(owner, repo, with_commits=True)
    return 200, [shapes.ref(call.urls, found, name, sha) for name, sha in found.refs(f"refs/{ref}").items()]


def create_ref(call: Call, owner: str, repo: str):
    found = call.repo(owner, repo)
    name, sha = call.required("ref"), call.required("sha")
    if not name.startswith("refs/") or name.count("/") < 2:
        raise Refused(422, f"{name} is not a valid ref name.")
    with found.lock:
        if found.ref(name):
            raise Refused(422, "Reference already exists")
        if found.object(sha) is None:
            raise Refused(422, "Object does not exist")
        rulesets.check_new_commits(found, name, None, sha, 422)
        found.set_ref(name, sha)
    return 201, shapes.ref(call.urls, found, name, sha)


def update_ref(call: Call, owner: str, repo: str, ref: str):
    found = call.repo(owner, repo)
    name, sha, force = f"refs/{ref}", call.required("sha"), bool(call.body.get("force"))
    with found.lock:  # the check and the move are one step: a compare-and-swap
        current = found.ref(name)
        if current is None:
            raise Refused(422, "Reference does not exist")
        if found.kind_of(sha) is None:
            raise Refused(422, "Object does not exist")
        if not force and found.kind_of(sha) == "commit" and not found.is_ancestor(current, sha):
            raise Refused(422, "Update is not a fast forward")
        rulesets.check_new_commits(found, name, current, sha, 422)
        found.set_ref(name, sha)
    return 200, shapes.ref(call.urls, found, name, sha)


def delete_ref(call: Call, owner: str, repo: str, ref: str):
    found = call.repo(owner, repo)
    with found.lock:
        if found.ref(f"refs/{ref}") is None:
            raise Refused(422, "Reference does not exist")
        found.delete_ref(f"refs/{ref}")
    return 204, None


def get_tree(call: Call, owner: str, repo: str, tree_sha: str):
    found = call.repo(owner, repo, with_commits=True)
    sha = found.resolve(tree_sha)
    if sha is None:
        raise Refused(404, "Not Found")
    root = found.root_tree(sha)
    if root is None:
        raise Refused(422, "Invalid object requested. SHA must identify a commit or a tree.")
    entries = found.entries(root, recursive="recursive" in call.request.args)
    if not entries:
        raise Refused(404, "Not Found")
    # Like GitHub, the answer carries the sha it was asked about (a commit's, if so).
    body = shapes.tree(call.urls, found, sha, entries[: call.emulator.truncate_entries + 1])
    body["tree"], body["truncated"] = limits.cut_listing(body["tree"], call.emulator.truncate_entries)
    return 200, body


def tree_edit(found: Repository, entry) -> tuple[str, int, str | None]:
    """One element of a create-tree request, checked as GitHub checks it."""
    if not isinstance(entry, dict):
        raise Refused(422, "Invalid tree info")
    path, mode, kind = str(entry.get("path") or "").replace("\0", ""), entry.get("mode"), entry.get("type")
    if not path or path.startswith("/") or path.endswith("/") or "//" in path:
        raise Refused(422, "tree.path contains a malformed path component")
    if ("sha" in entry) == (entry.get("content") is not None):
        raise Refused(422, "Must supply either tree.sha or tree.content. Request will be rejected if both are present.")
    sha = entry.get("sha")
    if sha and kind != "commit" and found.kind_of(sha) != kind:
        raise Refused(422, f"tree.sha {sha} is not a valid {kind}")
    if mode not in VALID_MODES:
        raise Refused(422, "Must supply a valid tree.mode")
    if mode == "040000" and "content" in entry:
        raise Refused(422, "A subdirectory may not have content")
    if entry.get("content") is not None:
        sha = found.add_blob(str(entry["content"]).encode())
    return path, int(mode, 8), sha


def create_tree(call: Call, owner: str, repo: str):
    found = call.repo(owner, repo, with_commits=True)
    entries = call.body.get("tree")
    if not entries or not isinstance(entries, list):
        raise Refused(422, "Invalid tree info")
    edits = [tree_edit(found, entry) for entry in entries]
    base_tree = None
    if call.body.get("base_tree"):
        base_tree = found.root_tree(found.resolve(str(call.body["base_tree"])))
        if base_tree is None:
            raise Refused(422, "base_tree is not a valid tree oid")
    sha = found.edit_tree(base_tree, edits)
    if sha is None:  # GitHub makes the empty tree but answers that it found nothing
        raise Refused(404, "Not Found")
    return 201, shapes.tree(call.urls, found, sha, found.entries(sha))


def create_blob(call: Call, owner: str, repo: str):
    found = call.repo(owner, repo, with_commits=True)
    text, encoding = call.required("content"), call.body.get("encoding", "utf-8")
    if encoding == "base64":
        try:
            data = base64.b64decode(text, validate=False)
        except binascii.Error:
            raise Refused(422, "Invalid request.\n\ncontent is not valid Base64.") from None
    elif encoding in ("utf-8", "utf8"):
        data = text.encode()
    else:
        raise Refused(422, f"encoding must be either 'utf-8' or 'base64', not {encoding!r}")
    sha = found.add_blob(data)
    return 201, {"sha": sha, "url": call.urls.repo(found, f"/git/blobs/{sha}")}


def get_blob(call: Call, owner: str, repo: str, file_sha: str):
    found = call.repo(owner, repo, with_commits=True)
    if found.kind_of(file_sha) != "blob":
        raise Refused(404, "Not Found")
    return 200, shapes.blob(call.urls, found, file_sha)


def create_commit(call: Call, owner: str, repo: str):
    found = call.repo(owner, repo, with_commits=True)
    message, tree = call.required("message"), call.required("tree")
    if found.kind_of(tree) != "tree":
        raise Refused(422, "Tree SHA does not exist")
    parents = call.body.get("parents") or []
    if any(found.kind_of(parent) != "commit" for parent in parents):
        raise Refused(422, "Parent SHA does not exist or is not a commit object")
    signed = call.web_flow_signs()
    if signed:
        author = call.caller_signature()
        committer = Signature(*signing.WEB_FLOW, author.when)
    else:
        author = call.signature(call.body.get("author"), user_signature())
        committer = call.signature(call.body.get("committer"), author)
    commit = found.add_commit(message, tree, parents, author, committer, signed=signed)
    return 201, shapes.git_commit(call.urls, found, commit)


def get_git_commit(call: Call, owner: str, repo: str, commit_sha: str):
    found = call.repo(owner, repo, with_commits=True)
    commit = found.object(commit_sha)
    if not isinstance(commit, Commit):
        raise Refused(404, "Not Found")
    return 200, shapes.git_commit(call.urls, found, commit)
