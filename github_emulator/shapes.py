"""GitHub's JSON representations of users, repositories, commits, git objects and
contents, and its error body, as the REST API (and its OpenAPI description) gives
them. (A pull request's is in pulls.py, a commit's diff entries in diffs.py.)"""

from __future__ import annotations

import base64
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import quote

from dulwich.objects import Commit

from . import signing
from .store import Entry, Repository

LOGIN = "patchgate-emulator"
USER_ID = 1
USER_NAME = "Patchgate Emulator"
USER_EMAIL = f"{USER_ID}+{LOGIN}@users.noreply.github.com"
CREATED_AT = "2024-01-01T00:00:00Z"
DOCS = "https://docs.github.com/rest"


def error(message: str, docs: str, status: int, errors: list | None = None) -> dict:
    """GitHub's error body: its message, the documentation of the operation and the status."""
    body: dict = {"message": message}
    if errors:
        body["errors"] = errors
    return {**body, "documentation_url": docs, "status": str(status)}


def iso(when: datetime) -> str:
    """GitHub writes every date in UTC with a Z."""
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def git_date(seconds: int) -> str:
    return iso(datetime.fromtimestamp(seconds, timezone.utc))


def node_id(kind: str, key: object) -> str:
    return base64.b64encode(f"0{len(kind)}:{kind}{key}".encode()).decode().rstrip("=")


def account_id(login: str) -> int:
    """A stable id per account name; the emulator's own user is 1."""
    return USER_ID if login == LOGIN else zlib.crc32(login.encode()) + 1000


def wrapped_base64(data: bytes) -> str:
    """Ruby's Base64.encode64, as GitHub sends file and blob content: a newline after
    every 60 characters and at the end."""
    encoded = base64.b64encode(data).decode()
    return "".join(encoded[i : i + 60] + "\n" for i in range(0, len(encoded), 60))


@dataclass(frozen=True)
class Urls:
    """Where the emulator is reached: the API base and the web base for html_url."""

    api: str

    @property
    def web(self) -> str:
        return f"{self.api}/_web"

    def repo(self, repo: Repository, path: str = "") -> str:
        return f"{self.api}/repos/{repo.full_name}{path}"

    def html(self, repo: Repository, path: str = "") -> str:
        return f"{self.web}/{repo.full_name}{path}"


def simple_user(urls: Urls, login: str) -> dict:
    api = f"{urls.api}/users/{login}"
    return {
        "login": login,
        "id": account_id(login),
        "node_id": node_id("User" if login == LOGIN else "Organization", account_id(login)),
        "avatar_url": f"{urls.web}/avatars/{login}",
        "gravatar_id": "",
        "url": api,
        "html_url": f"{urls.web}/{login}",
        "followers_url": f"{api}/followers",
        "following_url": f"{api}/following{{/other_user}}",
        "gists_url": f"{api}/gists{{/gist_id}}",
        "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{api}/subscriptions",
        "organizations_url": f"{api}/orgs",
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events{{/privacy}}",
        "received_events_url": f"{api}/received_events",
        "type": "User" if login == LOGIN else "Organization",
        "user_view_type": "public",
        "site_admin": False,
    }


def authenticated_user(urls: Urls) -> dict:
    return {
        **simple_user(urls, LOGIN),
        "user_view_type": "private",
        "name": USER_NAME,
        "company": None,
        "blog": "",
        "location": None,
        "email": None,
        "hireable": None,
        "bio": None,
        "twitter_username": None,
        "notification_email": None,
        "public_repos": 0,
        "public_gists": 0,
        "followers": 0,
        "following": 0,
        "created_at": CREATED_AT,
        "updated_at": CREATED_AT,
        "private_gists": 0,
        "total_private_repos": 0,
        "owned_private_repos": 0,
        "disk_usage": 0,
        "collaborators": 0,
        "two_factor_authentication": False,
        "plan": {"name": "free", "space": 976562499, "collaborators": 0, "private_repos": 10000},
    }


