"""schemathesis against the WSGI app, with a valid pod key: whatever it sends, no
5xx, and every answer (status, content type, body) is one the schema documents."""

import pytest
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis import openapi
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from config.wsgi import application
from tests.factories import PodFactory, RepositoryFactory

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]

schema = openapi.from_wsgi("/api/schema/?format=json", application)


@pytest.fixture
def wsgi_keeps_test_connection():
    """As Django's test client does: the WSGI handler would close the test database."""
    for signal in (signals.request_started, signals.request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (signals.request_started, signals.request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def fuzz_pod(db, wsgi_keeps_test_connection):
    repository = RepositoryFactory(full_name="demo/sandbox")
    # A rate the fuzzer stays under: throttling has its own tests.
    return PodFactory(name="fuzzer", repositories=[repository], throttle_rate="100000/min")


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_answers_as_documented(case, fuzz_pod):
    if isinstance(case.body, dict) and isinstance(case.body.get("wait"), int):
        case.body["wait"] = 0  # real seconds; with no worker running, each would be waited in full
    case.call_and_validate(headers={"Authorization": f"Bearer {fuzz_pod.raw_key}"}, checks=CHECKS)
