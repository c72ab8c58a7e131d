"""Reading the paths a batch touches, in one GraphQL request whatever the repository's
size: `Commit.file(path:)` once per path, as aliases
(https://docs.github.com/graphql/reference/objects#commit). A recursive tree read
would cost megabytes for a large repository and is cut past 100,000 entries or 7 MB
(`truncated`, https://docs.github.com/rest/git/trees#get-a-tree); reading sub-trees
would cost a request per directory. Paths travel as variables, never in the query.
"""

from __future__ import annotations

from github.Requester import Requester

from ...merge import blob_sha
from ..port import ScmNotFound, TreeEntry
from .refs import remember_repository_id

ENTRY_FIELDS = "mode oid type"
# A directory's listing: its case twins of a new name (read_entries' `siblings`).
LISTING_FIELDS = "entries { name mode oid type }"
FILE_FIELDS = "mode oid type object { ... on Blob { isBinary isTruncated text } }"


def _query(
    full_name: str, revision: str, paths: list[str], fields: str | list[str], commit_fields: str = ""
) -> tuple[str, dict]:
    """`fields` of each path (one string for all, or one per path), and `commit_fields`
    of the commit itself."""
    owner, _, name = full_name.partition("/")
    declared = "".join(f", $p{i}: String!" for i in range(len(paths)))
    per_path = [fields] * len(paths) if isinstance(fields, str) else fields
    aliases = " ".join(f"f{i}: file(path: $p{i}) {{ {wanted} }}" for i, wanted in enumerate(per_path))
    query = (
        f"query($owner: String!, $name: String!, $revision: String!{declared}) {{ "
        f"repository(owner: $owner, name: $name) {{ id object(expression: $revision) {{ "
        f"... on Commit {{ oid {commit_fields} {aliases} }} }} }} }}"
    )
    variables = {"owner": owner, "name": name, "revision": revision, **{f"p{i}": p for i, p in enumerate(paths)}}
    return query, variables


def _commit(
    requester: Requester,
    full_name: str,
    revision: str,
    paths: list[str],
    fields: str | list[str],
    commit_fields: str = "",
) -> dict | None:
    """The commit `revision` names with each path's tree entry (None where it is absent),
    or None when `revision` names no commit."""
    query, variables = _query(full_name, revision, paths, fields, commit_fields)
    _, data = requester.graphql_query(query, variables)
    repository = (data.get("data") or {}).get("repository") or {}
    if isinstance(repository.get("id"), str):
        remember_repository_id(full_name, repository["id"])
    found = repository.get("object") or {}
    return found if found.get("oid") else None


def _entry(path: str, found: dict) -> TreeEntry:
    return TreeEntry(path, found["oid"], f"{found['mode']:06o}", found["type"])


def entries(
    requester: Requester, full_name: str, commit_sha: str, paths: list[str], listed: set[str] | None = None
) -> dict[str, TreeEntry]:
    """Each of `paths` that exists in the commit, by path; and every entry directly
    inside each directory of `listed` ("" the root) that exists, in the same request."""
    found = entries_at(requester, full_name, commit_sha, paths, listed)
    if found is None:
        raise ScmNotFound(f"commit {commit_sha} not found in {full_name}")
    return found[2]


def entries_at(
    requester: Requester, full_name: str, revision: str, paths: list[str], listed: set[str] | None = None
) -> tuple[str, str, dict[str, TreeEntry]] | None:
    """entries() of the commit `revision` names (a sha, or `refs/heads/BRANCH`), with
    that commit's sha and its root tree's: (commit, tree, entries); None when it names
    no commit."""
    listed = listed or set()
    ordered = sorted(set(paths) | listed - {""})
    listing = f"object {{ ... on Tree {{ {LISTING_FIELDS} }} }}"
    fields = [f"{ENTRY_FIELDS} {listing}" if path in listed else ENTRY_FIELDS for path in ordered]
    root = f"tree {{ oid {LISTING_FIELDS if '' in listed else ''} }}"
    commit = _commit(requester, full_name, revision, ordered, fields, root)
    if commit is None:
        return None
    found = {path: _entry(path, commit[f"f{i}"]) for i, path in enumerate(ordered) if commit.get(f"f{i}")}
    directories = [("", commit.get("tree"))] + [
        (path, (commit.get(f"f{i}") or {}).get("object")) for i, path in enumerate(ordered)
    ]
    for directory, tree in directories:
        for item in (tree or {}).get("entries") or []:
            path = f"{directory}/{item['name']}" if directory else item["name"]
            found.setdefault(path, _entry(path, item))
    return commit["oid"], commit["tree"]["oid"], found


def files(
    requester: Requester, full_name: str, branch: str, paths: list[str]
) -> tuple[str, dict[str, tuple[TreeEntry, bytes | None]]] | None:
    """The branch's head and each of `paths` that is a file there, with its content
    when GitHub gave it whole as text (None: binary, cut, or not UTF-8, to be read as
    a blob); None when the branch does not exist."""
    commit = _commit(requester, full_name, f"refs/heads/{branch}", paths, FILE_FIELDS)
    if commit is None:
        return None
    found: dict[str, tuple[TreeEntry, bytes | None]] = {}
    for i, path in enumerate(paths):
        item = commit.get(f"f{i}")
        if not item or item["type"] != "blob":
            continue
        blob = item.get("object") or {}
        text = blob.get("text")
        data = text.encode("utf-8") if isinstance(text, str) and not blob.get("isTruncated") else None
        # Text GitHub had to re-encode is not the file's bytes: its sha tells.
        found[path] = (_entry(path, item), data if data is not None and blob_sha(data) == item["oid"] else None)
    return commit["oid"], found
