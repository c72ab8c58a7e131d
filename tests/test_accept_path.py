"""The accept path stays lean: its queries are pinned, nothing is read back, the
answer is DRF's own rendering written out, status reads never load file contents,
and a large promotion is held at most about three times its size while accepted."""

import base64
import contextlib
import io
import json
import os
import tracemalloc

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.db import IntegrityError, connection, transaction
from rest_framework import serializers

from promotions.api.serializers import PromotionSerializer, PromotionSummarySerializer
from promotions.conf import shared_redis
from promotions.models import Event, FileChange, Promotion
from promotions.selectors import promotion_of
from promotions.services.rows import insert_submission

MB = 1024 * 1024
BATCH = {
    "commit_message": "Add outputs",
    "reasoning_trace": "Because.",
    "metadata": {"task_id": "T-1"},
    "files": [{"path": "outputs/a.md", "content": "a\n"}, {"path": "outputs/b.md", "content": "b\n"}],
}


def expected_post_queries() -> int:
    """The key (with the pod's repositories), unless Redis says this process's memory
    of it still holds (promotions.auth); the throttle's count (in Redis when there
    is one); the submission: PostgreSQL takes the lane's lock and inserts the promotion,
    its files and both events in one statement, SQLite
    runs a transaction of three INSERTs (BEGIN IMMEDIATE, COMMIT); the wake (the ORM
    broker's task row, unless Redis)."""
    redis = shared_redis() is not None
    submission = 1 if connection.vendor == "postgresql" else 5
    return (0 if redis else 1) + (0 if redis else 1) + submission + (0 if redis else 1)


@pytest.mark.django_db(transaction=True)
def test_a_post_runs_a_pinned_handful_of_queries_and_reads_nothing_back(api, django_assert_num_queries):
    api.post("/api/v1/promotions", {**BATCH, "commit_message": "first"}, format="json")  # the key's last use is noted
    with django_assert_num_queries(expected_post_queries()) as captured:
        response = api.post("/api/v1/promotions", BATCH, format="json")
    assert response.status_code == 202
    read_back = [q["sql"] for q in captured.captured_queries if 'FROM "promotions_promotion"' in q["sql"]]
    assert not read_back + [q["sql"] for q in captured.captured_queries if 'FROM "promotions_filechange"' in q["sql"]]
    document = response.json()
    assert [(r["path"], r["status"]) for r in document["results"]] == [
        ("outputs/a.md", "pending"),
        ("outputs/b.md", "pending"),
    ]
    promotion = Promotion.objects.get(pk=document["id"])
    assert (promotion.status, promotion.metadata) == ("queued", {"task_id": "T-1"})
    assert [bytes(f.content) for f in promotion.files.all()] == [b"a\n", b"b\n"]
    events = Event.objects.filter(promotion=promotion).order_by("id")
    assert [(e.from_status, e.to_status, e.actor_name) for e in events] == [
        ("", "pending", "writer"),
        ("pending", "queued", "writer"),
    ]


@pytest.mark.parametrize("in_transaction", [False, True])
@pytest.mark.parametrize("failing", ["a file row (the same path twice)", "an event (no such pod: checked at COMMIT)"])
@pytest.mark.django_db(transaction=True)
def test_a_submission_whose_insert_fails_leaves_nothing_and_the_connection_usable(
    pod, repository, in_transaction, failing
):
    def submit(paths: list[str], actor_pod_id: int) -> None:
        promotion = Promotion(pod=pod, repository=repository, branch="main", commit_message="m", status="queued")
        files = [{"path": path, "content": b"a\n", "position": i} for i, path in enumerate(paths)]
        event = {"actor_kind": "pod", "actor_pod_id": actor_pod_id, "actor_name": "writer", "to_status": "queued"}
        insert_submission(promotion, files, [event])

    with pytest.raises(IntegrityError):
        with transaction.atomic() if in_transaction else contextlib.nullcontext():
            if failing.startswith("a file row"):
                submit(["outputs/a.md", "outputs/a.md"], pod.pk)
            else:
                submit(["outputs/a.md"], pod.pk + 1000)
    assert (Promotion.objects.count(), FileChange.objects.count(), Event.objects.count()) == (0, 0, 0)
    submit(["outputs/a.md"], pod.pk)
    assert (Promotion.objects.count(), FileChange.objects.count(), Event.objects.count()) == (1, 1, 1)


