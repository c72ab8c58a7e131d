"""The emulator's WSGI application: GitHub's REST API routes over the store, with
GitHub's headers and error bodies, plus the fault, latency and statistics controls
under /_emulator/."""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import re
import secrets
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cached_property
from http import HTTPStatus
from typing import Callable
from urllib.parse import urlencode

import jwt
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from . import shapes
from .store import PullRequest, Refused, Repository, Signature, now

DOCS = "https://docs.github.com/rest"
RATE_LIMIT = 5000
RATE_WINDOW_SECONDS = 3600
VALID_MODES = {"100644", "100755", "040000", "160000", "120000"}
# Path parameters that may hold slashes.
PATH_PARAMETERS = {"ref", "path", "branch"}
FAULT_KINDS = {"status", "drop_after_write", "secondary_rate_limit", "primary_rate_limit", "bad_credentials", "hang"}
SECONDARY_RATE_LIMIT = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID {request_id}."
)
PRIMARY_RATE_LIMIT = (
    f"API rate limit exceeded for user ID {shapes.USER_ID}. "
    "If you reach out to GitHub Support for help, please include the request ID {request_id} and timestamp {timestamp}."
)


def not_supplied(name: str) -> Refused:
    return Refused(422, f'Invalid request.\n\n"{name}" wasn\'t supplied.')


@dataclass
class Fault:
    """A fault injected by a test: fires on the `nth` matching request, `times` times."""

    kind: str
    method: str | None = None
    path: str | None = None
    nth: int = 1
    times: int = 1
    options: dict = field(default_factory=dict)
    matched: int = 0
    fired: int = 0

    @classmethod
    def from_json(cls, spec: dict) -> Fault:
        spec = dict(spec)
        kind = spec.pop("kind", None)
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {sorted(FAULT_KINDS)}")
        fault = cls(kind, spec.pop("method", None), spec.pop("path", None), int(spec.pop("nth", 1)), int(spec.pop("times", 1)))
        if fault.path:
            re.compile(fault.path)
        fault.options = spec
        return fault

    def matches(self, method: str, path: str) -> bool:
        return (not self.method or self.method.upper() == method) and (not self.path or re.search(self.path, path) is not None)


