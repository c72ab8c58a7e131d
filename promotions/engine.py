"""The promotion engine: applies a branch's queued promotions through the SCM port.

Written once for every adapter. One worker at a time holds a branch's lane (a
lease row), so promotions for one branch land one after another in submission
order while other branches proceed in parallel. Queued promotions are landed as
a chain of commits, one per promotion, and the ref is moved once with a
compare-and-swap; if the branch moved meanwhile, everything is re-read and
re-planned. Every commit carries a `Promotion-Id` trailer, which is how a
promotion left in `applying` by a crashed worker is found or re-applied.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify

from .merge import blob_sha, is_text, three_way_merge, unified_diff
from .models import BranchLane, FileChange, Promotion, Repository
from .scm import adapter_for
from .scm.port import (
    BLOB_MODE,
    NewCommit,
    ScmError,
    ScmNotFound,
    ScmPort,
    ScmRateLimited,
    TreeEntry,
    TreeWrite,
)
from .services import Actor, transition
from .validation import trace_path

log = logging.getLogger(__name__)

Status = Promotion.Status
FileStatus = FileChange.Status

TRAILER_LOOKBACK = 100
MAX_TRACE_IN_COMMIT = 2000
_TRAILER = re.compile(r"^Promotion-Id:\s*(\d+)\s*$", re.MULTILINE)
WORKER = Actor.system("worker")


def _config(name: str):
    return settings.PATCHGATE[name]


# --- commit messages ------------------------------------------------------------


def commit_message(promotion: Promotion) -> str:
    """The pod's message, then its reasoning trace (cut), then git trailers; the
    trailers are always the last paragraph, so text a pod wrote cannot pose as one."""
    parts = [promotion.commit_message.strip()]
    trace = promotion.reasoning_trace.strip()
    if trace:
        if len(trace) > MAX_TRACE_IN_COMMIT:
            trace = trace[:MAX_TRACE_IN_COMMIT].rstrip() + "\n[… reasoning trace cut; full text in Patchgate]"
        parts.append(trace)
    trailers = [f"Promotion-Id: {promotion.pk}", f"Pod: {_one_line(promotion.pod.name)}"]
    task_id = promotion.metadata.get("task_id") if isinstance(promotion.metadata, dict) else None
    if task_id not in (None, ""):
        trailers.append(f"Task-Id: {_one_line(str(task_id))}")
    parts.append("\n".join(trailers))
    return "\n\n".join(parts) + "\n"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def promotion_ids_in(message: str) -> set[int]:
    last_paragraph = message.strip().split("\n\n")[-1]
    return {int(match) for match in _TRAILER.findall(last_paragraph)}


def author_of(promotion: Promotion) -> tuple[str, str]:
    pod = promotion.pod
    return pod.name, f"{slugify(pod.name) or 'pod'}@{settings.COMMIT_EMAIL_DOMAIN}"


# --- planning one promotion -----------------------------------------------------


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

    def __init__(self, scm: ScmPort, entries: dict[str, TreeEntry]):
        self.scm = scm
        self.entries = entries
        self.contents: dict[str, bytes] = {}

    def entry(self, path: str) -> TreeEntry | None:
        return self.entries.get(path)

    def blob(self, sha: str) -> bytes:
        if sha not in self.contents:
            self.contents[sha] = self.scm.read_blob(sha)
        return self.contents[sha]

    def apply(self, writes: list[TreeWrite]) -> None:
        for write in writes:
            if write.content is None:
                self.entries.pop(write.path, None)
                continue
            sha = blob_sha(write.content)
            self.contents[sha] = write.content
            self.entries[write.path] = TreeEntry(write.path, sha, write.mode, "blob")
            parts = write.path.split("/")
            for depth in range(1, len(parts)):
                parent = "/".join(parts[:depth])
                self.entries.setdefault(parent, TreeEntry(parent, "", "040000", "tree"))


def plan_file(change: FileChange, snapshot: Snapshot) -> FileOutcome:
    """Decide what to do with one file against the current tip, never overwriting a
    change the pod did not see when it said which version it read (base_sha)."""
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

    content = bytes(change.content)
    new_sha = blob_sha(content)
    if current is None:
        if change.base_given and change.base_sha is not None:
            return FileOutcome(
                FileStatus.CONFLICT, message=f"the file was deleted since you read it (base {change.base_sha})"
            )
        return FileOutcome(FileStatus.CREATED, new_sha=new_sha, write=TreeWrite(path, content, BLOB_MODE, change.is_text))
    if current.sha == new_sha:
        return FileOutcome(FileStatus.UNCHANGED, old_sha=old_sha, new_sha=new_sha)
    write = TreeWrite(path, content, current.mode, change.is_text)
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
    if entry is not None and entry.kind != "blob":
        return f"'{path}' is a {'directory' if entry.kind == 'tree' else 'submodule'} on the branch"
    return None


def _changed_since_read(change: FileChange, current: TreeEntry, snapshot: Snapshot) -> FileOutcome:
    """A conflict that tells the pod what changed since its read, so it can redo its work."""
    header = f"changed since you read it: base {change.base_sha}, current sha {current.sha}"
    base = _base_content(change, snapshot)
    if base is None:
        return FileOutcome(FileStatus.CONFLICT, old_sha=current.sha, message=f"{header}\n(base_sha is not a blob of this repository)")
    current_content = snapshot.blob(current.sha)
    if not (is_text(base) and is_text(current_content)):
        return FileOutcome(FileStatus.CONFLICT, old_sha=current.sha, message=f"{header}\n(binary content: no diff)")
    diff = unified_diff(base, current_content, f"a/{change.path} (base)", f"b/{change.path} (current)")
    return FileOutcome(FileStatus.CONFLICT, old_sha=current.sha, message=f"{header}\n{diff}")


def _base_content(change: FileChange, snapshot: Snapshot) -> bytes | None:
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
                f"your edit overlaps a change made since you read it (base {change.base_sha}, current sha {current.sha}); "
                f"conflicting hunks:\n{result.conflict_hunks()}"
            ),
        )
    merged_sha = blob_sha(result.content)
    if merged_sha == current.sha:
        return FileOutcome(FileStatus.UNCHANGED, old_sha=current.sha, new_sha=merged_sha, message="already contains your change")
    return FileOutcome(
        FileStatus.MERGED,
        old_sha=current.sha,
        new_sha=merged_sha,
        message=f"merged with changes made since base {change.base_sha}",
        write=TreeWrite(change.path, result.content, current.mode, True),
    )


def plan_promotion(promotion: Promotion, files: list[FileChange], snapshot: Snapshot) -> PromotionPlan:
    plan = PromotionPlan(promotion)
    for change in files:
        plan.outcomes[change.pk] = plan_file(change, snapshot)
    blocked = plan.has(FileStatus.CONFLICT) or plan.has(FileStatus.ERROR)
    if blocked and promotion.atomic:
        for outcome in plan.outcomes.values():
            if outcome.status not in (FileStatus.CONFLICT, FileStatus.ERROR):
                outcome.status, outcome.write = FileStatus.SKIPPED, None
                outcome.message = "not applied: another file of this atomic batch could not be"
    return plan


def final_status(plan: PromotionPlan) -> str:
    if plan.commit_sha:
        return Status.COMMITTED
    if plan.has(FileStatus.CONFLICT):
        return Status.CONFLICT
    if plan.has(FileStatus.ERROR):
        return Status.FAILED
    return Status.NO_CHANGES


def trace_file_writes(repository: Repository, promotion: Promotion, writes: list[TreeWrite]) -> list[TreeWrite]:
    """The whole reasoning trace as a file of the promotion's own commit, where the
    repository asks for it. Not one of the pod's results; a pod's own file at that
    path wins, and a template that makes no valid path is skipped, not fatal."""
    template, trace = repository.trace_path_template, promotion.reasoning_trace
    if not template or not trace.strip():
        return []
    try:
        path = trace_path(template, promotion.pk, slugify(promotion.pod.name))
    except ValueError as problem:
        log.warning("trace_path_template of %s: %s; trace file skipped", repository, problem)
        return []
    if any(write.path == path for write in writes):
        return []
    return [TreeWrite(path, trace.encode("utf-8"))]


# --- the lane: one branch, one worker at a time ---------------------------------


def _lane(repository_id: int, branch: str) -> BranchLane:
    try:
        return BranchLane.objects.get_or_create(repository_id=repository_id, branch=branch)[0]
    except IntegrityError:
        return BranchLane.objects.get(repository_id=repository_id, branch=branch)


def _take_lease(lane: BranchLane, owner: str) -> bool:
    now = timezone.now()
    return bool(
        BranchLane.objects.filter(pk=lane.pk)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now) | Q(lease_owner=owner))
        .update(lease_owner=owner, lease_until=now + timedelta(seconds=_config("LANE_LEASE_SECONDS")))
    )


def _release_lease(lane: BranchLane, owner: str) -> None:
    BranchLane.objects.filter(pk=lane.pk, lease_owner=owner).update(lease_owner="", lease_until=None)


class LeaseLost(Exception):
    pass


def _lane_promotions(repository_id: int, branch: str):
    return Promotion.objects.filter(repository_id=repository_id, branch=branch)


def drain_lane(repository_id: int, branch: str) -> str | None:
    """Apply every ready promotion of one branch in submission order. Returns the
    ISO time at which the lane should be drained again when it is waiting for a
    retry, else None. Safe to call any number of times from any worker."""
    owner = uuid.uuid4().hex
    lane = _lane(repository_id, branch)
    wake_at = None
    while _take_lease(lane, owner):
        try:
            wake_at = _drain_while_leased(lane, owner)
        except LeaseLost:
            log.warning("lease of %s lost; another worker carries on", lane)
            return None
        finally:
            _release_lease(lane, owner)
        # Work queued while we held the lease found it taken and left it to us.
        if not _ready(repository_id, branch).exists():
            break
    return wake_at


def _ready(repository_id: int, branch: str):
    now = timezone.now()
    return _lane_promotions(repository_id, branch).filter(
        Q(status=Status.QUEUED) | Q(status=Status.RETRYING, not_before__lte=now) | Q(status=Status.APPLYING)
    )


def _drain_while_leased(lane: BranchLane, owner: str):
    repository = Repository.objects.get(pk=lane.repository_id)
    while True:
        if not _take_lease(lane, owner):
            raise LeaseLost()
        waiting = list(
            _lane_promotions(repository.pk, lane.branch)
            .filter(status__in=[Status.QUEUED, Status.RETRYING, Status.APPLYING])
            .select_related("pod", "repository")
            .order_by("id")[: _config("TRAIN_MAX")]
        )
        if not waiting:
            return None
        train = []
        for promotion in waiting:
            # Order is kept: a promotion waiting for a retry holds back those after it.
            if promotion.status == Status.RETRYING and promotion.not_before and promotion.not_before > timezone.now():
                break
            if promotion.mode == Promotion.Mode.PULL_REQUEST and train:
                break
            train.append(promotion)
            if promotion.mode == Promotion.Mode.PULL_REQUEST:
                break
        if not train:
            return waiting[0].not_before.isoformat()
        apply_train(repository, lane.branch, train, lease=lambda: _take_lease(lane, owner))


def apply_train(repository: Repository, branch: str, train: list[Promotion], lease=lambda: True) -> None:
    """Land `train` (promotions of one branch, in order) as a chain of commits moved
    onto the branch with one compare-and-swap; re-read and re-plan if it moved."""
    # Tried before (a crash, a dropped answer, a retry): its commit may be on the branch.
    tried_before = any(p.attempts > 0 for p in train)
    for promotion in train:
        if promotion.status == Status.APPLYING:
            # Left in `applying` by a crashed worker: it stays there, the attempt counts.
            promotion.attempts += 1
            Promotion.objects.filter(pk=promotion.pk).update(attempts=promotion.attempts)
        else:
            transition(promotion, Status.APPLYING, WORKER, attempts=promotion.attempts + 1)
    try:
        scm = adapter_for(repository)
        pending = _reconcile(scm, branch, train) if tried_before else train
        for _attempt in range(_config("MAX_CAS_ATTEMPTS")):
            if not pending:
                return
            if _land_once(scm, repository, branch, pending, lease):
                return
            # The branch moved: a promotion of ours may be on it already (a dropped
            # answer to our own ref update, or a worker before us).
            pending = _reconcile(scm, branch, pending)
        _back_off(pending, "the branch kept moving while applying", retry_at=None)
    except LeaseLost:
        raise
    except ScmRateLimited as error:
        _back_off([p for p in train if p.status == Status.APPLYING], str(error), retry_at=error.retry_at)
    except ScmError as error:
        applying = [p for p in train if p.status == Status.APPLYING]
        if error.retryable:
            _back_off(applying, str(error), retry_at=None)
        else:
            _fail(applying, str(error))
    except Exception:
        log.exception("unexpected error applying %s", [p.pk for p in train])
        _back_off([p for p in train if p.status == Status.APPLYING], "internal error while applying", retry_at=None)


def _land_once(scm: ScmPort, repository: Repository, branch: str, train: list[Promotion], lease) -> bool:
    """One attempt: plan every promotion on the tip, chain the commits, move the ref."""
    head = scm.branch_head(branch)
    if head is None:
        raise ScmNotFound(f"branch {branch} not found in {repository.full_name}")
    files_by_promotion = {p.pk: list(p.files.all()) for p in train}
    all_paths = sorted({f.path for files in files_by_promotion.values() for f in files})
    snapshot = Snapshot(scm, scm.read_entries(head, all_paths))
    plans, committing, chain = [], [], []
    for promotion in train:
        plan = plan_promotion(promotion, files_by_promotion[promotion.pk], snapshot)
        writes = plan.writes
        if writes:
            writes += trace_file_writes(repository, promotion, writes)
            snapshot.apply(writes)
            committing.append(plan)
            chain.append(NewCommit(writes, commit_message(promotion), author_of(promotion)))
        plans.append(plan)
    for plan, sha in zip(committing, scm.write_chain(head, chain)):
        plan.commit_sha = sha
    new_head = committing[-1].commit_sha if committing else head
    _save_outcomes(plans)
    if not lease():
        raise LeaseLost()
    if train[0].mode == Promotion.Mode.PULL_REQUEST:
        _open_review(scm, repository, branch, plans[0])
        return True
    if new_head != head and not scm.compare_and_swap(branch, head, new_head):
        return False
    for plan in plans:
        _finish(plan.promotion, final_status(plan), plan.commit_sha, scm)
    return True


def _open_review(scm: ScmPort, repository: Repository, branch: str, plan: PromotionPlan) -> None:
    promotion = plan.promotion
    if not plan.commit_sha:
        _finish(promotion, final_status(plan), "", scm)
        return
    review_branch = f"patchgate/{promotion.pk}"
    scm.create_branch(review_branch, plan.commit_sha)
    title = promotion.commit_message.strip().splitlines()[0]
    pull = scm.open_pull_request(review_branch, branch, title, promotion.reasoning_trace)
    detail = f"review branch {review_branch}" + (f", pull request {pull.url}" if pull else "")
    transition(
        promotion,
        Status.PR_OPEN,
        WORKER,
        detail,
        commit_sha=plan.commit_sha,
        commit_url=scm.commit_url(plan.commit_sha) or "",
        review_branch=review_branch,
        pull_request_url=pull.url if pull else "",
        last_error="",
    )


def _save_outcomes(plans: list[PromotionPlan]) -> None:
    """Kept before the ref moves, so a crash after it leaves the outcomes to report."""
    with transaction.atomic():
        for plan in plans:
            for pk, outcome in plan.outcomes.items():
                FileChange.objects.filter(pk=pk).update(
                    status=outcome.status, old_sha=outcome.old_sha, new_sha=outcome.new_sha, message=outcome.message
                )


def _finish(promotion: Promotion, status: str, commit_sha: str, scm: ScmPort, detail: str = "") -> None:
    error = "some files could not be applied; see their messages" if status == Status.FAILED else ""
    transition(
        promotion,
        status,
        WORKER,
        detail or (f"commit {commit_sha}" if commit_sha else error),
        commit_sha=commit_sha,
        commit_url=(scm.commit_url(commit_sha) or "") if commit_sha else "",
        last_error=error,
        not_before=None,
    )


def _reconcile(scm: ScmPort, branch: str, promotions: list[Promotion]) -> list[Promotion]:
    """Finish the promotions whose commit is already on the branch (found by their
    Promotion-Id trailer); return the others, still to be applied."""
    landed = {}
    for commit in scm.recent_commits(branch, TRAILER_LOOKBACK):
        for promotion_id in promotion_ids_in(commit.message):
            landed.setdefault(promotion_id, commit.sha)
    remaining = []
    for promotion in promotions:
        sha = landed.get(promotion.pk)
        if sha:
            _finish(promotion, Status.COMMITTED, sha, scm, detail=f"found on the branch as {sha}")
        else:
            remaining.append(promotion)
    return remaining


def _back_off(promotions: list[Promotion], error: str, retry_at) -> None:
    """Retry later through the queue (never a sleeping worker), or fail for good."""
    for promotion in promotions:
        if retry_at is None and promotion.attempts >= _config("MAX_TRANSIENT_RETRIES"):
            _fail([promotion], f"{error} (gave up after {promotion.attempts} attempts)")
            continue
        when = retry_at or timezone.now() + timedelta(
            seconds=_config("RETRY_BASE_SECONDS") * 2 ** max(promotion.attempts - 1, 0)
        )
        transition(promotion, Status.RETRYING, WORKER, f"{error}; next attempt at {when.isoformat()}", not_before=when, last_error=error)


def _fail(promotions: list[Promotion], error: str) -> None:
    for promotion in promotions:
        transition(promotion, Status.FAILED, WORKER, error, last_error=error)
