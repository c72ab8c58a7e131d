"""With Redis, a process remembers the keys it has found and asks the database again
only when a key, pod, repository or grant has changed since: every change holds from
the next request on. Without Redis, every request asks the database; the same
behaviour holds."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from promotions.audit import Actor
from promotions.models import ApiKey, Promotion
from promotions.services.access import key_revoke
from tests.factories import RepositoryFactory
from tests.helpers import key_queries

pytestmark = pytest.mark.django_db

LEAD = Actor.system("lead")
BATCH = {"commit_message": "Add outputs", "files": [{"path": "outputs/a.md", "content": "a\n"}]}


def post(api, **fields):
    return api.post("/api/v1/promotions", {**BATCH, **fields}, format="json")


def test_a_remembered_key_answers_401_once_revoked(api, pod):
    assert [api.get("/api/v1/promotions").status_code for _ in range(2)] == [200, 200]
    key_revoke(api_key=ApiKey.objects.get(pod=pod), actor=LEAD)
    assert api.get("/api/v1/promotions").status_code == 401


def test_a_deactivated_pod_answers_401_from_its_next_request(api, pod):
    assert api.get("/api/v1/promotions").status_code == 200
    pod.is_active = False
    pod.save(update_fields=["is_active"])
    assert api.get("/api/v1/promotions").status_code == 401


def test_a_changed_policy_holds_from_the_next_request(api, pod):
    assert post(api).json()["status"] == "queued"
    pod.require_approval = True
    pod.save(update_fields=["require_approval"])
    assert post(api).json()["status"] == "awaiting_approval"


def test_a_withdrawn_or_granted_repository_holds_from_the_next_request(api, pod, repository):
    other = RepositoryFactory(full_name="acme/other")
    assert post(api, repository="acme/other").status_code == 403
    pod.repositories.add(other)
    assert post(api, repository="acme/other").status_code == 202
    pod.repositories.remove(repository)
    assert post(api, repository=repository.full_name).status_code == 403
    assert Promotion.objects.filter(repository=repository).count() == 0


def test_a_repositorys_changed_policy_holds_from_the_next_request(api, repository):
    assert post(api).json()["status"] == "queued"
    repository.require_approval = True
    repository.save(update_fields=["require_approval"])
    assert post(api).json()["status"] == "awaiting_approval"


def test_a_remembered_key_costs_no_query_with_redis(api):
    api.get("/api/v1/promotions/0")  # found once (and its last use noted)
    with CaptureQueriesContext(connection) as captured:
        assert api.get("/api/v1/promotions/0").status_code == 404
    found = [query for query in captured.captured_queries if "promotions_apikey" in query["sql"]]
    assert len(found) == key_queries()


def test_a_remembered_keys_requests_count_for_its_pods_rate_as_it_stands(api, pod):
    pod.throttle_rate = "3/min"
    pod.save(update_fields=["throttle_rate"])
    assert [api.get("/api/v1/promotions").status_code for _ in range(5)] == [200, 200, 200, 429, 429]
    pod.throttle_rate = "4/min"
    pod.save(update_fields=["throttle_rate"])
    assert [api.get("/api/v1/promotions").status_code for _ in range(2)] == [200, 429]
