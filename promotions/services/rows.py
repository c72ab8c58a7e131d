"""Writing a submission: the promotion, its file rows and its events, inserted under
the lane's queueing lock (promotions.engine.lanes: on PostgreSQL no other promotion
of the branch gets an id until this one's rows are committed).

- On PostgreSQL, an ordinary submission is ONE message: the lock and the three
  INSERTs (multi-row ones for files and events), which PostgreSQL runs as one
  transaction. The lock is then held for the server's own work only, never across a
  round trip to a Python thread that may be waiting for the GIL: many pods can submit
  to one branch at once without queueing behind each other's round trips.
- A large submission (SQLite, or more than ONE_MESSAGE_BYTES of content) is a
  transaction with INSERTs bounded by bytes, so that the driver's copy of a statement
  (PostgreSQL's text protocol writes bytea as hex: twice the bytes) stays small next
  to the content itself, and nothing of it outlives the statement.
Nothing is read back: the promotion's id comes back from its INSERT."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import psycopg
from django.conf import settings
from django.db import connection, connections, transaction
from django.db.models import (
    BigIntegerField,
    BooleanField,
    CharField,
    Field,
    IntegerField,
    Model,
    PositiveIntegerField,
    TextField,
)
from django.db.models.expressions import RawSQL
from django.db.models.sql import InsertQuery
from psycopg.adapt import Transformer

from ..engine.lanes import lock_for_queueing, queueing_lock
from ..models import Event, FileChange, Promotion

# Content bytes sent in the single message; more goes the transactional way.
ONE_MESSAGE_BYTES = 1024 * 1024
# Content bytes per INSERT on the transactional way; one file larger than this goes alone.
INSERT_BATCH_BYTES = 4 * 1024 * 1024


def insert_submission(promotion: Promotion, files: list[FileChange], events: list[Event]) -> None:
    """INSERT `promotion` (unsaved; its pk is set), then `files` and `events` (unsaved,
    in order, for that promotion). The file rows and events keep no ids of their own."""
    size = sum(len(row.content or b"") for row in files)
    if connection.vendor == "postgresql" and size <= ONE_MESSAGE_BYTES:
        _in_one_message(promotion, files, events)
        return
    with transaction.atomic():
        lock_for_queueing(promotion.repository_id, promotion.branch)
        promotion.save(force_insert=True)
        _attach(promotion, [*files, *events])
        for batch in _batches(files):
            _insert_content(batch)
        Event.objects.bulk_create(events)


def _insert_content(rows: list[FileChange]) -> None:
    """INSERT file rows whose content is large. PostgreSQL: with binary parameters on
    the connection's own transaction, so the content goes out as it is (the text
    protocol would write it as hex, twice over). Django does not see this statement."""
    if connection.vendor != "postgresql":
        with _query_log_off():
            FileChange.objects.bulk_create(rows)
        return
    sql, params = _insert_sql(rows)
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql.replace("%s", "%b"), params)


def _in_one_message(promotion: Promotion, files: list[FileChange], events: list[Event]) -> None:
    statements = [
        queueing_lock(promotion.repository_id, promotion.branch),
        _insert_sql([promotion], returning=True),
        _insert_sql(files, linked=True),
        _insert_sql(events, linked=True),
    ]
    with _savepoint_if_in_transaction(), connection.cursor() as cursor:
        # In autocommit, PostgreSQL runs the statements of one message as one transaction.
        # Bytes: psycopg sends them as they are.
        cursor.execute(_with_literals(statements))  # type: ignore[arg-type]
        cursor.nextset()  # from the lock's result to the promotion's RETURNING
        promotion.pk = cursor.fetchone()[0]
    promotion._state.adding, promotion._state.db = False, connection.alias
    _attach(promotion, [*files, *events])


def _insert_sql(rows: Sequence[Model], *, returning: bool = False, linked: bool = False) -> tuple[str, list]:
    """The INSERT of `rows` as Django writes it (defaults, auto_now, each value prepared
    by its field), compiled once per shape. `linked` rows refer to the promotion
    inserted before them in the same transaction."""
    sql, fields = _insert_shape(type(rows[0]), len(rows), returning, linked)
    database = connections[connection.alias]  # the wrapper itself: the proxy costs a lookup per use
    return sql, [_db_value(field, field.pre_save(row, True), database) for row in rows for field in fields]


# Fields whose prepared value is the value itself when it already has this type (their
# get_prep_value only converts other types); every other value goes through the field.
_PLAIN = {
    CharField: str,
    TextField: str,
    BooleanField: bool,
    PositiveIntegerField: int,
    IntegerField: int,
    BigIntegerField: int,
}


def _db_value(field: Field, value: object, database) -> object:
    if value is None or type(value) is _PLAIN.get(type(field)):
        return value
    return field.get_db_prep_save(value, database)


@functools.lru_cache(maxsize=64)
def _insert_shape(model: type[Model], count: int, returning: bool, linked: bool) -> tuple[str, list[Field]]:
    """(SQL, the fields whose values are its parameters, row after row)."""
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    rows = [model() for _ in range(count)]
    if linked:
        for row in rows:
            row.promotion_id = _CURRENT_PROMOTION  # type: ignore[attr-defined]
    query = InsertQuery(model)
    query.insert_values(fields, rows)
    compiler = query.get_compiler(connection=connection)
    if returning:
        compiler.returning_fields = [model._meta.pk]
    [(sql, params)] = compiler.as_sql()
    valued = [field for field in fields if not (linked and field.name == "promotion")]
    assert len(params) == count * len(valued), "every parameter is a field's value"
    return sql, valued


# The promotion inserted before, in the same transaction (its id sequence's current value).
_CURRENT_PROMOTION = RawSQL(f"currval(pg_get_serial_sequence('{Promotion._meta.db_table}', 'id'))", [])


def _with_literals(statements: list[tuple[str, list]]) -> bytes:
    """The statements as one text with their values written in as literals, by the
    driver's own adapters (as its client-side binding would): the driver then sends it
    as it is, without parsing a long text with many values again on every call."""
    literal = Transformer.from_context(connection.connection).as_literal
    text = []
    for sql, params in statements:
        pieces = _pieces(sql)
        text.append(pieces[0])
        for value, piece in zip(params, pieces[1:], strict=True):
            text += [b"NULL" if value is None else literal(value), piece]
        text.append(b";\n")
    return b"".join(text)


@functools.lru_cache(maxsize=64)
def _pieces(sql: str) -> list[bytes]:
    assert "%" not in sql.replace("%s", ""), "only %s placeholders"
    return [piece.encode() for piece in sql.split("%s")]


def _attach(promotion: Promotion, rows: list[Model]) -> None:
    for row in rows:
        row.promotion = promotion  # type: ignore[attr-defined]


@contextmanager
def _savepoint_if_in_transaction() -> Iterator[None]:
    """Inside a caller's transaction a failed INSERT must leave it usable: a savepoint.
    Outside one, no BEGIN: it would make the lock outlive a round trip."""
    if connection.in_atomic_block:
        with transaction.atomic():
            yield
    else:
        yield


def _batches(rows: list[FileChange]) -> Iterator[list[FileChange]]:
    batch: list[FileChange] = []
    size = 0
    for row in rows:
        length = len(row.content or b"")
        if batch and size + length > INSERT_BATCH_BYTES:
            yield batch
            batch, size = [], 0
        batch.append(row)
        size += length
    if batch:
        yield batch


@contextmanager
def _query_log_off() -> Iterator[None]:
    """With DEBUG on, Django keeps the text of every query of a thread until its next
    request: for these INSERTs that is every file's content again (as hex on
    PostgreSQL). Not logged then; a test's query capture (force_debug_cursor) still
    sees and counts them."""
    if not settings.DEBUG or connection.force_debug_cursor:
        yield
        return
    connection.make_debug_cursor = connection.make_cursor  # type: ignore[method-assign, assignment]
    try:
        yield
    finally:
        del connection.make_debug_cursor
