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
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Model
from django.db.models.expressions import RawSQL
from psycopg.adapt import Transformer

from ..engine.lanes import lock_for_queueing, queueing_lock
from ..models import Event, FileChange, Promotion
from ..statements import insert_sql

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
    sql, params = insert_sql(rows)
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql.replace("%s", "%b"), params)


def _in_one_message(promotion: Promotion, files: list[FileChange], events: list[Event]) -> None:
    statements = [
        queueing_lock(promotion.repository_id, promotion.branch),
        insert_sql([promotion], returning=True),
        insert_sql(files, linked=_CURRENT_PROMOTION),
        insert_sql(events, linked=_CURRENT_PROMOTION),
    ]
    with _savepoint_if_in_transaction(), connection.cursor() as cursor:
        # In autocommit, PostgreSQL runs the statements of one message as one transaction.
        # Bytes: psycopg sends them as they are.
        cursor.execute(_with_literals(statements))  # type: ignore[arg-type]
        cursor.nextset()  # from the lock's result to the promotion's RETURNING
        promotion.pk = cursor.fetchone()[0]
    promotion._state.adding, promotion._state.db = False, connection.alias
    _attach(promotion, [*files, *events])


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
