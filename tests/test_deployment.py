"""Running Patchgate for real: settings that pass `check --deploy`, `/` that leads
somewhere, brute-force protection of the admin login and the reports' HTTP Basic, a
Content-Security-Policy on admin pages, the GitHub App key in any of its usual forms
and never in a message, gunicorn without a shared control socket, and the curl that
`make run` prints."""

import base64
import os
import secrets
import shlex
import socket
import subprocess
import sys
import time
import traceback
import urllib.request
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command

from promotions.management.commands.serve import web_command
from promotions.scm.github.client import app_private_key, client, credentials
from promotions.scm.port import ScmAuthError
from promotions.security import client_ip
from tests.helpers import LEAD_PASSWORD, LEAD_USERNAME, new_app_key

ROOT = Path(django_settings.BASE_DIR)
DEPLOYED = {
    "DEBUG": "false",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "patchgate.example.com",
    "PUBLIC_URL": "https://patchgate.example.com",
}


def manage(tmp_path, *args: str, **environment: str) -> subprocess.CompletedProcess:
    """manage.py in a fresh process, with only these of the deployment variables set."""
    env = {key: value for key, value in os.environ.items() if key not in {*DEPLOYED, "CSRF_TRUSTED_ORIGINS"}}
    env.update(PATCHGATE_DATA_DIR=str(tmp_path), **environment)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True)


def test_the_documented_deployment_variables_pass_check_deploy_at_warning_level(tmp_path):
    checked = manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", **DEPLOYED)
    assert checked.returncode == 0, checked.stderr
    assert "no issues" in checked.stdout


def test_check_deploy_still_fails_a_debug_deployment(tmp_path):
    checked = manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", **{**DEPLOYED, "DEBUG": "true"})
    assert checked.returncode != 0 and "security.W018" in checked.stderr


def test_debug_is_off_unless_asked_for(tmp_path):
    shown = manage(tmp_path, "diffsettings", "--all")
    assert "DEBUG = False" in shown.stdout.replace("### ", "").splitlines()  # ### marks Django's defaults


def test_a_service_answering_other_hosts_will_not_start_without_a_secret_key(tmp_path):
    started = manage(tmp_path, "check", ALLOWED_HOSTS="patchgate.example.com")
    assert started.returncode != 0 and "SECRET_KEY must be set" in started.stderr
    assert manage(tmp_path, "check").returncode == 0  # this machine only: a key generated into DATA_DIR


def test_the_root_url_leads_to_the_admin(client):
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/admin/"


@pytest.mark.django_db
def test_admin_pages_forbid_remote_images_and_scripts(client, admin_client):
    pages = (client.get("/admin/login/"), admin_client.get("/admin/"), admin_client.get("/admin/reports/pods/"))
    for response in pages:
        policy = response["Content-Security-Policy"]
        assert "img-src 'self' data:" in policy and "script-src 'self'" in policy and "default-src 'self'" in policy
    assert "Content-Security-Policy" not in client.get("/healthz")


