"""The pod API, status code by status code, with the whole pipeline run inline."""

import base64
import subprocess

import pytest

from promotions.api.schema import SEED_BATCH
from promotions.models import Event, FileChange, Promotion
from promotions.scm.local import repository_path
from tests.factories import PodFactory, RepositoryFactory
from tests.helpers import client_for

# The schema's own example: what a GPT is shown is what the tests send.
SEED = SEED_BATCH.value


def git(repository, *args) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(repository_path(repository.full_name)), *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def with_content(batch, suffix):
    return {**batch, "files": [{**f, "content": f["content"] + suffix} for f in batch["files"]]}


def statuses(document):
    return [result["status"] for result in document["results"]]


pytestmark = pytest.mark.django_db(transaction=True)


def test_seed_batch_lands_as_one_commit_then_updates_then_nothing(api, repository, inline_worker):
    commits_before = int(git(repository, "rev-list", "--count", "main"))

    created = api.post("/api/v1/promotions", SEED, format="json")
    assert created.status_code == 202
    promotion = api.get(
        created.json()["status_url"].split("testserver")[-1].replace("http://127.0.0.1:8000", "")
    ).json()
    assert promotion["status"] == "committed"
    assert statuses(promotion) == ["created", "created", "created"]
    assert git(repository, "show", "main:outputs/data.json") == '{"ok": true}\n'
    assert int(git(repository, "rev-list", "--count", "main")) == commits_before + 1

    updated = api.post("/api/v1/promotions", {**with_content(SEED, "more\n"), "wait": 5}, format="json")
    assert updated.status_code == 200
    assert statuses(updated.json()) == ["updated", "updated", "updated"]
    assert int(git(repository, "rev-list", "--count", "main")) == commits_before + 2
    changed = git(repository, "show", "--name-only", "--format=", "main").split()
    assert sorted(changed) == sorted(f["path"] for f in SEED["files"])

    again = api.post("/api/v1/promotions", {**with_content(SEED, "more\n"), "wait": 5}, format="json")
    assert again.json()["status"] == "no_changes"
    assert statuses(again.json()) == ["unchanged", "unchanged", "unchanged"]
    assert int(git(repository, "rev-list", "--count", "main")) == commits_before + 2


def test_commit_message_carries_trace_and_trailers(api, repository, inline_worker):
    body = {**SEED, "reasoning_trace": "I summarised the data.", "metadata": {"task_id": "T-42"}, "wait": 5}
    document = api.post("/api/v1/promotions", body, format="json").json()
    message = git(repository, "log", "-1", "--format=%B", "main")
    assert message.startswith("Add task outputs\n\nI summarised the data.\n\n")
    assert f"Promotion-Id: {document['id']}\nPod: writer\nTask-Id: T-42" in message
    trailers = git(repository, "log", "-1", "--format=%(trailers:key=Promotion-Id,valueonly)", "main").strip()
    assert trailers == str(document["id"])


def test_response_of_202_lists_every_file_pending(api, repository):
    response = api.post("/api/v1/promotions", SEED, format="json")
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued"
    assert body["status_url"].endswith(f"/api/v1/promotions/{body['id']}")
    assert [(r["path"], r["status"]) for r in body["results"]] == [(f["path"], "pending") for f in SEED["files"]]
    assert FileChange.objects.filter(promotion_id=body["id"]).count() == 3
    assert list(Event.objects.filter(promotion_id=body["id"]).values_list("to_status", flat=True)) == [
        "pending",
        "queued",
    ]


def test_base64_content_is_committed_byte_for_byte(api, repository, inline_worker):
    data = bytes(range(256))
    body = {
        "commit_message": "binary",
        "wait": 5,
        "files": [{"path": "bin/blob.dat", "content": base64.b64encode(data).decode(), "encoding": "base64"}],
    }
    assert api.post("/api/v1/promotions", body, format="json").json()["status"] == "committed"
    raw = subprocess.run(
        ["git", "--git-dir", str(repository_path(repository.full_name)), "show", "main:bin/blob.dat"],
        capture_output=True,
        check=True,
    ).stdout
    assert raw == data


