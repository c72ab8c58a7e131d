"""What the emulator answers to requests GitHub refuses, GitHub's headers, the
faults and latency tests inject, the statistics, and the command line."""

import subprocess
import sys
import time
from urllib.parse import urlsplit

import pytest
import requests
from django.conf import settings
from github import BadCredentialsException, GithubException, RateLimitExceededException

from tests.emulator.helpers import TOKEN, client, commit_on, error, fetch_head, head_of


def test_githubs_answers_to_malformed_or_unauthenticated_requests(api, github_emulator):
    unauthenticated = requests.post(f"{api.base}/git/blobs", json={"content": "x"}, timeout=5)
    assert (unauthenticated.status_code, unauthenticated.json()) == (401, error("Requires authentication", "", 401))
    broken = requests.post(f"{api.base}/git/blobs", data="{nope", headers=TOKEN, timeout=5)
    assert (broken.status_code, broken.json()) == (400, error("Problems parsing JSON", "/git/blobs#create-a-blob", 400))
    missing = api("PATCH", "/git/refs/heads/main", {"force": True})
    assert missing.json() == error('Invalid request.\n\n"sha" wasn\'t supplied.', "/git/refs#update-a-reference", 422)
    assert requests.get(f"{github_emulator.url}/no/such/route", timeout=5).json() == error("Not Found", "", 404)
    assert requests.get(f"{github_emulator.url}/repos/acme/absent", timeout=5).json() == error(
        "Not Found", "/repos/repos#get-a-repository", 404
    )
    taken = requests.post(f"{github_emulator.url}/orgs/acme/repos", json={"name": "widgets"}, headers=TOKEN, timeout=5)
    name_taken = [
        {"resource": "Repository", "code": "custom", "field": "name", "message": "name already exists on this account"}
    ]
    assert (taken.status_code, taken.json()["message"], taken.json()["errors"]) == (
        422,
        "Repository creation failed.",
        name_taken,
    )


def test_every_answer_carries_githubs_headers(api):
    answers = [api("GET", ""), api("GET", "/git/ref/heads/nope")]
    for answer in answers:
        assert answer.headers["Content-Type"] == "application/json; charset=utf-8"
        assert answer.headers["X-RateLimit-Limit"] == "5000" and answer.headers["X-RateLimit-Resource"] == "core"
        assert int(answer.headers["X-RateLimit-Reset"]) > time.time()
        assert int(answer.headers["X-RateLimit-Used"]) + int(answer.headers["X-RateLimit-Remaining"]) == 5000
        assert len(answer.headers["X-GitHub-Request-Id"].split(":")) == 5
    assert int(answers[1].headers["X-RateLimit-Used"]) == int(answers[0].headers["X-RateLimit-Used"]) + 1


def test_bad_credentials(widgets, github_emulator):
    github_emulator.inject({"kind": "bad_credentials"})
    with pytest.raises(BadCredentialsException) as raised:
        fetch_head(widgets)
    assert raised.value.status == 401 and raised.value.data == error("Bad credentials", "", 401)
    assert fetch_head(widgets)  # consumed: the next request is answered


def test_rate_limits_as_pygithub_sees_them(widgets, github_emulator):
    github_emulator.inject({"kind": "secondary_rate_limit", "retry_after": 60, "method": "GET", "path": "/git/ref/"})
    with pytest.raises(RateLimitExceededException) as raised:
        fetch_head(widgets)
    assert raised.value.status == 403 and raised.value.headers["retry-after"] == "60"
    assert raised.value.data["message"].startswith(
        "You have exceeded a secondary rate limit. Please wait a few minutes"
    )
    assert raised.value.data["documentation_url"].endswith("#about-secondary-rate-limits")

    github_emulator.inject({"kind": "primary_rate_limit", "reset_in": 120})
    with pytest.raises(RateLimitExceededException) as raised:
        fetch_head(widgets)
    assert raised.value.status == 403 and raised.value.headers["x-ratelimit-remaining"] == "0"
    assert abs(int(raised.value.headers["x-ratelimit-reset"]) - (time.time() + 120)) < 5
    assert raised.value.data["message"].startswith("API rate limit exceeded for user ID 1.")

    # PyGithub 2.10 names only a 403 a rate limit: a 429 is a plain GithubException.
    github_emulator.inject({"kind": "primary_rate_limit", "status": 429, "reset_in": 30})
    with pytest.raises(GithubException) as raised:
        fetch_head(widgets)
    assert raised.value.status == 429 and raised.value.headers["x-ratelimit-remaining"] == "0"


def test_a_status_fault_answers_without_side_effect(api, widgets, github_emulator):
    head = head_of(api)
    github_emulator.inject({"kind": "status", "status": 502, "method": "POST", "path": "/git/refs$"})
    with pytest.raises(GithubException) as raised:
        widgets.create_git_ref("refs/heads/x", head)
    assert raised.value.status == 502 and raised.value.data["message"] == "Server Error"
    assert api("GET", "/git/ref/heads/x").status_code == 404
    assert widgets.create_git_ref("refs/heads/x", head).ref == "refs/heads/x"