@dataclass
class Call:
    """One API request as the handlers see it."""

    emulator: Emulator
    request: Request
    docs: str

    @cached_property
    def urls(self) -> shapes.Urls:
        return shapes.Urls(self.request.host_url.rstrip("/"))

    @cached_property
    def body(self) -> dict:
        raw = self.request.get_data()
        if not raw.strip():
            return {}
        try:
            parsed = json.loads(raw)
        except ValueError:
            raise Refused(400, "Problems parsing JSON") from None
        if not isinstance(parsed, dict):
            raise Refused(400, "Problems parsing JSON")
        return parsed

    def required(self, name: str, source: dict | None = None):
        value = (self.body if source is None else source).get(name)
        if value is None:
            raise not_supplied(name)
        return value

    def repo(self, owner: str, name: str, with_commits: bool = False) -> Repository:
        found = self.emulator.repos.get(f"{owner}/{name}".lower())
        if found is None:
            raise Refused(404, "Not Found")
        if with_commits and found.is_empty:
            raise Refused(409, "Git Repository is empty.")
        return found

    def signature(self, given: dict | None, default: Signature) -> Signature:
        if given is None:
            return default
        when = default.when
        if given.get("date"):
            try:
                when = datetime.fromisoformat(given["date"])
            except ValueError:
                raise Refused(422, f"Invalid request.\n\n{given['date']!r} is not a valid date-time.") from None
            when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
        return Signature(self.required("name", given), self.required("email", given), when)

    def page(self, items: list) -> tuple[list, dict]:
        """One page of a list, with GitHub's Link header when there are others."""
        per_page = max(1, min(int(self.request.args.get("per_page", 30)), 100))
        page = max(1, int(self.request.args.get("page", 1)))
        last = max(1, -(-len(items) // per_page))
        links = []
        for rel, number, wanted in [
            ("prev", page - 1, page > 1),
            ("next", page + 1, page < last),
            ("last", last, page < last),
            ("first", 1, page > 1),
        ]:
            if wanted:
                query = urlencode({**self.request.args.to_dict(), "page": number})
                links.append(f'<{self.request.base_url}?{query}>; rel="{rel}"')
        return items[(page - 1) * per_page : page * per_page], ({"Link": ", ".join(links)} if links else {})


def user_signature() -> Signature:
    return Signature(shapes.USER_NAME, shapes.USER_EMAIL, now())


# --- repositories and the user ---------------------------------------------------


def get_user(call: Call):
    if "Authorization" not in call.request.headers:
        raise Refused(401, "Requires authentication")
    return 200, shapes.authenticated_user(call.urls)


def create_installation_token(call: Call, installation_id: str):
    """A GitHub App trades its JWT (RS256, signed with the app's private key) for an
    installation token, as PyGithub's AppInstallationAuth does before its first call."""
    scheme, _, credential = call.request.headers.get("Authorization", "").partition(" ")
    app = None
    try:
        if scheme.lower() != "bearer":
            raise jwt.InvalidTokenError("not a bearer JWT")
        issuer = str(jwt.decode(credential, options={"verify_signature": False}).get("iss"))
        app = call.emulator.apps.get(issuer)
        if app is None:
            raise jwt.InvalidTokenError("unknown app")
        jwt.decode(credential, app.public_key, algorithms=["RS256"], options={"require": ["exp", "iat", "iss"]})
    except jwt.InvalidTokenError:
        raise Refused(401, "A JSON web token could not be decoded") from None
    if installation_id not in app.installations:
        raise Refused(404, "Not Found")
    token = call.emulator.issue_installation_token()
    expires = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(hours=1)
    return 201, {
        "token": token,
        "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "permissions": {"contents": "write", "metadata": "read", "pull_requests": "write"},
        "repository_selection": "all",
    }


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
    head = found.branch_head(branch)
    if head is None:
        raise Refused(404, "Branch not found")
    return 200, shapes.branch(call.urls, found, branch, found.object(head))


# --- refs ------------------------------------------------------------------------


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
        found.set_ref(name, sha)
    return 200, shapes.ref(call.urls, found, name, sha)


def delete_ref(call: Call, owner: str, repo: str, ref: str):
    found = call.repo(owner, repo)
    with found.lock:
        if found.ref(f"refs/{ref}") is None:
            raise Refused(422, "Reference does not exist")
        found.delete_ref(f"refs/{ref}")
    return 204, None


# --- trees, blobs, commits -------------------------------------------------------


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
    return 200, shapes.tree(call.urls, found, sha, entries)


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
    author = call.signature(call.body.get("author"), user_signature())
    committer = call.signature(call.body.get("committer"), author)
    commit = found.add_commit(message, tree, parents, author, committer)
    return 201, shapes.git_commit(call.urls, found, commit)


def get_git_commit(call: Call, owner: str, repo: str, commit_sha: str):
    found = call.repo(owner, repo, with_commits=True)
    if found.kind_of(commit_sha) != "commit":
        raise Refused(404, "Not Found")
    return 200, shapes.git_commit(call.urls, found, found.object(commit_sha))


def list_commits(call: Call, owner: str, repo: str):
    found = call.repo(owner, repo, with_commits=True)
    start = found.resolve(call.request.args.get("sha") or found.default_branch)
    if found.kind_of(start) != "commit":
        raise Refused(404, "Not Found")
    page, headers = call.page(found.history(start))
    return 200, [shapes.commit(call.urls, found, commit) for commit in page], headers


def get_commit(call: Call, owner: str, repo: str, ref: str):
    found = call.repo(owner, repo, with_commits=True)
    sha = found.resolve(ref)
    if found.kind_of(sha) != "commit":
        raise Refused(422, f"No commit found for SHA: {ref}")
    return 200, shapes.commit(call.urls, found, found.object(sha))


# --- contents ----------------------------------------------------------------------


def get_contents(call: Call, owner: str, repo: str, path: str = ""):
    found = call.repo(owner, repo)
    if found.is_empty:
        raise Refused(404, "This repository is empty.")
    ref_name = call.request.args.get("ref") or found.default_branch
    sha = found.resolve(ref_name)
    if found.kind_of(sha) != "commit":
        raise Refused(404, f"No commit found for the ref {ref_name}")
    entry = found.lookup(found.root_tree(sha), path.strip("/"))
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
        commit = found.add_commit(message, tree, [head] if head else [], author, committer)
    # GitHub does a contents write's git work between reading the branch and moving it,
    # so another write to the branch in that window fails this one, as on GitHub.
    call.emulator.server_work()
    with found.lock:
        moved_to = found.branch_head(branch)
        if moved_to != head:
            raise Refused(409, f"is at {moved_to} but expected {head}")
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


# --- pull requests -----------------------------------------------------------------


def branch_name(found: Repository, given: str) -> str:
    owner, colon, name = given.partition(":")
    return name if colon and owner.lower() == found.owner.lower() else given


def create_pull(call: Call, owner: str, repo: str):
    found = call.repo(owner, repo)
    title, head, base = call.required("title"), branch_name(found, call.required("head")), call.required("base")
    with found.lock:
        invalid = [name for name, branch in [("base", base), ("head", head)] if found.branch_head(branch) is None]
        if invalid:
            errors = [{"resource": "PullRequest", "field": name, "code": "invalid"} for name in invalid]
            raise Refused(422, "Validation Failed", errors)
        if any(pull.state == "open" and pull.head == head and pull.base == base for pull in found.pulls):
            message = f"A pull request already exists for {found.owner}:{head}."
            raise Refused(422, "Validation Failed", [{"resource": "PullRequest", "code": "custom", "message": message}])
        head_sha = found.branch_head(head)
        if not shapes.commits_between(found, found.branch_head(base), head_sha):
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
    return 201, shapes.pull_request(call.urls, found, pull, full=True)


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
    return 200, [shapes.pull_request(call.urls, found, pull, full=False) for pull in page], headers


def get_pull(call: Call, owner: str, repo: str, pull_number: str):
    found = call.repo(owner, repo)
    pull = next((pull for pull in found.pulls if str(pull.number) == pull_number), None)
    if pull is None:
        raise Refused(404, "Not Found")
    return 200, shapes.pull_request(call.urls, found, pull, full=True)


@dataclass(frozen=True)
class Route:
    method: str
    template: str  # as in GitHub's OpenAPI description; also the statistics key
    handler: Callable
    docs: str  # the documentation_url of its errors


R = "/repos/{owner}/{repo}"
ROUTES = [
    Route("GET", "/user", get_user, "users/users#get-the-authenticated-user"),
    Route(
        "POST",
        "/app/installations/{installation_id}/access_tokens",
        create_installation_token,
        "apps/apps#create-an-installation-access-token-for-an-app",
    ),
    Route("POST", "/user/repos", create_user_repo, "repos/repos#create-a-repository-for-the-authenticated-user"),
    Route("POST", "/orgs/{org}/repos", create_org_repo, "repos/repos#create-an-organization-repository"),
    Route("GET", R, get_repo, "repos/repos#get-a-repository"),
    Route("GET", f"{R}/branches", list_branches, "branches/branches#list-branches"),
    Route("GET", f"{R}/branches/{{branch}}", get_branch, "branches/branches#get-a-branch"),
    Route("GET", f"{R}/git/ref/{{ref}}", get_ref, "git/refs#get-a-reference"),
    Route("GET", f"{R}/git/refs/{{ref}}", get_refs, "git/refs#get-a-reference"),
    Route("GET", f"{R}/git/matching-refs/{{ref}}", matching_refs, "git/refs#list-matching-references"),
    Route("POST", f"{R}/git/refs", create_ref, "git/refs#create-a-reference"),
    Route("PATCH", f"{R}/git/refs/{{ref}}", update_ref, "git/refs#update-a-reference"),
    Route("DELETE", f"{R}/git/refs/{{ref}}", delete_ref, "git/refs#delete-a-reference"),
    Route("GET", f"{R}/git/trees/{{tree_sha}}", get_tree, "git/trees#get-a-tree"),
    Route("POST", f"{R}/git/trees", create_tree, "git/trees#create-a-tree"),
    Route("POST", f"{R}/git/blobs", create_blob, "git/blobs#create-a-blob"),
    Route("GET", f"{R}/git/blobs/{{file_sha}}", get_blob, "git/blobs#get-a-blob"),
    Route("POST", f"{R}/git/commits", create_commit, "git/commits#create-a-commit"),
    Route("GET", f"{R}/git/commits/{{commit_sha}}", get_git_commit, "git/commits#get-a-commit-object"),
    Route("GET", f"{R}/commits", list_commits, "commits/commits#list-commits"),
    Route("GET", f"{R}/commits/{{ref}}", get_commit, "commits/commits#get-a-commit"),
    Route("GET", f"{R}/contents/", get_contents, "repos/contents#get-repository-content"),
    Route("GET", f"{R}/contents/{{path}}", get_contents, "repos/contents#get-repository-content"),
    Route("PUT", f"{R}/contents/{{path}}", put_contents, "repos/contents#create-or-update-file-contents"),
    Route("DELETE", f"{R}/contents/{{path}}", delete_contents, "repos/contents#delete-a-file"),
    Route("POST", f"{R}/pulls", create_pull, "pulls/pulls#create-a-pull-request"),
    Route("GET", f"{R}/pulls", list_pulls, "pulls/pulls#list-pull-requests"),
    Route("GET", f"{R}/pulls/{{pull_number}}", get_pull, "pulls/pulls#get-a-pull-request"),
]


def werkzeug_rule(template: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: f"<path:{m[1]}>" if m[1] in PATH_PARAMETERS else f"<{m[1]}>", template)


URL_MAP = Map(
    [Rule(werkzeug_rule(route.template), endpoint=index, methods=[route.method]) for index, route in enumerate(ROUTES)],
    strict_slashes=False,
    merge_slashes=False,
)


@dataclass
class App:
    """A registered GitHub App: the public half of its key, and where it is installed."""

    public_key: str
    installations: set[str]


class ConnectionDropped(ConnectionAbortedError):
    """Raised after the socket is shut: werkzeug then writes no response."""


class Emulator:
    """The whole emulated GitHub: its repositories, and the test controls."""

    def __init__(self, latency_ms: float = 0):
        self.lock = threading.Lock()
        self.latency_ms = latency_ms
        self.hangs_released = threading.Event()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.repos: dict[str, Repository] = {}
            self.apps: dict[str, App] = {}
            self.installation_tokens: set[str] = set()
            self.faults: list[Fault] = []
            self._ids = itertools.count(1000)
            self.release_hangs()
            self._reset_stats()
            self.rate_window_start = time.time()
            self.rate_used = 0

    def release_hangs(self) -> None:
        """End the hanging requests (at a reset, so that they touch no new state)."""
        self.hangs_released.set()
        self.hangs_released = threading.Event()

    def _reset_stats(self) -> None:
        self.requests, self.writes, self.by_route, self.by_credential = 0, 0, Counter(), Counter()

    def reset_stats(self) -> None:
        with self.lock:
            self._reset_stats()

    def stats(self) -> dict:
        with self.lock:
            return {
                "requests": self.requests,
                "by_route": dict(self.by_route),
                "by_credential": dict(self.by_credential),
                "writes": self.writes,
            }

    def register_app(self, app_id: int, public_key_pem: str, installation_id: int) -> None:
        with self.lock:
            app = self.apps.setdefault(str(app_id), App(public_key_pem, set()))
            app.public_key = public_key_pem
            app.installations.add(str(installation_id))

    def issue_installation_token(self) -> str:
        token = "ghs_" + secrets.token_hex(18)
        with self.lock:
            self.installation_tokens.add(token)
        return token

    def credential_kind(self, authorization: str) -> str:
        """What authenticated a request: an app's JWT, an installation token it was
        issued here, another token, or nothing."""
        scheme, _, credential = authorization.partition(" ")
        if not credential:
            return "none"
        if scheme.lower() == "bearer" and credential.count(".") == 2:
            return "app"
        return "installation" if credential in self.installation_tokens else "token"

    def inject(self, spec: dict) -> None:
        fault = Fault.from_json(spec)
        with self.lock:
            self.faults.append(fault)

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def server_work(self) -> None:
        """The server-side time of a write that reads the branch then moves it: half
        the configured round trip."""
        if self.latency_ms:
            time.sleep(self.latency_ms / 2000)

    def next_id(self) -> int:
        with self.lock:
            return next(self._ids)

    def create_repository(self, owner: str, name: str, auto_init: bool, default_branch: str = "main") -> Repository:
        key = f"{owner}/{name}".lower()
        with self.lock:
            if key in self.repos:
                error = {"resource": "Repository", "code": "custom", "field": "name", "message": "name already exists on this account"}
                raise Refused(422, "Repository creation failed.", [error])
            repo = self.repos[key] = Repository(owner, name, next(self._ids), now(), default_branch)
        if auto_init:
            tree = repo.edit_tree(None, [("README.md", 0o100644, repo.add_blob(f"# {name}\n".encode()))])
            committer = Signature("GitHub", "noreply@github.com", now())
            commit = repo.add_commit("Initial commit", tree, [], user_signature(), committer)
            repo.set_ref(f"refs/heads/{default_branch}", commit.id.decode())
        return repo

    # --- WSGI --------------------------------------------------------------------

    def __call__(self, environ, start_response):
        request = Request(environ)
        if request.path.startswith("/_emulator/"):
            return self.control(request)(environ, start_response)
        return self.api(request)(environ, start_response)

    def take_fault(self, method: str, path: str) -> Fault | None:
        """Faults are consumed in the order they were injected: a request counts
        towards the first pending fault that matches it, and no other."""
        with self.lock:
            fault = next((fault for fault in self.faults if fault.matches(method, path)), None)
            if fault is None:
                return None
            fault.matched += 1
            if fault.matched < fault.nth:
                return None
            fault.fired += 1
            if fault.fired >= fault.times:
                self.faults.remove(fault)
            return fault

    def api(self, request: Request) -> Response:
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)
        try:
            index, params = URL_MAP.bind_to_environ(request.environ).match()
            route = ROUTES[index]
        except HTTPException:
            route, params = None, {}
        with self.lock:
            self.requests += 1
            self.rate_used += 1
            if route is not None:
                self.by_route[f"{route.method} {route.template}"] += 1
            self.by_credential[self.credential_kind(request.headers.get("Authorization", ""))] += 1
        request_id = ":".join(secrets.token_hex(n).upper() for n in (2, 3, 3, 4, 4))
        call = Call(self, request, f"{DOCS}/{route.docs}" if route else DOCS)
        fault = self.take_fault(request.method, request.path)
        released = self.hangs_released
        if fault and fault.kind == "hang" and released.wait(float(fault.options.get("seconds", 30))):
            return self.drop(request)
        if fault and fault.kind not in ("hang", "drop_after_write"):
            return self.faulted(fault, call, request_id)
        try:
            if route is None:
                raise Refused(404, "Not Found")
            if route.method != "GET" and "Authorization" not in request.headers:
                raise Refused(401, "Requires authentication")
            status, body, *extra = route.handler(call, **params)
            headers = extra[0] if extra else {}
            if status == 201 and isinstance(body, dict) and "url" in body:
                headers["Location"] = body["url"]
            if request.method != "GET" and status < 300:
                with self.lock:
                    self.writes += 1
        except Refused as refusal:
            status, headers = refusal.status, {}
            docs = DOCS if refusal.status == 401 or route is None else call.docs
            body = error_body(refusal.message, docs, refusal.status, refusal.errors)
        if fault and fault.kind == "drop_after_write":
            return self.drop(request)
        return self.respond(status, body, request_id, headers)

    def drop(self, request: Request):
        """Close the connection without a word: the client sees a connection error."""
        connection = request.environ.get("werkzeug.socket")
        if connection is not None:
            connection.shutdown(socket.SHUT_RDWR)
        raise ConnectionDropped()

    def faulted(self, fault: Fault, call: Call, request_id: str) -> Response:
        options, headers = fault.options, {}
        if fault.kind == "status":
            status = int(options.get("status", 500))
            message = options.get("message") or ("Server Error" if status >= 500 else HTTPStatus(status).phrase)
            body = error_body(message, call.docs, status)
        elif fault.kind == "bad_credentials":
            status, body = 401, error_body("Bad credentials", DOCS, 401)
        elif fault.kind == "secondary_rate_limit":
            status = int(options.get("status", 403))
            headers["Retry-After"] = str(int(options.get("retry_after", 60)))
            message = SECONDARY_RATE_LIMIT.format(request_id=request_id)
            body = error_body(message, f"{DOCS}/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits", status)
        else:  # primary_rate_limit
            status = int(options.get("status", 403))
            headers["X-RateLimit-Remaining"] = "0"
            headers["X-RateLimit-Used"] = str(RATE_LIMIT)
            headers["X-RateLimit-Reset"] = str(int(time.time() + float(options.get("reset_in", 60))))
            timestamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
            message = PRIMARY_RATE_LIMIT.format(request_id=request_id, timestamp=timestamp)
            body = error_body(message, f"{DOCS}/overview/rate-limits-for-the-rest-api#about-the-rate-limit", status)
        return self.respond(status, body, request_id, headers)

    def respond(self, status: int, body, request_id: str, headers: dict) -> Response:
        with self.lock:
            if time.time() >= self.rate_window_start + RATE_WINDOW_SECONDS:
                self.rate_window_start, self.rate_used = time.time(), 1
            used, reset = self.rate_used, int(self.rate_window_start + RATE_WINDOW_SECONDS)
        github_headers = {
            "X-GitHub-Media-Type": "github.v3; format=json",
            "X-GitHub-Api-Version-Selected": "2022-11-28",
            "X-RateLimit-Limit": str(RATE_LIMIT),
            "X-RateLimit-Remaining": str(max(0, RATE_LIMIT - used)),
            "X-RateLimit-Reset": str(reset),
            "X-RateLimit-Used": str(used),
            "X-RateLimit-Resource": "core",
            "X-GitHub-Request-Id": request_id,
            **headers,
        }
        if status == 204:
            return Response(status=204, headers=github_headers)
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        return Response(payload, status=status, headers=github_headers, content_type="application/json; charset=utf-8")

    # --- the controls under /_emulator/ ----------------------------------------------

    def control(self, request: Request) -> Response:
        action = (request.method, request.path.rstrip("/").removeprefix("/_emulator/"))
        body = request.get_json(silent=True) or {}
        try:
            if action == ("GET", "stats"):
                return control_reply(self.stats())
            if action == ("POST", "reset-stats"):
                self.reset_stats()
            elif action == ("POST", "latency"):
                self.latency_ms = float(body["ms"])
            elif action == ("POST", "faults"):
                for spec in body if isinstance(body, list) else [body]:
                    self.inject(spec)
            elif action == ("DELETE", "faults"):
                self.clear_faults()
            elif action == ("POST", "reset"):
                self.reset()
            else:
                return control_reply({"message": "Not Found"}, 404)
        except (KeyError, TypeError, ValueError, re.error) as error:
            return control_reply({"message": f"bad request: {error}"}, 400)
        return control_reply({"ok": True})


def control_reply(body: dict, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json; charset=utf-8")


def error_body(message: str, docs: str, status: int, errors: list | None = None) -> dict:
    body = {"message": message}
    if errors:
        body["errors"] = errors
    return {**body, "documentation_url": docs, "status": str(status)}
