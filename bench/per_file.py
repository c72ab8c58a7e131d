"""The per-file approach the benchmarks compare with, as the seed did it: for each
file read it (GET contents), then write it with its sha (PUT contents), one commit
per file; when another writer got there first (409/422), read again and write again."""

from github import Auth, Github, GithubException
from github.Requester import HTTPRequestsConnectionClass, HTTPSRequestsConnectionClass

TOKEN = "bench-token"


def client(api_url: str, token: str = TOKEN) -> Github:
    """PyGithub as Patchgate configures it (no hidden retries, no pacing), over PyGithub's
    own connections: Patchgate's (promotions.scm.github.client, installed for every client
    of a process that imports it) are not what a pod writing for itself would run."""
    github = Github(
        auth=Auth.Token(token),
        base_url=api_url,
        retry=None,
        per_page=100,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )
    stock = HTTPSRequestsConnectionClass if api_url.startswith("https:") else HTTPRequestsConnectionClass
    github.requester._Requester__connectionClass = stock  # type: ignore[attr-defined]
    return github


def promote_per_file(repo, files: list[tuple[str, str]], message: str, branch: str = "main") -> None:
    for path, content in files:
        while True:
            try:
                try:
                    sha = repo.get_contents(path, ref=branch).sha
                except GithubException as error:
                    if error.status != 404:
                        raise
                    repo.create_file(path, message, content, branch=branch)
                else:
                    repo.update_file(path, message, content, sha, branch=branch)
                break
            except GithubException as error:
                if error.status not in (409, 422):
                    raise


def commits_on(api_url: str, full_name: str, branch: str = "main") -> int:
    """Commits on the branch, the initial one aside."""
    return client(api_url).get_repo(full_name).get_commits(sha=branch).totalCount - 1
