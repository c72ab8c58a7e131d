"""Pull requests (https://docs.github.com/rest/pulls/pulls): open one from a branch
of the repository, read one, list them; and their JSON representation."""

from __future__ import annotations

from dulwich.objects import Commit, ObjectID

from .core import Call
from .shapes import LOGIN, Urls, iso, node_id, repository, simple_user
from .store import PullRequest, Refused, Repository, now


def branch_name(found: Repository, given: str) -> str:
    owner, colon, name = given.partition(":")
    return name if colon and owner.lower() == found.owner.lower() else given


def too_long_message(field: str, limit: int) -> str:
    return f"{field} is too long (maximum is {limit} characters)"


def create_pull(call: Call, owner: str, repo: str):
    found = call.repo(owner, repo)
    title, head, base = call.required("title"), branch_name(found, call.required("head")), call.required("base")
    # GitHub's bounds, in its words (seen in the 422s that tools report, e.g. renovatebot/renovate#2032).
    bounds = [("title", title, 256), ("body", call.body.get("body") or "", 65_536)]
    too_long = [
        {"resource": "Issue", "code": "custom", "field": name, "message": too_long_message(name, n)}
        for name, value, n in bounds
        if len(str(value)) > n
    ]
    if too_long:
        raise Refused(422, "Validation Failed", too_long)
    with found.lock:
        invalid = [name for name, branch in [("base", base), ("head", head)] if found.branch_head(branch) is None]
        if invalid:
            errors = [{"resource": "PullRequest", "field": name, "code": "invalid"} for name in invalid]
            raise Refused(422, "Validation Failed", errors)
        if any(pull.state == "open" and pull.head == head and pull.base == base for pull in found.pulls):
            message = f"A pull request already exists for {found.owner}:{head}."
            raise Refused(422, "Validation Failed", [{"resource": "PullRequest", "code": "custom", "message": message}])
        head_sha = found.branch_head(head) or ""  # both branches exist: checked above
        if not commits_between(found, found.branch_head(base) or "", head_sha):
            message = f"No commits between {base} and {head}"
            raise Refused(422, "Validation Failed", [{"resource": "PullRequest", "code": "custom", "message": message}])
        pull = PullRequest(
            len(found.pulls) + 1,
            call.emulator.next_id(),
            title,
            call.body.get("body"),
            head,
            base,
            bool(call.body.get("draft")),
            head_sha,
            now(),
        )
        found.pulls.append(pull)
    return 201, pull_request(call.urls, found, pull, full=True)


def list_pulls(call: Call, owner: str, repo: str):
    found = call.repo(owner, repo)
    args = call.request.args
    state = args.get("state", "open")
    head = branch_name(found, args["head"]) if args.get("head") else None
    chosen = [
        pull
        for pull in reversed(found.pulls)  # newest first, as GitHub sorts by creation
        if state in ("all", pull.state) and head in (None, pull.head) and args.get("base") in (None, pull.base)
    ]
    page, headers = call.page(chosen)
    return 200, [pull_request(call.urls, found, pull, full=False) for pull in page], headers


def get_pull(call: Call, owner: str, repo: str, pull_number: str):
    found = call.repo(owner, repo)
    pull = next((pull for pull in found.pulls if str(pull.number) == pull_number), None)
    if pull is None:
        raise Refused(404, "Not Found")
    return 200, pull_request(call.urls, found, pull, full=True)


def pull_request(urls: Urls, repo: Repository, pull: PullRequest, full: bool) -> dict:
    """A pull request; `full` is the single-pull shape, else the list item's."""
    api = urls.repo(repo, f"/pulls/{pull.number}")
    issue = urls.repo(repo, f"/issues/{pull.number}")
    head_sha = repo.branch_head(pull.head) or pull.head_sha
    base_sha = repo.branch_head(pull.base) or ""
    created = iso(pull.created_at)
    owner = simple_user(urls, repo.owner)
    author = simple_user(urls, LOGIN)

    def side(name: str, sha: str) -> dict:
        return {"label": f"{repo.owner}:{name}", "ref": name, "sha": sha, "user": owner, "repo": repository(urls, repo)}

    shape = {
        "url": api,
        "id": pull.id,
        "node_id": node_id("PullRequest", pull.id),
        "html_url": urls.html(repo, f"/pull/{pull.number}"),
        "diff_url": urls.html(repo, f"/pull/{pull.number}.diff"),
        "patch_url": urls.html(repo, f"/pull/{pull.number}.patch"),
        "issue_url": issue,
        "number": pull.number,
        "state": pull.state,
        "locked": False,
        "title": pull.title,
        "user": author,
        "body": pull.body,
        "created_at": created,
        "updated_at": created,
        "closed_at": None,
        "merged_at": None,
        "merge_commit_sha": None,
        "assignee": None,
        "assignees": [],
        "requested_reviewers": [],
        "requested_teams": [],
        "labels": [],
        "milestone": None,
        "draft": pull.draft,
        "commits_url": f"{api}/commits",
        "review_comments_url": f"{api}/comments",
        "review_comment_url": urls.repo(repo, "/pulls/comments{/number}"),
        "comments_url": f"{issue}/comments",
        "statuses_url": urls.repo(repo, f"/statuses/{head_sha}"),
        "head": side(pull.head, head_sha),
        "base": side(pull.base, base_sha),
        "_links": {
            name: {"href": href}
            for name, href in [
                ("self", api),
                ("html", urls.html(repo, f"/pull/{pull.number}")),
                ("issue", issue),
                ("comments", f"{issue}/comments"),
                ("review_comments", f"{api}/comments"),
                ("review_comment", urls.repo(repo, "/pulls/comments{/number}")),
                ("commits", f"{api}/commits"),
                ("statuses", urls.repo(repo, f"/statuses/{head_sha}")),
            ]
        },
        "author_association": "OWNER",
        "auto_merge": None,
        "active_lock_reason": None,
    }
    if full:
        shape.update(
            merged=False,
            mergeable=None,
            rebaseable=None,
            mergeable_state="unknown",
            merged_by=None,
            comments=0,
            review_comments=0,
            maintainer_can_modify=False,
            commits=len(commits_between(repo, base_sha, head_sha)),
            additions=0,
            deletions=0,
            changed_files=0,
        )
    return shape


def commits_between(repo: Repository, base_sha: str, head_sha: str) -> list[Commit]:
    """Commits reachable from the head and not from the base (`git log base..head`)."""
    if not head_sha:
        return []
    excluded = [ObjectID(base_sha.encode())] if base_sha else []
    return [walk.commit for walk in repo.git.get_walker(include=[ObjectID(head_sha.encode())], exclude=excluded)]
