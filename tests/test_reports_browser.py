"""The Pod activity page in a real chromium: reached from the admin index, chart
drawn, numbers as the pods' promotions say."""

import pytest

from promotions.admin import reports as admin_reports

pytestmark = pytest.mark.browser

COLUMNS = list(admin_reports.COLUMN_TITLES)


def cell(row, column: str) -> str:
    return row.locator("th, td").nth(COLUMNS.index(column)).inner_text().strip()


def test_lead_opens_pod_activity_from_the_index(admin_page, activity):  # noqa: F811
    admin_page.get_by_role("link", name="Pod activity").click()
    admin_page.wait_for_url("**/admin/reports/pods/")

    chart = admin_page.locator("svg.outcomes-chart")
    assert chart.is_visible()
    assert chart.bounding_box()["height"] > 100
    assert chart.locator("rect title").count() >= 5  # bars of several outcomes on several days
    assert chart.get_by_text("Conflicts", exact=True).is_visible()  # the legend

    rows = admin_page.locator("#pod-activity tbody tr")
    assert rows.count() == 2
    alpha = rows.filter(has_text="alpha")
    figures = {c: cell(alpha, c) for c in ("promotions", "files_changed", "conflicts", "failed", "approvals_waiting")}
    assert figures == {
        "promotions": "7",
        "files_changed": "7",
        "conflicts": "1",
        "failed": "1",
        "approvals_waiting": "1",
    }
    assert cell(alpha, "median_seconds_to_commit") == "40.0"

    admin_page.get_by_role("link", name="Files changed").click()
    assert cell(admin_page.locator("#pod-activity tbody tr").first, "pod") == "beta"

    admin_page.get_by_role("link", name="alpha").click()
    admin_page.wait_for_url("**/admin/promotions/promotion/?pod__id__exact=*")
    assert admin_page.locator("#result_list tbody tr").count() == 7
