"""pytest fixtures of the GitHub emulator: one server for the session, reset for each test."""

import pytest

from github_emulator import GitHubEmulator
from github_emulator.graphql import SchemaUnavailable, github_schema
from github_emulator.limits import TRUNCATE_ENTRIES


@pytest.fixture(scope="session")
def github_emulator_server():
    emulator = GitHubEmulator().start()
    yield emulator
    emulator.stop()


@pytest.fixture
def github_emulator(github_emulator_server):
    """The session's emulator, with no repository, fault, latency, write limit or statistics left."""
    github_emulator_server.reset()
    github_emulator_server.set_latency(0)
    github_emulator_server.set_write_limits("")
    github_emulator_server.set_truncate_entries(TRUNCATE_ENTRIES)
    return github_emulator_server


@pytest.fixture(scope="session")
def github_graphql_schema():
    """GitHub's GraphQL schema, which the emulator's /graphql validates against (fetched
    with npm on first use); the test is skipped when it cannot be had."""
    try:
        return github_schema()
    except SchemaUnavailable as problem:
        pytest.skip(str(problem))
