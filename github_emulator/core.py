"""The emulator's core: the emulated GitHub's state (repositories, Apps, tokens),
the WSGI application that routes each API request to its handler (one module per
section of GitHub's REST documentation) with GitHub's headers, error bodies and
rate-limit accounting, and the faults and latency tests inject."""

from __future__ import annotations

import itertools
import json
import re
import secrets
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from typing import Callable
from urllib.parse import urlencode

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from . import controls, shapes
from .faults import RATE_LIMIT, Fault, graphql_query_of
from .limits import TRUNCATE_ENTRIES, WriteLimits, is_content_write, secondary_limit_answer
from .store import App, Installation, Refused, Repository, Signature, now

RATE_WINDOW_SECONDS = 3600
# Path parameters that may hold slashes.
PATH_PARAMETERS = {"ref", "path", "branch"}


def not_supplied(name: str) -> Refused:
    return Refused(422, f'Invalid request.\n\n"{name}" wasn\'t supplied.')


def user_signature() -> Signature:
    """The emulator's own user, now: the default author of what the API writes."""
    return Signature(shapes.USER_NAME, shapes.USER_EMAIL, now())


@dataclass(frozen=True)
class Route:
    method: str
    template: str  # as in GitHub's OpenAPI description; also the statistics key
    handler: Callable
    docs: str  # the documentation_url of its errors, below shapes.DOCS
    # Whether a request is a write (in the statistics); None: any method but GET.
    writes: Callable[[Request], bool] | None = None


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
        installation = self.emulator.installation_of(self.request.headers.get("Authorization", ""))
        # An installation token sees its account's repositories only; GitHub hides the others.
        if found is None or (installation is not None and not installation.reaches(found.owner)):
            raise Refused(404, "Not Found")
        if with_commits and found.is_empty:
            raise Refused(409, "Git Repository is empty.")
        return found

    def caller_signature(self) -> Signature:
        """Who the API writes as, now: an App installation's bot, else the emulator's user."""
        installation = self.emulator.installation_of(self.request.headers.get("Authorization", ""))
        if installation is None:
            return user_signature()
        login = f"app-{installation.app_id}[bot]"
        return Signature(login, f"{installation.app_id}+{login}@users.noreply.github.com", now())

    def web_flow_signs(self) -> bool:
        """Whether GitHub signs the Git Data or contents commit this request makes: made
        by an App installation naming no author and no committer (create-pull-request's
        docs; a personal token's commits, or any with an explicit author, are unsigned:
        github/github-mcp-server#2771, anthropics/claude-code-action#1511)."""
        installation = self.emulator.installation_of(self.request.headers.get("Authorization", ""))
        return installation is not None and not self.body.get("author") and not self.body.get("committer")

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

    def page(self, items: list, default_size: int = 30, max_size: int = 100) -> tuple[list, dict]:
        """One page of a list, with GitHub's Link header when there are others."""
        per_page = max(1, min(int(self.request.args.get("per_page", default_size)), max_size))
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


def werkzeug_rule(template: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: f"<path:{m[1]}>" if m[1] in PATH_PARAMETERS else f"<{m[1]}>", template)


class ConnectionDropped(ConnectionAbortedError):
    """Raised after the socket is shut: werkzeug then writes no response."""


