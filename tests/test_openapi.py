"""The schema a custom GPT's Actions editor imports as it is, and the committed
openapi.json kept equal to it."""

import json
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

# The public URL openapi.json is generated with (`make openapi`).
DOCUMENTED_PUBLIC_URL = "https://patchgate.example.com"
COMMITTED = Path(__file__).resolve().parent.parent / "openapi.json"
CAMEL_CASE = re.compile(r"[a-z]+(?:[A-Z][a-z0-9]*)*")
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


@pytest.fixture
def document(client, settings):
    settings.PUBLIC_URL = "https://gpt.example.org"
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


def texts(node, key):
    """Every `key` string anywhere in the document."""
    if isinstance(node, dict):
        for name, value in node.items():
            if name == key and isinstance(value, str):
                yield value
            else:
                yield from texts(value, key)
    elif isinstance(node, list):
        for item in node:
            yield from texts(item, key)


def test_the_schema_is_valid_openapi_3_1(document):
    validate(document, cls=OpenAPIV31SpecValidator)
    assert re.fullmatch(r"3\.1\.\d+", document["openapi"])


def test_servers_is_the_public_url(document):
    assert document["servers"] == [{"url": "https://gpt.example.org"}]


def test_only_the_pod_operations_with_short_camel_case_ids(document):
    found = {operation["operationId"]: (method, path) for path, method, operation in operations(document)}
    assert found == {
        "createPromotion": ("post", "/api/v1/promotions"),
        "listPromotions": ("get", "/api/v1/promotions"),
        "getPromotion": ("get", "/api/v1/promotions/{promotion_id}"),
        "getFile": ("get", "/api/v1/files"),
        "getFiles": ("post", "/api/v1/files/read"),
    }
    assert len(found) <= 30
    assert all(CAMEL_CASE.fullmatch(operation_id) and len(operation_id) <= 30 for operation_id in found)
    assert not any("report" in path or "admin" in path or "schema" in path for path in document["paths"])


def test_every_operation_says_when_to_call_it_in_under_300_characters(document):
    for _, _, operation in operations(document):
        assert operation["summary"] and operation["description"].startswith("Call this")
    for text in [*texts(document, "description"), *texts(document, "summary")]:
        assert len(text) < 300, text


def test_bearer_security_on_every_operation(document):
    assert document["components"]["securitySchemes"] == {
        "podKey": {
            "type": "http",
            "scheme": "bearer",
            "description": "The pod's API key (pgk_...), given once by a lead.",
        }
    }
    for _, _, operation in operations(document):
        assert operation["security"] == [{"podKey": []}]
        assert "401" in operation["responses"]
        assert "429" in operation["responses"]


def test_reads_are_not_consequential(document):
    for _, method, operation in operations(document):
        if method == "get" or operation["operationId"] == "getFiles":  # a read with its paths in a body
            assert operation["x-openai-isConsequential"] is False
        else:
            assert "x-openai-isConsequential" not in operation


def test_the_seed_batch_and_responses_are_examples(document):
    create = document["paths"]["/api/v1/promotions"]["post"]
    request_examples = create["requestBody"]["content"]["application/json"]["examples"]
    seed = request_examples["SeedBatch"]["value"]
    assert seed["branch"] == "main" and seed["commit_message"] and seed["files"][0]["path"]
    assert "examples" in create["responses"]["202"]["content"]["application/json"]
    assert "examples" in create["responses"]["403"]["content"]["application/json"]


def test_limits_are_documented(document):
    create = document["paths"]["/api/v1/promotions"]["post"]
    assert "500 files" in create["description"]
    assert {"400", "403", "413", "422"} <= set(create["responses"])
    assert "10 MB in one file" in create["responses"]["413"]["description"]
    assert "50 MB in all" in create["responses"]["413"]["description"]
    assert "120/min" in create["responses"]["429"]["description"]


def test_committed_openapi_json_is_the_generated_one(settings, tmp_path):
    settings.PUBLIC_URL = DOCUMENTED_PUBLIC_URL
    generated = tmp_path / "openapi.json"
    call_command("spectacular", "--format", "openapi-json", "--file", str(generated))
    assert COMMITTED.exists(), "openapi.json is missing: run `make openapi` and commit it"
    assert json.loads(COMMITTED.read_text()) == json.loads(generated.read_text()), (
        "openapi.json differs from the API: run `make openapi` and commit openapi.json"
    )
