"""GitHub Apps installed on accounts, the secondary limit on content-creating
requests, and the cut of large recursive trees, as GitHub answers them (bodies held
to GitHub's OpenAPI description), through the Python API and the command line."""

import subprocess
import sys
import time

import jwt
import pytest
import requests
from django.conf import settings

from github_emulator.limits import TRUNCATE_BYTES, is_content_write
from tests.emulator.helpers import TOKEN, Api, R, head_of, mismatches, response_validator
from tests.helpers import new_app_key

APP_ID = 31


def app_jwt(private_key: str, app_id: int = APP_ID) -> dict:
    issued = int(time.time()) - 60
    token = jwt.encode({"iat": issued, "exp": issued + 600, "iss": str(app_id)}, private_key, algorithm="RS256")
    return {"Authorization": f"Bearer {token}"}


def installation_token(url: str, private_key: str, installation_id: int) -> dict:
    tokens_url = f"{url}/app/installations/{installation_id}/access_tokens"
    answer = requests.post(tokens_url, headers=app_jwt(private_key), timeout=5)
    assert answer.status_code == 201, answer.text
    return {"Authorization": f"token {answer.json()['token']}"}


@pytest.fixture
def two_organisations(github_emulator):
    """One App installed on acme (installation 1) and on globex (2), not on initech."""
    private, public = new_app_key()
    github_emulator.register_app(APP_ID, public)
    github_emulator.install_app(1, APP_ID, "acme")
    github_emulator.install_app(2, APP_ID, "globex")
    for name in ("acme/widgets", "globex/gadgets", "initech/tps"):
        github_emulator.create_repository(name)
    return private


def test_an_installation_token_reaches_its_accounts_repositories_only(github_emulator, two_organisations):
    acme = installation_token(github_emulator.url, two_organisations, 1)
    url = github_emulator.url
    assert requests.get(f"{url}/repos/acme/widgets/branches/main", headers=acme, timeout=5).status_code == 200
    for elsewhere in ("globex/gadgets", "initech/tps"):
        hidden = requests.get(f"{url}/repos/{elsewhere}/branches/main", headers=acme, timeout=5)
        assert (hidden.status_code, hidden.json()["message"]) == (404, "Not Found")
    blob = requests.post(f"{url}/repos/globex/gadgets/git/blobs", json={"content": "x"}, headers=acme, timeout=5)
    assert blob.status_code == 404
    globex = installation_token(url, two_organisations, 2)
    assert requests.get(f"{url}/repos/globex/gadgets", headers=globex, timeout=5).status_code == 200
    # A plain token still sees every repository, as before.
    assert requests.get(f"{url}/repos/initech/tps", headers=TOKEN, timeout=5).status_code == 200


def test_an_app_finds_the_installation_of_each_repository(github_openapi, github_emulator, two_organisations):
    url, headers = github_emulator.url, app_jwt(two_organisations)
    found = {
        name: requests.get(f"{url}/repos/{name}/installation", headers=headers, timeout=5)
        for name in ("acme/widgets", "globex/gadgets", "initech/tps", "acme/absent")
    }
    assert [found[n].json()["id"] for n in ("acme/widgets", "globex/gadgets")] == [1, 2]
    assert found["acme/widgets"].json()["account"]["login"] == "acme"
    assert found["acme/widgets"].json()["app_id"] == APP_ID
    assert [(found[n].status_code, found[n].json()["message"]) for n in ("initech/tps", "acme/absent")] == [
        (404, "Not Found")
    ] * 2
    listed = requests.get(f"{url}/app/installations", headers=headers, timeout=5)
    assert [(i["id"], i["account"]["login"]) for i in listed.json()] == [(1, "acme"), (2, "globex")]
    not_a_jwt = requests.get(f"{url}/repos/acme/widgets/installation", headers=TOKEN, timeout=5)
    assert (not_a_jwt.status_code, not_a_jwt.json()["message"]) == (401, "A JSON web token could not be decoded")
    template = f"{R}/installation"
    answers = [("GET", template, found["acme/widgets"]), ("GET", template, found["initech/tps"])]
    assert mismatches(github_openapi, answers) == []
    # The list's inline item schema requires `account` to be a user and an enterprise at once
    # (allOf, a flaw of the description): its items are held to the `installation` schema instead.
    one_installation = response_validator(github_openapi, template, "GET", 200)
    assert [error.message for item in listed.json() for error in one_installation.iter_errors(item)] == []
    assert installation_token(url, two_organisations, 2)
    stranger = app_jwt(new_app_key()[0], 99)
    other_app = requests.post(f"{url}/app/installations/2/access_tokens", headers=stranger, timeout=5)
    assert other_app.status_code == 401


