"""Faults a test or benchmark injects: an error status, bad credentials, GitHub's
primary and secondary rate limits, a hanging answer, or a connection dropped after
the write was done. Each fires on the `nth` matching request, `times` times; `query`
narrows a fault on GraphQL to the requests whose query it finds (e.g. `updateRefs`)."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http import HTTPStatus

from . import shapes

FAULT_KINDS = {"status", "drop_after_write", "secondary_rate_limit", "primary_rate_limit", "bad_credentials", "hang"}
RATE_LIMIT = 5000
RATE_LIMITS_DOCS = f"{shapes.DOCS}/overview/rate-limits-for-the-rest-api"
SECONDARY_RATE_LIMIT = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID {request_id}."
)
PRIMARY_RATE_LIMIT = (
    f"API rate limit exceeded for user ID {shapes.USER_ID}. "
    "If you reach out to GitHub Support for help, please include the request ID {request_id} and timestamp {timestamp}."
)


@dataclass
class Fault:
    kind: str
    method: str | None = None
    path: str | None = None  # a regular expression searched in the request path
    query: str | None = None  # one searched in a GraphQL request's query
    nth: int = 1
    times: int = 1
    options: dict = field(default_factory=dict)
    matched: int = 0
    fired: int = 0

    @classmethod
    def from_json(cls, spec: dict) -> Fault:
        """ValueError (or re.error) for a fault the emulator cannot inject."""
        spec = dict(spec)
        kind = spec.pop("kind", None)
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {sorted(FAULT_KINDS)}")
        fault = cls(
            kind,
            spec.pop("method", None),
            spec.pop("path", None),
            spec.pop("query", None),
            int(spec.pop("nth", 1)),
            int(spec.pop("times", 1)),
        )
        for pattern in (fault.path, fault.query):
            if pattern:
                re.compile(pattern)
        fault.options = spec
        return fault

    def matches(self, method: str, path: str, query: str = "") -> bool:
        return (
            (not self.method or self.method.upper() == method)
            and (not self.path or re.search(self.path, path) is not None)
            and (not self.query or re.search(self.query, query) is not None)
        )

    @property
    def answers_instead(self) -> bool:
        """Whether the fault is the whole answer (the request is not handled)."""
        return self.kind not in ("hang", "drop_after_write")

    def answer(self, docs: str, request_id: str) -> tuple[int, dict, dict]:
        """(status, body, headers) of an answering fault, as GitHub words each."""
        options, headers = self.options, dict[str, str]()
        if self.kind == "status":
            status = int(options.get("status", 500))
            message = options.get("message") or ("Server Error" if status >= 500 else HTTPStatus(status).phrase)
            return status, shapes.error(message, docs, status), headers
        if self.kind == "bad_credentials":
            return 401, shapes.error("Bad credentials", shapes.DOCS, 401), headers
        status = int(options.get("status", 403))
        if self.kind == "secondary_rate_limit":
            headers["Retry-After"] = str(int(options.get("retry_after", 60)))
            message = SECONDARY_RATE_LIMIT.format(request_id=request_id)
            return status, shapes.error(message, f"{RATE_LIMITS_DOCS}#about-secondary-rate-limits", status), headers
        headers["X-RateLimit-Remaining"] = "0"
        headers["X-RateLimit-Used"] = str(RATE_LIMIT)
        headers["X-RateLimit-Reset"] = str(int(time.time() + float(options.get("reset_in", 60))))
        timestamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        message = PRIMARY_RATE_LIMIT.format(request_id=request_id, timestamp=timestamp)
        return status, shapes.error(message, f"{RATE_LIMITS_DOCS}#about-the-rate-limit", status), headers


def graphql_query_of(path: str, body: bytes) -> str:
    """The query of a GraphQL request (what a fault's `query` is searched in), else ""."""
    if not path.endswith("/graphql"):
        return ""
    try:
        found = json.loads(body or b"{}")
    except ValueError:
        return ""
    return str(found.get("query") or "") if isinstance(found, dict) else ""