def test_faults_fire_on_the_nth_match_for_times_requests(api, github_emulator):
    github_emulator.inject({"kind": "status", "status": 500, "path": "/git/ref/heads/main$", "nth": 2, "times": 2})
    github_emulator.inject({"kind": "status", "status": 503, "path": "/git/ref/heads/main$"})
    statuses = [api("GET", "/git/ref/heads/main").status_code for _ in range(5)]
    assert statuses == [200, 500, 500, 503, 200]


def test_a_dropped_answer_after_the_write(api, widgets, github_emulator):
    ahead = commit_on(api, head_of(api), "d.txt", "d\n")
    github_emulator.inject({"kind": "drop_after_write", "method": "PATCH", "path": "/git/refs/heads/main$"})
    with pytest.raises(requests.exceptions.ConnectionError):
        widgets.get_git_ref("heads/main").edit(ahead)
    assert head_of(api) == ahead


def test_a_fault_on_graphql_can_name_the_operation_it_fires_on(api, github_emulator, github_graphql_schema):
    github_emulator.inject({"kind": "status", "status": 502, "path": "/graphql$", "query": "updateRefs"})
    answers = [
        requests.post(f"{github_emulator.url}/graphql", json={"query": query}, headers=TOKEN, timeout=5).status_code
        for query in ("{ viewer { login } }", "mutation { updateRefs(input: {}) { clientMutationId } }")
    ]
    assert answers == [200, 502]


def test_a_hanging_answer_times_the_client_out(widgets, github_emulator):
    github_emulator.inject({"kind": "hang", "seconds": 5, "path": "/git/ref/"})
    impatient = client(github_emulator, timeout=1, lazy=True).get_repo("acme/widgets")  # PyGithub takes whole seconds
    started = time.monotonic()
    with pytest.raises(requests.exceptions.Timeout):
        fetch_head(impatient)
    assert time.monotonic() - started < 4


def test_latency_and_statistics(api, github_emulator):
    github_emulator.reset_stats()
    head = head_of(api)
    api("GET", f"/git/trees/{head}", params={"recursive": "1"})
    api("PATCH", "/git/refs/heads/main", {"sha": "0" * 40})  # refused: not a write
    api("POST", "/git/blobs", {"content": "x"})
    controls = f"{github_emulator.url}/_emulator"
    stats = requests.get(f"{controls}/stats", timeout=5).json()
    assert (
        stats
        == github_emulator.stats()
        == {
            "requests": 4,
            "writes": 1,
            "rate_limited": 0,
            "by_route": {
                "GET /repos/{owner}/{repo}/git/ref/{ref}": 1,
                "GET /repos/{owner}/{repo}/git/trees/{tree_sha}": 1,
                "PATCH /repos/{owner}/{repo}/git/refs/{ref}": 1,
                "POST /repos/{owner}/{repo}/git/blobs": 1,
            },
            "by_credential": {"token": 4},
        }
    )
    assert requests.post(f"{controls}/reset-stats", timeout=5).ok
    assert requests.post(f"{controls}/latency", json={"ms": 150}, timeout=5).ok
    started = time.monotonic()
    api("GET", "")
    assert time.monotonic() - started >= 0.15
    github_emulator.set_latency(0)
    assert requests.post(f"{controls}/faults", json={"kind": "bad_credentials", "times": 3}, timeout=5).ok
    assert api("GET", "").status_code == 401
    assert requests.delete(f"{controls}/faults", timeout=5).ok
    assert api("GET", "").status_code == 200
    assert github_emulator.stats()["requests"] == 3
    assert requests.post(f"{controls}/faults", json={"kind": "nonsense"}, timeout=5).status_code == 400
    assert requests.post(f"{controls}/reset", timeout=5).ok
    assert api("GET", "").status_code == 404 and github_emulator.stats()["requests"] == 1


def test_the_command_line_serves_until_terminated():
    process = subprocess.Popen(
        [sys.executable, "-m", "github_emulator", "--port", "0", "--latency-ms", "1", "--repo", "acme/widgets"],
        cwd=settings.BASE_DIR,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = process.stdout.readline().strip()
        assert urlsplit(url).hostname == "127.0.0.1"
        assert requests.get(f"{url}/user", headers=TOKEN, timeout=5).json()["login"] == "patchgate-emulator"
        main = requests.get(f"{url}/repos/acme/widgets/branches/main", headers=TOKEN, timeout=5)
        assert main.status_code == 200 and len(main.json()["commit"]["sha"]) == 40
    finally:
        process.terminate()
    assert process.wait(timeout=10) == 0
