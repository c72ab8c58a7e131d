"""The admin's report pages, routed in config/urls.py behind admin.site.admin_view
(staff only): Pod activity (a chart of promotions per day and a sortable table of
figures per pod) and the GitHub write budget of each credential."""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin
from django.template.response import TemplateResponse
from django.urls import reverse

from .. import charts, reports
from ..scm.github import budget
from ..scm.port import ScmError

COLUMN_TITLES = {
    "pod": "Pod",
    "promotions": "Promotions",
    **{outcome: charts.outcome_label(outcome) for outcome in reports.OUTCOMES},
    "files_changed": "Files changed",
    "median_seconds_to_commit": "Median s to commit",
    "p95_seconds_to_commit": "95th pct. s to commit",
    "seconds_waiting_for_budget": "s waiting for write budget",
    "last_activity": "Last activity",
}
DEFAULT_ORDER = "pod"


def pod_activity(request):
    form = reports.PeriodForm(request.GET)
    period = form.period() if form.is_valid() else reports.Period.last_days()
    order = request.GET.get("o", DEFAULT_ORDER)
    if order.removeprefix("-") not in COLUMN_TITLES:
        order = DEFAULT_ORDER
    rows = reports.sorted_rows(reports.pod_figures(period), order)
    filters = {key: value for key, value in request.GET.items() if key in form.fields}
    context = {
        **admin.site.each_context(request),
        "title": "Pod activity",
        "form": form,
        "period": period,
        "chart": charts.daily_outcomes_chart(reports.daily_outcomes(period)),
        "headers": [_header(column, title, order, filters) for column, title in COLUMN_TITLES.items()],
        "rows": [
            {"cells": [row[column] for column in COLUMN_TITLES], "promotions_url": _promotions_url(row, period)}
            for row in rows
        ],
        "exports": {
            kind: f"{reverse('report-pods')}?{urlencode({**filters, 'format': kind})}" for kind in ("csv", "json")
        },
    }
    return TemplateResponse(request, "admin/reports/pod_activity.html", context)


def _header(column: str, title: str, order: str, filters: dict) -> dict:
    """A column title whose link sorts by it, and the other way round when already sorted by it."""
    ascending = order == column
    return {
        "title": title,
        "sorted": "ascending" if ascending else "descending" if order == f"-{column}" else "",
        "url": "?" + urlencode({**filters, "o": f"-{column}" if ascending else column}),
    }


def _promotions_url(row: dict, period: reports.Period) -> str:
    """The admin's promotion list filtered to what the row counts: this pod, this period, this repository."""
    start, end = period.bounds()
    query = {"pod__id__exact": row["pod_id"], "created_at__gte": start.isoformat(), "created_at__lt": end.isoformat()}
    if period.repository is not None:
        query["repository__id__exact"] = period.repository.pk
    return f"{reverse('admin:promotions_promotion_changelist')}?{urlencode(query)}"


def write_budget(request):
    """Each GitHub credential's write budget as of now: per window what was spent,
    what is left and when the next write leaves it; units held by trains being
    written, lanes waiting their turn, and a pause before GitHub's primary limit."""
    try:
        budgets, problem = budget.overview(), ""
    except ScmError as error:  # GITHUB_WRITE_LIMITS cannot be read: say so on the page
        budgets, problem = [], str(error)
    context = {
        **admin.site.each_context(request),
        "title": "GitHub write budget",
        "limits": settings.GITHUB_WRITE_LIMITS,
        "budgets": budgets,
        "problem": problem,
    }
    return TemplateResponse(request, "admin/reports/write_budget.html", context)
