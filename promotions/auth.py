"""Pods authenticate with `Authorization: Bearer <key>`: one query finds the key, its
pod and the repositories granted to it (kept on `pod.granted_repositories`, so the
request needs no second query for them).

With Redis, each process keeps the rows of the keys it has found, and a request asks
Redis one small question instead: has any key, pod, repository or grant changed since
those rows were read? Every such change counts up one number there (access_changed,
wired to the models' signals in apps.py, and called by services that update rows
without them), after its transaction commits, so a revoked key is refused from the
moment its revocation is committed. Without Redis, the database answers every request."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

import redis
from django.db import transaction
from django.utils import timezone
from rest_framework import authentication, exceptions

from .conf import round_trip, shared_redis
from .keys import hash_key
from .models import ApiKey, Pod, Repository
from .prepared import PreparedQuery, columns, instance
from .throttling import queue_count

# last_used_at is advisory: writing it at most once a minute spares a write per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)

_POD = columns(Pod, "pod__")
_REPOSITORY = columns(Repository, "pod__repositories__")
_KEY = PreparedQuery(
    lambda key_hash: (
        ApiKey.objects.filter(key_hash=key_hash, revoked_at__isnull=True, pod__is_active=True)
        .order_by()
        .values_list("id", "last_used_at", *_POD, *_REPOSITORY)
    ),
    "\x00key hash\x00",
)


# The count of access changes (see the module's docstring).
ACCESS_GENERATION = "patchgate:access-generation"
# Keys a process remembers at most; past that it starts again.
REMEMBERED_KEYS = 10_000


class _Found(NamedTuple):
    generation: int
    rows: list[tuple]
    last_used_at: datetime | None


_found: dict[str, _Found] = {}


def pod_for_key(raw_key: str, *, count_request: bool = False) -> Pod | None:
    """The active pod holding this unrevoked key, or None (unknown, revoked and
    malformed keys alike). Notes when the key was last used. `count_request`: for a
    key this process remembers, the request is counted for the pod's throttle in the
    same round trip to Redis as the check that the key's rows still hold."""
    raw_key = raw_key.strip()
    if not raw_key:
        return None
    key_hash = hash_key(raw_key)
    client = shared_redis()
    generation, found, pod = _remembered(client, key_hash, count_request) if client is not None else (-1, None, None)
    if found is None:
        rows = _KEY.rows(key_hash)  # read after the generation: a change meanwhile makes them stale at once
        if not rows:
            return None
        found = _Found(generation, rows, rows[0][1])
    now = timezone.now()
    if found.last_used_at is None or now - found.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=found.rows[0][0]).update(last_used_at=now)
        found = found._replace(last_used_at=now)
    if client is not None:
        if len(_found) >= REMEMBERED_KEYS:
            _found.clear()
        _found[key_hash] = found
    return pod or _pod_of(found.rows)


def _remembered(client: redis.Redis, key_hash: str, count_request: bool) -> tuple[int, _Found | None, Pod | None]:
    """(The access generation, this process's rows of the key if they still hold, and
    with count_request the pod made from them with its request counted.)"""
    found = _found.get(key_hash)
    if found is None or not count_request:
        generation = int(client.get(ACCESS_GENERATION) or 0)
        return generation, found if found is not None and found.generation == generation else None, None
    commands: list[tuple] = [("GET", ACCESS_GENERATION)]
    pod = _pod_of(found.rows)
    settle_count = queue_count(commands, pod)
    generation_text, *counts = round_trip(client, commands)
    generation = int(generation_text or 0)
    holds = generation == found.generation
    settle_count(counts, holds)
    return (generation, found, pod) if holds else (generation, None, None)


def _pod_of(rows: list[tuple]) -> Pod:
    """A fresh pod (and its granted repositories) from the key's rows, for one request."""
    repositories_at = 2 + len(_POD)
    pod = instance(Pod, rows[0][2:repositories_at])
    pod.granted_repositories = [  # type: ignore[attr-defined]
        instance(Repository, row[repositories_at:]) for row in rows if row[repositories_at] is not None
    ]
    return pod


def access_changed(**_signal) -> None:
    """Count an access change (a key, pod, repository or grant written): processes read
    their keys' rows again. Counted now and again once the transaction commits: a
    request between the two may read the rows as they were, and keep them only until
    the second count."""
    client = shared_redis()
    if client is not None:
        client.incr(ACCESS_GENERATION)
        transaction.on_commit(lambda: client.incr(ACCESS_GENERATION))


class PodKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        keyword, _, raw_key = header.partition(" ")
        if keyword.lower() != self.keyword.lower():
            return None
        pod = pod_for_key(raw_key, count_request=True)  # every pod request meets PodRateThrottle
        if pod is None:
            # Same answer for unknown, revoked and malformed keys: no hint which.
            raise exceptions.AuthenticationFailed("Invalid API key.")
        return pod, None

    def authenticate_header(self, request):
        return 'Bearer realm="patchgate"'
