"""Pod activity reports: figures against known factory data, the staff API (JSON
and CSV), who may read it, and the admin page."""

import base64
import csv
import io
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from promotions import reports
from promotions.admin import reports as admin_reports
from promotions.models import FileChange, Promotion
from tests.factories import PodFactory, RepositoryFactory
from tests.helpers import LEAD_PASSWORD, LEAD_USERNAME, client_for, day, promoted

Status = Promotion.Status
FileStatus = FileChange.Status

pytestmark = pytest.mark.django_db


def basic(username, password):
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def by_pod(rows):
    return {row["pod"]: row for row in rows}


def test_pod_figures_of_the_last_30_days(activity):
    rows = reports.pod_figures(reports.Period.last_days())

    assert [row["pod"] for row in rows] == ["alpha", "beta"]  # gamma did nothing
    alpha, beta = rows
    assert alpha["pod_id"] == activity["alpha"].pk
    assert {column: alpha[column] for column in ("promotions", *reports.OUTCOMES, "files_changed")} == {
        "promotions": 7,
        "committed": 4,
        "pr_open": 0,
        "no_changes": 0,
        "conflicts": 1,
        "failed": 1,
        "rejected": 0,
        "approvals_waiting": 1,
        "in_progress": 0,
        "files_changed": 7,
    }
    # percentile_cont over 10, 20, 60, 100: halfway between 20 and 60; 60 + 0.85 * 40.
    assert alpha["median_seconds_to_commit"] == pytest.approx(40)
    assert alpha["p95_seconds_to_commit"] == pytest.approx(94)
    assert alpha["last_activity"] == day(1, 10) + timedelta(seconds=100)

    assert (beta["promotions"], beta["committed"], beta["no_changes"], beta["in_progress"]) == (3, 1, 1, 1)
    assert beta["files_changed"] == 2
    assert beta["median_seconds_to_commit"] == beta["p95_seconds_to_commit"] == pytest.approx(5)
    assert beta["last_activity"] == day(0, 0)
    assert list(alpha) == list(reports.POD_COLUMNS)


def test_period_and_repository_filters(activity):
    today = timezone.now().date()
    longer = by_pod(reports.pod_figures(reports.Period(since=today - timedelta(days=45), until=today)))
    assert (longer["beta"]["promotions"], longer["beta"]["committed"], longer["beta"]["files_changed"]) == (4, 2, 3)
    assert longer["beta"]["median_seconds_to_commit"] == pytest.approx(17.5)

    old = reports.pod_figures(reports.Period(since=today - timedelta(days=45), until=today - timedelta(days=6)))
    assert [(row["pod"], row["promotions"]) for row in old] == [("beta", 1)]

    docs = reports.pod_figures(reports.Period.last_days(repository=activity["docs"]))
    assert [(row["pod"], row["promotions"], row["failed"], row["files_changed"]) for row in docs] == [
        ("alpha", 3, 1, 1)
    ]
    assert docs[0]["median_seconds_to_commit"] == docs[0]["p95_seconds_to_commit"] == pytest.approx(100)


def test_pod_without_commits_has_no_durations(activity):
    rows = reports.pod_figures(reports.Period.last_days(days=1))
    assert [(row["pod"], row["in_progress"]) for row in rows] == [("beta", 1)]
    assert rows[0]["median_seconds_to_commit"] is None


def test_repository_figures(activity):
    rows = {row["repository"]: row for row in reports.repository_figures(reports.Period.last_days())}
    assert (rows["acme/app"]["promotions"], rows["acme/app"]["committed"], rows["acme/app"]["files_changed"]) == (
        7,
        4,
        8,
    )
    assert rows["acme/app"]["median_seconds_to_commit"] == pytest.approx(15)  # 5, 10, 20, 60
    assert (rows["acme/docs"]["promotions"], rows["acme/docs"]["approvals_waiting"]) == (3, 1)


def test_daily_outcomes_cover_every_day(activity):
    days = reports.daily_outcomes(reports.Period.last_days())
    assert len(days) == 30 and days[-1]["day"] == timezone.now().date()
    by_day = {row["day"]: row for row in days}
    two_days_ago = by_day[day(2).date()]
    assert (two_days_ago["promotions"], two_days_ago["committed"], two_days_ago["conflicts"]) == (4, 3, 1)
    assert sum(row["promotions"] for row in days) == 10
    assert by_day[day(10).date()] == {"day": day(10).date(), **dict.fromkeys(reports.DAY_COLUMNS[1:], 0)}


def test_sorted_rows_put_missing_values_last():
    rows = [{"x": 2}, {"x": None}, {"x": 5}]
    assert reports.sorted_rows(rows, "-x") == [{"x": 5}, {"x": 2}, {"x": None}]
    assert reports.sorted_rows(rows, "x") == [{"x": 2}, {"x": 5}, {"x": None}]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="compares with PostgreSQL's percentile_cont")
def test_sqlite_percentiles_agree_with_percentile_cont():
    pod = PodFactory(name="spread")
    repository = RepositoryFactory(full_name="acme/spread")
    for seconds in (1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144):
        promoted(pod, repository, Status.COMMITTED, day(1), seconds)
    committed = Promotion.objects.filter(status=Status.COMMITTED).annotate(
        key=reports.F("pod"), seconds=reports.SecondsBetween("created_at", "finished_at")
    )
    native = reports.seconds_to_commit(Promotion.objects.all(), "pod")
    [portable] = reports.interpolated_percentiles(committed)
    assert native[pod.pk] == {name: pytest.approx(portable[name]) for name in reports.PERCENTILES}
    assert native[pod.pk]["p95_seconds_to_commit"] == pytest.approx(89 + 0.5 * 55)


