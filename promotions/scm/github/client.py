"""The PyGithub client of a repository and the credential it writes with: a token, one
App installation (GITHUB_APP_INSTALLATION_ID), or, for an App given without one, the
installation of each repository's account, found with the App's JWT
(`GET /repos/{owner}/{repo}/installation`, https://docs.github.com/rest/apps/apps)
and kept per process with its installation token, which PyGithub renews before it
expires. The private key may be PEM text, a path or base64.

Every request a client sends names its credential to the connection (a header the
connection removes before sending), which takes one unit of that credential's write
budget before each write (budget.spend) and watches GitHub's primary-limit headers.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from django.conf import settings
from github import Auth, Github, GithubIntegration, UnknownObjectException
from github.Requester import HTTPRequestsConnectionClass, HTTPSRequestsConnectionClass, Requester

from ..port import ScmAuthError, ScmNotFound
from . import budget

PEM_BEGIN = "-----BEGIN"
BUDGET_HEADER = "X-Patchgate-Write-Budget"
WRITE_VERBS = frozenset({"POST", "PATCH", "PUT", "DELETE"})


@dataclass(frozen=True)
class Credential:
    """What a repository's requests authenticate with. `key` names its write budget
    ("installation 77", "token sha256:…"), never the secret."""

    key: str
    auth: Auth.Auth


class _Marked(Auth.Auth):
    """Authenticates as its base class does and names the credential's budget."""

    budget_key = ""

    def authentication(self, headers: dict) -> None:
        super().authentication(headers)
        headers[BUDGET_HEADER] = self.budget_key


class _MarkedToken(_Marked, Auth.Token):
    pass


class _MarkedInstallation(_Marked, Auth.AppInstallationAuth):
    pass


def credentials(full_name: str | None = None) -> Credential:
    """The credential of `full_name` (OWNER/NAME): GITHUB_TOKEN, else the App's
    GITHUB_APP_INSTALLATION_ID, else the App's installation on the repository's
    account. Raises ScmAuthError naming the variable that is wrong (never its value),
    ScmNotFound naming the account where the App is not installed."""
    if settings.GITHUB_TOKEN:
        return _token_credential(settings.GITHUB_TOKEN)
    if not (settings.GITHUB_APP_ID and settings.GITHUB_APP_PRIVATE_KEY):
        raise ScmAuthError(
            "no GitHub credentials: set GITHUB_TOKEN, or GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY "
            "(and GITHUB_APP_INSTALLATION_ID to use that one installation for every repository)"
        )
    app_id = _number("GITHUB_APP_ID", settings.GITHUB_APP_ID)
    private_key = app_private_key(settings.GITHUB_APP_PRIVATE_KEY)
    if settings.GITHUB_APP_INSTALLATION_ID:
        installation_id = _number("GITHUB_APP_INSTALLATION_ID", settings.GITHUB_APP_INSTALLATION_ID)
    elif full_name:
        installation_id = _installation_of(settings.GITHUB_API_URL, app_id, private_key, full_name)
    else:
        raise ScmAuthError("GITHUB_APP_INSTALLATION_ID is not set: the App's installation is found per repository")
    return _installation_credential(settings.GITHUB_API_URL, app_id, private_key, installation_id)


