"""Landing a train: plan every promotion on the branch tip, chain their commits,
move the ref once with a compare-and-swap, and record each outcome; re-read and
re-plan when the branch moved, and find by trailer what an earlier attempt landed.

An error is kept to the promotion that caused it. A promotion that cannot be made
into a commit is set aside while the train is planned; when the host refuses a
train, or any other error interrupts it, each promotion is landed alone to learn
whose it was: a refused one fails, any other error counts against that promotion's
retry budget only, and the others land. A promotion whose commit may be on the branch is
never failed before its `Promotion-Id` trailer has been looked for."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Protocol

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from ..audit import transition
from ..conf import setting
from ..models import FileChange, Promotion, Repository
from ..scm import adapter_for
from ..scm.port import NewCommit, ScmAuthError, ScmError, ScmNotFound, ScmPort, ScmRateLimited, WriteBudgetSpent
from ..statements import rows_update_sql, update_sql
from .branches import create_branch_at, starting_point
from .messages import TRAILER_LOOKBACK, author_of, commit_message, promotion_ids_in
from .outcomes import WORKER, backoff, charge, fail, finish, retry_at, take_up, wait_behind, wait_for_budget
from .planning import PromotionPlan, Snapshot, final_status, plan_promotion, trace_file_writes
from .review import place_review_branch, pull_request_body, pull_request_title, review_branch_of
from .train_reads import ReadAhead, files_of, paths_of, read_ahead

log = logging.getLogger(__name__)

Status = Promotion.Status


# What a file's outcome sets on its row.
OUTCOME_FIELDS = ["status", "old_sha", "new_sha", "message"]


class LeaseLost(Exception):
    """Another worker took the lane: stop at once, it carries on."""


class Unfit(Exception):
    """This promotion, and only it, cannot be made into a commit."""


class Holder(Protocol):
    """The lane's lease (engine.lanes.Lease), as landing uses it."""

    def hold(self) -> bool: ...

    def hold_while(self, updates: list[tuple[str, list]]) -> bool: ...


def apply_train(repository: Repository, branch: str, train: list[Promotion], lease: Holder) -> None:
    """Land `train` (promotions of one branch, in order) as a chain of commits moved
    onto the branch with one compare-and-swap. The lane's `lease` is renewed, and must
    still be ours, where the outcomes are recorded, just before the ref moves. Raises
    LeaseLost, and database errors (the lane is taken up again, costing no promotion
    anything)."""
    landing = _Landing(repository, branch, lease)
    landing.read_ahead(train)
    take_up(train)
    try:
        landing.scm = landing.scm or adapter_for(repository)
        pending = landing.settle_earlier(train)
        landing.land_train(pending)
    except (LeaseLost, DatabaseError):
        raise
    except Exception as error:
        landing.train_failed([p for p in train if p.status == Status.APPLYING], error)


def _unexpected(error: Exception) -> str:
    log.error("unexpected error applying a promotion", exc_info=error)
    return f"could not be applied: {type(error).__name__}: {error}"