# --- the staff API -----------------------------------------------------------------


@pytest.fixture
def staff_client(client, lead):
    client.force_login(lead)
    return client


def test_json_and_csv_agree(staff_client, activity):
    document = staff_client.get("/api/v1/reports/pods").json()
    assert document["until"] == timezone.now().date().isoformat()
    assert document["repository"] is None
    rows = document["results"]
    alpha = by_pod(rows)["alpha"]
    assert (alpha["promotions"], alpha["files_changed"], alpha["conflicts"], alpha["failed"]) == (7, 7, 1, 1)
    assert alpha["median_seconds_to_commit"] == pytest.approx(40)

    exported = staff_client.get("/api/v1/reports/pods?format=csv")
    assert exported.status_code == 200
    assert exported["Content-Type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(exported.content.decode())))
    assert list(lines[0]) == list(reports.POD_COLUMNS)
    as_text = [{key: "" if value is None else str(value) for key, value in row.items()} for row in rows]
    assert lines == as_text


def test_filters_reach_the_report(staff_client, activity):
    since = (timezone.now().date() - timedelta(days=45)).isoformat()
    document = staff_client.get(f"/api/v1/reports/pods?since={since}&repository=acme/app").json()
    assert document["repository"] == "acme/app"
    assert [(row["pod"], row["promotions"]) for row in document["results"]] == [("alpha", 4), ("beta", 4)]


def test_repository_and_day_reports(staff_client, activity):
    repositories = staff_client.get("/api/v1/reports/repositories").json()["results"]
    assert [(row["repository"], row["promotions"]) for row in repositories] == [("acme/app", 7), ("acme/docs", 3)]
    days = staff_client.get("/api/v1/reports/days?format=csv").content.decode().splitlines()
    assert days[0] == ",".join(reports.DAY_COLUMNS) and len(days) == 31


@pytest.mark.parametrize(
    "query, field",
    [
        ("since=yesterday", "since"),
        ("until=2024-02-30", "until"),
        ("since=2024-05-02&until=2024-05-01", "until"),
        ("repository=acme/unknown", "repository"),
    ],
)
def test_bad_filters_are_400_naming_the_field(staff_client, activity, query, field):
    for suffix in ("", "&format=csv"):
        response = staff_client.get(f"/api/v1/reports/pods?{query}{suffix}")
        assert response.status_code == 400
        assert list(response.json()["errors"]) == [field]


def test_pod_key_is_refused(activity):
    response = client_for(activity["alpha"]).get("/api/v1/reports/pods")
    assert response.status_code == 403


def test_non_staff_user_is_refused(client, django_user_model, activity):
    someone = django_user_model.objects.create_user("someone", password="not-staff-pw")
    assert client.get("/api/v1/reports/pods", HTTP_AUTHORIZATION=basic("someone", "not-staff-pw")).status_code == 403
    client.force_login(someone)
    assert client.get("/api/v1/reports/pods").status_code == 403


def test_anonymous_is_refused(client, activity):
    assert client.get("/api/v1/reports/pods").status_code == 401


def test_staff_user_with_basic_auth(client, lead, activity):
    response = client.get("/api/v1/reports/pods?format=csv", HTTP_AUTHORIZATION=basic(LEAD_USERNAME, LEAD_PASSWORD))
    assert response.status_code == 200
    assert "alpha" in response.content.decode()


def test_reports_are_not_in_the_schema(client):
    assert "/api/v1/reports" not in client.get("/api/schema/").content.decode()


# --- the admin page ---------------------------------------------------------------


def test_admin_index_links_to_pod_activity(staff_client):
    assert 'href="/admin/reports/pods/"' in staff_client.get("/admin/").content.decode()


def test_pod_activity_page_shows_chart_and_figures(staff_client, activity):
    page = staff_client.get("/admin/reports/pods/?o=-promotions")
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count('<svg class="outcomes-chart"') == 1 and "Day requested" in html and "Approvals waiting" in html
    table = [row["cells"] for row in page.context["rows"]]
    assert [cells[:2] for cells in table] == [["alpha", 7], ["beta", 3]]
    assert table[0][list(admin_reports.COLUMN_TITLES).index("median_seconds_to_commit")] == pytest.approx(40)
    assert f"?pod__id__exact={activity['alpha'].pk}&amp;created_at__gte=" in html


def test_pod_activity_sorts_by_a_column_both_ways(staff_client, activity):
    ascending = staff_client.get("/admin/reports/pods/?o=promotions").context
    assert [row["cells"][0] for row in ascending["rows"]] == ["beta", "alpha"]
    sorted_header = ascending["headers"][1]
    assert (sorted_header["sorted"], sorted_header["url"]) == ("ascending", "?o=-promotions")


def test_pod_activity_link_lists_what_the_row_counts(admin_client, activity):
    row = admin_client.get("/admin/reports/pods/?repository=acme/docs").context["rows"][0]
    changelist = admin_client.get(row["promotions_url"])
    assert changelist.status_code == 200
    assert changelist.context["cl"].result_count == row["cells"][1] == 3


def test_pod_activity_is_for_staff_only(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("someone", password="not-staff-pw"))
    response = client.get("/admin/reports/pods/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_an_accept_header_asking_for_csv_gets_csv(staff_client, activity):
    exported = staff_client.get("/api/v1/reports/pods", HTTP_ACCEPT="text/csv")
    assert exported.status_code == 200
    assert exported["Content-Type"].startswith("text/csv")
    assert exported.content.decode().splitlines()[0].split(",") == list(reports.POD_COLUMNS)
