"""GitHub's signed commit path: the GraphQL mutation `createCommitOnBranch`
(https://docs.github.com/graphql/reference/mutations#createcommitonbranch) through
PyGithub's GraphQL support, one mutation (one write) per commit.

Each mutation names the exact head it expects (`expectedHeadOid`): GitHub refuses it
with STALE_DATA when the branch points anywhere else, an ancestor included, so it is
an exact compare-and-swap. A chain of commits expects, for each, the oid the one
before returned. GitHub signs these commits (verified) and sets their author itself
(the token's user or the App's bot): the pod stays named in the `Pod:` trailer. The
mutation takes no file modes: every file it writes is a plain file (100644).
"""

from __future__ import annotations

import base64

from github import GithubException
from github.Requester import Requester

from ..port import NewCommit
from .errors import graphql_error, translated_errors

STALE_DATA = "STALE_DATA"
COMMIT_FIELDS = "commit { oid }"


def commit_input(full_name: str, branch: str, expected_sha: str, commit: NewCommit) -> dict:
    """The mutation's input: git's message split as GitHub joins it back (headline, a
    blank line, body), additions as base64 (binary too) and deletions."""
    headline, _, body = commit.message.partition("\n")
    body = body.lstrip("\n")
    return {
        "branch": {"repositoryNameWithOwner": full_name, "branchName": branch},
        "expectedHeadOid": expected_sha,
        "message": {"headline": headline, **({"body": body} if body else {})},
        "fileChanges": {
            "additions": [
                {"path": w.path, "contents": base64.b64encode(w.content).decode("ascii")}
                for w in commit.writes
                if w.content is not None
            ],
            "deletions": [{"path": w.path} for w in commit.writes if w.content is None],
        },
    }


def commit_onto_branch(
    requester: Requester, full_name: str, branch: str, expected_sha: str, commits: list[NewCommit]
) -> list[str]:
    """The shas landed, in order; it stops at the first STALE_DATA (the branch moved)."""
    shas: list[str] = []
    for commit in commits:
        what = f"committing onto {branch} of {full_name}"
        with translated_errors(what):
            try:
                _, data = requester.graphql_named_mutation(
                    "createCommitOnBranch", commit_input(full_name, branch, expected_sha, commit), COMMIT_FIELDS
                )
            except GithubException as error:
                errors = error.data.get("errors") if isinstance(error.data, dict) else None
                if not errors:
                    raise  # an HTTP error: 401, a secondary rate limit, 5xx...
                if errors[0].get("type") == STALE_DATA:
                    return shas
                raise graphql_error(what, errors, error.headers or {}) from None
        expected_sha = data["commit"]["oid"]
        shas.append(expected_sha)
    return shas