def admin_login(client, username, password, address="203.0.113.7"):
    return client.post("/admin/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


@pytest.mark.django_db
def test_admin_login_locks_a_username_out_of_an_address_after_five_failures(client, lead, django_user_model):
    django_user_model.objects.create_user("other", password="other-password-1", is_staff=True)
    for _ in range(4):
        assert admin_login(client, LEAD_USERNAME, "wrong").status_code == 200  # the form again, with its error
    assert admin_login(client, LEAD_USERNAME, "wrong").status_code == 429  # the fifth failure locks it out
    assert admin_login(client, LEAD_USERNAME, LEAD_PASSWORD).status_code == 429  # even the right password
    assert admin_login(client, "other", "other-password-1").status_code == 302  # another lead is not locked out
    assert admin_login(client, LEAD_USERNAME, LEAD_PASSWORD, address="198.51.100.9").status_code == 302


def basic(username, password):
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@pytest.mark.django_db
def test_the_reports_http_basic_locks_out_after_five_failures_with_429(client, lead):
    url = "/api/v1/reports/pods"
    assert client.get(url, HTTP_AUTHORIZATION=basic(LEAD_USERNAME, LEAD_PASSWORD)).status_code == 200
    for _ in range(4):
        assert client.get(url, HTTP_AUTHORIZATION=basic(LEAD_USERNAME, "wrong")).status_code in (401, 403)
    assert client.get(url, HTTP_AUTHORIZATION=basic(LEAD_USERNAME, "wrong")).status_code == 429
    locked = client.get(url, HTTP_AUTHORIZATION=basic(LEAD_USERNAME, LEAD_PASSWORD))
    assert locked.status_code == 429 and "locked out" in locked.json()["detail"]
    assert int(locked["Retry-After"]) == 15 * 60


def test_behind_the_tls_proxy_failures_count_by_the_address_the_proxy_saw(rf, settings):
    request = rf.get("/admin/login/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="10.9.9.9, 203.0.113.7")
    settings.BEHIND_TLS_PROXY = True
    assert client_ip(request) == "203.0.113.7"  # the entry the proxy appended, not one the client wrote
    settings.BEHIND_TLS_PROXY = False
    assert client_ip(request) == "127.0.0.1"


@pytest.mark.django_db
def test_lockouts_do_not_outlive_a_test(client, lead):
    """The attempts of the tests above are rows in their own (rolled back) transaction."""
    assert client.get("/api/v1/reports/pods", HTTP_AUTHORIZATION=basic(LEAD_USERNAME, LEAD_PASSWORD)).status_code == 200


@pytest.fixture
def pem():
    private, _ = new_app_key()
    return private


def test_the_app_key_is_taken_as_pem_text_a_path_base64_or_escaped_newlines(pem, tmp_path):
    key_file = tmp_path / "app.pem"
    key_file.write_text(pem)
    one_line = base64.b64encode(pem.encode()).decode()
    wrapped = "\n".join(one_line[i : i + 76] for i in range(0, len(one_line), 76))  # as `base64` prints it
    for given in (pem, f"  {pem}\n", str(key_file), one_line, wrapped, pem.strip().replace("\n", "\\n")):
        assert app_private_key(given) == pem.strip()


@pytest.mark.parametrize(
    "given, part",
    [
        ("not a key at all, just text", "just text"),
        ("/no/such/file.pem", "such/file"),
        ("LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCmdhcmJhZ2UKLS0tLS1FTkQgUFJJVkFURSBLRVktLS0tLQo=", "UklWQVRF"),
        ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----", "MIIEvQIB"),
    ],
)
def test_an_unreadable_app_key_names_the_variable_and_never_shows_any_of_it(given, part):
    with pytest.raises(ScmAuthError) as raised:
        app_private_key(given)
    assert "GITHUB_APP_PRIVATE_KEY" in str(raised.value)
    assert part not in "".join(traceback.format_exception(raised.value))  # nor in what it chains


def test_an_app_key_cut_short_in_base64_fails_without_showing_it(pem, settings):
    settings.GITHUB_TOKEN = ""
    settings.GITHUB_APP_ID, settings.GITHUB_APP_INSTALLATION_ID = "1", "2"
    settings.GITHUB_APP_PRIVATE_KEY = base64.b64encode(pem.encode()).decode()[:-50]
    with pytest.raises(ScmAuthError) as raised:
        credentials()
    assert settings.GITHUB_APP_PRIVATE_KEY[:40] not in "".join(traceback.format_exception(raised.value))


@pytest.mark.django_db
def test_a_github_app_given_its_key_in_base64_reaches_the_emulator(github, settings):
    private, public = new_app_key()
    github.register_app(4242, public, 77)
    github.create_repository("acme/keys")
    settings.GITHUB_TOKEN = ""
    settings.GITHUB_APP_ID, settings.GITHUB_APP_INSTALLATION_ID = "4242", "77"
    settings.GITHUB_APP_PRIVATE_KEY = base64.b64encode(private.encode()).decode()
    assert client().get_repo("acme/keys").get_branch("main").name == "main"
    assert github.stats()["by_credential"]["app"] == 1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_make_runs_gunicorn_opens_no_control_socket_another_gunicorn_could_use(tmp_path):
    port = free_port()
    # On its own SQLite file: only whether it serves matters here.
    left_out = ("XDG_RUNTIME_DIR", "DATABASE_URL", "REDIS_URL")
    env = {key: value for key, value in os.environ.items() if key not in left_out}
    env.update(HOME=str(tmp_path), PATCHGATE_DATA_DIR=str(tmp_path / "var"))
    web = subprocess.Popen(web_command("127.0.0.1", port, workers=1, threads=1), cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                    assert answer.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline and web.poll() is None, "gunicorn did not start"
                time.sleep(0.2)
        assert not (tmp_path / ".gunicorn").exists()  # where gunicorn >= 25.1 puts its shared socket
    finally:
        web.terminate()
        web.wait(timeout=30)


@pytest.mark.django_db
def test_the_curl_make_run_prints_for_an_existing_pod_expands_the_key_in_a_shell():
    call_command("bootstrap", stdout=StringIO())
    printed = StringIO()
    call_command("bootstrap", stdout=printed)
    curl = next(line.strip() for line in printed.getvalue().splitlines() if line.strip().startswith("curl "))
    assert "$PATCHGATE_KEY" in curl
    echoed = subprocess.run(
        ["bash", "-c", "printf '%s\\n' " + curl.removeprefix("curl ")],
        env={"PATH": os.environ["PATH"], "PATCHGATE_KEY": "pgk_example"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert "Authorization: Bearer pgk_example" in echoed
    assert ".venv/bin/python manage.py" in printed.getvalue()
    assert shlex.split(curl)  # one well-formed command line


@pytest.mark.parametrize("bypassed", [False, True])
def test_github_connections_take_the_environments_proxy_and_ca_bundle(monkeypatch, tmp_path, bypassed):
    """Read once per connection (requests would read them again for every request)."""
    from promotions.scm.github.client import _BudgetedHTTPS

    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example.test:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    if bypassed:
        monkeypatch.setenv("NO_PROXY", "github.example.test")
    connection = _BudgetedHTTPS("github.example.test", 443)
    assert connection.session.proxies == ({} if bypassed else {"https": "http://proxy.example.test:3128"})
    assert connection.verify == str(bundle)
    assert not connection.session.trust_env, "nothing read again per request"
