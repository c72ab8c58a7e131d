"""The emulator's own endpoints under /_emulator/, for tests, benchmarks and people
running it by hand: statistics, latency, faults and a full reset. They are not
GitHub's: no rate limit, no latency, never counted in the statistics.

    GET    /_emulator/stats         {requests, writes, by_route, by_credential, rate_limited}
    POST   /_emulator/reset-stats
    POST   /_emulator/latency       {"ms": 75}
    POST   /_emulator/faults        a fault, or a list of them (see faults.py)
    DELETE /_emulator/faults
    POST   /_emulator/reset         no repository, App, fault or statistics left
"""

from __future__ import annotations

import json
import re
from typing import Protocol

from werkzeug.wrappers import Request, Response


class Controlled(Protocol):
    latency_ms: float

    def stats(self) -> dict: ...

    def reset_stats(self) -> None: ...

    def inject(self, spec: dict) -> None: ...

    def clear_faults(self) -> None: ...

    def reset(self) -> None: ...


def answer(emulator: Controlled, request: Request) -> Response:
    action = (request.method, request.path.rstrip("/").removeprefix("/_emulator/"))
    body = request.get_json(silent=True) or {}
    try:
        if action == ("GET", "stats"):
            return reply(emulator.stats())
        if action == ("POST", "reset-stats"):
            emulator.reset_stats()
        elif action == ("POST", "latency"):
            emulator.latency_ms = float(body["ms"])
        elif action == ("POST", "faults"):
            for spec in body if isinstance(body, list) else [body]:
                emulator.inject(spec)
        elif action == ("DELETE", "faults"):
            emulator.clear_faults()
        elif action == ("POST", "reset"):
            emulator.reset()
        else:
            return reply({"message": "Not Found"}, 404)
    except (KeyError, TypeError, ValueError, re.error) as error:
        return reply({"message": f"bad request: {error}"}, 400)
    return reply({"ok": True})


def reply(body: dict, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json; charset=utf-8")
