"""Retry is offered only where it can change the outcome: a file that changed since
the pod read it conflicts again on every retry (same base_sha, same content), so the
lead is told why instead; a conflict the branch alone can undo stays retryable."""

import pytest
from django.test import Client

from promotions.audit import IllegalTransition
from promotions.models import Promotion
from promotions.services.promotions import promotion_retry, retry_refusal
from tests.factories import PodFactory, RepositoryFactory
from tests.helpers import Target, apply, file, submit

pytestmark = pytest.mark.django_db

Status = Promotion.Status


@pytest.fixture
def repo():
    return RepositoryFactory(full_name="acme/retry")


@pytest.fixture
def writer(repo):
    return PodFactory(name="writer", repositories=[repo])


@pytest.fixture
def lead_client(lead):
    client = Client()
    client.force_login(lead)
    return client


@pytest.fixture
def stale(repo, writer):
    """A conflict: the pod edited notes.md from a version someone has changed since."""
    apply(submit(writer, repo, [file("notes.md", "1\n2\n3\n")]))
    base = Target(repo).sha_of("notes.md")
    Target(repo).commit_directly({"notes.md": b"1\n2 theirs\n3\n"})
    promotion = apply(submit(writer, repo, [file("notes.md", "1\n2 mine\n3\n", base_sha=base), file("ok.md", "ok\n")]))
    assert promotion.status == Status.CONFLICT
    return promotion


def test_a_stale_base_conflict_is_not_retried_and_says_why(stale, lead):
    with pytest.raises(IllegalTransition) as refused:
        promotion_retry(promotion=stale, acting_user=lead)

    assert "'notes.md' changed on the branch since the pod read it" in refused.value.detail
    assert "getFile" in refused.value.detail
    stale.refresh_from_db()
    assert stale.status == Status.CONFLICT and not stale.events.filter(from_status=Status.CONFLICT).exists()


def test_the_page_of_a_stale_conflict_explains_instead_of_offering_retry(stale, lead_client):
    page = lead_client.get(f"/admin/promotions/promotion/{stale.pk}/change/").content.decode()

    assert 'class="button pg-retry"' not in page
    assert 'class="help pg-no-retry"' in page and "would conflict again" in page


def test_the_bulk_retry_says_why_and_changes_nothing(stale, lead_client):
    response = lead_client.post(
        "/admin/promotions/promotion/", {"action": "retry_selected", "_selected_action": [stale.pk]}, follow=True
    )

    assert "would conflict again" in response.content.decode()
    stale.refresh_from_db()
    assert stale.status == Status.CONFLICT


def test_a_create_only_conflict_stays_retryable(repo, writer, lead, lead_client):
    Target(repo).commit_directly({"new.md": b"someone else's\n"})
    promotion = apply(submit(writer, repo, [file("new.md", "mine\n", base_sha=None)]))
    assert promotion.status == Status.CONFLICT and retry_refusal(promotion) is None

    page = lead_client.get(f"/admin/promotions/promotion/{promotion.pk}/change/").content.decode()
    assert 'class="button pg-retry"' in page and "pg-no-retry" not in page


def test_a_failed_promotion_stays_retryable(repo, writer, branches_deleted_after_submission):
    promotion = apply(submit(writer, repo, [file("a.md", "a\n")], branch="gone"))
    assert promotion.status == Status.FAILED and retry_refusal(promotion) is None
