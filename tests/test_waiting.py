"""`"wait": N` answers when the promotion settles, not on a timer, and never holds the
threads other requests need: waiting requests are capped per pod and per web process,
and beyond the cap a request answers 202 with its status_url at once."""

import json
import os
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest
from django.conf import settings as django_settings
from django.db import connection, connections

from promotions.audit import Actor, transition
from promotions.management.commands.serve import web_command
from promotions.models import Promotion
from promotions.selectors import promotion_wait
from promotions.settling import POLL_SECONDS, wait_slot
from tests.helpers import database_url, file, submit


@pytest.fixture
def caps(settings):
    settings.PATCHGATE = {**settings.PATCHGATE, "MAX_WAITING_REQUESTS": 3, "MAX_WAITING_PER_POD": 2}


def test_waiting_slots_are_capped_per_pod_and_per_process(caps):
    with wait_slot(1) as first, wait_slot(1) as second, wait_slot(1) as third:
        assert (first, second, third) == (True, True, False)
        with wait_slot(2) as other_pod, wait_slot(3) as beyond_all:
            assert (other_pod, beyond_all) == (True, False)
    with wait_slot(1) as again:
        assert again  # every slot was given back


@pytest.mark.django_db(transaction=True)
def test_a_wait_ends_as_the_promotion_settles_not_on_a_tick(pod, repository):
    promotion = submit(pod, repository, [file("outputs/a.md", "a\n")])
    settled_at: list[float] = []

    def worker():
        time.sleep(0.3)
        moving = Promotion.objects.get(pk=promotion.pk)
        transition(moving, Promotion.Status.APPLYING, Actor.system("test"))
        transition(moving, Promotion.Status.COMMITTED, Actor.system("test"))
        settled_at.append(time.monotonic())
        connections.close_all()

    thread = threading.Thread(target=worker)
    thread.start()
    waited = promotion_wait(promotion=promotion, seconds=10)
    returned_at = time.monotonic()
    thread.join()
    assert waited.status == Promotion.Status.COMMITTED
    # PostgreSQL wakes the request with a NOTIFY; other databases poll every POLL_SECONDS.
    late = 0.1 if connection.vendor == "postgresql" else POLL_SECONDS + 0.1
    assert returned_at - settled_at[0] < late


@pytest.mark.django_db(transaction=True)
def test_a_request_without_a_waiting_slot_answers_202_at_once(api, settings):
    settings.PATCHGATE = {**settings.PATCHGATE, "MAX_WAITING_PER_POD": 0}
    started = time.monotonic()
    response = api.post(
        "/api/v1/promotions",
        {"commit_message": "m", "wait": 10, "files": [{"path": "a.md", "content": "x"}]},
        format="json",
    )
    assert response.status_code == 202 and response.json()["status"] == "queued"
    assert time.monotonic() - started < 2


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_one_pods_burst_of_waiting_requests_leaves_healthz_and_other_requests_fast(pod, repository, tmp_path):
    """Issue 11: 18 concurrent waits of one pod, with nothing applying them, used to take
    every thread of the web server (16) for the whole wait: /healthz then took as long."""
    port, wait = _free_port(), 4
    env = {**os.environ, "DATABASE_URL": database_url(), "LOCAL_REPOS_DIR": str(django_settings.LOCAL_REPOS_DIR),
           "LOG_LEVEL": "WARNING", "THROTTLE_RATE": "1000/min"}  # fmt: skip
    log = open(tmp_path / "web.log", "wb")
    server = subprocess.Popen(
        web_command("127.0.0.1", port), cwd=django_settings.BASE_DIR, env=env, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(f"{base}/healthz", server)
        answers: list[tuple[int, float]] = []

        def waiting_pod(number: int) -> None:
            body = {
                "commit_message": f"wait {number}",
                "wait": wait,
                "files": [{"path": f"w/{number}.md", "content": "x"}],
            }
            started = time.monotonic()
            status, _ = _post(f"{base}/api/v1/promotions", pod.raw_key, body)
            answers.append((status, time.monotonic() - started))

        threads = [threading.Thread(target=waiting_pod, args=(number,)) for number in range(18)]
        for thread in threads:
            thread.start()
        time.sleep(0.5)  # the waits are under way
        started = time.monotonic()
        with urllib.request.urlopen(f"{base}/healthz", timeout=30) as response:
            assert response.status == 200
        healthz_seconds = time.monotonic() - started
        for thread in threads:
            thread.join()
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()
    assert healthz_seconds < 1, (tmp_path / "web.log").read_text()[-2000:]
    assert len(answers) == 18 and {status for status, _ in answers} == {202}
    # Two waiting slots of this pod in each of the two processes; the others answer without
    # waiting (well before `wait` runs out, though 18 POSTs at once may queue on SQLite's lock).
    assert sum(seconds < wait - 1 for _, seconds in answers) >= 18 - 4
    assert max(seconds for _, seconds in answers) < wait + 2


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_up(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the web server exited"
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("the web server did not answer")


def _post(url: str, key: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    request.add_header("Authorization", f"Bearer {key}")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")
