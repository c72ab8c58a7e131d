"""Abuse refused: per-pod throttling (429 + Retry-After), files per promotion (400),
decoded sizes per file and per request (413), bodies too large to parse (413)."""

import base64
import json

import pytest
from django.conf import settings as django_settings

from promotions.models import Promotion
from promotions.throttling import rate_problem
from tests.factories import PodFactory
from tests.helpers import client_for

pytestmark = pytest.mark.django_db

MB = 1024 * 1024


def one_file(content, **extra):
    return {"commit_message": "Big", "files": [{"path": "outputs/big.bin", "content": content, **extra}]}


def test_defaults_are_the_documented_ones():
    assert django_settings.PATCHGATE["THROTTLE_RATE"] == "120/min"
    assert django_settings.PATCHGATE["MAX_FILES_PER_PROMOTION"] == 500
    assert django_settings.PATCHGATE["MAX_FILE_BYTES"] == 10 * MB
    assert django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE >= django_settings.PATCHGATE["MAX_PROMOTION_BYTES"]


def test_a_burst_of_150_requests_meets_429_with_retry_after(api):
    codes = [api.get("/api/v1/promotions").status_code for _ in range(150)]
    assert codes[:120] == [200] * 120
    assert set(codes[120:]) == {429}
    throttled = api.get("/api/v1/promotions")
    assert throttled.status_code == 429
    assert 1 <= int(throttled["Retry-After"]) <= 60
    assert "throttled" in throttled.json()["detail"].lower()


def test_throttling_counts_per_pod_with_the_pods_own_rate(repository):
    slow = client_for(PodFactory(repositories=[repository], throttle_rate="3/min"))
    other = client_for(PodFactory(repositories=[repository]))
    assert [slow.get("/api/v1/promotions").status_code for _ in range(4)] == [200, 200, 200, 429]
    assert other.get("/api/v1/promotions").status_code == 200


def test_throttle_counts_live_in_the_shared_cache():
    # Several web processes agree on counts only through a shared cache.
    assert django_settings.CACHES["default"]["BACKEND"] in {
        "django.core.cache.backends.db.DatabaseCache",
        "django.core.cache.backends.redis.RedisCache",
    }


@pytest.mark.parametrize("rate", ["120/min", "10/s", "5000/hour", "1/day"])
def test_rates_drf_understands_pass(rate):
    assert rate_problem(rate) is None


@pytest.mark.parametrize("rate", ["fast", "0/min", "120", "120/fortnight", "-1/s"])
def test_other_rates_are_refused(rate):
    assert "requests per period" in rate_problem(rate)


def test_a_bad_throttle_rate_is_refused_in_the_admin(admin_client, pod):
    response = admin_client.post(
        f"/admin/promotions/pod/{pod.pk}/change/",
        {
            "name": pod.name,
            "is_active": "on",
            "throttle_rate": "lots",
            "api_keys-TOTAL_FORMS": "0",
            "api_keys-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert "Throttle rate must be requests per period" in response.content.decode()
    pod.refresh_from_db()
    assert pod.throttle_rate == ""


def test_501_files_answer_400_and_store_nothing(api):
    files = [{"path": f"outputs/{index}.md", "content": "x"} for index in range(501)]
    response = api.post("/api/v1/promotions", {"commit_message": "Many", "files": files}, format="json")
    assert response.status_code == 400
    assert "500" in response.json()["errors"]["files"][0]
    assert not Promotion.objects.exists()


def test_500_files_are_accepted(api):
    files = [{"path": f"outputs/{index}.md", "content": "x"} for index in range(500)]
    response = api.post("/api/v1/promotions", {"commit_message": "Many", "files": files}, format="json")
    assert response.status_code == 202


def test_a_30_mb_file_answers_413_naming_it(api):
    response = api.post("/api/v1/promotions", one_file("x" * 30 * MB), format="json")
    assert response.status_code == 413
    assert "at most 10485760 per file" in response.json()["errors"]["files[0].content"][0]
    assert not Promotion.objects.exists()


@pytest.fixture
def small_limits(settings):
    settings.PATCHGATE = {**settings.PATCHGATE, "MAX_FILE_BYTES": 80, "MAX_PROMOTION_BYTES": 100}


def test_the_decoded_size_counts_for_base64(api, small_limits):
    encoded = base64.b64encode(b"\0" * 81).decode()
    response = api.post("/api/v1/promotions", one_file(encoded, encoding="base64"), format="json")
    assert response.status_code == 413
    assert "81 bytes once decoded" in response.json()["errors"]["files[0].content"][0]
    fits = base64.b64encode(b"\0" * 80).decode()
    assert api.post("/api/v1/promotions", one_file(fits, encoding="base64"), format="json").status_code == 202


def test_the_decoded_total_per_request_answers_413(api, small_limits):
    files = [{"path": f"outputs/{index}.md", "content": "x" * 60} for index in range(2)]
    response = api.post("/api/v1/promotions", {"commit_message": "Two", "files": files}, format="json")
    assert response.status_code == 413
    assert "at most 100 per promotion" in response.json()["errors"]["files"][0]
    assert not Promotion.objects.exists()


def test_a_body_too_large_to_parse_answers_413_as_json(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps(one_file("x" * 2000))
    response = api.post("/api/v1/promotions", body, content_type="application/json")
    assert response.status_code == 413
    assert response.json() == {"detail": "Request body too large: at most 1000 bytes."}
    assert not Promotion.objects.exists()