def test_writes_past_the_limit_answer_as_githubs_secondary_limit(github_openapi, github_emulator):
    github_emulator.create_repository("acme/widgets")
    github_emulator.set_write_limits("3/2")
    api = Api(github_emulator)
    head_of(api)  # reads never count
    statuses = [api("POST", "/git/blobs", {"content": str(i)}).status_code for i in range(4)]
    assert statuses == [201, 201, 201, 403]
    refused = api("POST", "/git/blobs", {"content": "again"})
    body = refused.json()
    assert refused.status_code == 403 and 1 <= int(refused.headers["retry-after"]) <= 2
    assert body["message"].startswith("You have exceeded a secondary rate limit. Please wait a few minutes")
    assert body["documentation_url"] == (
        "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
    )
    basic_error = response_validator(github_openapi, f"{R}/git/refs/{{ref}}", "PATCH", 422)  # GitHub's basic-error
    assert list(basic_error.iter_errors(body)) == []
    other_token = {"Authorization": "token another"}
    other = requests.post(f"{api.base}/git/blobs", json={"content": "x"}, headers=other_token, timeout=5)
    assert other.status_code == 201, "each credential has its own limit"
    assert github_emulator.stats()["rate_limited"] == 2
    time.sleep(int(refused.headers["retry-after"]))
    assert api("POST", "/git/blobs", {"content": "later"}).status_code == 201


def test_only_content_creating_requests_count():
    assert is_content_write("POST", f"{R}/git/trees", b"{}")
    assert is_content_write("PATCH", f"{R}/git/refs/{{ref}}", b"{}")
    assert not is_content_write("GET", f"{R}/git/trees/{{tree_sha}}", b"")
    assert not is_content_write("POST", "/app/installations/{installation_id}/access_tokens", b"")
    assert is_content_write("POST", "/graphql", b'{"query": "mutation($input: X!) { createCommitOnBranch }"}')
    assert not is_content_write("POST", "/graphql", b'{"query": "query { viewer { login } }"}')


def test_recursive_trees_are_cut_past_the_entry_limit(github_openapi, github_emulator):
    github_emulator.create_repository("acme/big", files=((f"d{i % 3}/f{i}.txt", b"x") for i in range(20)))
    api = Api(github_emulator, "acme/big")
    head = head_of(api)
    whole = api("GET", f"/git/trees/{head}", params={"recursive": "1"}).json()
    assert (len(whole["tree"]), whole["truncated"]) == (24, False)  # README, 3 directories, 20 files
    github_emulator.set_truncate_entries(10)
    cut = api("GET", f"/git/trees/{head}", params={"recursive": "1"})
    assert (cut.json()["tree"], cut.json()["truncated"]) == (whole["tree"][:10], True)
    root = api("GET", f"/git/trees/{head}").json()
    assert (len(root["tree"]), root["truncated"]) == (4, False)
    assert mismatches(github_openapi, [("GET", f"{R}/git/trees/{{tree_sha}}", cut)]) == []


def test_recursive_trees_are_cut_at_seven_megabytes(github_emulator):
    files = ((f"directory-{i // 1000:03}/a-rather-long-file-name-{i:06}.txt", b"%d" % i) for i in range(40_000))
    github_emulator.create_repository("acme/huge", files=files)
    api = Api(github_emulator, "acme/huge")
    answer = api("GET", f"/git/trees/{head_of(api)}", params={"recursive": "1"})
    listed = answer.json()
    assert listed["truncated"] is True and 20_000 < len(listed["tree"]) < 40_000
    assert TRUNCATE_BYTES < len(answer.content) < TRUNCATE_BYTES + 100_000


def test_the_command_line_installs_apps_and_limits_writes(tmp_path):
    private, public = new_app_key()
    (tmp_path / "app.pem").write_text(public)
    command = [
        *(sys.executable, "-m", "github_emulator", "--port", "0", "--repo", "acme/widgets", "--repo", "globex/gadgets"),
        *("--app-key", f"{APP_ID}={tmp_path / 'app.pem'}", "--installation", f"5={APP_ID}:acme"),
        *("--write-limit", "2/60,100/3600", "--truncate-entries", "1"),
    ]
    process = subprocess.Popen(command, cwd=settings.BASE_DIR, stdout=subprocess.PIPE, text=True)
    try:
        url = process.stdout.readline().strip()
        installed = requests.get(f"{url}/repos/acme/widgets/installation", headers=app_jwt(private), timeout=5)
        assert installed.json()["id"] == 5
        token = installation_token(url, private, 5)
        assert requests.get(f"{url}/repos/globex/gadgets", headers=token, timeout=5).status_code == 404
        writes = [
            requests.post(f"{url}/repos/acme/widgets/git/blobs", json={"content": "x"}, headers=token, timeout=5)
            for _ in range(3)
        ]
        assert [w.status_code for w in writes] == [201, 201, 403]
        head = requests.get(f"{url}/repos/acme/widgets/branches/main", headers=token, timeout=5).json()["commit"]
        tree = requests.get(f"{url}/repos/acme/widgets/git/trees/{head['sha']}?recursive=1", headers=token, timeout=5)
        assert tree.json()["truncated"] is False  # one entry: nothing left out
        assert requests.get(f"{url}/_emulator/stats", timeout=5).json()["rate_limited"] == 1
    finally:
        process.terminate()
    assert process.wait(timeout=10) == 0
    refused = subprocess.run(
        [sys.executable, "-m", "github_emulator", "--installation", "5=77:acme"],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert refused.returncode == 2 and "no App 77 is registered" in refused.stderr
