"""Recovery with real worker processes: a `qcluster` process group killed with kill -9
while it holds a lane is taken over within seconds (a short lease, renewed by a
heartbeat while its holder lives), a retry runs when it is due rather than on
django-q2's 30-second scheduler tick, and a lane whose task was lost is woken by the
lane clock of any live worker."""

import os
import signal
import subprocess
import sys
import time

import pytest
from django.conf import settings

from promotions.models import BranchLane, Promotion
from tests.factories import PodFactory
from tests.helpers import client_for, database_url, target_on, wait_until_final

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
Status = Promotion.Status
LEASE_SECONDS = 2


def start_cluster(local_repos_dir, log_path) -> subprocess.Popen:
    """`manage.py qcluster` (one worker) in a process group of its own, so that kill -9
    takes the sentinel, its workers, monitor and pusher at once, as a machine dying would."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "LOCAL_REPOS_DIR": str(local_repos_dir),
        "Q_WORKERS": "1",
        "RETRY_BASE_SECONDS": "0.5",
        "LANE_LEASE_SECONDS": str(LEASE_SECONDS),
        "LOG_LEVEL": "WARNING",
        "GITHUB_API_URL": settings.GITHUB_API_URL,
        "GITHUB_WEB_URL": settings.GITHUB_WEB_URL,
        "GITHUB_TOKEN": settings.GITHUB_TOKEN,
        "GITHUB_WRITE_LIMITS": settings.GITHUB_WRITE_LIMITS,
        "GITHUB_TIMEOUT_SECONDS": "60",
    }
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@pytest.fixture
def clusters(local_repos_dir, tmp_path):
    started: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        started.append(start_cluster(local_repos_dir, tmp_path / "qcluster.log"))
        return started[-1]

    yield start
    for process in started:
        if process.poll() is None:
            process.terminate()  # the sentinel stops its own workers
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
    print((tmp_path / "qcluster.log").read_text()[-3000:])


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout}s")


def promote(pod, path: str) -> int:
    response = client_for(pod).post(
        "/api/v1/promotions", {"commit_message": path, "files": [{"path": path, "content": f"{path}\n"}]}, format="json"
    )
    assert response.status_code == 202, response.json()
    return response.json()["id"]


@pytest.fixture
def widgets(request, github):
    return target_on(request, "github", "acme/recovery")


def test_a_worker_group_killed_with_kill_9_is_taken_over_within_seconds(widgets, github, clusters):
    github.inject({"kind": "hang", "seconds": 60, "method": "POST", "path": "/git/trees$"})
    pod = PodFactory(name="survivor", repositories=[widgets.repository])
    doomed = clusters()
    promotion_id = promote(pod, "a.txt")
    holder = wait_for(
        lambda: BranchLane.objects.filter(repository=widgets.repository).exclude(lease_owner="").first(),
        30,
        "a worker holds the lane",
    )
    wait_for(lambda: Promotion.objects.get(pk=promotion_id).status == Status.APPLYING, 10, "applying")
    time.sleep(LEASE_SECONDS * 2)
    assert BranchLane.objects.get(pk=holder.pk).lease_owner == holder.lease_owner, "a live holder keeps its lane"

    os.killpg(doomed.pid, signal.SIGKILL)
    doomed.wait()
    killed_at = time.monotonic()
    clusters()
    [promotion] = wait_until_final([promotion_id], timeout=60)
    took = time.monotonic() - killed_at
    assert promotion.status == Status.COMMITTED and widgets.head() == promotion.commit_sha
    assert took < LEASE_SECONDS + 10, f"taken over after {took:.1f}s"
    assert promotion.transient_errors == 0 and promotion.attempts == 2


def test_a_retry_runs_when_it_is_due(widgets, github, clusters):
    github.inject({"kind": "status", "status": 502, "method": "POST", "path": "/git/commits$"})
    pod = PodFactory(name="retried", repositories=[widgets.repository])
    clusters()
    started = time.monotonic()
    [promotion] = wait_until_final([promote(pod, "b.txt")], timeout=60)
    took = time.monotonic() - started
    assert promotion.status == Status.COMMITTED and promotion.transient_errors == 1
    assert took < 10, f"retried after {took:.1f}s; the backoff was 0.5s"


def test_a_lane_whose_task_was_lost_is_woken_by_the_lane_clock(request, clusters, monkeypatch):
    local = target_on(request, "local", "acme/lost-task")
    pod = PodFactory(name="forgotten", repositories=[local.repository])
    clusters()
    monkeypatch.setattr("promotions.services.promotions.wake_lane", lambda repository_id, branch: None)
    started = time.monotonic()
    [promotion] = wait_until_final([promote(pod, "c.txt")], timeout=60)
    assert promotion.status == Status.COMMITTED
    assert time.monotonic() - started < 10
