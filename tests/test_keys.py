"""Pods' keys: several per pod, issued, rotated and revoked in the admin, shown in
clear once and stored nowhere; and nothing leaks through errors or to other pods."""

import io
import logging
import re
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.db import connection

from promotions import selectors
from promotions.audit import Actor
from promotions.keys import hash_key
from promotions.models import ApiKey
from promotions.services.access import pod_create
from tests.factories import PodFactory, PromotionFactory
from tests.helpers import client_for

pytestmark = pytest.mark.django_db

KEY_PATTERN = re.compile(r"pgk_[A-Za-z0-9_-]{43}")


def status_with(raw_key: str) -> int:
    client = client_for(SimpleNamespace(raw_key=raw_key))
    return client.get("/api/v1/promotions").status_code


def keys_shown(response) -> list[str]:
    return KEY_PATTERN.findall(response.content.decode())


def everything_stored() -> str:
    """Every row of every table, as text: where a clear key must never be."""
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
        return "\n".join(repr(row) for table in tables for row in cursor.execute(f'SELECT * FROM "{table}"').fetchall())


def test_issue_new_key_in_the_admin_shows_it_once_and_stores_its_hash(admin_client, pod):
    response = admin_client.post("/admin/promotions/pod/", {"action": "issue_new_key", "_selected_action": [pod.pk]})
    assert response.status_code == 200
    [raw_key] = keys_shown(response)
    assert "shown once" in response.content.decode()
    assert pod.api_keys.count() == 2  # a pod holds several keys
    assert status_with(raw_key) == 200 and status_with(pod.raw_key) == 200
    assert ApiKey.objects.filter(key_hash=hash_key(raw_key), prefix=raw_key[:12]).exists()
    stored = everything_stored()
    assert raw_key not in stored and raw_key[12:] not in stored
    assert raw_key not in str(response.cookies)  # not carried in a message either
    assert keys_shown(admin_client.get(f"/admin/promotions/pod/{pod.pk}/change/")) == []


def test_rotate_issues_a_new_key_and_revokes_the_old_one(admin_client, pod):
    old = pod.api_keys.get()
    response = admin_client.post(
        "/admin/promotions/apikey/", {"action": "rotate_selected", "_selected_action": [old.pk]}
    )
    [new_key] = keys_shown(response)
    assert status_with(pod.raw_key) == 401
    assert status_with(new_key) == 200
    old.refresh_from_db()
    assert old.revoked_at is not None
    assert pod.api_keys.get(revoked_at__isnull=True).label == old.label


def test_revoked_and_unknown_keys_answer_401_alike(admin_client, pod):
    admin_client.post(
        "/admin/promotions/apikey/", {"action": "revoke_selected", "_selected_action": [pod.api_keys.get().pk]}
    )
    revoked = client_for(pod).get("/api/v1/promotions")
    unknown = client_for(SimpleNamespace(raw_key="pgk_" + "x" * 43)).get("/api/v1/promotions")
    assert revoked.status_code == unknown.status_code == 401
    assert revoked.json() == unknown.json() == {"detail": "Invalid API key."}
    assert revoked["WWW-Authenticate"] == unknown["WWW-Authenticate"]


def test_last_use_is_recorded_and_shown_in_the_admin(admin_client, api, pod):
    assert pod.api_keys.get().last_used_at is None
    api.get("/api/v1/promotions")
    assert pod.api_keys.get().last_used_at is not None
    page = admin_client.get(f"/admin/promotions/pod/{pod.pk}/change/").content.decode()
    assert "Last used" in page and pod.api_keys.get().prefix in page


def test_dumpdata_contains_no_key(pod):
    _, second_key = pod_create(name="second", actor=Actor.system("tests"))
    out = io.StringIO()
    call_command("dumpdata", stdout=out)
    dump = out.getvalue()
    assert hash_key(pod.raw_key) in dump  # the dump does hold the keys' rows
    assert pod.raw_key not in dump and second_key not in dump


def test_keys_never_reach_the_logs(api, pod, caplog):
    caplog.set_level(logging.DEBUG)
    api.get("/api/v1/promotions")
    client_for(SimpleNamespace(raw_key=pod.raw_key + "x")).get("/api/v1/promotions")
    api.post("/api/v1/promotions", {"files": []}, format="json")
    assert caplog.records
    assert pod.raw_key not in caplog.text


def test_an_unexpected_error_answers_a_bare_500_even_with_debug(api, pod, settings, monkeypatch):
    settings.DEBUG = True

    def broken(*args, **kwargs):
        raise RuntimeError(f"database exploded near {pod.raw_key}")

    monkeypatch.setattr(selectors, "promotions_of", broken)
    response = api.get("/api/v1/promotions")
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal error. It has been logged."}
    assert "Traceback" not in response.content.decode()


def test_a_pod_sees_only_its_own_promotions(api, pod, repository):
    mine = PromotionFactory(pod=pod, repository=repository)
    theirs = PromotionFactory(pod=PodFactory(repositories=[repository]), repository=repository)
    assert api.get(f"/api/v1/promotions/{mine.pk}").status_code == 200
    refused = api.get(f"/api/v1/promotions/{theirs.pk}")
    assert refused.status_code == 404
    assert refused.json() == {"detail": "No such promotion for this pod."}
    assert [p["id"] for p in api.get("/api/v1/promotions").json()["results"]] == [mine.pk]


def test_unknown_api_urls_answer_a_json_404(api, settings):
    settings.DEBUG = True  # Django's debug 404 page would list every URL pattern
    response = api.get("/api/v1/promotions/abc")
    assert response.status_code == 404
    assert response.json() == {"detail": "No such API endpoint."}