def test_delete_operation(api, repository, inline_worker):
    api.post("/api/v1/promotions", {**SEED, "wait": 5}, format="json")
    body = {
        "commit_message": "remove",
        "wait": 5,
        "files": [{"path": "outputs/data.json", "operation": "delete"}, {"path": "nope.txt", "operation": "delete"}],
    }
    document = api.post("/api/v1/promotions", body, format="json").json()
    assert statuses(document) == ["deleted", "unchanged"]
    assert "outputs/data.json" not in git(repository, "ls-tree", "-r", "--name-only", "main")


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda b: b.update(files=[]), "files"),
        (lambda b: b.pop("files"), "files"),
        (lambda b: b.pop("commit_message"), "commit_message"),
        (lambda b: b["files"].append(dict(b["files"][0])), "files"),
        (lambda b: b["files"][0].update(path=""), "files[0].path"),
        (lambda b: b["files"][0].update(path="/etc/passwd"), "files[0].path"),
        (lambda b: b["files"][0].update(path="a/../b"), "files[0].path"),
        (lambda b: b["files"][0].update(path="a/./b"), "files[0].path"),
        (lambda b: b["files"][0].update(path="a//b"), "files[0].path"),
        (lambda b: b["files"][0].update(path="a/"), "files[0].path"),
        (lambda b: b["files"][0].update(path=".git/config"), "files[0].path"),
        (lambda b: b["files"][0].update(path="x/.GIT/hooks"), "files[0].path"),
        (lambda b: b["files"][0].update(path="a\\b"), "files[0].path"),
        (lambda b: b["files"][0].update(path="a\x00b"), "files[0].path"),
        (lambda b: b["files"][0].update(path="a\nb"), "files[0].path"),
        (lambda b: b.update(branch="bad..branch"), "branch"),
        (lambda b: b.update(branch="feature/"), "branch"),
        (lambda b: b.update(branch="has space"), "branch"),
        (lambda b: b.update(branch="x.lock"), "branch"),
        (lambda b: b.update(branch="a@{b"), "branch"),
        (lambda b: b.update(branch="-x"), "branch"),
        (lambda b: b["files"][0].update(encoding="base64", content="%%%not base64"), "files[0].content"),
        (lambda b: b["files"][0].update(content=42), "files[0].content"),
        (lambda b: b["files"][0].update(content=None), "files[0].content"),
        (lambda b: b["files"][0].update(content=["x"]), "files[0].content"),
        (lambda b: b["files"][0].pop("content"), "files[0].content"),
        (lambda b: b["files"][0].update(base_sha="xyz"), "files[0].base_sha"),
        (lambda b: b["files"][0].update(encoding="latin-1"), "files[0].encoding"),
        (lambda b: b["files"][0].update(operation="rename"), "files[0].operation"),
        (lambda b: b.update(wait=31), "wait"),
        (lambda b: b.update(commit_message=7), "commit_message"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_stored(api, repository, mutate, field):
    body = {**SEED, "files": [dict(f) for f in SEED["files"]]}
    mutate(body)
    response = api.post("/api/v1/promotions", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()
    assert field in response.json()["detail"]
    assert Promotion.objects.count() == 0 and FileChange.objects.count() == 0


def test_non_object_body_is_400(api, repository):
    response = api.post("/api/v1/promotions", [1, 2], format="json")
    assert response.status_code == 400
    assert Promotion.objects.count() == 0


def test_no_key_and_wrong_key_are_401(repository, pod):
    from rest_framework.test import APIClient

    anonymous = APIClient().post("/api/v1/promotions", SEED, format="json")
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = APIClient()
    wrong.credentials(HTTP_AUTHORIZATION="Bearer pgk_not-a-key")
    assert wrong.post("/api/v1/promotions", SEED, format="json").status_code == 401
    assert Promotion.objects.count() == 0


def test_repository_not_granted_is_403(api, repository):
    RepositoryFactory(full_name="other/repo")
    for name in ("other/repo", "does/not-exist"):
        response = api.post("/api/v1/promotions", {**SEED, "repository": name}, format="json")
        assert response.status_code == 403
        assert name in response.json()["detail"]
    assert Promotion.objects.count() == 0


def test_repository_required_when_pod_has_several(repository):
    second = RepositoryFactory(full_name="demo/second")
    pod = PodFactory(name="multi", repositories=[repository, second])
    response = client_for(pod).post("/api/v1/promotions", SEED, format="json")
    assert response.status_code == 400
    assert "repository" in response.json()["errors"]
    ok = client_for(pod).post("/api/v1/promotions", {**SEED, "repository": "demo/second"}, format="json")
    assert ok.status_code == 202


def test_get_promotion_and_list_are_the_pods_own(api, repository):
    mine = api.post("/api/v1/promotions", SEED, format="json").json()
    other = PodFactory(name="other", repositories=[repository])
    theirs = client_for(other).post("/api/v1/promotions", SEED, format="json").json()

    assert api.get(f"/api/v1/promotions/{mine['id']}").status_code == 200
    assert api.get(f"/api/v1/promotions/{theirs['id']}").status_code == 404
    assert api.get("/api/v1/promotions/999999").status_code == 404
    listed = api.get("/api/v1/promotions").json()
    assert [p["id"] for p in listed["results"]] == [mine["id"]]
    assert api.get("/api/v1/promotions?status=queued").json()["count"] == 1
    assert api.get("/api/v1/promotions?status=committed").json()["count"] == 0
    assert api.get("/api/v1/promotions?status=bogus").status_code == 400


def test_list_is_newest_first_and_paginated(api, repository):
    ids = [
        api.post("/api/v1/promotions", {**SEED, "commit_message": f"m{i}"}, format="json").json()["id"]
        for i in range(3)
    ]
    page = api.get("/api/v1/promotions?limit=2").json()
    assert page["count"] == 3
    assert [p["id"] for p in page["results"]] == ids[::-1][:2]
    assert page["next"]


def test_get_file_returns_content_and_sha(api, repository, inline_worker):
    api.post("/api/v1/promotions", {**SEED, "wait": 5}, format="json")
    response = api.get("/api/v1/files", {"path": "outputs/summary.md"})
    assert response.status_code == 200
    body = response.json()
    assert body["content"] == "# Summary\n"
    assert body["sha"] == git(repository, "rev-parse", "main:outputs/summary.md").strip()
    assert api.get("/api/v1/files", {"path": "missing.txt"}).status_code == 404
    assert api.get("/api/v1/files", {"path": "outputs/summary.md", "branch": "nope"}).status_code == 404
    assert api.get("/api/v1/files", {"path": "../x"}).status_code == 400
    assert api.get("/api/v1/files", {"path": "x", "repository": "other/x"}).status_code == 403


def test_healthz(client, db):
    assert client.get("/healthz").json() == {"status": "ok", "database": "up"}


# --- content negotiation (api.negotiation): the short way answers as DRF's own would ---


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", " application/json "])
def test_a_plain_accept_gets_json(api, accept):
    headers = {"HTTP_ACCEPT": accept} if accept is not None else {}
    response = api.get("/api/v1/promotions", **headers)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json()["results"] == []


@pytest.mark.parametrize("accept", ["text/html", "application/xml", "text/csv"])
def test_an_accept_without_json_is_refused_406(api, accept):
    response = api.get("/api/v1/promotions", HTTP_ACCEPT=accept)
    assert response.status_code == 406
    assert "Could not satisfy the request Accept header" in response.json()["detail"]


def test_an_accept_with_parameters_or_preferences_is_negotiated(api):
    response = api.get("/api/v1/promotions", HTTP_ACCEPT="text/html;q=1, application/json;q=0.5")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
