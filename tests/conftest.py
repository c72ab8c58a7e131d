import pytest
from django_q.conf import Conf
from rest_framework.test import APIClient

from tests.factories import PodFactory, RepositoryFactory

# Fixture modules of the emulator and the browser tests; one line each.
pytest_plugins: list[str] = ["tests.browser_fixtures", "tests.fakegithub.fixtures"]

GITHUB_TOKEN = "ghp_emulatedTokenNeverShown0123456789"


@pytest.fixture(autouse=True)
def local_repos_dir(settings, tmp_path):
    """Every test gets its own folder of local bare repositories."""
    settings.LOCAL_REPOS_DIR = tmp_path / "repos"
    return settings.LOCAL_REPOS_DIR


@pytest.fixture
def inline_worker(monkeypatch):
    """django-q2 runs tasks in the calling thread: the whole pipeline inline.
    Needs a transactional test (enqueueing happens on commit)."""
    monkeypatch.setattr(Conf, "SYNC", True)


@pytest.fixture
def repository(db):
    return RepositoryFactory(full_name="demo/sandbox")


@pytest.fixture
def pod(repository):
    return PodFactory(name="writer", repositories=[repository])


def client_for(pod) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {pod.raw_key}")
    return client


@pytest.fixture
def api(pod):
    return client_for(pod)


@pytest.fixture
def github(settings, github_emulator):
    """The github backend pointed at a fresh emulator (real HTTP through PyGithub)."""
    settings.GITHUB_API_URL = github_emulator.url
    settings.GITHUB_WEB_URL = f"{github_emulator.url}/_web"
    settings.GITHUB_TOKEN = GITHUB_TOKEN
    return github_emulator


BACKENDS = ["local", "github"]


def target_on(request, backend: str, full_name: str):
    """A fresh registered repository on `backend` (created in the emulator for github)."""
    from tests.scm_targets import Target

    if backend == "github":
        request.getfixturevalue("github").create_repository(full_name)
    return Target(RepositoryFactory(full_name=full_name, backend=backend))


@pytest.fixture(params=BACKENDS)
def target(request, db):
    """A fresh repository on each backend, for the contract tests."""
    return target_on(request, request.param, "acme/contract")
