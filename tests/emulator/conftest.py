"""Fixtures of the emulator's own tests: a repository in the emulator, plain HTTP to
it, and GitHub's OpenAPI description."""

import pytest

from tests.emulator.helpers import Api, client, github_openapi_description


@pytest.fixture
def widgets(github_emulator):
    """acme/widgets (branch main, one commit), through PyGithub."""
    github_emulator.create_repository("acme/widgets")
    return client(github_emulator).get_repo("acme/widgets")


@pytest.fixture
def api(github_emulator, widgets):
    return Api(github_emulator)


@pytest.fixture(scope="session")
def github_openapi() -> dict:
    return github_openapi_description()