def _number(variable: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ScmAuthError(f"{variable} must be a number") from None


@functools.lru_cache(maxsize=16)
def _token_credential(token: str) -> Credential:
    key = f"token sha256:{hashlib.sha256(token.encode()).hexdigest()[:12]}"
    auth = _MarkedToken(token)
    auth.budget_key = key
    return Credential(key, auth)


@functools.lru_cache(maxsize=256)
def _installation_credential(api_url: str, app_id: int, private_key: str, installation_id: int) -> Credential:
    """One per installation and process: its token is fetched once and renewed by
    PyGithub 20 seconds before it expires, whatever client and thread uses it."""
    key = f"installation {installation_id}"
    auth = _MarkedInstallation(Auth.AppAuth(app_id, private_key), installation_id)
    auth.budget_key = key
    return Credential(key, auth)


@functools.lru_cache(maxsize=1024)
def _installation_of(api_url: str, app_id: int, private_key: str, full_name: str) -> int:
    """The id of the App's installation that reaches `full_name`, asked once per process
    (a failure is not kept: installing the App later is seen at the next call)."""
    owner, _, name = full_name.partition("/")
    integration = GithubIntegration(
        auth=Auth.AppAuth(app_id, private_key),
        base_url=api_url.rstrip("/"),
        timeout=timeout_seconds(),
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )
    try:
        return integration.get_repo_installation(owner, name).id
    except UnknownObjectException:
        raise ScmNotFound(
            f"the GitHub App {app_id} is not installed on {owner}: no installation of it reaches {full_name} "
            f"(install the App on {owner}, or check the name)"
        ) from None


def app_private_key(value: str) -> str:
    """The PEM text of GITHUB_APP_PRIVATE_KEY's `value`: PEM text (its newlines may be
    written `\\n`, as in .env files), base64 of the PEM (one line, as secret stores keep
    it), or the path of the PEM file. The key must load; every error names the variable
    only, and chains nothing (a path or a failed decode would show the value)."""
    text = value.strip()
    if not text.startswith(PEM_BEGIN):
        try:
            decoded = base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError):
            decoded = b""
        if decoded.lstrip().startswith(PEM_BEGIN.encode()):
            text = decoded.decode("ascii", errors="replace").strip()
        else:
            try:
                text = Path(text).read_text(encoding="ascii").strip()
            except (OSError, ValueError):
                raise ScmAuthError(
                    "GITHUB_APP_PRIVATE_KEY is not PEM text, base64 of PEM text or the path of a readable PEM file"
                ) from None
    text = text.replace("\\n", "\n")
    try:
        serialization.load_pem_private_key(text.encode("ascii", errors="replace"), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ScmAuthError("GITHUB_APP_PRIVATE_KEY does not hold a readable, unencrypted PEM private key") from None
    return text


def client(full_name: str | None = None, connection: int = 0) -> Github:
    """The client of `full_name`'s credential; another `connection` number gives another
    client, for requests made in parallel."""
    return _client(settings.GITHUB_API_URL, credentials(full_name), timeout_seconds(), connection)


@functools.lru_cache(maxsize=256)
def _client(api_url: str, credential: Credential, timeout: int, connection: int) -> Github:
    """One client per process, credential and connection, not one per batch."""
    return Github(
        auth=credential.auth,
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


# --- the connection: the write budget on every request ------------------------------


def is_write(verb: str, path: str, body: object) -> bool:
    """A request that counts against GitHub's content-creation limit: REST POST, PATCH,
    PUT and DELETE, and GraphQL mutations (a GraphQL query is a read)."""
    if verb not in WRITE_VERBS:
        return False
    if urlsplit(path).path.endswith("/graphql"):
        try:
            query = json.loads(body).get("query", "") if isinstance(body, (str, bytes)) else ""
        except (ValueError, AttributeError):
            return True
        return str(query).lstrip().startswith("mutation")
    return True


def _per_thread(name: str) -> Any:
    """An attribute of a connection that each thread sees its own of."""
    return property(
        lambda self: getattr(self._requests, name, None), lambda self, value: setattr(self._requests, name, value)
    )


class _Budgeted:
    """Mixed into PyGithub's connections: the request's credential (from the header its
    auth added) spends a unit of its write budget before a write is sent, and GitHub's
    primary-limit headers are watched on every answer.

    A client's connection is shared by every thread of the process (one client per
    credential), and PyGithub keeps the request being sent on the connection itself,
    between request() and getresponse(): that state is kept per thread, else one lane's
    request could be sent in place of another's."""

    verb = _per_thread("verb")
    url = _per_thread("url")
    input = _per_thread("input")
    headers = _per_thread("headers")
    stream = _per_thread("stream")
    budget_key = _per_thread("budget_key")
    # PyGithub's connection's own (set by its __init__).
    session: requests.Session
    protocol: str
    host: str
    port: int
    verify: Any

    def __init__(self, *args, **kwargs) -> None:
        self._requests = threading.local()
        super().__init__(*args, **kwargs)
        # requests reads the environment's proxies and CA bundle again for every request (a
        # tenth of a worker's CPU per GitHub request); a connection has one host, so they
        # are read once, here, and the session no longer looks.
        url = f"{self.protocol}://{self.host}:{self.port}"
        found = self.session.merge_environment_settings(url, {}, None, self.verify, None)
        self.session.proxies, self.verify, self.session.trust_env = found["proxies"], found["verify"], False

    def request(self, verb: str, url: str, input, headers: dict[str, str], stream: bool = False) -> None:
        self.budget_key = headers.pop(BUDGET_HEADER, None)
        super().request(verb, url, input, headers, stream)  # type: ignore[misc]

    def getresponse(self):
        key = self.budget_key
        if key and is_write(self.verb, self.url, self.input):
            budget.spend(key)
        response = super().getresponse()
        if key:
            headers = response.headers
            budget.observe(key, headers.get("x-ratelimit-remaining"), headers.get("x-ratelimit-reset"))
        return response


class _BudgetedHTTP(_Budgeted, HTTPRequestsConnectionClass):
    pass


class _BudgetedHTTPS(_Budgeted, HTTPSRequestsConnectionClass):
    pass


# PyGithub makes every connection from these two class attributes; its public
# injectConnectionClasses would also turn keep-alive off, which we keep on.
Requester._Requester__httpConnectionClass = _BudgetedHTTP  # type: ignore[attr-defined]
Requester._Requester__httpsConnectionClass = _BudgetedHTTPS  # type: ignore[attr-defined]
