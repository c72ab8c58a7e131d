import subprocess
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from promotions.keys import hash_key
from promotions.models import ApiKey, Pod, Repository
from promotions.scm.local import repository_path

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_addrepo_local_creates_a_bare_repository_with_one_commit():
    run("addrepo", "acme/site", "--backend", "local", "--default-branch", "trunk")
    repository = Repository.objects.get(full_name="acme/site")
    assert (repository.backend, repository.default_branch) == ("local", "trunk")
    log = subprocess.run(
        ["git", "--git-dir", str(repository_path("acme/site")), "log", "--format=%s", "trunk"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert log == "Initial commit\n"
    assert "Already registered" in run("addrepo", "acme/site", "--backend", "local", "--default-branch", "trunk")


@pytest.mark.parametrize("args", [["not-a-name"], ["a/../b"], ["acme/x", "--default-branch", "bad..name"]])
def test_addrepo_refuses_bad_input(args):
    with pytest.raises(CommandError):
        run("addrepo", *args)
    assert not Repository.objects.exists()


def test_createpod_prints_the_key_last_and_stores_only_its_hash():
    run("addrepo", "acme/site")
    output = run("createpod", "writer", "--repository", "acme/site")
    key = output.strip().splitlines()[-1]
    assert key.startswith("pgk_") and len(key) > 40
    pod = Pod.objects.get(name="writer")
    assert list(pod.repositories.values_list("full_name", flat=True)) == ["acme/site"]
    stored = ApiKey.objects.get(pod=pod)
    assert stored.key_hash == hash_key(key) and key not in (stored.prefix, stored.key_hash)


def test_createpod_refuses_unknown_repository_and_duplicates():
    with pytest.raises(CommandError, match="not registered"):
        run("createpod", "writer", "--repository", "nope/nope")
    assert not Pod.objects.exists()
    run("createpod", "writer")
    with pytest.raises(CommandError, match="already exists"):
        run("createpod", "writer")


def test_bootstrap_is_idempotent_and_prints_the_key_once():
    first = run("bootstrap")
    assert "pgk_" in first and "password" in first and "curl" in first
    second = run("bootstrap")
    assert "pgk_" not in second and "curl" in second
    assert Pod.objects.count() == 1 and Repository.objects.count() == 1
