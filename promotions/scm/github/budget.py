"""The write budget GitHub allows each credential (a token, or an App installation),
shared by every web and worker process on every machine, so that Patchgate stops
before GitHub's secondary limit instead of drawing its 403s: "no more than 80
content-generating requests per minute and no more than 500 [...] per hour"
(https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api#about-secondary-rate-limits),
`GITHUB_WRITE_LIMITS` (default `80/60,500/3600`, `off` for none).

- Every write request (REST POST/PATCH/PUT/DELETE, GraphQL mutation) takes one unit
  first (`spend`, called by the client's connection just before it sends). The
  windows slide: never more than N writes in any SECONDS, each window counted one
  second longer (SAFETY_SECONDS) than GitHub's, since a write is counted here a
  moment before GitHub receives it.
- A train reserves its writes before it starts (`reserved`): the longest prefix of
  its commits that fits now is held for it, its writes draw on that hold, and what
  it did not use is given back. When not even one commit fits, WriteBudgetSpent says
  when it will: the engine puts the train back for then (the lane clock wakes it;
  no worker sleeps, no 403 is drawn).
- Fair: lanes waiting for the budget are served in turn, first come first served; a
  lane may go ahead of waiting ones only where it delays none of them, so a pod
  flooding one branch cannot starve the branches of other pods.
- Before the primary limit: when GitHub's `X-RateLimit-Remaining` falls to
  PRIMARY_FLOOR, writes stop until its `X-RateLimit-Reset` (`observe`).

The state of each credential is one JSON document (its recent writes, the holds of
trains being written, the lanes waiting, the pause), changed under a lock: a row of
GitHubWriteBudget in the database, or a Redis key when REDIS_URL is set.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from datetime import timezone as dt_timezone
from typing import TypeVar

import redis
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from ...conf import shared_redis
from ...models import GitHubWriteBudget
from ..port import ScmError, WriteBudgetSpent

T = TypeVar("T")
SAFETY_SECONDS = 1.0
# A hold its worker never gave back (it died) is spent, at its expiry, after this long.
HOLD_SECONDS = 120.0
# A train stops drawing on its hold this long before the hold expires (then takes units one by one).
HOLD_MARGIN_SECONDS = 10.0
# A lane that does not come back for its turn this long after it was due loses it.
WAITER_GRACE_SECONDS = 30.0
# Stop writing with this many requests of the primary limit left, until it resets.
PRIMARY_FLOOR = 50
REDIS_PREFIX = "patchgate:github-write-budget:"


@dataclass(frozen=True)
class Window:
    count: int
    seconds: float

    @property
    def span(self) -> float:
        return self.seconds + SAFETY_SECONDS

    def __str__(self) -> str:
        return f"{self.count}/{self.seconds:g}s"


def windows() -> list[Window]:
    """GITHUB_WRITE_LIMITS, read now: "80/60,500/3600" -> two windows; "off" or empty -> none."""
    text = settings.GITHUB_WRITE_LIMITS.strip()
    if text.lower() in ("", "off"):
        return []
    parsed = []
    for part in (p.strip() for p in text.split(",")):
        count, slash, seconds = part.partition("/")
        try:
            window = Window(int(count), float(seconds))
        except ValueError:
            window = Window(0, 0)
        if not slash or window.count < 1 or window.seconds <= 0:
            raise ScmError(f"GITHUB_WRITE_LIMITS: {part!r} is not N/SECONDS (e.g. 80/60,500/3600, or off)")
        parsed.append(window)
    return parsed


class Ledger:
    """One credential's budget at `now` (epoch seconds): the writes taken, the units
    held by trains being written, the lanes waiting in turn and the primary-limit pause."""

    def __init__(self, state: dict, limits: list[Window], now: float):
        self.windows, self.now = limits, now
        self.taken: list[float] = list(state.get("taken", []))
        self.holds: dict[str, dict] = dict(state.get("holds", {}))
        self.waiters: list[dict] = list(state.get("waiters", []))
        self.paused_until: float = state.get("paused_until", 0.0)
        for key, hold in list(self.holds.items()):
            if hold["until"] <= now:
                # Never given back (its worker died): spent, at the latest it could have been.
                self.taken.extend([hold["until"]] * hold["units"])
                del self.holds[key]
        longest = max(w.span for w in limits)
        self.taken = sorted(t for t in self.taken if t > now - longest)
        self.waiters = [w for w in self.waiters if w["due"] + WAITER_GRACE_SECONDS > now]

    def state(self) -> dict:
        return {"taken": self.taken, "holds": self.holds, "waiters": self.waiters, "paused_until": self.paused_until}

    @property
    def held(self) -> int:
        return sum(hold["units"] for hold in self.holds.values())

    def spent(self, window: Window) -> int:
        return sum(1 for t in self.taken if t > self.now - window.span) + self.held

    def free(self) -> int:
        return min(w.count - self.spent(w) for w in self.windows)

    def earliest(self, units: int, planned: list[float], after: float) -> float:
        """When `units` more writes fit in every window, counting `planned` writes of
        the lanes served before, and no sooner than `after`."""
        marks = sorted(self.taken + [self.now] * self.held + planned)
        when = max(after, self.now)
        for window in self.windows:
            others = window.count - units
            if len(marks) > others:  # the (others+1)th newest write must have left the window
                when = max(when, marks[-(others + 1)] + window.span)
        return when

    def turns(self, waiters: list[dict], extra: int = 0) -> tuple[list[float], list[float]]:
        """When each of `waiters` is served in turn (after `extra` writes now), and the
        writes that plans."""
        planned, dues, after = [self.now] * extra, [], self.now
        for waiter in waiters:
            after = self.earliest(waiter["units"], planned, after)
            planned += [after] * waiter["units"]
            dues.append(after)
        return dues, planned

    def need(self, costs: list[int], count: int, after: int) -> int:
        """Units for the first `count` commits and the writes after them. A single commit
        larger than a whole window waits for an empty window and takes it."""
        units = sum(costs[:count]) + after
        return min(units, min(w.count for w in self.windows)) if count == 1 else units

    def reserve(self, lane: str, costs: list[int], after: int) -> tuple[int, str, int, float]:
        """Hold the units of the longest prefix of `costs` that fits now without
        delaying a lane ahead in turn: (its length, the hold's id, its units, now).
        Else (0, "", 0, when this lane's turn comes), and the lane waits in turn.

        A lane's turn covers the train it had when its turn came: what did not fit then
        keeps the turn (`owed` commits), while promotions queued since wait for the next
        turn, behind the other lanes (its pods keep promoting while it lands: were all of
        it to keep the turn, the other lanes would starve; were none of it to, the pods
        last in a busy lane would wait round after round)."""
        if self.paused_until > self.now:
            return 0, "", 0, self.paused_until
        position = next((i for i, w in enumerate(self.waiters) if w["lane"] == lane), len(self.waiters))
        owed = self.waiters[position].get("owed", 0) if position < len(self.waiters) else 0
        turn = costs[:owed] if owed else costs
        ahead = self.waiters[:position]
        dues, planned = self.turns(ahead)
        for count in range(len(turn), 0, -1):
            units = self.need(turn, count, after)
            if units <= self.free() and self.turns(ahead, extra=units)[0] == dues:
                hold_id = uuid.uuid4().hex
                self.holds[hold_id] = {"units": units, "until": self.now + HOLD_SECONDS}
                left = turn[count:]
                rest = [self._waiter(lane, left, after, planned, dues, owed=len(left))] if left else []
                self.waiters[position : position + 1] = rest
                return count, hold_id, units, self.now
        waiter = self._waiter(lane, turn, after, planned, dues, owed=owed)
        self.waiters[position : position + 1] = [waiter]
        return 0, "", 0, waiter["due"]

    def _waiter(
        self, lane: str, costs: list[int], after: int, planned: list[float], dues: list[float], owed: int
    ) -> dict:
        """A lane's place in turn and when it comes: when its first commit fits (waiting for
        more would leave units unused that the lanes behind it may not take); at its turn
        it takes the longest run that fits then."""
        units = self.need(costs, 1, after)
        due = self.earliest(units, planned, dues[-1] if dues else self.now)
        return {"lane": lane, "units": units, "due": due, **({"owed": owed} if owed else {})}

    def take_one(self, behind_waiters: bool = False) -> float:
        """One write outside any hold: 0.0 when taken, else when one fits. With
        `behind_waiters`, none while a lane waits for its turn."""
        if self.paused_until > self.now:
            return self.paused_until
        if behind_waiters and self.waiters:
            return self.waiters[0]["due"]
        if self.free() >= 1:
            self.taken.append(self.now)
            return 0.0
        return self.earliest(1, [], self.now)

    def release(self, hold_id: str, used: list[float]) -> None:
        """A train is done: the writes it made count at their times, the rest is free."""
        if self.holds.pop(hold_id, None) is not None:
            self.taken = sorted(self.taken + used)

    def pause(self, until: float) -> None:
        self.paused_until = max(self.paused_until, until)


# --- where the ledgers live ---------------------------------------------------------


def _update(credential: str, change: Callable[[Ledger], T]) -> T:
    """Apply `change` to the credential's ledger under a lock every process respects."""
    limits, now = windows(), time.time()
    client = shared_redis()
    if client is not None:
        return _redis_update(client, credential, change, limits, now)
    if not GitHubWriteBudget.objects.filter(credential=credential).exists():
        _create_row(credential)
    with transaction.atomic():
        # A write first: SQLite then holds its write lock before reading (a transaction that
        # read first could not write), PostgreSQL the row's lock.
        GitHubWriteBudget.objects.filter(credential=credential).update(updated_at=timezone.now())
        row = GitHubWriteBudget.objects.select_for_update().get(credential=credential)
        ledger = Ledger(row.state, limits, now)
        result = change(ledger)
        row.state = ledger.state()
        row.save(update_fields=["state", "updated_at"])
    return result


def _create_row(credential: str) -> None:
    try:
        with transaction.atomic():
            GitHubWriteBudget.objects.create(credential=credential)
    except IntegrityError:
        pass  # another process created it first


def _redis_update(
    client: redis.Redis, credential: str, change: Callable[[Ledger], T], limits: list[Window], now: float
) -> T:
    """Optimistic: read under WATCH, write in MULTI, again if another process wrote meanwhile."""
    key = REDIS_PREFIX + credential
    expire = int(max(w.span for w in limits) + HOLD_SECONDS)
    with client.pipeline() as pipe:
        while True:
            try:
                pipe.watch(key)
                raw = pipe.get(key)
                ledger = Ledger(json.loads(raw) if raw else {}, limits, now)
                result = change(ledger)
                pipe.multi()
                pipe.set(key, json.dumps(ledger.state()), ex=expire)
                pipe.execute()
                return result
            except redis.WatchError:
                now = time.time()


def _states() -> dict[str, dict]:
    client = shared_redis()
    if client is not None:
        keys = sorted(client.scan_iter(match=f"{REDIS_PREFIX}*"))
        values = client.mget(keys) if keys else []
        return {k.decode().removeprefix(REDIS_PREFIX): json.loads(v) for k, v in zip(keys, values, strict=True) if v}
    return dict(GitHubWriteBudget.objects.order_by("credential").values_list("credential", "state"))


# --- what the client and the engine call ----------------------------------------------


@dataclass
class _Hold:
    credential: str
    hold_id: str
    units: int
    until: float
    thread: int = field(default_factory=threading.get_ident)
    used: list[float] = field(default_factory=list)


# The holds of the trains this process is writing. A write draws on its own thread's
# hold first, else on any of its credential (a train's tree may be built on another
# thread than its commit): every write is counted once, whichever hold it drew on.
_holds_lock = threading.Lock()
_holds: list[_Hold] = []


def _spent(credential: str, due: float) -> WriteBudgetSpent:
    when = datetime.fromtimestamp(due, dt_timezone.utc)
    limits = ", ".join(str(w) for w in windows())
    return WriteBudgetSpent(
        f"waiting for GitHub's write budget of {credential} ({limits}): next write at {when:%H:%M:%S} UTC",
        retry_at=when,
    )


@contextmanager
def reserved(credential: str, lane: str, costs: list[int], after: int) -> Iterator[int]:
    """Hold the writes of the longest prefix of a train's commits (`costs`: writes per
    commit) and of the `after` writes that follow them; yields its length, and gives
    back what was not used when the body ends. Raises WriteBudgetSpent when not even
    the first commit fits now, saying when it will (the lane keeps its turn)."""
    if not costs or not windows():
        yield len(costs)
        return
    count, hold_id, units, due = _update(credential, lambda ledger: ledger.reserve(lane, costs, after))
    if not count:
        raise _spent(credential, due)
    hold = _Hold(credential, hold_id, units, time.time() + HOLD_SECONDS - HOLD_MARGIN_SECONDS)
    with _holds_lock:
        _holds.append(hold)
    try:
        yield count
    finally:
        with _holds_lock:
            _holds.remove(hold)
        _update(credential, lambda ledger: ledger.release(hold_id, hold.used))


# Threads whose writes are made before their train holds its writes (ahead_of_its_train).
_ahead = threading.local()


@contextmanager
def ahead_of_its_train() -> Iterator[None]:
    """This thread's writes are made ahead of their train's hold (a tree written while
    the tip is read, ahead.py): each takes a unit of the shared budget, never one held
    for another train, and none while a lane waits for its turn (WriteBudgetSpent)."""
    _ahead.active = True
    try:
        yield
    finally:
        _ahead.active = False


def spend(credential: str) -> None:
    """Take one unit for a write about to be sent: from a hold of this process when
    there is one (unless the write is ahead of its train), else from the shared budget.
    Raises WriteBudgetSpent when spent."""
    if not windows():
        return
    ahead = getattr(_ahead, "active", False)
    if not ahead:
        now = time.time()
        with _holds_lock:
            usable = [h for h in _holds if h.credential == credential and len(h.used) < h.units and now < h.until]
            hold = next((h for h in usable if h.thread == threading.get_ident()), usable[0] if usable else None)
            if hold is not None:
                hold.used.append(now)
                return
    due = _update(credential, lambda ledger: ledger.take_one(behind_waiters=ahead))
    if due:
        raise _spent(credential, due)


def observe(credential: str, remaining: str | None, reset: str | None) -> None:
    """GitHub's primary-limit headers of an answer: near the floor, writes pause until the reset."""
    if not (remaining and reset and remaining.isdigit() and reset.isdigit()) or int(remaining) > PRIMARY_FLOOR:
        return
    if windows():
        _update(credential, lambda ledger: ledger.pause(float(reset)))


# --- what the admin shows ------------------------------------------------------------


@dataclass(frozen=True)
class WindowUse:
    window: Window
    spent: int
    left: int
    next_refill: datetime | None  # when the oldest write in the window leaves it


@dataclass(frozen=True)
class CredentialBudget:
    credential: str
    windows: list[WindowUse]
    held: int
    waiting: list[str]
    paused_until: datetime | None


def overview() -> list[CredentialBudget]:
    """Each credential's budget as of now, for the admin."""
    limits, now = windows(), time.time()
    if not limits:
        return []
    rows = []
    for credential, state in _states().items():
        ledger = Ledger(state, limits, now)
        uses = []
        for window in limits:
            inside = [t for t in ledger.taken if t > now - window.span]
            refill = inside[0] + window.span if inside else None
            spent = ledger.spent(window)
            uses.append(WindowUse(window, spent, max(window.count - spent, 0), _time(refill)))
        paused = _time(ledger.paused_until) if ledger.paused_until > now else None
        rows.append(CredentialBudget(credential, uses, ledger.held, [w["lane"] for w in ledger.waiters], paused))
    return rows


def _time(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, dt_timezone.utc) if epoch else None
