"""Patchgate's own settings (`settings.PATCHGATE`), read when needed, never copied
into module constants, so that a test's override or a changed environment holds;
and the Redis they configure (REDIS_URL), when there is one."""

import functools
import hashlib
import os
import threading

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


# Each thread's own connection to the shared Redis for round_trip, with the process it
# was made in (a forked child must not read its parent's answers off the same socket).
_thread_connections = threading.local()


def round_trip(client: redis.Redis, commands: list[tuple]) -> list:
    """Send `commands` (e.g. ("GET", key)) in one round trip on this thread's own
    connection and return Redis's raw replies, in order (a reply that is an error is
    raised). For the requests every pod makes: redis-py's pipeline and command path
    (its pool, retries and wrappers) cost several times the round trip itself. A
    connection found broken (Redis restarted, an idle one dropped) is made again once;
    the first error reply, if any, is raised once every reply is read."""
    connection = _thread_connection(client)
    try:
        return _sent(connection, commands)
    except (redis.ConnectionError, redis.TimeoutError):
        connection.disconnect()
        return _sent(connection, commands)


def _thread_connection(client: redis.Redis) -> redis.connection.AbstractConnection:
    pool = client.connection_pool
    key = (id(pool), os.getpid())
    connection = getattr(_thread_connections, "connection", None)
    if connection is None or getattr(_thread_connections, "key", None) != key:
        connection = pool.connection_class(**pool.connection_kwargs)
        _thread_connections.connection, _thread_connections.key = connection, key
    return connection


def _sent(connection: redis.connection.AbstractConnection, commands: list[tuple]) -> list:
    connection.send_packed_command(connection.pack_commands(commands))
    replies, refused = [], None
    for _ in commands:  # every reply is read, even after an error: the next round trip starts clean
        try:
            replies.append(connection.read_response())
        except redis.ResponseError as error:
            refused = refused or error
            replies.append(None)
    if refused is not None:
        raise refused
    return replies


def shared_key(prefix: str, parts: tuple[str, ...]) -> str:
    """A Redis key for `parts` (names of any length or character) under `prefix`."""
    return prefix + hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def forget_shared(prefix: str) -> None:
    """Delete every Redis key under `prefix` (tests: what processes shared outlives them)."""
    client = shared_redis()
    if client is not None:
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
