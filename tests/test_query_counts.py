"""Pinned query counts of the pages and API answers that list things: they must not
grow with the number of promotions, files or pods shown (no query per row); and of a
landing, whose queries grow only with the status changes of its promotions."""

import pytest
from django.db import connection
from django.test import Client

from promotions import throttling
from promotions.engine.lanes import drain_lane
from promotions.models import Promotion
from tests.factories import FileChangeFactory, PodFactory, PromotionFactory
from tests.helpers import client_for, file, key_queries, submit

pytestmark = pytest.mark.django_db
Status = Promotion.Status


@pytest.fixture(autouse=True)
def throttle_outside_the_database(monkeypatch):
    """The same counts on every backend: the throttle counts in Redis when there is one,
    else in the database (one query); here in memory."""
    counts: dict[tuple[str, int], int] = {}

    def in_memory(slot, *, undo):
        counts[slot.key, slot.number] = counts.get((slot.key, slot.number), 0) + (-1 if undo else 1)
        return counts[slot.key, slot.number], counts.get((slot.key, slot.number - 1), 0)

    monkeypatch.setattr(throttling, "_store", lambda: in_memory)


@pytest.fixture
def busy_pod(repository):
    """A pod with several promotions of several files each, in several statuses."""
    pod = PodFactory(name="busy", repositories=[repository])
    for number, status in enumerate([Status.COMMITTED, Status.CONFLICT, Status.QUEUED, Status.FAILED] * 3):
        promotion = PromotionFactory(pod=pod, repository=repository, status=status)
        for index in range(number % 4 + 1):
            FileChangeFactory(promotion=promotion, path=f"outputs/{number}/{index}.md")
    return pod


@pytest.fixture
def lead_client(lead):
    client = Client()
    client.force_login(lead)
    return client


def test_the_promotion_list_costs_the_same_few_queries_whatever_it_holds(busy_pod, django_assert_num_queries):
    api = client_for(busy_pod)
    api.get("/api/v1/promotions?limit=1")  # the key's last use is noted at most once a minute
    # the key (remembered with Redis: promotions.auth), the count, the page
    with django_assert_num_queries(key_queries() + 2):
        response = api.get("/api/v1/promotions?limit=50")
    assert response.status_code == 200 and response.json()["count"] == 12


def test_a_promotion_document_costs_the_same_few_queries_whatever_its_files(busy_pod, django_assert_num_queries):
    api = client_for(busy_pod)
    promotion = busy_pod.promotions.order_by("-id").first()
    assert promotion.files.count() == 4
    api.get(f"/api/v1/promotions/{promotion.pk}")  # the key's last use is noted at most once a minute
    # the key (remembered with Redis), the promotion, its files
    with django_assert_num_queries(key_queries() + 2):
        response = api.get(f"/api/v1/promotions/{promotion.pk}")
    assert response.status_code == 200 and len(response.json()["results"]) == 4


def test_the_admin_promotion_list_costs_no_query_per_row(busy_pod, lead_client, django_assert_max_num_queries):
    with django_assert_max_num_queries(12):
        response = lead_client.get("/admin/promotions/promotion/")
    assert response.status_code == 200 and response.context["cl"].result_count == 12


@pytest.mark.parametrize("url", ["/api/v1/reports/pods", "/api/v1/reports/repositories", "/api/v1/reports/days"])
def test_the_reports_cost_a_fixed_number_of_queries(activity, lead_client, url, django_assert_max_num_queries):
    with django_assert_max_num_queries(8):
        response = lead_client.get(url)
    assert response.status_code == 200 and response.json()["results"]


def test_the_pod_activity_page_costs_a_fixed_number_of_queries(activity, lead_client, django_assert_max_num_queries):
    with django_assert_max_num_queries(12):
        response = lead_client.get("/admin/reports/pods/")
    assert response.status_code == 200 and len(response.context["rows"]) == 2


def landing_queries(promotions: int) -> int:
    """Taking the lane with its waiting promotions (on PostgreSQL one statement), the
    train's size in bytes (two or more), its files, its outcomes, the next (empty)
    read, giving the lane back and a last look for work; and two status changes per
    promotion. On PostgreSQL the outcomes and each status change are one statement;
    elsewhere each is a savepoint around its statements (here, inside the test's
    transaction: the lease, the files, the sent mark; the UPDATE and the event)."""
    postgresql = connection.vendor == "postgresql"
    per_change = 1 if postgresql else 4
    outcomes = 1 if postgresql else 5
    taking = 1 if postgresql else 2
    return 4 + taking + (promotions > 1) + outcomes + 2 * per_change * promotions


@pytest.mark.parametrize("size", [1, 3])
def test_landing_a_train_costs_a_few_queries_and_two_per_promotion(pod, repository, size, django_assert_num_queries):
    drain_lane(repository.pk, "main")  # the lane's row exists from its first drain on
    train = [
        submit(pod, repository, [file(f"outputs/{n}.md", f"{n}\n"), file(f"outputs/{n}.txt", "x")]) for n in range(size)
    ]
    with django_assert_num_queries(landing_queries(size)):
        drain_lane(repository.pk, "main")
    assert {Promotion.objects.get(pk=p.pk).status for p in train} == {Status.COMMITTED}
