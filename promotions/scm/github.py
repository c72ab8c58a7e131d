"""The `github` adapter: github.com or GitHub Enterprise Server through PyGithub,
with the Git Data API so that a batch is one commit.

Call budget of one batch of N text files, whatever N (1 to 500):
  1. GET   branches/{branch}               branch_head (the head and its tree sha)
  2. GET   git/trees/{tree}?recursive=1    read_entries (every touched path at once)
  3. POST  git/trees  (base_tree + inline text content, sha null for deletions)
  4. POST  git/commits
  5. PATCH git/refs/heads/{branch}  force=false   compare_and_swap
Binary files add one POST git/blobs each; a merge or conflict reads the blobs it
needs. The client is lazy, so `get_repo` costs nothing, and the tree sha of every
head read or commit written is kept, so a chained commit (a train) costs only
steps 3 and 4, and the tree of each commit is built while the commit before it is
written (`write_chain`).

PyGithub's own retries and write pacing are off: the engine decides when to retry
(through the queue, never a sleeping worker), from the errors mapped below.
"""

from __future__ import annotations

import base64
import functools
import itertools
import math
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from pathlib import Path
from urllib.parse import quote, urlsplit

import requests
from django.conf import settings
from django.utils import timezone
from github import Auth, Github, GithubException, InputGitAuthor, InputGitTreeElement
from github.GitCommit import GitCommit
from github.GitRef import GitRef
from github.GitTree import GitTree

from .port import (
    CommitSummary,
    NewCommit,
    PullRequest,
    ScmAuthError,
    ScmError,
    ScmNotFound,
    ScmRateLimited,
    ScmRejected,
    ScmTransientError,
    TreeEntry,
    TreeWrite,
    path_and_parents,
)

NOT_A_FAST_FORWARD = "update is not a fast forward"
# When a rate-limit answer names no time, come back after this long.
DEFAULT_RATE_LIMIT_WAIT = timedelta(seconds=60)


def credentials() -> Auth.Auth:
    """A personal access token, or a GitHub App's installation (its private key given
    in the clear or as a path to the PEM file)."""
    if settings.GITHUB_TOKEN:
        return Auth.Token(settings.GITHUB_TOKEN)
    if settings.GITHUB_APP_ID and settings.GITHUB_APP_PRIVATE_KEY and settings.GITHUB_APP_INSTALLATION_ID:
        key = settings.GITHUB_APP_PRIVATE_KEY
        if not key.lstrip().startswith("-----BEGIN"):
            key = Path(key).read_text()
        app = Auth.AppAuth(int(settings.GITHUB_APP_ID), key)
        return app.get_installation_auth(int(settings.GITHUB_APP_INSTALLATION_ID))
    raise ScmAuthError("no GitHub credentials: set GITHUB_TOKEN, or GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY and GITHUB_APP_INSTALLATION_ID")


def client(connection: int = 0) -> Github:
    """The configured client; another `connection` number gives another client, for
    requests made in parallel."""
    return _client(
        settings.GITHUB_API_URL,
        settings.GITHUB_TOKEN,
        settings.GITHUB_APP_ID,
        settings.GITHUB_APP_PRIVATE_KEY,
        settings.GITHUB_APP_INSTALLATION_ID,
        timeout_seconds(),
        connection,
    )


@functools.lru_cache(maxsize=8)
def _client(api_url, token, app_id, app_key, installation_id, timeout, connection) -> Github:
    """One client per process and configuration: an App's installation token is
    fetched once and refreshed by PyGithub, not for every batch."""
    return Github(
        auth=credentials(),
        base_url=api_url.rstrip("/"),
        timeout=timeout,
        retry=None,
        per_page=100,
        seconds_between_requests=None,
        seconds_between_writes=None,
        lazy=True,
    )


def timeout_seconds() -> int:
    """PyGithub takes whole seconds."""
    return max(1, math.ceil(settings.GITHUB_TIMEOUT_SECONDS))


def web_url() -> str:
    """Where humans open commits: GITHUB_WEB_URL, else derived from the API URL
    (api.github.com -> github.com; Enterprise Server's /api/v3 -> its host)."""
    if settings.GITHUB_WEB_URL:
        return settings.GITHUB_WEB_URL.rstrip("/")
    api = urlsplit(settings.GITHUB_API_URL)
    host = "github.com" if api.netloc == "api.github.com" else api.netloc
    return f"{api.scheme}://{host}"


def retry_time(headers: dict) -> datetime:
    """When a rate-limited client may come back: `Retry-After` (seconds) first, then
    `X-RateLimit-Reset` (epoch seconds), as GitHub documents."""
    lowered = {key.lower(): value for key, value in (headers or {}).items()}
    now = timezone.now()
    if str(lowered.get("retry-after", "")).isdigit():
        return now + timedelta(seconds=int(lowered["retry-after"]))
    if str(lowered.get("x-ratelimit-reset", "")).isdigit():
        return max(now, datetime.fromtimestamp(int(lowered["x-ratelimit-reset"]), dt_timezone.utc))
    return now + DEFAULT_RATE_LIMIT_WAIT


