"""Pod activity reports: what every pod did over a period, computed in the database.

Plain functions returning plain data (lists of dicts), for the staff API and the
admin's Pod activity page. Every figure is an aggregate the database computes;
Python only merges per-group results and fills days without promotions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, cast

from django import forms
from django.db import connections
from django.db.models import Aggregate, Count, F, FloatField, Func, Max, Q, QuerySet, Sum, Window
from django.db.models.functions import Coalesce, RowNumber, TruncDate
from django.utils import timezone

from .models import FileChange, Promotion, Repository

Status = Promotion.Status

DEFAULT_PERIOD_DAYS = 30
# The longest period a report covers: a year's rows stay small, a range from year 1 does not.
MAX_PERIOD_DAYS = 366

# How a promotion ended (or where it stands), in the order the chart stacks them.
OUTCOMES: dict[str, tuple[str, ...]] = {
    "committed": (Status.COMMITTED,),
    "pr_open": (Status.PR_OPEN,),
    "no_changes": (Status.NO_CHANGES,),
    "conflicts": (Status.CONFLICT,),
    "failed": (Status.FAILED,),
    "rejected": (Status.REJECTED,),
    "approvals_waiting": (Status.AWAITING_APPROVAL,),
    "in_progress": (Status.PENDING, Status.QUEUED, Status.APPLYING, Status.RETRYING),
}

# A file "changed" when the commit wrote or removed it.
CHANGED_FILE_STATUSES = (
    FileChange.Status.CREATED,
    FileChange.Status.UPDATED,
    FileChange.Status.DELETED,
    FileChange.Status.MERGED,
)

FIGURE_COLUMNS = (
    "promotions",
    *OUTCOMES,
    "files_changed",
    "median_seconds_to_commit",
    "p95_seconds_to_commit",
    "seconds_waiting_for_budget",
    "last_activity",
)
POD_COLUMNS = ("pod", "pod_id", *FIGURE_COLUMNS)
REPOSITORY_COLUMNS = ("repository", "repository_id", *FIGURE_COLUMNS)
DAY_COLUMNS = ("day", "promotions", *OUTCOMES)


@dataclass(frozen=True)
class Period:
    """Promotions requested from `since` to `until`, both days included (UTC),
    optionally of one repository."""

    since: date
    until: date
    repository: Repository | None = None

    @classmethod
    def last_days(cls, days: int = DEFAULT_PERIOD_DAYS, repository: Repository | None = None) -> Period:
        today = timezone.now().date()
        return cls(since=today - timedelta(days=days - 1), until=today, repository=repository)

    def bounds(self) -> tuple[datetime, datetime]:
        """The first instant in the period and the first one after it."""
        zone = timezone.get_current_timezone()
        return datetime.combine(self.since, time.min, zone), datetime.combine(
            self.until + timedelta(days=1), time.min, zone
        )

    def matches(self, promotion: str = "") -> Q:
        """The condition on a promotion (reached through `promotion`, e.g. "promotion__") to be in the period."""
        start, end = self.bounds()
        condition = Q(**{f"{promotion}created_at__gte": start, f"{promotion}created_at__lt": end})
        if self.repository is not None:
            condition &= Q(**{f"{promotion}repository": self.repository})
        return condition

    def promotions(self) -> QuerySet[Promotion]:
        return Promotion.objects.filter(self.matches()).order_by()

    def days(self) -> list[date]:
        return [self.since + timedelta(days=n) for n in range((self.until - self.since).days + 1)]


class PeriodForm(forms.Form):
    """The report filters as query parameters: ?since=YYYY-MM-DD&until=YYYY-MM-DD&repository=owner/name."""

    since = forms.DateField(
        required=False,
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="First day, YYYY-MM-DD (default: 29 days before until).",
    )
    until = forms.DateField(
        required=False,
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Last day, YYYY-MM-DD (default: today).",
    )
    repository = forms.ModelChoiceField(
        Repository.objects.all(), required=False, to_field_name="full_name", empty_label="All repositories"
    )

    def clean(self):
        data = super().clean()
        until = data.get("until") or timezone.now().date()
        since = data.get("since") or until - min(timedelta(days=DEFAULT_PERIOD_DAYS - 1), until - date.min)
        if "since" in data and "until" in data and since > until:
            self.add_error("until", "Must be on or after since.")
        elif until > timezone.now().date() + timedelta(days=1):
            self.add_error("until", "Must not be after tomorrow.")
        elif (until - since).days >= MAX_PERIOD_DAYS:
            earliest = until - timedelta(days=MAX_PERIOD_DAYS - 1)
            self.add_error("since", f"A report covers at most {MAX_PERIOD_DAYS} days: {earliest} at the earliest.")
        data["since"], data["until"] = since, until
        return data

    def period(self) -> Period:
        """The period asked for; call after is_valid()."""
        data = self.cleaned_data
        return Period(since=data["since"], until=data["until"], repository=data.get("repository"))


def pod_figures(period: Period) -> list[dict]:
    """One row per pod that requested promotions in the period, in POD_COLUMNS order, by pod name."""
    return _figures(period, "pod", "pod__name", POD_COLUMNS)


def repository_figures(period: Period) -> list[dict]:
    """One row per repository that received promotions in the period, in REPOSITORY_COLUMNS order."""
    return _figures(period, "repository", "repository__full_name", REPOSITORY_COLUMNS)


def daily_outcomes(period: Period) -> list[dict]:
    """One row per day of the period (days without promotions included): how many
    promotions were requested that day, by outcome."""
    counted: dict[object, Mapping[str, Any]] = {
        row["day"]: row
        for row in period.promotions()
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(promotions=Count("id"), **_outcome_counts())
    }
    empty = dict.fromkeys(DAY_COLUMNS[1:], 0)
    return [
        {"day": day, **{column: counted.get(day, empty)[column] for column in DAY_COLUMNS[1:]}} for day in period.days()
    ]


def sorted_rows(rows: list[dict], order: str) -> list[dict]:
    """Rows ordered by a column, `-column` for descending; rows without a value last."""
    column = order.removeprefix("-")
    present = [row for row in rows if row[column] is not None]
    missing = [row for row in rows if row[column] is None]
    return sorted(present, key=lambda row: row[column], reverse=order.startswith("-")) + missing


def _outcome_counts() -> dict:
    return {name: Count("id", filter=Q(status__in=statuses)) for name, statuses in OUTCOMES.items()}


def _figures(period: Period, group: str, label: str, columns: tuple[str, ...]) -> list[dict]:
    promotions = period.promotions()
    rows = (
        promotions.values(group, label)
        .annotate(
            promotions=Count("id"),
            **_outcome_counts(),
            # Time its promotions waited for the git host's write budget (GITHUB_WRITE_LIMITS).
            seconds_waiting_for_budget=Sum("budget_wait_seconds"),
            last_activity=Max(Coalesce("finished_at", "created_at")),
        )
        .order_by(label)
    )
    # Files and durations come from their own grouped queries, merged by group:
    # a join of files into the counts above would multiply them.
    files_changed = {
        row["key"]: {"files_changed": row["files_changed"]}
        for row in FileChange.objects.filter(period.matches("promotion__"), status__in=CHANGED_FILE_STATUSES)
        .values(key=F(f"promotion__{group}"))
        .annotate(files_changed=Count("id"))
    }
    durations = seconds_to_commit(promotions, group)
    nothing = {"files_changed": 0, **dict.fromkeys(PERCENTILES)}
    merged = [
        (row, {**row, **nothing, **files_changed.get(row[group], {}), **durations.get(row[group], {}), **_waited(row)})
        for row in rows
    ]
    return [
        {columns[0]: row[label], columns[1]: row[group], **{column: figures[column] for column in FIGURE_COLUMNS}}
        for row, figures in merged
    ]


def _waited(row: dict) -> dict:
    return {"seconds_waiting_for_budget": round(row["seconds_waiting_for_budget"] or 0.0, SECONDS_DIGITS)}


class SecondsBetween(Func):
    """Seconds from one datetime expression to another, as a float."""

    output_field = FloatField()
    arity = 2

    def as_postgresql(self, compiler, connection, **extra):
        return self._difference(compiler, "EXTRACT(EPOCH FROM ({end} - {start}))::double precision")

    def as_sqlite(self, compiler, connection, **extra):
        return self._difference(compiler, "((julianday({end}) - julianday({start})) * 86400.0)")

    def _difference(self, compiler, template):
        (start_sql, start_params), (end_sql, end_params) = (compiler.compile(e) for e in self.source_expressions)
        return template.format(start=start_sql, end=end_sql), (*end_params, *start_params)


class PercentileCont(Aggregate):
    """PostgreSQL's continuous percentile (linear interpolation between neighbours)."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, fraction: float, **extra):
        super().__init__(expression, fraction=float(fraction), **extra)