# The repository's API links: (key, path below the repository's API URL).
REPOSITORY_LINKS = [
    ("forks_url", "/forks"),
    ("keys_url", "/keys{/key_id}"),
    ("collaborators_url", "/collaborators{/collaborator}"),
    ("teams_url", "/teams"),
    ("hooks_url", "/hooks"),
    ("issue_events_url", "/issues/events{/number}"),
    ("events_url", "/events"),
    ("assignees_url", "/assignees{/user}"),
    ("branches_url", "/branches{/branch}"),
    ("tags_url", "/tags"),
    ("blobs_url", "/git/blobs{/sha}"),
    ("git_tags_url", "/git/tags{/sha}"),
    ("git_refs_url", "/git/refs{/sha}"),
    ("trees_url", "/git/trees{/sha}"),
    ("statuses_url", "/statuses/{sha}"),
    ("languages_url", "/languages"),
    ("stargazers_url", "/stargazers"),
    ("contributors_url", "/contributors"),
    ("subscribers_url", "/subscribers"),
    ("subscription_url", "/subscription"),
    ("commits_url", "/commits{/sha}"),
    ("git_commits_url", "/git/commits{/sha}"),
    ("comments_url", "/comments{/number}"),
    ("issue_comment_url", "/issues/comments{/number}"),
    ("contents_url", "/contents/{+path}"),
    ("compare_url", "/compare/{base}...{head}"),
    ("merges_url", "/merges"),
    ("archive_url", "/{archive_format}{/ref}"),
    ("downloads_url", "/downloads"),
    ("issues_url", "/issues{/number}"),
    ("pulls_url", "/pulls{/number}"),
    ("milestones_url", "/milestones{/number}"),
    ("notifications_url", "/notifications{?since,all,participating}"),
    ("labels_url", "/labels{/name}"),
    ("releases_url", "/releases{/id}"),
    ("deployments_url", "/deployments"),
]


def repository(urls: Urls, repo: Repository) -> dict:
    """The full-repository shape (it also satisfies the shorter `repository` one)."""
    created = iso(repo.created_at)
    host = urls.api.split("://", 1)[1]
    return {
        "id": repo.id,
        "node_id": node_id("Repository", repo.id),
        "name": repo.name,
        "full_name": repo.full_name,
        "private": False,
        "owner": simple_user(urls, repo.owner),
        "html_url": urls.html(repo),
        "description": None,
        "fork": False,
        "url": urls.repo(repo),
        **{key: urls.repo(repo, path) for key, path in REPOSITORY_LINKS},
        "created_at": created,
        "updated_at": created,
        "pushed_at": created,
        "git_url": f"git://{host}/{repo.full_name}.git",
        "ssh_url": f"git@{host.split(':')[0]}:{repo.full_name}.git",
        "clone_url": f"{urls.html(repo)}.git",
        "svn_url": urls.html(repo),
        "homepage": None,
        "size": 0,
        "stargazers_count": 0,
        "watchers_count": 0,
        "language": None,
        "has_issues": True,
        "has_projects": True,
        "has_downloads": True,
        "has_wiki": True,
        "has_pages": False,
        "has_discussions": False,
        "forks_count": 0,
        "mirror_url": None,
        "archived": False,
        "disabled": False,
        "open_issues_count": sum(pull.state == "open" for pull in repo.pulls),
        "license": None,
        "allow_forking": True,
        "is_template": False,
        "web_commit_signoff_required": False,
        "topics": [],
        "visibility": "public",
        "forks": 0,
        "open_issues": sum(pull.state == "open" for pull in repo.pulls),
        "watchers": 0,
        "default_branch": repo.default_branch,
        "permissions": {"admin": True, "maintain": True, "push": True, "triage": True, "pull": True},
        "network_count": 0,
        "subscribers_count": 0,
    }


def blob_url(urls: Urls, repo: Repository, entry: Entry) -> dict:
    # Submodule entries name a commit of another repository: GitHub gives no URL.
    return {} if entry.kind == "commit" else {"url": urls.repo(repo, f"/git/{entry.kind}s/{entry.sha}")}


def tree(urls: Urls, repo: Repository, sha: str, entries: list[Entry]) -> dict:
    listed = []
    for entry in entries:
        item: dict[str, str | int] = {
            "path": entry.path,
            "mode": f"{entry.mode:06o}",
            "type": entry.kind,
            "sha": entry.sha,
        }
        if entry.kind == "blob":
            item["size"] = len(repo.blob_data(entry.sha))
        listed.append({**item, **blob_url(urls, repo, entry)})
    return {"sha": sha, "url": urls.repo(repo, f"/git/trees/{sha}"), "tree": listed, "truncated": False}


def blob(urls: Urls, repo: Repository, sha: str) -> dict:
    data = repo.blob_data(sha)
    return {
        "sha": sha,
        "node_id": node_id("Blob", sha),
        "size": len(data),
        "url": urls.repo(repo, f"/git/blobs/{sha}"),
        "content": wrapped_base64(data),
        "encoding": "base64",
    }


def person(identity: bytes, seconds: int) -> dict:
    name, _, email = identity.decode().rpartition(" <")
    return {"name": name, "email": email.rstrip(">"), "date": git_date(seconds)}