def _is_rate_limit(error: GithubException) -> bool:
    headers = {key.lower(): value for key, value in (error.headers or {}).items()}
    if error.status == 429:
        return True
    return error.status == 403 and (
        "retry-after" in headers
        or str(headers.get("x-ratelimit-remaining")) == "0"
        or "rate limit" in _github_message(error).lower()
    )


def _github_message(error: GithubException) -> str:
    data = error.data if isinstance(error.data, dict) else {}
    return str(data.get("message") or error.message or "").strip()


@contextmanager
def translated_errors(what: str):
    """The one place where GitHub's answers become the port's errors. Messages carry
    GitHub's own words and what was being done, never a credential."""
    try:
        yield
    except ScmError:
        raise
    except GithubException as error:
        said = _github_message(error)
        detail = f"{what}: GitHub answered {error.status}" + (f" {said}" if said else "")
        if error.status == 401:
            raise ScmAuthError(f"{detail} (check the GitHub credentials; not retried)") from None
        if _is_rate_limit(error):
            raise ScmRateLimited(detail, retry_at=retry_time(error.headers)) from None
        if error.status == 403:
            raise ScmAuthError(f"{detail} (the credentials lack a permission; not retried)") from None
        if error.status == 404:
            raise ScmNotFound(detail) from None
        if error.status >= 500:
            raise ScmTransientError(detail) from None
        raise ScmRejected(detail) from None
    except requests.Timeout:
        raise ScmTransientError(f"{what}: GitHub did not answer within {timeout_seconds()}s") from None
    except requests.ConnectionError:
        raise ScmTransientError(f"{what}: the connection to GitHub failed or was dropped") from None


