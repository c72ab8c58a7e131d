"""Through the API, with a real multi-worker django-q2 cluster process."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from promotions.engine.messages import promotion_ids_in
from promotions.merge import blob_sha
from promotions.models import Promotion
from tests.factories import PodFactory, RepositoryFactory
from tests.helpers import BACKENDS, Target, client_for, target_on, wait_until_final

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
Status = Promotion.Status


def post(pod, body, **headers):
    try:
        return client_for(pod).post("/api/v1/promotions", body, format="json", **headers)
    finally:
        connection.close()  # each thread has its own connection


def test_seed_batch_lands_through_the_worker(worker_cluster):
    repository = RepositoryFactory(full_name="demo/sandbox")
    pod = PodFactory(name="seed", repositories=[repository])
    body = {
        "branch": "main",
        "commit_message": "Add task outputs",
        "files": [
            {"path": "outputs/summary.md", "content": "# Summary\n"},
            {"path": "reasoning_trace.md", "content": "Why.\n"},
        ],
    }
    response = post(pod, body)
    assert response.status_code == 202
    [promotion] = wait_until_final([response.json()["id"]])
    assert promotion.status == Status.COMMITTED
    assert Target(repository).read("outputs/summary.md") == b"# Summary\n"
    assert Target(repository).head() == promotion.commit_sha


@pytest.fixture(params=BACKENDS)
def race_target(request) -> Target:
    """Set up before the cluster, so that its workers see the emulator's address."""
    return target_on(request, request.param, "acme/race")


def test_racing_pods_lose_nothing_and_match_a_serial_replay(race_target, worker_cluster):
    target = race_target
    repository = target.repository
    initial = target.head()
    pods = [PodFactory(name=f"racer-{i}", repositories=[repository]) for i in range(50)]
    # Each pod writes its own file and one of five shared files, twice, with no base.

    def two_promotions(index_and_pod):
        """A pod sends its second promotion once the first is accepted."""
        i, pod = index_and_pod
        return [
            post(
                pod,
                {
                    "commit_message": f"{pod.name} #{n}",
                    "files": [
                        {"path": f"own/{pod.name}.txt", "content": f"{pod.name} {n}\n"},
                        {"path": f"shared/{i % 5}.txt", "content": f"{pod.name} {n}\n"},
                    ],
                },
            )
            for n in range(2)
        ]

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = [r for pair in pool.map(two_promotions, enumerate(pods)) for r in pair]
    assert {r.status_code for r in responses} == {202}
    promotions = wait_until_final([r.json()["id"] for r in responses], timeout=240)
    assert {p.status for p in promotions} <= {Status.COMMITTED, Status.CONFLICT, Status.NO_CHANGES}
    committed = {p.pk: p for p in promotions if p.status == Status.COMMITTED}

    history = list(reversed([c for c in target.commits(limit=500)]))
    history = history[[c.sha for c in history].index(initial) + 1 :]
    ids_in_history = [next(iter(promotion_ids_in(c.message))) for c in history]
    assert sorted(ids_in_history) == sorted(committed), "a commit is lost or doubled"
    assert all(committed[pk].commit_sha == c.sha for pk, c in zip(ids_in_history, history, strict=True))

    # Replaying the committed promotions in branch order gives the branch's tree.
    expected = {}
    for pk in ids_in_history:
        for change in committed[pk].files.all():
            if change.status in ("created", "updated", "merged"):
                expected[change.path] = change.new_sha
    for path, sha in expected.items():
        assert target.sha_of(path) == sha, path
    # Submission order: what a pod sent after an accepted promotion lands after it.
    position = {pk: index for index, pk in enumerate(ids_in_history)}
    for first, second in zip(responses[::2], responses[1::2], strict=True):
        first_id, second_id = first.json()["id"], second.json()["id"]
        if first_id in position and second_id in position:
            assert position[first_id] < position[second_id]


def test_same_lines_from_the_same_read_one_wins_nine_conflict(worker_cluster):
    repository = RepositoryFactory(full_name="acme/hot")
    target = Target(repository)
    target.commit_directly({"plan.md": b"title\nstep one\nstep two\n"})
    base = target.sha_of("plan.md")
    pods = [PodFactory(name=f"editor-{i}", repositories=[repository]) for i in range(10)]
    bodies = [
        (
            pod,
            {
                "commit_message": f"edit by {pod.name}",
                "files": [
                    {"path": "plan.md", "content": f"title\nstep one by {pod.name}\nstep two\n", "base_sha": base}
                ],
            },
        )
        for pod in pods
    ]
    with ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(lambda pb: post(*pb), bodies))
    promotions = wait_until_final([r.json()["id"] for r in responses])
    statuses = sorted(p.status for p in promotions)
    assert statuses == [Status.COMMITTED] + [Status.CONFLICT] * 9
    winner = next(p for p in promotions if p.status == Status.COMMITTED)
    assert target.read("plan.md") == f"title\nstep one by {winner.pod.name}\nstep two\n".encode()
    assert len([c for c in target.commits() if promotion_ids_in(c.message)]) == 1


def test_different_lines_from_the_same_read_both_land(worker_cluster):
    repository = RepositoryFactory(full_name="acme/merge")
    target = Target(repository)
    original = "".join(f"line {i}\n" for i in range(10))
    target.commit_directly({"doc.txt": original.encode()})
    base = target.sha_of("doc.txt")
    first, second = (PodFactory(name=n, repositories=[repository]) for n in ("top", "bottom"))
    a = post(
        first,
        {
            "commit_message": "top",
            "files": [{"path": "doc.txt", "content": original.replace("line 1\n", "line 1 top\n"), "base_sha": base}],
        },
    )
    b = post(
        second,
        {
            "commit_message": "bottom",
            "files": [
                {"path": "doc.txt", "content": original.replace("line 8\n", "line 8 bottom\n"), "base_sha": base}
            ],
        },
    )
    one, two = wait_until_final([a.json()["id"], b.json()["id"]])
    assert (one.status, two.status) == (Status.COMMITTED, Status.COMMITTED)
    assert [f.status for f in two.files.all()] == ["merged"]
    merged = original.replace("line 1\n", "line 1 top\n").replace("line 8\n", "line 8 bottom\n")
    assert target.read("doc.txt") == merged.encode()
    assert two.files.get().new_sha == blob_sha(merged.encode())


def test_idempotent_replays_add_nothing(worker_cluster):
    repository = RepositoryFactory(full_name="acme/idem")
    pod = PodFactory(name="careful", repositories=[repository])
    body = {"commit_message": "once", "files": [{"path": "once.txt", "content": "1\n"}]}
    first = post(pod, body, HTTP_IDEMPOTENCY_KEY="task-7")
    [promotion] = wait_until_final([first.json()["id"]])
    head = Target(repository).head()
    replays = [post(pod, body, HTTP_IDEMPOTENCY_KEY="task-7") for _ in range(3)]
    assert {r.json()["id"] for r in replays} == {promotion.pk}
    assert {r.status_code for r in replays} == {200}
    assert replays[0].headers["Idempotent-Replayed"] == "true"
    different = post(pod, {**body, "commit_message": "twice"}, HTTP_IDEMPOTENCY_KEY="task-7")
    assert different.status_code == 422
    assert Promotion.objects.count() == 1 and Target(repository).head() == head
