"""Fixtures every test module may use; helpers (plain functions) are in tests/helpers.py,
fixtures of the emulator and the browser in tests/plugins/."""

import pytest
from django_q.conf import Conf

from promotions.conf import forget_shared
from promotions.models import FileChange, Promotion, Repository
from promotions.scm.github import budget
from promotions.scm.github.ahead import forget_tips
from promotions.scm.github.paths import forget_rules
from promotions.scm.github.refs import forget_repository_id
from promotions.services.branches import forget_branches
from tests.factories import PodFactory, RepositoryFactory
from tests.helpers import GITHUB_TOKEN, LEAD_PASSWORD, LEAD_USERNAME, TARGETS, client_for, day, promoted, target_on

pytest_plugins: list[str] = ["tests.plugins.browser", "tests.plugins.cluster", "tests.plugins.emulator"]


@pytest.fixture(autouse=True)
def nothing_shared_left_over():
    """With Redis configured, GitHub write budgets live there and outlive a test (as
    they must outlive a process): every test starts with none spent, and with no
    branch seen (the repositories are made again)."""
    forget_shared(budget.REDIS_PREFIX)
    forget_branches()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """MD5 in tests: the suite creates many users, and PBKDF2 is slow by design."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


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


@pytest.fixture
def api(pod):
    return client_for(pod)


@pytest.fixture
def github(settings, github_emulator):
    """The github backend pointed at a fresh emulator (real HTTP through PyGithub)."""
    settings.GITHUB_API_URL = github_emulator.url
    settings.GITHUB_WEB_URL = f"{github_emulator.url}/_web"
    settings.GITHUB_TOKEN = GITHUB_TOKEN
    # The emulator limits no writes unless a test sets one: nor does Patchgate's budget then.
    settings.GITHUB_WRITE_LIMITS = "off"
    forget_rules()  # the emulator was reset: no branch rule of an earlier test holds
    forget_repository_id()  # nor any repository's node id
    forget_tips()  # nor any branch's tip
    return github_emulator


@pytest.fixture
def widgets(github):
    """A GitHub repository on the REST path (`auto` adds a rules read per branch a minute: test_commit_paths)."""
    github.create_repository("acme/widgets")
    return RepositoryFactory(full_name="acme/widgets", backend=Repository.Backend.GITHUB, commit_path="rest")


@pytest.fixture
def writer(widgets):
    return PodFactory(name="writer", repositories=[widgets])


@pytest.fixture(params=TARGETS)
def target(request, db):
    """A fresh repository on each backend, for the contract tests."""
    return target_on(request, request.param, "acme/contract")


@pytest.fixture
def branches_deleted_after_submission(monkeypatch):
    """Submission finds every branch (as if deleted after the pod submitted): the worker
    then meets a missing branch, and the promotion fails."""
    monkeypatch.setattr("promotions.services.promotions.missing_branch_errors", lambda *args: {})


@pytest.fixture
def lead(db, django_user_model):
    """The human lead: a staff superuser."""
    return django_user_model.objects.create_superuser(LEAD_USERNAME, "ada@example.com", LEAD_PASSWORD)


@pytest.fixture
def activity(db):
    """alpha: 4 commits taking 10, 20, 60, 100 s (7 files changed), a conflict, a
    failure, one waiting for approval. beta: a commit (2 files), no changes, one
    queued, and a commit 40 days ago. gamma: nothing."""
    Status, FileStatus = Promotion.Status, FileChange.Status
    app, docs = RepositoryFactory(full_name="acme/app"), RepositoryFactory(full_name="acme/docs")
    alpha, beta = PodFactory(name="alpha", repositories=[app, docs]), PodFactory(name="beta", repositories=[app])
    PodFactory(name="gamma", repositories=[app])
    for seconds in (60, 10, 20):
        promoted(
            alpha,
            app,
            Status.COMMITTED,
            day(2),
            seconds,
            [FileStatus.CREATED, FileStatus.UPDATED, FileStatus.UNCHANGED],
        )
    promoted(alpha, app, Status.CONFLICT, day(2), 5, [FileStatus.CONFLICT, FileStatus.SKIPPED])
    promoted(alpha, docs, Status.FAILED, day(3), 7, [FileStatus.ERROR])
    promoted(alpha, docs, Status.AWAITING_APPROVAL, day(1, 9), None, [FileStatus.PENDING])
    promoted(alpha, docs, Status.COMMITTED, day(1, 10), 100, [FileStatus.DELETED])
    promoted(beta, app, Status.COMMITTED, day(5), 5, [FileStatus.MERGED, FileStatus.DELETED])
    promoted(beta, app, Status.NO_CHANGES, day(5), 3, [FileStatus.UNCHANGED])
    promoted(beta, app, Status.QUEUED, day(0, 0))
    promoted(beta, app, Status.COMMITTED, day(40), 30, [FileStatus.CREATED])
    return {"app": app, "docs": docs, "alpha": alpha, "beta": beta}