class _Landing:
    def __init__(self, repository: Repository, branch: str, lease: Holder):
        self.repository, self.branch, self.lease = repository, branch, lease
        self.scm: ScmPort | None = None
        self.ahead: ReadAhead | None = None

    # --- before landing ----------------------------------------------------------

    def read_ahead(self, train: list[Promotion]) -> None:
        """Start the first attempt's read of the tip (a network round trip) before the
        database work that comes first, so the two overlap. Not when an earlier attempt
        may have landed (reconciling reads the host meanwhile), nor inside a transaction
        (tests: the read's thread must not use a connection of its own). Any error is
        left to the attempt, which reads again."""
        if connection.in_atomic_block or any(p.ref_update_sent for p in train):
            return
        try:
            scm = adapter_for(self.repository)
            if scm.reads_over_network:
                # A trace file in the commit would make every guess of its writes wrong.
                guess = not self.repository.trace_path_template
                self.scm, self.ahead = scm, read_ahead(scm, self.branch, train, guess)
        except Exception:
            return

    def settle_earlier(self, train: list[Promotion]) -> list[Promotion]:
        """Finish what an earlier attempt landed; give up those past their time bound or
        budget (already checked on the branch). Returns the promotions still to land."""
        pending = self.reconcile(train) if any(p.ref_update_sent for p in train) else train
        bound = timezone.now() - timedelta(seconds=setting("GIVE_UP_AFTER_SECONDS"))
        budget = setting("MAX_TRANSIENT_RETRIES")
        spent = [p for p in pending if p.transient_errors >= budget]
        overdue = [p for p in pending if p not in spent and p.started_at and p.started_at < bound]
        for promotion in spent:
            fail([promotion], f"gave up after {budget} transient errors; the last: {promotion.last_error}")
        minutes = round(setting("GIVE_UP_AFTER_SECONDS") / 60)
        fail(overdue, f"not landed {minutes} minutes after its first attempt (rate limits, worker crashes)")
        return [p for p in pending if p not in spent and p not in overdue]

    # --- landing -------------------------------------------------------------------

    def land_train(self, pending: list[Promotion]) -> None:
        try:
            self.land(pending)
        except (LeaseLost, DatabaseError):
            raise
        except Exception as error:
            if isinstance(error, (ScmRateLimited, ScmNotFound, ScmAuthError)) or len(pending) < 2:
                raise
            # A refusal or a transient error of the train: land each alone to learn whose.
            self.land_singly(self.reconcile([p for p in pending if p.status == Status.APPLYING]))

    def land_singly(self, pending: list[Promotion]) -> None:
        for index, promotion in enumerate(pending):
            try:
                self.land([promotion])
            except (LeaseLost, DatabaseError):
                raise
            except Exception as error:
                rest = pending[index + 1 :]
                if isinstance(error, (ScmRateLimited, ScmNotFound, ScmAuthError)):
                    raise
                self.alone_failed(promotion, error)
                if promotion.status != Status.FAILED and rest:
                    wait_behind(rest, promotion)
                    return

    def land(self, pending: list[Promotion]) -> None:
        """Land `pending` as one chain, re-reading and re-planning when the branch moved."""
        for _attempt in range(setting("MAX_CAS_ATTEMPTS")):
            pending = [p for p in pending if p.status == Status.APPLYING]
            if not pending or self.land_once(pending):
                return
            # The branch moved: a promotion of ours may be on it already (a dropped
            # answer to our own ref update, or a worker before us).
            pending = self.reconcile(pending)
        retry_at(pending, "the branch kept moving while applying", backoff(1))

    def land_once(self, train: list[Promotion]) -> bool:
        """One attempt: plan every promotion on the tip, chain the commits, move the ref.
        False when the branch moved meanwhile."""
        scm = self.scm
        assert scm is not None
        ahead, self.ahead = self.ahead, None
        if ahead is not None and ahead.is_for(train):
            files_by_promotion, tip_ahead = ahead.files, ahead.tip
        else:
            # A read ahead for a train since cut is left to finish unheeded (a client's
            # connection keeps each thread's request apart); its files go before these are read.
            ahead = None
            files_by_promotion, tip_ahead = files_of(train), None
        all_paths = paths_of(files_by_promotion)
        # The head and its entries in one read (GitHub: one request); a missing branch is built from its base.
        tip = tip_ahead.result() if tip_ahead else scm.read_tip(self.branch, all_paths, siblings=True)
        if tip is not None:
            (head, entries), creating = tip, False
        else:
            head, creating = starting_point(scm, self.repository, self.branch, train)
            entries = scm.read_entries(head, all_paths, siblings=True)
        snapshot = Snapshot(scm, entries, lambda: scm.modes_kept(self.branch))
        plans, committing, chain = [], [], []
        for index, promotion in enumerate(train):
            try:
                plan = plan_promotion(promotion, files_by_promotion[promotion.pk], snapshot)
                writes = plan.writes
                if writes:
                    writes += trace_file_writes(self.repository, promotion, writes, snapshot)
                    commit = NewCommit(writes, _encodable(commit_message(promotion)), author_of(promotion))
            except (ScmError, DatabaseError):
                raise
            except Unfit as error:
                self.give_up([promotion], str(error))
                continue
            except Exception as error:
                self.alone_failed(promotion, error)
                if promotion.status != Status.FAILED:  # to be retried: those after it wait behind it
                    wait_behind(train[index + 1 :], promotion)
                    break
                continue
            if writes:
                snapshot.apply(writes)
                committing.append(plan)
                chain.append(commit)
            plans.append(plan)
        review = train[0].mode == Promotion.Mode.PULL_REQUEST
        # The host's write budget (shared by every worker) is held for what lands now.
        with scm.reserve_writes(self.branch, chain, review) as fits:
            if fits < len(chain):
                plans, committing, chain = self.wait_for_budget(plans, committing, chain, fits)
            direct = bool(chain) and scm.lands_directly(self.branch, chain)
            if creating and chain and (direct or review):  # commits made on the branch, or a pull request into it
                if not create_branch_at(scm, self.branch, head):
                    return False
                creating = False
            if direct:
                return self.land_directly(head, plans, committing, chain, review)
            for plan, sha in zip(committing, scm.write_chain(head, chain), strict=True):
                plan.commit_sha = sha
            new_head = committing[-1].commit_sha if committing else head
            self.save_outcomes(plans, sent=committing if new_head != head and not review else [])
            if review:
                if plans:
                    self.open_review(plans[0])
                return True
            if new_head != head:
                if creating:
                    moved = create_branch_at(scm, self.branch, new_head)  # the new branch, with the commits
                else:
                    moved = scm.compare_and_swap(self.branch, head, new_head)
                if not moved:
                    return False
            for plan in plans:
                finish(plan.promotion, final_status(plan), plan.commit_sha, scm)
            return True

    def wait_for_budget(
        self, plans: list[PromotionPlan], committing: list[PromotionPlan], chain: list[NewCommit], fits: int
    ) -> tuple[list[PromotionPlan], list[PromotionPlan], list[NewCommit]]:
        """The write budget allows the first `fits` commits now: those land, and the
        promotions from the next committing one on go back to wait their turn (planned
        again then). Returns what lands now."""
        cut = plans.index(committing[fits])
        waiting = [plan.promotion for plan in plans[cut:]]
        wait_for_budget(waiting, "waiting for the git host's write budget", timezone.now())
        return plans[:cut], committing[:fits], chain[:fits]

    def save_outcomes(self, plans: list[PromotionPlan], sent: list[PromotionPlan]) -> None:
        """Kept before the ref moves, so a crash after it leaves the outcomes to report;
        and only while the lane is ours, so no other worker's plan overwrites them."""
        changes = [
            FileChange(pk=pk, status=o.status, old_sha=o.old_sha, new_sha=o.new_sha, message=o.message)
            for plan in plans
            for pk, o in plan.outcomes.items()
        ]
        sent_ids = [plan.promotion.pk for plan in sent]
        if connection.vendor == "postgresql":  # one statement where a transaction takes five round trips
            updates = [rows_update_sql(changes, OUTCOME_FIELDS)] if changes else []
            if sent_ids:
                updates.append(update_sql(Promotion, {"ref_update_sent": True}, {"pk": sent_ids}))
            if not self.lease.hold_while(updates):
                raise LeaseLost()
        else:
            with transaction.atomic():
                if not self.lease.hold():
                    raise LeaseLost()
                FileChange.objects.bulk_update(changes, OUTCOME_FIELDS, batch_size=500)
                if sent_ids:
                    Promotion.objects.filter(pk__in=sent_ids).update(ref_update_sent=True)
        for plan in sent:
            plan.promotion.ref_update_sent = True

    def land_directly(
        self,
        head: str,
        plans: list[PromotionPlan],
        committing: list[PromotionPlan],
        chain: list[NewCommit],
        review: bool,
    ) -> bool:
        """Each commit made on the branch itself, expecting exactly the one before (GitHub's
        signed path): no ref moves after, so the outcomes are kept before the first
        commit. False when the branch moved before every commit landed; those that
        landed are finished."""
        scm = self.scm
        assert scm is not None
        if review:
            self.save_outcomes(plans, sent=[])
            review_branch = review_branch_of(plans[0].promotion)
            place_review_branch(scm, review_branch, head)
            shas = scm.commit_onto_branch(review_branch, head, chain)
            if not shas:
                raise ScmError(f"review branch {review_branch} moved before its commit landed")
            committing[0].commit_sha = shas[0]
            self.open_review(plans[0], branch_made=True)
            return True
        self.save_outcomes(plans, sent=committing)
        shas = scm.commit_onto_branch(self.branch, head, chain)
        for plan, sha in zip(committing, shas, strict=False):  # fewer shas: the branch moved
            plan.commit_sha = sha
            if len(shas) < len(committing):
                finish(plan.promotion, Status.COMMITTED, sha, scm)
        if len(shas) < len(committing):
            return False
        for plan in plans:
            finish(plan.promotion, final_status(plan), plan.commit_sha, scm)
        return True

    def open_review(self, plan: PromotionPlan, branch_made: bool = False) -> None:
        scm, promotion = self.scm, plan.promotion
        assert scm is not None
        if not plan.commit_sha:
            finish(promotion, final_status(plan), "", scm)
            return
        review_branch = review_branch_of(promotion)
        if not branch_made:
            place_review_branch(scm, review_branch, plan.commit_sha)
        title, body = pull_request_title(promotion), pull_request_body(promotion)
        pull = scm.open_pull_request(review_branch, self.branch, title, body)
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

    def reconcile(self, promotions: list[Promotion]) -> list[Promotion]:
        """Finish the promotions whose commit is already on the branch (found by their
        Promotion-Id trailer); return the others, still to be applied."""
        scm = self.scm
        if scm is None or not promotions:
            return promotions
        landed: dict[int, str] = {}
        for commit in scm.recent_commits(self.branch, TRAILER_LOOKBACK):
            for promotion_id in promotion_ids_in(commit.message):
                landed.setdefault(promotion_id, commit.sha)
        remaining = []
        for promotion in promotions:
            sha = landed.get(promotion.pk)
            if sha:
                finish(promotion, Status.COMMITTED, sha, scm, detail=f"found on the branch as {sha}")
            else:
                remaining.append(promotion)
        return remaining

    # --- when it goes wrong ---------------------------------------------------------

    def alone_failed(self, promotion: Promotion, error: Exception) -> None:
        """`promotion` was landed alone, so the error is its own. Refused by the host, it
        is set aside at once; an error nobody foresaw (a bug, a deployment half done) is
        retried as a transient one, so that only a promotion that keeps meeting it fails."""
        if isinstance(error, ScmError) and not error.retryable:
            self.give_up([promotion], str(error))
            return
        reason = str(error) if isinstance(error, ScmError) else _unexpected(error)
        if not charge(promotion, reason):
            self.give_up([promotion], f"{reason} (gave up after {promotion.transient_errors} transient errors)")

    def train_failed(self, promotions: list[Promotion], error: Exception) -> None:
        """An error no single promotion caused (or the only one's): the host limits us,
        the branch or the credentials are gone, or a lone promotion's own error."""
        if isinstance(error, WriteBudgetSpent):
            wait_for_budget(promotions, str(error), error.retry_at)
        elif isinstance(error, ScmRateLimited):
            retry_at(promotions, str(error), error.retry_at)
        elif isinstance(error, ScmNotFound):
            fail(promotions, str(error))  # the branch or the repository is gone: nothing can be on it
        elif isinstance(error, ScmAuthError):
            self.give_up(promotions, str(error))
        elif len(promotions) == 1:
            self.alone_failed(promotions[0], error)
        else:
            # Reading the branch failed before any promotion could be landed alone.
            retry_at(promotions, str(error) if isinstance(error, ScmError) else _unexpected(error), backoff(1))

    def give_up(self, promotions: list[Promotion], error: str) -> None:
        """Fail them, but never one whose commit may be on the branch unchecked: if the
        branch cannot be read, it waits and is checked at its next attempt."""
        unsure = [p for p in promotions if p.ref_update_sent]
        try:
            if unsure and self.scm is None:
                raise ScmError("the host could not be reached")
            not_found = self.reconcile(unsure)
        except ScmNotFound:
            not_found = unsure  # no branch: nothing of it can be on it
        except ScmError as check_error:
            note = f"{error}; it may have landed and the branch could not be read to check ({check_error})"
            retry_at(unsure, note, backoff(max(p.transient_errors for p in unsure)))
            not_found = []
        fail([p for p in promotions if not p.ref_update_sent] + not_found, error)


def _encodable(message: str) -> str:
    try:
        message.encode("utf-8")
    except UnicodeEncodeError as error:
        raise Unfit(f"its commit message cannot be encoded as UTF-8 ({error.reason} at {error.start})") from None
    return message
