"""Hot queries compiled once per process. Django's ORM builds and compiles a query on
every call, which for the queries every pod request makes (its key, its
repositories, a status document) costs several times what the database takes to
answer them. A PreparedQuery is compiled once from its queryset, written with
placeholder values, and then run with the real ones; its rows pass through the same
converters the ORM would apply, so it answers what the queryset would."""

from __future__ import annotations

import functools
import itertools
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.db import connection
from django.db.models import Model, QuerySet

try:  # the PostgreSQL driver, when installed
    import psycopg
except ImportError:
    psycopg = None  # type: ignore[assignment]

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple
    positions: tuple[int, ...]
    compiler: Any
    converters: dict


class PreparedQuery:
    """`build(*placeholders)` returns a values_list() queryset; `rows(*values)` runs it
    with `values` in the placeholders' places. Each placeholder must reach the SQL's
    parameters unchanged and once (a distinctive string or integer)."""

    def __init__(self, build: Callable[..., QuerySet], *placeholders: object):
        self.build, self.placeholders = build, placeholders
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def rows(self, *values: object) -> list[tuple]:
        compiled, params = self._bound(values)
        return self._converted(compiled, fetch_all(compiled.sql, params))

    def rows_if(self, guard: tuple[str, list], *values: object) -> list[tuple] | None:
        """PostgreSQL, one statement: the `guard` UPDATE and, only if it changed a row,
        this query's rows; None when it changed none. The rows are read in the
        statement's snapshot, taken before the guard's UPDATE."""
        compiled, params = self._bound(values)
        # Each row numbered in the query's order (NULL for the guard's row alone: nothing found).
        sql = (
            f"WITH guard AS ({guard[0]} RETURNING 1) SELECT found.* FROM guard LEFT JOIN "
            f"(SELECT row_number() OVER () AS number, query.* FROM ({compiled.sql}) AS query) AS found "
            "ON true ORDER BY found.number"
        )
        rows = fetch_all(sql, [*guard[1], *params])
        if not rows:
            return None
        return self._converted(compiled, [row[1:] for row in rows if row[0] is not None])

    def _bound(self, values: tuple) -> tuple[_Compiled, list]:
        compiled = self._compiled.get(connection.alias) or self._compile()
        params = list(compiled.params)
        for position, value in zip(compiled.positions, values, strict=True):
            params[position] = value
        return compiled, params

    @staticmethod
    def _converted(compiled: _Compiled, rows: list[tuple]) -> list[tuple]:
        if compiled.converters:
            return list(compiled.compiler.apply_converters(rows, compiled.converters))
        return rows

    def _compile(self) -> _Compiled:
        with self._lock:
            compiler = self.build(*self.placeholders).query.get_compiler(connection=connection)
            sql, params = compiler.as_sql()
            positions = tuple(params.index(placeholder) for placeholder in self.placeholders)
            converters = compiler.get_converters([expression for expression, _, _ in compiler.select])
            compiled = _Compiled(sql, tuple(params), positions, compiler, converters)
            self._compiled[connection.alias] = compiled
            return compiled


def fetch_all(sql: str, params: Sequence[Any], *, keep_cursor: bool = False) -> list[tuple]:
    """The rows of a statement run again and again, logged and counted as Django's own
    queries. On PostgreSQL the values go apart from the statement, and unless
    PREPARED_STATEMENTS is off the server parses and plans each statement once per
    connection (connections persist: CONN_MAX_AGE), then only binds and runs it: for
    the key's four-table join that is most of the server's work. Django's own cursors
    write values in as literals, which the server parses anew on every call.
    `keep_cursor`: the statement keeps its cursor on the connection, and with it the
    driver's adapters for its values (a submission binds about 80); only for a
    statement whose answer is a row or two, since a cursor holds its last answer.
    Elsewhere, Django's cursor."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    connection.ensure_connection()
    bound = _kept_cursor(sql) if keep_cursor else _BoundCursor(connection.connection)
    wrapped = connection._prepare_cursor(bound)  # type: ignore[attr-defined]
    try:
        wrapped.execute(sql, params)
        return wrapped.fetchall()
    finally:
        if not keep_cursor:
            bound.close()


# The most statements whose cursors a connection keeps (fetch_all).
KEPT_CURSORS = 128


def _kept_cursor(sql: str) -> _BoundCursor:
    """The current connection's cursor for `sql`. The cursors are kept on Django's
    wrapper of the connection (one per thread), started afresh when it has connected again."""
    kept = getattr(connection, "patchgate_cursors", None)
    if kept is None or kept[0] is not connection.connection:
        kept = (connection.connection, {})
        connection.patchgate_cursors = kept  # type: ignore[attr-defined]  # ours, not one of Django's
    statements: dict[str, _BoundCursor] = kept[1]
    cursor = statements.get(sql)
    if cursor is None or cursor.closed:
        if len(statements) >= KEPT_CURSORS:
            statements.clear()
        cursor = statements[sql] = _BoundCursor(connection.connection)
    return cursor


if psycopg is not None:

    class _BoundCursor(psycopg.RawCursor):
        """Takes Django's placeholders, numbered once per statement text ($1, $2, ...;
        psycopg would parse a long statement anew on every call), and prepares what it
        runs, and only that: the connection's other statements stay unprepared and
        uncounted (psycopg would otherwise keep every distinct text it runs among its
        candidates, a large submission's included)."""

        def execute(self, query, params=None, *, prepare=None, binary=None):
            query = _numbered(query)
            if not settings.PREPARED_STATEMENTS:
                return super().execute(query, params, binary=binary)
            threshold = self.connection.prepare_threshold
            self.connection.prepare_threshold = 0
            try:
                return super().execute(query, params, binary=binary)
            finally:
                self.connection.prepare_threshold = threshold

        def _send_query_prepared(self, name, pgq, *, binary=None):
            # psycopg notes the statement it ran only when it did not prepare it;
            # Django's query log and tests read it there.
            self._query = pgq
            return super()._send_query_prepared(name, pgq, binary=binary)


@functools.lru_cache(maxsize=256)
def _numbered(sql: str) -> str:
    """Django's `%s` placeholders as PostgreSQL's $1, $2, ... (and `%%` as `%`)."""
    numbers = itertools.count(1)
    return re.sub(r"%[s%]", lambda match: "%" if match[0] == "%%" else f"${next(numbers)}", sql)


def columns(model: type[Model], prefix: str = "") -> list[str]:
    """The values_list() names of a model's concrete fields, e.g. for `pod__` fields."""
    return [f"{prefix}{field.attname}" for field in model._meta.concrete_fields]


def instance(model: type[M], values: Sequence[object], names: Sequence[str] | None = None) -> M:
    """A model instance from its concrete fields' values (in `columns` order, or named),
    as the ORM makes one from a row."""
    names = names or [field.attname for field in model._meta.concrete_fields]
    return model.from_db(connection.alias, names, values)
