"""Lock files left by a dead writer never outlive it, in the `local` adapter's
repositories (they belong to Patchgate: nothing else writes there).

dulwich writes every object and ref through `<name>.lock`, created exclusively and
renamed into place; a process killed in between leaves the lock file, and dulwich
then refuses that object or ref for good. So every Patchgate writer of a repository
holds a shared `flock` on its `patchgate.lock` while it writes, which the kernel
drops when the process dies. A writer that meets a lock file takes that flock
exclusively, which it gets once every live writer has finished: a lock file still
there then was left by a dead one, and is removed."""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from dulwich.file import FileLocked

from .port import ScmError, ScmTransientError

log = logging.getLogger(__name__)

T = TypeVar("T")
LOCK_FILE = "patchgate.lock"
# How long a writer waits for the repository's other writers before it says it is busy.
BUSY_SECONDS = 10.0


def writing(repository: Path, what: str, operation: Callable[[], T]) -> T:
    """Run `operation`, a write to the bare repository at `repository`, as one of its
    writers. A lock file left by a dead writer is removed and the operation run again;
    one held by a live writer all along is a transient error saying so."""
    try:
        with _flock(repository, fcntl.LOCK_SH, what):
            return operation()
    except FileLocked as locked:
        _clear(repository, Path(os.fsdecode(locked.lockfilename)), what)
    try:
        with _flock(repository, fcntl.LOCK_SH, what):
            return operation()
    except FileLocked as locked:
        held = _relative(repository, Path(os.fsdecode(locked.lockfilename)))
        raise ScmTransientError(f"{what}: {held} is held by another writer of {repository.name}") from None


@contextmanager
def _flock(repository: Path, mode: int, what: str) -> Iterator[None]:
    descriptor = os.open(repository / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + BUSY_SECONDS
        while True:
            try:
                fcntl.flock(descriptor, mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ScmTransientError(
                        f"{what}: {repository.name} stayed busy with other writers for {BUSY_SECONDS:g}s"
                    ) from None
                time.sleep(0.01)
        yield
    finally:
        os.close(descriptor)  # drops the flock


def _clear(repository: Path, lock: Path, what: str) -> None:
    """With every live writer done, remove `lock` if it is still there."""
    if not lock.resolve().is_relative_to(repository.resolve()):
        raise ScmError(f"{what}: {lock} is locked, outside the repository")
    with _flock(repository, fcntl.LOCK_EX, what):
        try:
            lock.unlink()
        except FileNotFoundError:
            return  # a live writer finished with it meanwhile
        except OSError as error:
            raise ScmError(
                f"{what}: {_relative(repository, lock)} was left by a writer that died and cannot be removed: "
                f"{error.strerror}"
            ) from None
    log.warning("%s: removed %s, left by a writer that died", what, _relative(repository, lock))


def _relative(repository: Path, lock: Path) -> str:
    try:
        return str(lock.resolve().relative_to(repository.resolve()))
    except ValueError:
        return str(lock)
