"""What a train reads before it is planned: its promotions' file rows, and the
branch's tip, which on a host across the network is read ahead, beside the database
work that comes before planning (engine.landing)."""

from __future__ import annotations

import functools
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from ..conf import setting
from ..models import FileChange, Promotion
from ..prepared import PreparedQuery, columns, instance
from ..scm.port import BLOB_MODE, ScmPort, TreeWrite


@dataclass(frozen=True)
class ReadAhead:
    """A train's files, and its tip being read, for the train of exactly these ids."""

    ids: list[int]
    files: dict[int, list[FileChange]]
    tip: Future

    def is_for(self, train: list[Promotion]) -> bool:
        return self.ids == [p.pk for p in train]


@functools.cache
def reads_ahead() -> ThreadPoolExecutor:
    """Where tips are read ahead: a thread per lane a worker process applies at once."""
    return ThreadPoolExecutor(max_workers=setting("LANE_THREADS"), thread_name_prefix="read ahead")


def read_ahead(scm: ScmPort, branch: str, train: list[Promotion], guess: bool) -> ReadAhead:
    """Read the train's files now, and start reading the tip with every path they touch
    (with `guess`, and the first commit's expected writes: as_sent)."""
    files = files_of(train)
    expected = as_sent(files[train[0].pk]) if guess else None
    tip = reads_ahead().submit(scm.read_tip, branch, paths_of(files), True, expected)
    return ReadAhead([p.pk for p in train], files, tip)


# A guess is made of small promotions only: a large one's content is not held twice, nor
# sent twice when the guess is wrong, and its upload dwarfs the round trip saved.
AS_SENT_MAX_BYTES = 1024 * 1024


def as_sent(files: list[FileChange]) -> list[TreeWrite] | None:
    """A promotion's writes if every file lands as sent, in a regular file unless the
    pod named a mode (the plan's writes when nothing on the branch is in the way); None
    when it deletes a file (the plan would write nothing for one already absent) or is
    large."""
    if not files or any(f.operation == FileChange.Operation.DELETE for f in files):
        return None
    if sum(len(f.content or b"") for f in files) > AS_SENT_MAX_BYTES:
        return None
    return [TreeWrite(f.path, bytes(f.content or b""), f.mode or BLOB_MODE, f.is_text) for f in files]


def paths_of(files_by_promotion: dict[int, list[FileChange]]) -> list[str]:
    return sorted({f.path for files in files_by_promotion.values() for f in files})


def files_of(train: list[Promotion]) -> dict[int, list[FileChange]]:
    """Each promotion's file rows in order, read in one query for the whole train."""
    by_id = {promotion.pk: promotion for promotion in train}
    files: dict[int, list[FileChange]] = {pk: [] for pk in by_id}
    for row in _files_query(len(by_id)).rows(*by_id):
        change = instance(FileChange, row)
        change.promotion = by_id[change.promotion_id]
        files[change.promotion_id].append(change)
    return files


@functools.cache
def _files_query(count: int) -> PreparedQuery:
    """The file rows of `count` promotions, compiled once per train length."""
    return PreparedQuery(
        lambda *ids: (
            FileChange.objects.filter(promotion_id__in=ids)
            .order_by("promotion_id", "position")
            .values_list(*columns(FileChange))
        ),
        *range(-7_002_000_001, -7_002_000_001 - count, -1),
    )