def git_commit(urls: Urls, repo: Repository, commit: Commit) -> dict:
    """A git commit object (git/commits)."""
    sha, tree_sha = commit.id.decode(), commit.tree.decode()
    return {
        "sha": sha,
        "node_id": node_id("Commit", sha),
        "url": urls.repo(repo, f"/git/commits/{sha}"),
        "html_url": urls.html(repo, f"/commit/{sha}"),
        "author": person(commit.author, commit.author_time),
        "committer": person(commit.committer, commit.commit_time),
        "tree": {"sha": tree_sha, "url": urls.repo(repo, f"/git/trees/{tree_sha}")},
        "message": commit.message.decode(),
        "parents": [
            {"sha": p, "url": urls.repo(repo, f"/git/commits/{p}"), "html_url": urls.html(repo, f"/commit/{p}")}
            for p in (parent.decode() for parent in commit.parents)
        ],
        "verification": signing.verification(commit),
    }


def account_of(urls: Urls, identity: bytes) -> dict | None:
    """The GitHub account behind a commit's email: only the emulator's own user."""
    return simple_user(urls, LOGIN) if identity.decode().endswith(f"<{USER_EMAIL}>") else None


def commit(urls: Urls, repo: Repository, commit: Commit) -> dict:
    """A commit as the repository's commits API gives it (commits, branches)."""
    sha, git = commit.id.decode(), git_commit(urls, repo, commit)
    return {
        "sha": sha,
        "node_id": git["node_id"],
        "commit": {
            "author": git["author"],
            "committer": git["committer"],
            "message": git["message"],
            "tree": git["tree"],
            "url": git["url"],
            "comment_count": 0,
            "verification": git["verification"],
        },
        "url": urls.repo(repo, f"/commits/{sha}"),
        "html_url": git["html_url"],
        "comments_url": urls.repo(repo, f"/commits/{sha}/comments"),
        "author": account_of(urls, commit.author),
        "committer": account_of(urls, commit.committer),
        "parents": [
            {"sha": p["sha"], "url": urls.repo(repo, f"/commits/{p['sha']}"), "html_url": p["html_url"]}
            for p in git["parents"]
        ],
    }


def branch(urls: Urls, repo: Repository, name: str, head: Commit) -> dict:
    return {
        "name": name,
        "commit": commit(urls, repo, head),
        "_links": {
            "self": urls.repo(repo, f"/branches/{quote(name)}"),
            "html": urls.html(repo, f"/tree/{quote(name)}"),
        },
        "protected": False,
        "protection": {
            "enabled": False,
            "required_status_checks": {"enforcement_level": "off", "contexts": [], "checks": []},
        },
        "protection_url": urls.repo(repo, f"/branches/{quote(name)}/protection"),
    }


def short_branch(urls: Urls, repo: Repository, name: str, sha: str) -> dict:
    return {"name": name, "commit": {"sha": sha, "url": urls.repo(repo, f"/commits/{sha}")}, "protected": False}


def ref(urls: Urls, repo: Repository, name: str, sha: str) -> dict:
    kind = repo.kind_of(sha)
    return {
        "ref": name,
        "node_id": node_id("Ref", f"{repo.id}:{name}"),
        "url": urls.repo(repo, f"/git/{quote(name)}"),
        "object": {"sha": sha, "type": kind, "url": urls.repo(repo, f"/git/{kind}s/{sha}")},
    }


CONTENT_TYPES = {"tree": "dir", "blob": "file", "commit": "submodule"}


def content(urls: Urls, repo: Repository, entry: Entry, ref_name: str, with_data: bool) -> dict:
    """A contents API item; `with_data` adds the file's base64 content."""
    kind = "symlink" if entry.mode == 0o120000 else CONTENT_TYPES[entry.kind]
    self_url = urls.repo(repo, f"/contents/{quote(entry.path)}?ref={quote(ref_name, safe='')}")
    html_url = urls.html(repo, f"/{'tree' if kind == 'dir' else 'blob'}/{quote(ref_name)}/{quote(entry.path)}")
    git_url = urls.repo(repo, f"/git/{entry.kind}s/{entry.sha}") if entry.kind != "commit" else None
    download_url = urls.html(repo, f"/raw/{quote(ref_name)}/{quote(entry.path)}") if entry.kind == "blob" else None
    data = repo.blob_data(entry.sha) if entry.kind == "blob" else b""
    item = {
        "name": entry.path.rpartition("/")[2],
        "path": entry.path,
        "sha": entry.sha,
        "size": len(data),
        "url": self_url,
        "html_url": html_url,
        "git_url": git_url,
        "download_url": download_url,
        "type": kind,
    }
    if with_data:
        item.update(content=wrapped_base64(data), encoding="base64")
    return {**item, "_links": {"self": self_url, "git": git_url, "html": html_url}}
