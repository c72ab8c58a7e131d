"""Patchgate's own settings (`settings.PATCHGATE`), read when needed, never copied
into module constants, so that a test's override or a changed environment holds;
and the Redis they configure (REDIS_URL), when there is one."""

import functools
import hashlib

import redis
from django.conf import settings


def setting(name: str):
    return settings.PATCHGATE[name]


def shared_redis() -> redis.Redis | None:
    """The configured Redis (one client and connection pool per process and URL), or None."""
    return redis_client(settings.REDIS_URL) if settings.REDIS_URL else None


@functools.cache
def redis_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def shared_key(prefix: str, parts: tuple[str, ...]) -> str:
    """A Redis key for `parts` (names of any length or character) under `prefix`."""
    return prefix + hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def forget_shared(prefix: str) -> None:
    """Delete every Redis key under `prefix` (tests: what processes shared outlives them)."""
    client = shared_redis()
    if client is not None:
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
