"""GitHub's secondary rate limit on content-creating requests, per credential, and
the cut of large recursive trees.

GitHub documents "no more than 80 content-generating requests per minute and no more
than 500 content-generating requests per hour" without listing which requests count
(https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api#about-secondary-rate-limits):
the emulator counts every write (POST, PATCH, PUT, DELETE and GraphQL mutations)
but the App's own token exchange, in a sliding window (never more than N in any
SECONDS), the strictest reading. A refused request is not counted.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import defaultdict, deque

from . import shapes
from .faults import RATE_LIMITS_DOCS, SECONDARY_RATE_LIMIT

# "If the number of items in the tree array exceeded our maximum limit [100,000 entries,
# 7 MB], truncated is true" (https://docs.github.com/rest/git/trees#get-a-tree).
TRUNCATE_ENTRIES = 100_000
TRUNCATE_BYTES = 7 * 1024 * 1024
# Requests that create no content: an App trading its JWT for an installation token.
NOT_CONTENT = frozenset({"/app/installations/{installation_id}/access_tokens"})
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
_MUTATION = re.compile(r"^\s*mutation\b")


def parse_write_limits(text: str) -> list[tuple[int, float]]:
    """ "80/60,500/3600" -> [(80, 60.0), (500, 3600.0)]; ValueError naming the part."""
    windows = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        count, slash, seconds = part.partition("/")
        try:
            window = (int(count), float(seconds))
        except ValueError:
            window = (0, 0.0)
        if not slash or window[0] < 1 or window[1] <= 0:
            raise ValueError(f"{part!r} is not N/SECONDS (e.g. 80/60)")
        windows.append(window)
    return windows


def is_content_write(method: str, template: str, body: bytes) -> bool:
    """Whether a request counts against the content-creation limit: a GraphQL request
    only when it is a mutation."""
    if method not in WRITE_METHODS or template in NOT_CONTENT:
        return False
    if template.endswith("/graphql"):
        try:
            query = json.loads(body or b"{}").get("query", "")
        except (ValueError, AttributeError):
            return False
        return bool(_MUTATION.match(str(query)))
    return True


class WriteLimits:
    """Content-creating requests per credential within each window."""

    def __init__(self, windows: list[tuple[int, float]]):
        self.windows = windows
        self.lock = threading.Lock()
        self.taken: dict[str, deque[float]] = defaultdict(deque)

    def take(self, credential: str) -> float:
        """Count one write of `credential` now and return 0, or return the seconds to
        wait until every window allows one (nothing counted)."""
        now = time.monotonic()
        longest = max((seconds for _, seconds in self.windows), default=0)
        with self.lock:
            taken = self.taken[credential]
            while taken and taken[0] <= now - longest:
                taken.popleft()
            wait = 0.0
            for count, seconds in self.windows:
                recent = [at for at in taken if at > now - seconds]
                if len(recent) >= count:
                    wait = max(wait, recent[-count] + seconds - now)
            if wait <= 0:
                taken.append(now)
            return max(wait, 0.0)


def secondary_limit_answer(request_id: str, wait_seconds: float) -> tuple[int, dict, dict]:
    """GitHub's answer to a request over the secondary limit: 403, its message and
    documentation URL, and `retry-after` in whole seconds."""
    message = SECONDARY_RATE_LIMIT.format(request_id=request_id)
    body = shapes.error(message, f"{RATE_LIMITS_DOCS}#about-secondary-rate-limits", 403)
    return 403, body, {"Retry-After": str(max(1, math.ceil(wait_seconds)))}


def cut_listing(items: list[dict], max_entries: int) -> tuple[list[dict], bool]:
    """A tree's listing as GitHub gives it: at most `max_entries` entries and
    TRUNCATE_BYTES of JSON, and whether anything was left out."""
    size = 0
    for index, item in enumerate(items):
        size += len(json.dumps(item, separators=(",", ":"))) + 1
        if index >= max_entries or size > TRUNCATE_BYTES:
            return items[:index], True
    return items, False
