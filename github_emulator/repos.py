"""Repositories (https://docs.github.com/rest/repos/repos), their branches
(https://docs.github.com/rest/branches/branches) and commits
(https://docs.github.com/rest/commits/commits): create and read a repository, list
and read branches, list commits and read one with the files it changed."""

from __future__ import annotations

from dulwich.objects import Commit

from . import diffs, shapes
from .core import Call
from .store import Refused

# "If there are more than 300 files in the commit diff [...] the response will include
# pagination link headers for the remaining files, up to a limit of 3000 files."
# (https://docs.github.com/rest/commits/commits#get-a-commit)
COMMIT_FILES_PER_PAGE = 300
MAX_COMMIT_FILES = 3000


def create_user_repo(call: Call):
    return create_org_repo(call, shapes.LOGIN)


def create_org_repo(call: Call, org: str):
    created = call.emulator.create_repository(org, call.required("name"), bool(call.body.get("auto_init")))
    return 201, shapes.repository(call.urls, created)


def get_repo(call: Call, owner: str, repo: str):
    return 200, shapes.repository(call.urls, call.repo(owner, repo))


def list_branches(call: Call, owner: str, repo: str):
    found = call.repo(owner, repo)
    heads = [(name.removeprefix("refs/heads/"), sha) for name, sha in found.refs("refs/heads/").items()]
    page, headers = call.page([shapes.short_branch(call.urls, found, name, sha) for name, sha in heads])
    return 200, page, headers


def get_branch(call: Call, owner: str, repo: str, branch: str):
    found = call.repo(owner, repo)
    head = found.object(found.branch_head(branch))
    if not isinstance(head, Commit):
        raise Refused(404, "Branch not found")
    return 200, shapes.branch(call.urls, found, branch, head)


def list_commits(call: Call, owner: str, repo: str):
    found = call.repo(owner, repo, with_commits=True)
    start = found.resolve(call.request.args.get("sha") or found.default_branch)
    if start is None or found.kind_of(start) != "commit":
        raise Refused(404, "Not Found")
    page, headers = call.page(found.history(start))
    return 200, [shapes.commit(call.urls, found, commit) for commit in page], headers


def get_commit(call: Call, owner: str, repo: str, ref: str):
    """The commit with its `stats` and one page of its `files` (`per_page` up to 300,
    the default): every page carries the same commit, only the files differ."""
    found = call.repo(owner, repo, with_commits=True)
    sha = found.resolve(ref)
    commit = found.object(sha)
    if sha is None or not isinstance(commit, Commit):
        raise Refused(422, f"No commit found for SHA: {ref}")
    changes = diffs.commit_changes(found, commit)
    page, headers = call.page(changes[:MAX_COMMIT_FILES], COMMIT_FILES_PER_PAGE, COMMIT_FILES_PER_PAGE)
    body = {
        **shapes.commit(call.urls, found, commit),
        "stats": diffs.stats(changes),
        "files": [diffs.diff_entry(call.urls, found, sha, change) for change in page],
    }
    return 200, body, headers
