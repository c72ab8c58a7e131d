"""One pod's bad input is refused with a 4xx naming the field, stores nothing and never
answers 5xx: text no database or git can keep, oversized traces and metadata, JSON
nested without end, report periods without end."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from promotions.api.parsers import MAX_JSON_DEPTH, json_depth
from promotions.models import Promotion
from promotions.validation import idempotency_key_problem

pytestmark = pytest.mark.django_db

FILES = [{"path": "outputs/a.md", "content": "a\n"}]


def post_raw(api, body: str):
    """A body as written, escapes and all (lone surrogates cannot go through json.dumps' defaults)."""
    return api.post("/api/v1/promotions", body, content_type="application/json")


def fields_refused(response, status=400) -> list[str]:
    assert response.status_code == status, response.content
    assert Promotion.objects.count() == 0
    return list(response.json()["errors"])


@pytest.mark.parametrize(
    "body, field",
    [
        ('{"commit_message": "x", "metadata": {"task_id": "T-\\ud800"}, "files": FILES}', "metadata.task_id"),
        ('{"commit_message": "x", "metadata": {"deep": [{"id": "\\udfff"}]}, "files": FILES}', "metadata.deep[0].id"),
        ('{"commit_message": "x\\udc80", "files": FILES}', "commit_message"),
        ('{"commit_message": "x", "reasoning_trace": "why \\ud83d", "files": FILES}', "reasoning_trace"),
        ('{"commit_message": "x", "branch": "main\\ud800", "files": FILES}', "branch"),
        ('{"commit_message": "x", "repository": "demo/\\ud800", "files": FILES}', "repository"),
        ('{"commit_message": "x", "files": [{"path": "a.md", "content": "x\\ud800"}]}', "files[0].content"),
        (
            '{"commit_message": "x", "files": [{"path": "a.md", "content": "x", "encoding": "\\ud800"}]}',
            "files[0].encoding",
        ),
        ('{"commit_message": "x", "mode": "\\ud800", "files": FILES}', "mode"),
    ],
)
def test_a_lone_surrogate_anywhere_is_400_naming_the_field(api, body, field):
    response = post_raw(api, body.replace("FILES", json.dumps(FILES)))
    assert fields_refused(response) == [field]
    assert "lone surrogate" in response.json()["detail"]


@pytest.mark.parametrize(
    "change, field",
    [
        ({"commit_message": "Add\u0000"}, "commit_message"),
        ({"reasoning_trace": "a\u0000b"}, "reasoning_trace"),
        ({"metadata": {"task_id": "T\u00001"}}, "metadata.task_id"),
        ({"metadata": {"list": ["ok", "\u0000"]}}, "metadata.list[1]"),
        ({"metadata": {"k\u0000": "v"}}, "metadata"),
        ({"files": [{"path": "a.md", "content": "binary\u0000"}]}, "files[0].content"),
    ],
)
def test_nul_in_text_or_metadata_is_400_naming_the_field(api, change, field):
    response = api.post("/api/v1/promotions", {"commit_message": "x", "files": FILES, **change}, format="json")
    assert fields_refused(response) == [field]
    assert "NUL" in response.json()["detail"]


def test_nul_in_binary_content_goes_through_as_base64(api, repository):
    files = [{"path": "outputs/blob.bin", "content": "YQBi", "encoding": "base64"}]  # b"a\x00b"
    assert api.post("/api/v1/promotions", {"commit_message": "x", "files": files}, format="json").status_code == 202


@pytest.mark.parametrize(
    "change, field", [({"branch": "b" * 256}, "branch"), ({"repository": "acme/" + "r" * 200}, "repository")]
)
def test_over_long_strings_are_400_naming_the_field(api, change, field):
    response = api.post("/api/v1/promotions", {"commit_message": "x", "files": FILES, **change}, format="json")
    assert fields_refused(response) == [field]


def test_trace_and_metadata_limits_default_to_one_megabyte_and_64_kilobytes(settings):
    assert settings.PATCHGATE["MAX_TRACE_BYTES"] == 1024 * 1024
    assert settings.PATCHGATE["MAX_METADATA_BYTES"] == 64 * 1024


def test_a_trace_over_its_limit_is_413_naming_it(api, settings):
    settings.PATCHGATE = {**settings.PATCHGATE, "MAX_TRACE_BYTES": 1000}
    fits = {"commit_message": "x", "files": FILES, "reasoning_trace": "é" * 500}  # 1000 bytes
    over = {**fits, "reasoning_trace": "é" * 500 + "!"}
    response = api.post("/api/v1/promotions", over, format="json")
    assert fields_refused(response, status=413) == ["reasoning_trace"]
    assert "1001 bytes; at most 1000" in response.json()["detail"]
    assert api.post("/api/v1/promotions", fits, format="json").status_code == 202


def test_metadata_over_its_limit_is_413_naming_it(api, settings):
    settings.PATCHGATE = {**settings.PATCHGATE, "MAX_METADATA_BYTES": 100}
    body = {"commit_message": "x", "files": FILES, "metadata": {"notes": "n" * 100}}
    assert fields_refused(api.post("/api/v1/promotions", body, format="json"), status=413) == ["metadata"]


def test_json_nested_100000_deep_is_400_not_500(api):
    response = post_raw(api, "[" * 100_000 + "]" * 100_000)
    assert response.status_code == 400
    assert f"nested more than {MAX_JSON_DEPTH} deep" in response.json()["detail"]
    metadata = "[" * 100_000 + "]" * 100_000
    body = f'{{"commit_message": "x", "metadata": {{"a": {metadata}}}, "files": {json.dumps(FILES)}}}'
    response = post_raw(api, body)
    assert response.status_code == 400
    assert Promotion.objects.count() == 0


def test_metadata_nested_within_the_limit_is_kept(api):
    nested = "[" * (MAX_JSON_DEPTH - 3) + "]" * (MAX_JSON_DEPTH - 3)  # the body, metadata and key add levels
    body = f'{{"commit_message": "x", "metadata": {{"a": {{"b": {nested}}}}}, "files": {json.dumps(FILES)}}}'
    assert json_depth(body) == MAX_JSON_DEPTH
    assert post_raw(api, body).status_code == 202


def test_brackets_inside_strings_do_not_count_as_nesting(api):
    content = "[" * 100_000 + '\\"{' * 1000
    body = json.dumps({"commit_message": "x", "files": [{"path": "outputs/brackets.txt", "content": content}]})
    assert json_depth(body) == 3
    assert post_raw(api, body).status_code == 202


def test_a_body_that_is_not_utf8_is_400(api):
    response = api.post("/api/v1/promotions", b'{"commit_message": "\xff"}', content_type="application/json")
    assert response.status_code == 400


@pytest.mark.parametrize("key", ["0b7f6f3e-9d3a-4c1e-8b1a-3c2f1e0d9a8b", "retry-1", "k" * 255])
def test_an_idempotency_key_of_printable_ascii_up_to_255_is_fine(key):
    assert idempotency_key_problem(key) is None


@pytest.mark.parametrize("key", ["", "k" * 256, "has space", "tab\t", "nul\x00", "é", "\ud800"])
def test_other_idempotency_keys_are_refused(key):
    assert "1 to 255 printable ASCII" in idempotency_key_problem(key)


@pytest.fixture
def staff_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("lead", password="pw-lead-123", is_staff=True))
    return client


