"""Writing a submission: the promotion, its file rows and its events, inserted under
the lane's queueing lock (promotions.engine.lanes: on PostgreSQL no other promotion
of the branch gets an id until this one's rows are committed).

- On PostgreSQL, an ordinary submission is ONE statement (statements.insert_linked):
  the lock, then the three INSERTs (multi-row ones for files and events), prepared
  once per connection and shape (promotions.prepared.fetch_all) and run as a
  transaction of its own. The lock is then held for the server's own work only, never
  across a round trip to a Python thread that may be waiting for the GIL: many pods
  can submit to one branch at once without queueing behind each other's round trips.
- A large submission (SQLite, more than ONE_STATEMENT_BYTES of content or
  ONE_STATEMENT_FILES files) is a transaction with INSERTs bounded by bytes, so that
  the driver's copy of a statement (PostgreSQL's text protocol writes bytea as hex:
  twice the bytes) stays small next to the content itself, and nothing of it outlives
  the statement.
Nothing is read back: the promotion's id comes back from its INSERT."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import psycopg
from django.conf import settings
from django.db import connection, transaction

from ..engine.lanes import lock_for_queueing, queueing_lock
from ..models import Event, FileChange, Promotion
from ..statements import Values, insert_linked, insert_sql

# Content bytes and files sent in the one statement; more goes the transactional way.
# (A statement takes at most 65,535 parameters: 12 per file.)
ONE_STATEMENT_BYTES = 1024 * 1024
ONE_STATEMENT_FILES = 1000
# Content bytes per INSERT on the transactional way; one file larger than this goes alone.
INSERT_BATCH_BYTES = 4 * 1024 * 1024


def insert_submission(promotion: Promotion, files: Sequence[Values], events: Sequence[Values]) -> None:
    """INSERT `promotion` (unsaved; its pk is set), then the rows of its `files` and
    `events` (statements.Values, in order, without the promotion). No model instance
    is made of them on PostgreSQL, and they keep no ids of their own."""
    size = sum(_content_size(row) for row in files)
    if connection.vendor == "postgresql" and size <= ONE_STATEMENT_BYTES and len(files) <= ONE_STATEMENT_FILES:
        _in_one_statement(promotion, files, events)
        return
    with transaction.atomic():
        lock_for_queueing(promotion.repository_id, promotion.branch)
        promotion.save(force_insert=True)
        for batch in _batches(files):
            _insert_content([{**row, "promotion_id": promotion.pk} for row in batch])
        Event.objects.bulk_create([Event(promotion=promotion, **row) for row in events])


def _insert_content(rows: list[Values]) -> None:
    """INSERT file rows whose content is large. PostgreSQL: with binary parameters on
    the connection's own transaction, so the content goes out as it is (the text
    protocol would write it as hex, twice over). Django does not see this statement."""
    if connection.vendor != "postgresql":
        with _query_log_off():
            FileChange.objects.bulk_create([FileChange(**row) for row in rows])
        return
    sql, params = insert_sql(FileChange, rows)
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql.replace("%s", "%b"), params)


def _in_one_statement(promotion: Promotion, files: Sequence[Values], events: Sequence[Values]) -> None:
    with _savepoint_if_in_transaction():
        lock = queueing_lock(promotion.repository_id, promotion.branch)
        promotion.pk = insert_linked(lock, promotion, [(FileChange, files), (Event, events)], link="promotion")
    promotion._state.adding, promotion._state.db = False, connection.alias


@contextmanager
def _savepoint_if_in_transaction() -> Iterator[None]:
    """Inside a caller's transaction a failed INSERT must leave it usable: a savepoint.
    Outside one, no BEGIN: it would make the lock outlive a round trip."""
    if connection.in_atomic_block:
        with transaction.atomic():
            yield
    else:
        yield


def _content_size(row: Values) -> int:
    content = row.get("content")
    return len(content) if isinstance(content, bytes) else 0


def _batches(rows: Sequence[Values]) -> Iterator[list[Values]]:
    batch: list[Values] = []
    size = 0
    for row in rows:
        length = _content_size(row)
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