PERCENTILES = {"median_seconds_to_commit": 0.5, "p95_seconds_to_commit": 0.95}
# SQLite's julianday() is exact to about a tenth of a millisecond; both backends round alike.
SECONDS_DIGITS = 3


def seconds_to_commit(promotions: QuerySet[Promotion], group: str) -> dict[object, dict[str, float]]:
    """Median and 95th percentile of the seconds from request to commit of the
    committed promotions among `promotions`, per value of `group`:
    {group value: {"median_seconds_to_commit": s, "p95_seconds_to_commit": s}}. Both backends interpolate like
    PostgreSQL's percentile_cont."""
    committed = promotions.filter(status=Status.COMMITTED, finished_at__isnull=False).annotate(
        key=F(group), seconds=SecondsBetween("created_at", "finished_at")
    )
    rows: Iterable[Mapping[str, Any]]
    if connections[promotions.db].vendor == "postgresql":
        percentiles = {name: PercentileCont("seconds", fraction) for name, fraction in PERCENTILES.items()}
        rows = cast(Iterable[Mapping[str, Any]], committed.values("key").annotate(**percentiles))
    else:
        rows = interpolated_percentiles(committed)
    return {row["key"]: {name: round(row[name], SECONDS_DIGITS) for name in PERCENTILES} for row in rows}


def interpolated_percentiles(committed: QuerySet) -> list[dict]:
    """percentile_cont for databases without it (SQLite), over promotions
    annotated with `key` and `seconds`, in one query of portable SQL (so the
    tests can compare it with PostgreSQL's own): the ORM ranks each group's
    durations with window functions; the outer query weights each value by its
    distance to the percentile's fractional rank h = fraction * (count - 1),
    which keeps h's one or two neighbours, linearly interpolated."""
    ranked = committed.annotate(
        position=Window(RowNumber(), partition_by=F("key"), order_by=F("seconds").asc()),
        total=Window(Count("id"), partition_by=F("key")),
    ).values("key", "seconds", "position", "total")
    inner_sql, params = ranked.query.sql_with_params()
    percentiles = ", ".join(f'{_weighted_sum(fraction)} AS "{name}"' for name, fraction in PERCENTILES.items())
    with connections[committed.db].cursor() as cursor:
        cursor.execute(f'SELECT "key", {percentiles} FROM ({inner_sql}) AS ranked GROUP BY "key"', params)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


def _weighted_sum(fraction: float) -> str:
    weight = f'(1.0 - ABS("position" - 1 - {fraction!r} * ("total" - 1)))'
    return f'SUM(CASE WHEN {weight} > 0 THEN "seconds" * {weight} ELSE 0 END)'