@pytest.mark.parametrize("report", ["days", "pods", "repositories"])
def test_a_report_reaching_back_to_year_one_is_400_naming_since(staff_client, report):
    response = staff_client.get(f"/api/v1/reports/{report}?since=0001-01-01")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["since"]
    assert "at most 366 days" in response.json()["detail"]


def test_a_report_of_366_days_is_answered_and_367_is_not(staff_client):
    today = timezone.now().date()
    year = staff_client.get(f"/api/v1/reports/days?since={today - timedelta(days=365)}")
    assert year.status_code == 200 and len(year.json()["results"]) == 366
    assert staff_client.get(f"/api/v1/reports/days?since={today - timedelta(days=366)}").status_code == 400


@pytest.mark.parametrize("query", ["until=9999-12-31", "until=0001-01-01", "since=0001-01-01&until=0001-01-01"])
def test_report_periods_at_the_ends_of_the_calendar_never_answer_500(staff_client, query):
    response = staff_client.get(f"/api/v1/reports/days?{query}")
    assert response.status_code in (200, 400)
    if response.status_code == 400:
        assert list(response.json()["errors"]) == ["until"]


def test_the_admin_activity_page_falls_back_to_30_days_for_a_period_past_the_cap(staff_client):
    response = staff_client.get("/admin/reports/pods/?since=0001-01-01")
    assert response.status_code == 200
    assert len(response.context["period"].days()) == 30


def test_nul_in_a_query_parameter_is_400_naming_it(api):
    response = api.get("/api/v1/files", {"path": "outputs/a.md", "repository": "demo/sand\x00box"})
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["repository"]


def test_nul_in_a_report_filter_is_400_naming_it(staff_client):
    response = staff_client.get("/api/v1/reports/pods?repository=demo/sand%00box")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["repository"]
