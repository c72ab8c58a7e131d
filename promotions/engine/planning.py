"""Planning one promotion against the branch tip: for each file, what to write,
merge or refuse, never overwriting a change the pod did not see (base_sha)."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from django.utils.text import slugify

from ..merge import blob_sha, is_text, three_way_merge, unified_diff
from ..models import FileChange, Promotion, Repository
from ..scm.port import BLOB_MODE, EXECUTABLE_MODE, SYMLINK_MODE, ScmNotFound, ScmPort, TreeEntry, TreeWrite
from ..validation import path_fold, trace_path

log = logging.getLogger(__name__)

Status = Promotion.Status
FileStatus = FileChange.Status
MODE_NAMES = {EXECUTABLE_MODE: "an executable", SYMLINK_MODE: "a symbolic link"}


@dataclass
class FileOutcome:
    status: str
    old_sha: str = ""
    new_sha: str = ""
    message: str = ""
    write: TreeWrite | None = None


@dataclass
class PromotionPlan:
    promotion: Promotion
    outcomes: dict[int, FileOutcome] = field(default_factory=dict)
    commit_sha: str = ""

    @property
    def writes(self) -> list[TreeWrite]:
        return [o.write for o in self.outcomes.values() if o.write is not None]

    def has(self, status: str) -> bool:
        return any(o.status == status for o in self.outcomes.values())


class Snapshot:
    """What the engine knows of the branch tip it is building on: the entries read
    from the host, updated in memory with the commits it chains on top, and the blob
    contents it has seen, so a chain of commits needs no further reads."""

    def __init__(self, scm: ScmPort, entries: dict[str, TreeEntry], modes_kept: Callable[[], bool] = lambda: True):
        self.scm = scm
        self.entries = entries
        # Asked only for a file of another mode than 100644: False when the branch takes
        # plain files only (GitHub's signed commit path), which may cost the host a read.
        self.modes_kept = modes_kept
        self.contents: dict[str, bytes] = {}
        # Each path folded as a macOS or Windows checkout compares names (validation.path_fold).
        self.folded = {path_fold(path): path for path in entries}

    def entry(self, path: str) -> TreeEntry | None:
        return self.entries.get(path)

    def twin(self, path: str) -> TreeEntry | None:
        """The entry spelled otherwise that a macOS or Windows checkout takes for `path`
        (letter case, Unicode normalisation), among those read with their siblings."""
        found = self.folded.get(path_fold(path))
        return self.entries.get(found) if found is not None and found != path else None

    def blob(self, sha: str) -> bytes:
        if sha not in self.contents:
            self.contents[sha] = self.scm.read_blob(sha)
        return self.contents[sha]

    def apply(self, writes: list[TreeWrite]) -> None:
        for write in writes:
            if write.content is None:
                self.entries.pop(write.path, None)
                if self.folded.get(path_fold(write.path)) == write.path:
                    del self.folded[path_fold(write.path)]
                continue
            sha = blob_sha(write.content)
            self.contents[sha] = write.content
            self.entries[write.path] = TreeEntry(write.path, sha, write.mode, "blob")
            self.folded.setdefault(path_fold(write.path), write.path)
            parts = write.path.split("/")
            for depth in range(1, len(parts)):
                parent = "/".join(parts[:depth])
                self.entries.setdefault(parent, TreeEntry(parent, "", "040000", "tree"))
                self.folded.setdefault(path_fold(parent), parent)


def plan_file(change: FileChange, snapshot: Snapshot) -> FileOutcome:
    """Decide what to do with one file against the current tip, never overwriting a
    change the pod did not see when it said which version it read (base_sha), and
    never changing a file's mode unasked: where the branch takes plain files only, a
    file that must keep another mode is an error naming it."""
    outcome = _plan_content(change, snapshot)
    mode = outcome.write.mode if outcome.write is not None and outcome.write.content is not None else BLOB_MODE
    if mode != BLOB_MODE and not snapshot.modes_kept():
        return FileOutcome(
            FileStatus.ERROR,
            old_sha=outcome.old_sha,
            message=(
                f"mode {mode} ({MODE_NAMES.get(mode, 'a special file')}) cannot be kept: this branch requires signed "
                "commits, and GitHub signs only the commits of createCommitOnBranch, which writes every file as "
                "100644. Send mode 100644 to make it a regular file, or promote it where signatures are not required."
            ),
        )
    return outcome


def _plan_content(change: FileChange, snapshot: Snapshot) -> FileOutcome:
    path = change.path
    blocker = _structural_blocker(path, snapshot)
    if blocker:
        return FileOutcome(FileStatus.ERROR, message=blocker)
    current = snapshot.entry(path)
    old_sha = current.sha if current else ""

    if change.operation == FileChange.Operation.DELETE:
        if current is None:
            if change.base_given:
                return FileOutcome(FileStatus.CONFLICT, message="the file does not exist (any more) on the branch")
            return FileOutcome(FileStatus.UNCHANGED, message="already absent")
        if change.base_given and change.base_sha != current.sha:
            return _changed_since_read(change, current, snapshot)
        return FileOutcome(FileStatus.DELETED, old_sha=old_sha, write=TreeWrite(path, None))

    content = bytes(change.content or b"")
    new_sha = blob_sha(content)
    if current is None:
        if change.base_given and change.base_sha is not None:
            return FileOutcome(
                FileStatus.CONFLICT, message=f"the file was deleted since you read it (base {change.base_sha})"
            )
        twin = _twin_on_branch(path, snapshot)
        if twin:
            return FileOutcome(FileStatus.CONFLICT, message=twin)
        mode = change.mode or BLOB_MODE
        return FileOutcome(FileStatus.CREATED, new_sha=new_sha, write=TreeWrite(path, content, mode, change.is_text))
    if current.mode == SYMLINK_MODE and not change.mode:
        return FileOutcome(
            FileStatus.ERROR,
            old_sha=old_sha,
            message=(
                f"'{path}' is a symbolic link on the branch: the content would become where it points. Nothing was "
                "written. Send mode 100644 to replace the link by a regular file, or write the file it points to."
            ),
        )
    mode = change.mode or current.mode  # an existing file keeps its mode unless the pod names one
    if current.sha == new_sha and mode == current.mode:
        return FileOutcome(FileStatus.UNCHANGED, old_sha=old_sha, new_sha=new_sha)
    write = TreeWrite(path, content, mode, change.is_text)
    if not change.base_given or change.base_sha == current.sha:
        return FileOutcome(FileStatus.UPDATED, old_sha=old_sha, new_sha=new_sha, write=write)
    if change.base_sha is None:
        return FileOutcome(
            FileStatus.CONFLICT,
            old_sha=old_sha,
            message=f"the file already exists (current sha {current.sha}); base_sha null means create only",
        )
    return _merge(change, current, content, snapshot)


def _structural_blocker(path: str, snapshot: Snapshot) -> str | None:
    parts = path.split("/")
    for depth in range(1, len(parts)):
        parent = snapshot.entry("/".join(parts[:depth]))
        if parent is not None and parent.kind != "tree":
            return f"'{parent.path}' is a file on the branch, so it cannot hold '{path}'"
    entry = snapshot.entry(path)
    if entry is not None and entry.kind == "tree":
        return f"'{path}' is a directory on the branch"
    if entry is not None and entry.kind != "blob":
        return f"'{path}' is a submodule on the branch (another repository's commit): Patchgate never changes one"
    return None


def _twin_on_branch(path: str, snapshot: Snapshot) -> str | None:
    """Why a new `path` collides with a name already on the branch that a macOS or
    Windows checkout cannot tell from one of its names (`Docs/Guide.md` for
    `docs/guide.md`), naming it; None when it does not."""
    parts = path.split("/")
    for depth in range(1, len(parts) + 1):
        name = "/".join(parts[:depth])
        if snapshot.entry(name) is not None:
            continue
        twin = snapshot.twin(name)
        if twin is None:
            return None  # a new name: nothing below it can be on the branch
        what = "the folder" if twin.kind == "tree" else "the file"
        problem = (
            f"{what} '{twin.path}' is on the branch, and '{name}' differs from it only in letter case or Unicode "
            "normalisation: one name on a macOS or Windows checkout"
        )
        if twin.kind == "tree" and name != path:
            return f"{problem}. Write '{twin.path}/{'/'.join(parts[depth:])}' instead, or choose another name."
        if twin.kind != "tree" and name == path:
            return f"{problem}. Write '{twin.path}' instead (read it first), or choose another name."
        return f"{problem}, so '{path}' cannot be written. Choose another name."
    return None


def _changed_since_read(change: FileChange, current: TreeEntry, snapshot: Snapshot) -> FileOutcome:
    """A conflict that tells the pod what changed since its read, so it can redo its work."""
    header = (
        f"changed on the branch since you read it: base {change.base_sha}, current sha {current.sha}. Nothing was "
        "written. The diff is that other change, from the version you read ('-') to the branch's ('+'); "
        "your own content is not in it"
    )
    base = _base_content(change, snapshot)
    if base is None:
        return FileOutcome(
            FileStatus.CONFLICT, old_sha=current.sha, message=f"{header}\n(base_sha is not a blob of this repository)"
        )
    current_content = snapshot.blob(current.sha)
    if not (is_text(base) and is_text(current_content)):
        return FileOutcome(FileStatus.CONFLICT, old_sha=current.sha, message=f"{header}\n(binary content: no diff)")
    labels = f"a/{change.path} (as you read it)", f"b/{change.path} (on the branch now)"
    diff = unified_diff(base, current_content, *labels)
    return FileOutcome(FileStatus.CONFLICT, old_sha=current.sha, message=f"{header}\n{diff}")


def _base_content(change: FileChange, snapshot: Snapshot) -> bytes | None:
    if change.base_sha is None:
        return None
    try:
        return snapshot.blob(change.base_sha)
    except ScmNotFound:
        return None


def _merge(change: FileChange, current: TreeEntry, content: bytes, snapshot: Snapshot) -> FileOutcome:
    base = _base_content(change, snapshot)
    theirs = snapshot.blob(current.sha)
    if base is None or not (is_text(base) and is_text(theirs) and is_text(content)):
        return _changed_since_read(change, current, snapshot)
    result = three_way_merge(base, theirs, content)
    if not result.clean:
        return FileOutcome(
            FileStatus.CONFLICT,
            old_sha=current.sha,
            message=(
                f"your edit overlaps a change made on the branch since you read it (base {change.base_sha}, current "
                f"sha {current.sha}). Nothing was written. Overlapping regions: the branch's lines (kept) between "
                "'<<<<<<< current' and '=======', yours between '=======' and '>>>>>>> pod':\n"
                f"{result.conflict_hunks()}"
            ),
        )
    merged_sha = blob_sha(result.content)
    if merged_sha == current.sha and (change.mode or current.mode) == current.mode:
        return FileOutcome(
            FileStatus.UNCHANGED, old_sha=current.sha, new_sha=merged_sha, message="already contains your change"
        )
    return FileOutcome(
        FileStatus.MERGED,
        old_sha=current.sha,
        new_sha=merged_sha,
        message=f"merged with changes made since base {change.base_sha}",
        write=TreeWrite(change.path, result.content, change.mode or current.mode, True),
    )


def plan_promotion(promotion: Promotion, files: list[FileChange], snapshot: Snapshot) -> PromotionPlan:
    plan = PromotionPlan(promotion)
    for change in files:
        plan.outcomes[change.pk] = plan_file(change, snapshot)
    _refuse_files_holding_files(plan, files)
    blocked = plan.has(FileStatus.CONFLICT) or plan.has(FileStatus.ERROR)
    if blocked and promotion.atomic:
        for outcome in plan.outcomes.values():
            if outcome.status not in (FileStatus.CONFLICT, FileStatus.ERROR):
                outcome.status, outcome.write, outcome.old_sha, outcome.new_sha = FileStatus.SKIPPED, None, "", ""
                outcome.message = "not applied: another file of this atomic batch could not be"
    return plan


def _refuse_files_holding_files(plan: PromotionPlan, files: list[FileChange]) -> None:
    """Two files of one batch where one would be the other's directory (stored before
    submissions were checked for it): both are errors, whatever the host would make of them."""
    written = {c.path: c.pk for c in files if (w := plan.outcomes[c.pk].write) is not None and w.content is not None}
    for path, pk in written.items():
        parents = itertools.accumulate(path.split("/")[:-1], lambda parent, name: f"{parent}/{name}")
        holder = next((parent for parent in parents if parent in written), None)
        if holder:
            message = f"'{holder}' and '{path}' cannot both be files: one would be the other's directory"
            plan.outcomes[pk] = plan.outcomes[written[holder]] = FileOutcome(FileStatus.ERROR, message=message)


def final_status(plan: PromotionPlan) -> str:
    if plan.commit_sha:
        return Status.COMMITTED
    if plan.has(FileStatus.CONFLICT):
        return Status.CONFLICT
    if plan.has(FileStatus.ERROR):
        return Status.FAILED
    return Status.NO_CHANGES


def trace_file_writes(
    repository: Repository, promotion: Promotion, writes: list[TreeWrite], snapshot: Snapshot
) -> list[TreeWrite]:
    """The whole reasoning trace as a file of the promotion's own commit, where the
    repository asks for it. Not one of the pod's results; a pod's own file at that
    path (or above or below it, on the branch or in the batch) wins, and a template
    that makes no valid path is skipped, not fatal."""
    template, trace = repository.trace_path_template, promotion.reasoning_trace
    if not template or not trace.strip():
        return []
    try:
        path = trace_path(template, promotion.pk, slugify(promotion.pod.name))
    except ValueError as problem:
        log.warning("trace_path_template of %s: %s; trace file skipped", repository, problem)
        return []
    clashes = (w.path == path or w.path.startswith(f"{path}/") or path.startswith(f"{w.path}/") for w in writes)
    if any(clashes) or _structural_blocker(path, snapshot):
        return []
    return [TreeWrite(path, trace.encode("utf-8"))]