class GitHubAdapter:
    def __init__(self, full_name: str):
        self.full_name = full_name
        self.github = client()
        self.repo = self.github.get_repo(full_name)
        # commit sha -> its root tree sha, from every tree read and commit written.
        self.tree_of: dict[str, str] = {}

    # --- reads -----------------------------------------------------------------

    def branch_head(self, branch: str) -> str | None:
        with translated_errors(f"reading branch {branch} of {self.full_name}"):
            try:
                head = self.repo.get_branch(branch).commit
            except GithubException as error:
                if error.status != 404:
                    raise
                head = None
        if head is None:
            self._require_repository()
            return None
        self.tree_of[head.sha] = head.commit.tree.sha
        return head.sha

    def _require_repository(self) -> None:
        """A missing branch and a missing repository both answer 404: tell them apart."""
        with translated_errors(f"repository {self.full_name}"):
            self.github.withLazy(False).get_repo(self.full_name)

    def read_entries(self, commit_sha: str, paths: list[str]) -> dict[str, TreeEntry]:
        wanted = {prefix for path in paths for prefix in path_and_parents(path)}
        with translated_errors(f"reading the tree of {commit_sha[:12]} in {self.full_name}"):
            # By the tree's own sha when known: GitHub answers a read by commit sha
            # with the commit's sha, which is no base for a new tree.
            tree = self.repo.get_git_tree(self.tree_of.get(commit_sha, commit_sha), recursive=True)
            if tree.raw_data.get("truncated"):
                return self._walk_entries(tree, wanted)
            return {e.path: _entry(e.path, e) for e in tree.tree if e.path in wanted}

    def _walk_entries(self, root: GitTree, wanted: set[str]) -> dict[str, TreeEntry]:
        """For trees too large for one recursive read (GitHub truncates them): read
        only the directories on the way to the wanted paths, one level at a time."""
        entries: dict[str, TreeEntry] = {}
        level = {"": root.sha}
        while level:
            next_level = {}
            for directory, sha in level.items():
                listing = self.repo.get_git_tree(sha).tree if directory else root.tree
                for element in listing:
                    path = f"{directory}/{element.path}" if directory else element.path
                    if path in wanted:
                        entries[path] = _entry(path, element)
                        if element.type == "tree":
                            next_level[path] = element.sha
            level = next_level
        return entries

    def read_blob(self, sha: str) -> bytes:
        with translated_errors(f"reading blob {sha[:12]} of {self.full_name}"):
            return base64.b64decode(self.repo.get_git_blob(sha).content)

    def recent_commits(self, branch: str, limit: int) -> list[CommitSummary]:
        with translated_errors(f"listing the commits of {branch} in {self.full_name}"):
            try:
                commits = list(itertools.islice(self.repo.get_commits(sha=branch), limit))
            except GithubException as error:
                if error.status in (404, 409):  # no such branch; an empty repository
                    return []
                raise
        return [CommitSummary(c.sha, c.commit.message) for c in commits]

    def commit_url(self, sha: str) -> str | None:
        return f"{web_url()}/{self.full_name}/commit/{sha}"

    # --- writes ----------------------------------------------------------------

    def write_commit(self, parent_sha: str | None, writes: list[TreeWrite], message: str, author: tuple[str, str]) -> str:
        return self.write_chain(parent_sha, [NewCommit(writes, message, author)])[0]

    def write_chain(self, parent_sha: str | None, commits: list[NewCommit]) -> list[str]:
        """One tree and one commit per commit of the chain, overlapped: while commit k
        is created, the tree of k+1 (on the tree of k) is built over a second
        connection, so a chain of n costs n + 1 round trips in a row instead of 2n."""
        if not commits:
            return []
        with translated_errors(f"writing {len(commits)} commit(s) to {self.full_name}"):
            tree = self._write_tree(self.repo, self._tree_sha(parent_sha) if parent_sha else None, commits[0].writes)
            shas = []
            with ThreadPoolExecutor(max_workers=1) as trees:
                for index, commit in enumerate(commits):
                    following = commits[index + 1] if index + 1 < len(commits) else None
                    next_tree = trees.submit(self._write_tree, self.second_repo, tree, following.writes) if following else None
                    parent = [self._lazy(GitCommit, "git/commits", parent_sha)] if parent_sha else []
                    created = self.repo.create_git_commit(
                        commit.message, self._lazy(GitTree, "git/trees", tree), parent, author=InputGitAuthor(*commit.author)
                    )
                    parent_sha = created.sha
                    self.tree_of[parent_sha] = tree
                    shas.append(parent_sha)
                    if next_tree:
                        tree = next_tree.result()
        return shas

    @functools.cached_property
    def second_repo(self):
        """The repository through its own client: PyGithub's connection is not shared
        between threads."""
        return client(connection=1).get_repo(self.full_name)

    def _write_tree(self, repo, base_tree: str | None, writes: list[TreeWrite]) -> str:
        """The sha of `base_tree` with `writes` applied (the base itself when there are
        none: GitHub refuses an empty edit)."""
        if base_tree and not writes:
            return base_tree
        elements = [self._tree_element(repo, write) for write in writes]
        if base_tree:
            return repo.create_git_tree(elements, self._lazy(GitTree, "git/trees", base_tree)).sha
        return repo.create_git_tree(elements).sha

    def _tree_sha(self, commit_sha: str) -> str:
        if commit_sha not in self.tree_of:
            self.tree_of[commit_sha] = self.repo.get_git_commit(commit_sha).tree.sha
        return self.tree_of[commit_sha]

    def _tree_element(self, repo, write: TreeWrite) -> InputGitTreeElement:
        if write.content is None:
            return InputGitTreeElement(write.path, write.mode, "blob", sha=None)
        text = _utf8(write.content) if write.is_text else None
        if text is not None:
            # Inline: GitHub makes the blob of exactly these UTF-8 bytes, no extra call.
            return InputGitTreeElement(write.path, write.mode, "blob", content=text)
        blob = repo.create_git_blob(base64.b64encode(write.content).decode(), "base64")
        return InputGitTreeElement(write.path, write.mode, "blob", sha=blob.sha)

    def _lazy(self, kind, collection: str, sha: str):
        """A PyGithub object known by its sha alone, so passing it costs no request."""
        return kind(self.github.requester, url=f"{self.repo.url}/{collection}/{sha}", attributes={"sha": sha})

    def compare_and_swap(self, branch: str, expected_sha: str, new_sha: str) -> bool:
        """GitHub's ref update without force refuses anything but a fast-forward, and
        `new_sha` descends from `expected_sha`: if the branch moved, GitHub refuses."""
        ref = GitRef(
            self.github.requester,
            url=f"{self.repo.url}/git/refs/heads/{quote(branch)}",
            attributes={"ref": f"refs/heads/{branch}"},
        )
        with translated_errors(f"moving {branch} of {self.full_name}"):
            try:
                ref.edit(new_sha, force=False)
                return True
            except GithubException as error:
                if error.status == 422 and _github_message(error).lower() == NOT_A_FAST_FORWARD:
                    return False
                raise

    def create_branch(self, branch: str, sha: str) -> None:
        with translated_errors(f"creating branch {branch} in {self.full_name}"):
            self.repo.create_git_ref(f"refs/heads/{branch}", sha)

    def open_pull_request(self, head: str, base: str, title: str, body: str) -> PullRequest | None:
        with translated_errors(f"opening a pull request from {head} into {base} in {self.full_name}"):
            try:
                pull = self.repo.create_pull(base=base, head=head, title=title, body=body)
            except GithubException as error:
                # Opened by an attempt whose answer was lost: use that one.
                if error.status != 422 or "already exists" not in str(error.data):
                    raise
                owner = self.full_name.split("/")[0]
                pull = next(iter(self.repo.get_pulls(state="open", head=f"{owner}:{head}", base=base)), None)
                if pull is None:
                    raise
        return PullRequest(pull.number, pull.html_url)


def _entry(path: str, element) -> TreeEntry:
    return TreeEntry(path, element.sha, element.mode, element.type)


def _utf8(content: bytes) -> str | None:
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return None
