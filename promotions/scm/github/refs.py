"""Moving a branch after the REST path's commits: GraphQL's `updateRefs`
(https://docs.github.com/graphql/reference/mutations#updaterefs), one write, an exact
compare-and-swap.

GitHub's REST ref update without force refuses only a non-fast-forward
(https://docs.github.com/rest/git/refs#update-a-reference): a branch reset to an ancestor of
our parent between our read and our write would take our commit and quietly undo the reset.
updateRefs moves a ref only if it points exactly at `beforeOid` ("RefUpdate.beforeOid
specifies that the given reference needs to point to the given value before performing any
updates"), and with `force: false` never backwards.

- It is a schema preview: GitHub documents that `Mutation.updateRefs`, `RefUpdate` and
  `GitRefname` need the media type below in `Accept`
  (https://docs.github.com/graphql/overview/schema-previews#update-refs-preview); it is sent
  with every call, and costs nothing where the preview is over.
- It names the repository by its node id: read with the train's first read (reads.py), else
  once per repository and process (one query).
- GitHub documents no error for a stale `beforeOid` or a refused non-fast-forward; the one
  report (https://github.com/orgs/community/discussions/213655, not answered by GitHub) is
  of a generic error with no `type`. So no wording or type is trusted to mean "the branch
  moved": the adapter reads the branch after any refusal (adapter.compare_and_swap).
"""

from __future__ import annotations

import threading

from django.conf import settings
from github.Requester import Requester

from ..port import ScmError, ScmNotFound, ScmTransientError
from .errors import graphql_error

UPDATE_REFS_PREVIEW = "application/vnd.github.update-refs-preview+json"
REPOSITORY_ID = "query($owner: String!, $name: String!) { repository(owner: $owner, name: $name) { id } }"
UPDATE_REFS = "mutation($input: UpdateRefsInput!) { updateRefs(input: $input) { clientMutationId } }"

_ids: dict[tuple[str, str], str] = {}
_ids_lock = threading.Lock()


def repository_id(requester: Requester, full_name: str) -> str:
    """The repository's GraphQL node id, asked once per repository and process (it never
    changes, not even on a rename)."""
    key = (settings.GITHUB_API_URL, full_name.lower())
    with _ids_lock:
        known = _ids.get(key)
    if known:
        return known
    owner, _, name = full_name.partition("/")
    _, data = requester.graphql_query(REPOSITORY_ID, {"owner": owner, "name": name})
    found = ((data.get("data") or {}).get("repository") or {}).get("id")
    if not isinstance(found, str) or not found:
        raise ScmNotFound(f"repository {full_name} not found")
    remember_repository_id(full_name, found)
    return found


def remember_repository_id(full_name: str, node_id: str) -> None:
    """Keep a node id another query read (reads.py asks for it with every read: a train
    reads before it moves a ref, so that costs no query of its own)."""
    with _ids_lock:
        _ids[(settings.GITHUB_API_URL, full_name.lower())] = node_id


def forget_repository_id(full_name: str | None = None) -> None:
    """Ask again on next use: for `full_name` (GitHub no longer knows the id), or for every
    repository (tests, after the emulator was reset)."""
    with _ids_lock:
        if full_name is None:
            _ids.clear()
        else:
            _ids.pop((settings.GITHUB_API_URL, full_name.lower()), None)


def update_branch(requester: Requester, full_name: str, branch: str, before: str, after: str) -> list[dict]:
    """Move `branch` from exactly `before` to `after` (a descendant), never by force.
    Returns GitHub's `errors` ([] when the branch moved); an HTTP error is raised as
    PyGithub raises it, for the caller's translated_errors."""
    update = {"name": f"refs/heads/{branch}", "beforeOid": before, "afterOid": after, "force": False}
    variables = {"input": {"repositoryId": repository_id(requester, full_name), "refUpdates": [update]}}
    _, data = requester.requestJsonAndCheck(
        "POST",
        requester.graphql_url,
        headers={"Accept": UPDATE_REFS_PREVIEW},
        input={"query": UPDATE_REFS, "variables": variables},
    )
    if not isinstance(data, dict):
        return [{"message": f"an answer that is not GraphQL's: {str(data)[:200]}"}]
    return [e if isinstance(e, dict) else {"message": str(e)} for e in data.get("errors") or []]


def refusal(what: str, full_name: str, errors: list[dict]) -> ScmError:
    """GitHub's refusal of an update that left the branch where it was: an unknown node
    id (the repository was replaced: asked again next time) and GitHub's generic "Something
    went wrong" (no type, no code; GitHub says it may be a timeout) are retried; anything
    else (a ruleset, a permission, a field this GitHub lacks) is GitHub's answer."""
    first = errors[0]
    if first.get("type") == "NOT_FOUND":
        forget_repository_id(full_name)
        return ScmTransientError(f"{what}: GitHub did not know the repository's node id; it is asked again")
    if not first.get("type") and not first.get("extensions"):
        said = "; ".join(str(e.get("message", "")) for e in errors)
        return ScmTransientError(f"{what}: GitHub answered an error and the branch did not move: {said}")
    return graphql_error(what, errors, {})
