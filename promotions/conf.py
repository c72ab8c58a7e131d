"""Patchgate's own settings (`settings.PATCHGATE`), read when needed, never copied
into module constants, so that a test's override or a changed environment holds;
and the Redis they configure (REDIS_URL), when there is one."""

import functools

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