class Emulator:
    """The whole emulated GitHub as a WSGI application: its repositories, the API
    `routes` it answers, and the test controls under /_emulator/."""

    def __init__(
        self,
        routes: list[Route],
        latency_ms: float = 0,
        write_limits: list[tuple[int, float]] | None = None,
        truncate_entries: int = TRUNCATE_ENTRIES,
    ):
        self.routes = routes
        # Configuration, kept across resets as the latency is: GitHub's secondary limit
        # on content-creating requests per credential (none when empty), and the cut of
        # recursive trees.
        self.write_limit_windows = write_limits or []
        self.truncate_entries = truncate_entries
        rules = [Rule(werkzeug_rule(r.template), endpoint=index, methods=[r.method]) for index, r in enumerate(routes)]
        self.url_map = Map(rules, strict_slashes=False, merge_slashes=False)
        self.lock = threading.Lock()
        self.latency_ms = latency_ms
        self.hangs_released = threading.Event()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.repos: dict[str, Repository] = {}
            self.apps: dict[str, App] = {}
            self.installations: dict[str, Installation] = {}
            self.installation_tokens: dict[str, str] = {}  # token -> installation id
            self.write_limits = WriteLimits(self.write_limit_windows)
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
        self.requests, self.writes, self.rate_limited = 0, 0, 0
        self.by_route: Counter[str] = Counter()
        self.by_credential: Counter[str] = Counter()

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
                "rate_limited": self.rate_limited,
            }

    def register_app(self, app_id: int, public_key_pem: str) -> None:
        with self.lock:
            self.apps[str(app_id)] = App(str(app_id), public_key_pem)

    def install_app(self, installation_id: int, app_id: int, owner: str | None) -> None:
        """Install a registered App on `owner`'s account (None: every account)."""
        with self.lock:
            if str(app_id) not in self.apps:
                raise ValueError(f"no App {app_id} is registered")
            self.installations[str(installation_id)] = Installation(str(installation_id), str(app_id), owner, now())

    def issue_installation_token(self, installation_id: str) -> str:
        token = "ghs_" + secrets.token_hex(18)
        with self.lock:
            self.installation_tokens[token] = installation_id
        return token

    def installation_of(self, authorization: str) -> Installation | None:
        """The installation whose token authenticates a request, if any."""
        installation_id = self.installation_tokens.get(authorization.partition(" ")[2])
        return self.installations.get(installation_id) if installation_id else None

    def credential_key(self, authorization: str) -> str:
        """What a write limit counts against: an installation (whatever its current
        token), an App, or a token."""
        installation = self.installation_of(authorization)
        if installation is not None:
            return f"installation {installation.id}"
        return f"{self.credential_kind(authorization)} {authorization.partition(' ')[2]}"

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

    def create_repository(
        self, owner: str, name: str, auto_init: bool, default_branch: str = "main", files: Iterable | None = None
    ) -> Repository:
        """A new repository; with `auto_init`, its first commit holds a README and
        `files` ((path, content) pairs, built in one pass however many)."""
        key = f"{owner}/{name}".lower()
        with self.lock:
            if key in self.repos:
                error = {
                    "resource": "Repository",
                    "code": "custom",
                    "field": "name",
                    "message": "name already exists on this account",
                }
                raise Refused(422, "Repository creation failed.", [error])
            repo = self.repos[key] = Repository(owner, name, next(self._ids), now(), default_branch)
        if auto_init:
            tree = repo.add_files([("README.md", f"# {name}\n".encode()), *(files or [])])
            committer = Signature("GitHub", "noreply@github.com", now())
            commit = repo.add_commit("Initial commit", tree, [], user_signature(), committer)
            repo.set_ref(f"refs/heads/{default_branch}", commit.id.decode())
        return repo

    # --- WSGI --------------------------------------------------------------------

    def __call__(self, environ, start_response):
        request = Request(environ)
        if request.path.startswith("/_emulator/"):
            return controls.answer(self, request)(environ, start_response)
        return self.api(request)(environ, start_response)

    def take_fault(self, method: str, path: str, query: str = "") -> Fault | None:
        """Faults are consumed in the order they were injected: a request counts
        towards the first pending fault that matches it, and no other."""
        with self.lock:
            fault = next((fault for fault in self.faults if fault.matches(method, path, query)), None)
            if fault is None:
                return None
            fault.matched += 1
            if fault.matched < fault.nth:
                return None
            fault.fired += 1
            if fault.fired >= fault.times:
                self.faults.remove(fault)
            return fault

    def _route(self, request: Request) -> tuple[Route | None, dict]:
        try:
            index, params = self.url_map.bind_to_environ(request.environ).match()
        except HTTPException:
            return None, {}
        return self.routes[index], dict(params)

    def api(self, request: Request) -> Response:
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)
        route, params = self._route(request)
        with self.lock:
            self.requests += 1
            self.rate_used += 1
            if route is not None:
                self.by_route[f"{route.method} {route.template}"] += 1
            self.by_credential[self.credential_kind(request.headers.get("Authorization", ""))] += 1
        request_id = ":".join(secrets.token_hex(n).upper() for n in (2, 3, 3, 4, 4))
        call = Call(self, request, f"{shapes.DOCS}/{route.docs}" if route else shapes.DOCS)
        fault = self.take_fault(request.method, request.path, graphql_query_of(request.path, request.get_data()))
        released = self.hangs_released
        if fault and fault.kind == "hang" and released.wait(float(fault.options.get("seconds", 30))):
            return self.drop(request)
        if fault and fault.answers_instead:
            if fault.kind in ("secondary_rate_limit", "primary_rate_limit"):
                self.count_rate_limited()
            return self.respond(*fault.answer(call.docs, request_id), request_id=request_id)
        if (
            route is not None
            and self.write_limit_windows
            and is_content_write(request.method, route.template, request.get_data())
        ):
            wait = self.write_limits.take(self.credential_key(request.headers.get("Authorization", "")))
            if wait:
                self.count_rate_limited()
                return self.respond(*secondary_limit_answer(request_id, wait), request_id=request_id)
        try:
            if route is None:
                raise Refused(404, "Not Found")
            if route.method != "GET" and "Authorization" not in request.headers:
                raise Refused(401, "Requires authentication")
            status, body, *extra = route.handler(call, **params)
            headers = extra[0] if extra else {}
            if status == 201 and isinstance(body, dict) and "url" in body:
                headers["Location"] = body["url"]
            if status < 300 and (route.writes(request) if route.writes else request.method != "GET"):
                with self.lock:
                    self.writes += 1
        except Refused as refusal:
            status, headers = refusal.status, {}
            docs = shapes.DOCS if refusal.status == 401 or route is None else call.docs
            body = shapes.error(refusal.message, docs, refusal.status, refusal.errors)
        if fault and fault.kind == "drop_after_write":
            return self.drop(request)
        return self.respond(status, body, headers, request_id=request_id)

    def count_rate_limited(self) -> None:
        with self.lock:
            self.rate_limited += 1

    def drop(self, request: Request):
        """Close the connection without a word: the client sees a connection error."""
        connection = request.environ.get("werkzeug.socket")
        if connection is not None:
            connection.shutdown(socket.SHUT_RDWR)
        raise ConnectionDropped()

    def respond(self, status: int, body, headers: dict, *, request_id: str) -> Response:
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