def test_the_written_out_documents_are_what_drf_renders(api, repository, pod):
    document = api.post("/api/v1/promotions", BATCH, format="json").json()
    promotion = Promotion.objects.get(pk=document["id"])
    FileChange.objects.filter(promotion=promotion, path="outputs/a.md").update(
        status="conflict", old_sha="a" * 40, message="changed meanwhile"
    )
    Promotion.objects.filter(pk=promotion.pk).update(status="conflict", commit_url="https://example.com/c")
    for serializer_class in (PromotionSerializer, PromotionSummarySerializer):
        promotion = Promotion.objects.get(pk=promotion.pk)
        drf = serializers.ModelSerializer.to_representation(serializer_class(promotion), promotion)
        assert serializer_class(promotion).data == drf
    assert api.get(f"/api/v1/promotions/{promotion.pk}").json() == PromotionSerializer(promotion).data


def test_a_status_read_never_loads_file_contents(api, repository, django_assert_num_queries):
    content = base64.b64encode(os.urandom(MB)).decode()
    document = api.post(
        "/api/v1/promotions",
        {"commit_message": "big", "files": [{"path": "big.bin", "encoding": "base64", "content": content}]},
        format="json",
    ).json()
    key_and_throttle = 0 if shared_redis() else 2  # with Redis: the key remembered, the count there
    # the key, the throttle, the promotion with its repository, its files' outcomes
    with django_assert_num_queries(key_and_throttle + 2) as captured:
        response = api.get(f"/api/v1/promotions/{document['id']}")
    assert response.status_code == 200 and response.json()["results"][0]["path"] == "big.bin"
    assert not [q for q in captured.captured_queries if '"content"' in q["sql"] or "reasoning_trace" in q["sql"]]
    promotion = promotion_of(Promotion.objects.get(pk=document["id"]).pod, document["id"])
    assert promotion.get_deferred_fields() == {"reasoning_trace"}
    assert [f.get_deferred_fields() for f in promotion.result_rows] == [
        {"id", "content", "encoding", "base_given", "base_sha", "mode"}
    ]


def test_a_status_read_of_a_missing_or_huge_id_is_404(api):
    assert api.get("/api/v1/promotions/999999999").status_code == 404
    assert api.get(f"/api/v1/promotions/{2**70}").status_code == 404


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.django_db(transaction=True)
def test_a_large_promotion_is_held_at_most_three_times_its_size(settings, repository, pod, debug):
    """Python's own allocations while the web process handles the request, the body
    read from its input stream as gunicorn hands it over: as bytes, as text, as parsed,
    each file decoded once into the bytes its row stores. With DEBUG on, the INSERTs of
    the content are not kept in the query log."""
    settings.DEBUG = debug
    files = [
        {"path": f"outputs/big-{i}.bin", "encoding": "base64", "content": base64.b64encode(os.urandom(8 * MB)).decode()}
        for i in range(3)
    ]
    body = json.dumps({"commit_message": "big", "files": files}).encode()
    del files
    decoded = 24 * MB
    tracemalloc.start()
    try:
        status, answer = wsgi_post(body, pod.raw_key)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status.startswith("202"), answer
    assert peak < 3 * decoded, f"peak {peak / MB:.0f} MB for {decoded / MB:.0f} MB"
    assert sum(len(f.content) for f in FileChange.objects.filter(promotion_id=json.loads(answer)["id"])) == decoded


def wsgi_post(body: bytes, key: str) -> tuple[str, bytes]:
    """POST through Django's WSGI handler as a server calls it (the test client copies
    the body on its way)."""
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/api/v1/promotions",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/json",
        "HTTP_AUTHORIZATION": f"Bearer {key}",
    }
    started: list[str] = []
    answer = b"".join(WSGIHandler()(environ, lambda status, headers: started.append(status)))
    return started[0], answer


@pytest.mark.parametrize("prepared", [True, False])
@pytest.mark.django_db(transaction=True)
def test_the_hot_statements_are_prepared_once_per_connection_on_postgresql(api, settings, prepared):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's prepared statements")
    settings.PREPARED_STATEMENTS = prepared
    for _ in range(3):
        document = api.post("/api/v1/promotions", BATCH, format="json").json()
        assert api.get(f"/api/v1/promotions/{document['id']}").json()["status"] == "queued"
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        statements = [statement for (statement,) in cursor.fetchall()]
    tables = ["promotions_apikey", "promotions_promotion", "promotions_filechange"]
    inserts = [s for s in statements if s.startswith("WITH locked AS")]
    reads = [sum(f'FROM "{table}"' in s for s in statements) for table in tables]
    if prepared:
        assert len(inserts) == 1 and reads == [1, 1, 1]  # one each, however often they ran
    else:
        assert statements == []
