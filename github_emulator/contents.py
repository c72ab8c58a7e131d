"""Files through the contents API (https://docs.github.com/rest/repos/contents):
read a file or a directory at a ref; write or delete one file as one commit,
checked against the file's current blob sha. Writes to one branch are serialised
as on GitHub: one that finds the branch moved while it worked answers 409."""

from __future__ import annotations

import base64
import binascii

from . import rulesets, shapes, signing
from .core import Call, not_supplied, user_signature
from .store import Refused, Repository, Signature


def get_contents(call: Call, owner: str, repo: str, path: str = ""):
    found = call.repo(owner, repo)
    if found.is_empty:
        raise Refused(404, "This repository is empty.")
    ref_name = call.request.args.get("ref") or found.default_branch
    sha = found.resolve(ref_name)
    root = found.root_tree(sha) if found.kind_of(sha) == "commit" else None
    if root is None:
        raise Refused(404, f"No commit found for the ref {ref_name}")
    entry = found.lookup(root, path.strip("/"))
    if entry is None:
        raise Refused(404, "Not Found")
    if entry.kind == "tree":
        return 200, [
            shapes.content(call.urls, found, item, ref_name, False)
            for item in found.entries(entry.sha, prefix=f"{entry.path}/" if entry.path else "")
        ]
    return 200, shapes.content(call.urls, found, entry, ref_name, entry.kind == "blob")


def commit_file_change(call: Call, found: Repository, path: str, expected_sha: str | None, new_data: bytes | None):
    """The contents API's write: one commit on the branch that changes one file, the
    file's current blob sha checked first. Returns (status, file entry, commit)."""
    branch = call.body.get("branch") or found.default_branch
    message = call.required("message")
    # Here the committer defaults to the user, and the author to the committer.
    committer = call.signature(call.body.get("committer"), user_signature())
    author = call.signature(call.body.get("author"), committer)
    signed = call.web_flow_signs()
    if signed:
        author = call.caller_signature()
        committer = Signature(*signing.WEB_FLOW, author.when)
    with found.lock:
        head = found.branch_head(branch)
        if head is None and not found.is_empty:
            raise Refused(404, f"Branch {branch} not found")
        base_tree = found.root_tree(head) if head else None
        current = found.lookup(base_tree, path) if base_tree else None
        if current is not None and current.kind != "blob":
            raise Refused(422, f"Invalid request.\n\n{path} is a directory.")
        if new_data is None and current is None:
            raise Refused(404, "Not Found")
        if current is not None and not expected_sha:
            raise not_supplied("sha")
        if current is not None and expected_sha != current.sha:
            raise Refused(409, f"{path} does not match {expected_sha}")
        blob_sha = found.add_blob(new_data) if new_data is not None else None
        mode = current.mode if current is not None else 0o100644
        tree = found.edit_tree(base_tree, [(path, mode, blob_sha)]) or found.empty_tree()
        commit = found.add_commit(message, tree, [head] if head else [], author, committer, signed=signed)
    # GitHub does a contents write's git work between reading the branch and moving it,
    # so another write to the branch in that window fails this one, as on GitHub.
    call.emulator.server_work()
    with found.lock:
        moved_to = found.branch_head(branch)
        if moved_to != head:
            raise Refused(409, f"is at {moved_to} but expected {head}")
        rulesets.check_new_commits(found, f"refs/heads/{branch}", head, commit.id.decode(), 409)
        found.set_ref(f"refs/heads/{branch}", commit.id.decode())
    entry = found.lookup(tree, path) if blob_sha else None
    return (201 if current is None else 200), entry, branch, commit


def put_contents(call: Call, owner: str, repo: str, path: str):
    found = call.repo(owner, repo)
    try:
        data = base64.b64decode(call.required("content"), validate=True)
    except binascii.Error:
        raise Refused(422, "content is not valid Base64") from None
    status, entry, branch, commit = commit_file_change(call, found, path, call.body.get("sha"), data)
    body = shapes.content(call.urls, found, entry, branch, with_data=False)
    return status, {"content": body, "commit": shapes.git_commit(call.urls, found, commit)}


def delete_contents(call: Call, owner: str, repo: str, path: str):
    found = call.repo(owner, repo)
    call.required("message")
    _, _, _, commit = commit_file_change(call, found, path, call.required("sha"), None)
    return 200, {"content": None, "commit": shapes.git_commit(call.urls, found, commit)}
