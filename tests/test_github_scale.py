"""GitHub at organisation scale, against the emulator over real HTTP: one App across
organisations (an installation per repository's account), repositories whose
recursive tree GitHub cuts, reads that cost one request whatever the repository's
size, and getFiles."""

import gc
import statistics
import time
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from promotions.models import Promotion, Repository
from tests.factories import PodFactory, RepositoryFactory
from tests.helpers import Target, apply, client_for, file, new_app_key, results, submit

pytestmark = pytest.mark.django_db
Status = Promotion.Status
APP_ID = 4242
R = "/repos/{owner}/{repo}"


@pytest.fixture
def one_app_on_two_organisations(github, settings):
    """One GitHub App installed on acme (installation 11) and globex (12), not on
    initech, configured without GITHUB_APP_INSTALLATION_ID."""
    private, public = new_app_key()
    github.register_app(APP_ID, public)
    github.install_app(11, APP_ID, "acme")
    github.install_app(12, APP_ID, "globex")
    for name in ("acme/widgets", "globex/gadgets", "initech/tps"):
        github.create_repository(name)
    settings.GITHUB_TOKEN = ""
    settings.GITHUB_APP_ID, settings.GITHUB_APP_PRIVATE_KEY, settings.GITHUB_APP_INSTALLATION_ID = (
        str(APP_ID),
        private,
        "",
    )
    return github


def run_addrepo(*args) -> str:
    out = StringIO()
    call_command("addrepo", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_one_app_promotes_into_repositories_of_two_organisations(one_app_on_two_organisations):
    github = one_app_on_two_organisations
    assert "Registered: acme/widgets" in run_addrepo("acme/widgets", "--backend", "github")
    assert "Registered: globex/gadgets" in run_addrepo("globex/gadgets", "--backend", "github")
    repositories = list(Repository.objects.order_by("full_name"))
    pod = PodFactory(name="fleet", repositories=repositories)
    for round_ in range(2):
        for repository in repositories:
            promotion = apply(submit(pod, repository, [file(f"out/{round_}.md", f"{repository} {round_}\n")]))
            assert promotion.status == Status.COMMITTED, promotion.last_error
            assert Target(repository).read(f"out/{round_}.md") == f"{repository} {round_}\n".encode()
    stats = github.stats()
    # Each repository's installation is found once, and each installation gives one token,
    # used for every later request of its repositories: the App's JWT made 4 requests.
    assert stats["by_route"][f"GET {R}/installation"] == 2
    assert stats["by_route"]["POST /app/installations/{installation_id}/access_tokens"] == 2
    assert stats["by_credential"]["app"] == 4 and stats["by_credential"]["installation"] > 10


def test_addrepo_names_the_organisation_the_app_is_not_installed_on(one_app_on_two_organisations):
    with pytest.raises(CommandError) as refused:
        run_addrepo("initech/tps", "--backend", "github")
    message = str(refused.value)
    assert "initech/tps was not registered" in message
    assert f"the GitHub App {APP_ID} is not installed on initech" in message
    assert not Repository.objects.exists()


def test_the_admin_repository_form_names_the_missing_installation(one_app_on_two_organisations, admin_client):
    form = {
        "full_name": "initech/tps",
        "backend": "github",
        "default_branch": "main",
        "default_mode": "direct",
        "commit_path": "auto",
        "trace_path_template": "",
    }
    response = admin_client.post("/admin/promotions/repository/add/", form)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert (
        list(errors) == ["full_name"] and f"GitHub App {APP_ID} is not installed on initech" in errors["full_name"][0]
    )
    assert (
        admin_client.post("/admin/promotions/repository/add/", {**form, "full_name": "globex/gadgets"}).status_code
        == 302
    )


# --- repositories GitHub cuts the recursive tree of ------------------------------------------


DEEP = "deep/a07/b/file3.txt"


@pytest.fixture
def truncated(github):
    """A repository of 200 files whose recursive tree GitHub cuts after 50 entries."""
    files = (
        (f"deep/a{i:02}/b/file{j}.txt", f"line 1 of {i}/{j}\nline 2\nline 3\n".encode())
        for i in range(40)
        for j in range(5)
    )
    github.create_repository("acme/big", files=files)
    github.set_truncate_entries(50)
    repository = RepositoryFactory(full_name="acme/big", backend=Repository.Backend.GITHUB)
    pod = PodFactory(name="deep-writer", repositories=[repository])
    scm = Target(repository).scm
    listing = scm.repo.get_git_tree(scm.branch_head("main"), recursive=True)
    assert listing.raw_data["truncated"] is True and DEEP not in [e.path for e in listing.tree]
    return repository, pod


def test_getfile_and_a_promotion_deep_in_a_truncated_tree_work(truncated):
    repository, pod = truncated
    answer = client_for(pod).get("/api/v1/files", {"path": DEEP})
    assert answer.status_code == 200, answer.json()
    assert answer.json()["content"] == "line 1 of 7/3\nline 2\nline 3\n"
    assert answer.json()["sha"] == Target(repository).sha_of(DEEP)
    promotion = apply(submit(pod, repository, [file("deep/a07/b/new.txt", "new\n"), file(DEEP, "rewritten\n")]))
    assert promotion.status == Status.COMMITTED and results(promotion) == ["created", "updated"]
    assert Target(repository).read(DEEP) == b"rewritten\n"


def test_a_create_only_file_that_exists_deep_in_a_truncated_tree_conflicts(truncated):
    repository, pod = truncated
    before = Target(repository).head()
    promotion = apply(submit(pod, repository, [file(DEEP, "mine\n", base_sha=None)]))
    assert promotion.status == Status.CONFLICT and results(promotion) == ["conflict"]
    assert "already exists" in promotion.files.get().message
    assert Target(repository).head() == before and Target(repository).read(DEEP) == b"line 1 of 7/3\nline 2\nline 3\n"


def test_a_stale_base_sha_deep_in_a_truncated_tree_merges_or_conflicts(truncated):
    repository, pod = truncated
    read = client_for(pod).get("/api/v1/files", {"path": DEEP}).json()["sha"]
    Target(repository).commit_directly({DEEP: b"line 1 of 7/3\nline 2\nline 3, theirs\n"})
    merged = apply(submit(pod, repository, [file(DEEP, "line 1, mine\nline 2\nline 3\n", base_sha=read)]))
    assert merged.status == Status.COMMITTED and results(merged) == ["merged"]
    assert Target(repository).read(DEEP) == b"line 1, mine\nline 2\nline 3, theirs\n"
    overlapping = apply(submit(pod, repository, [file(DEEP, "line 1 of 7/3\nline 2\nline 3, other\n", base_sha=read)]))
    assert overlapping.status == Status.CONFLICT and "overlaps" in overlapping.files.get().message


# --- what a read and a promotion cost, whatever the repository's size ---------------------------


BIG_FILES = 100_000
BATCH = ["d042/s07/new-1.txt", "d042/s07/new-2.txt", "d042/s07/new-3.txt"]


def hundred_thousand_files():
    """100 directories of 10 sub-directories of 100 files."""
    for i in range(BIG_FILES):
        yield f"d{i // 1000:03}/s{i // 100 % 10:02}/f{i:05}.txt", b"%d\n" % i


def promotion_cost(github, pod, repository) -> tuple[int, float]:
    """(requests, seconds) of the 3-file promotion, the best of three runs."""
    runs = []
    for run in range(3):
        github.reset_stats()
        started = time.monotonic()
        promotion = apply(submit(pod, repository, [file(path, f"run {run}\n") for path in BATCH]))
        runs.append((github.stats()["requests"], time.monotonic() - started))
        assert promotion.status == Status.COMMITTED, promotion.last_error
    return max(r for r, _ in runs), statistics.median(s for _, s in runs)


@pytest.fixture
def frozen_objects():
    """The emulator serves from this process: the million objects of a big repository
    never change, so the collector's full scans skip them instead of landing in
    whichever timed run they fall."""
    yield gc.freeze
    gc.unfreeze()


def test_a_promotion_into_a_hundred_thousand_files_costs_what_it_costs_in_an_empty_repository(github, frozen_objects):
    github.create_repository("acme/empty")
    github.create_repository("acme/huge", files=hundred_thousand_files())
    frozen_objects()
    empty, huge = (
        RepositoryFactory(full_name=n, backend=Repository.Backend.GITHUB) for n in ("acme/empty", "acme/huge")
    )
    pod = PodFactory(name="writer", repositories=[empty, huge])
    github.set_latency(20)  # round trips, not the emulator's own work, as on GitHub
    empty_requests, empty_seconds = promotion_cost(github, pod, empty)
    huge_requests, huge_seconds = promotion_cost(github, pod, huge)
    assert huge_requests <= 2 * empty_requests
    assert huge_seconds <= 2 * empty_seconds, (huge_seconds, empty_seconds)

    github.reset_stats()
    answer = client_for(pod).get("/api/v1/files", {"path": "d042/s07/f42742.txt", "repository": "acme/huge"})
    assert answer.status_code == 200 and answer.json()["content"] == "42742\n"
    assert github.stats()["requests"] == 1, "getFile costs one request"


# --- getFiles ---------------------------------------------------------------------------------


@pytest.fixture
def widgets(github):
    github.create_repository("acme/widgets", files=[("docs/a.md", b"A\n"), ("docs/b.md", b"B\n"), ("bin/x", b"\0\1\2")])
    repository = RepositoryFactory(full_name="acme/widgets", backend=Repository.Backend.GITHUB)
    return repository, PodFactory(name="reader", repositories=[repository])


def test_getfiles_reads_several_files_at_one_commit_in_one_request(github, widgets):
    repository, pod = widgets
    github.reset_stats()
    answer = client_for(pod).post("/api/v1/files/read", {"paths": ["docs/b.md", "nope.md", "docs/a.md"]}, format="json")
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert github.stats()["requests"] == 1
    assert (body["repository"], body["branch"], body["commit_sha"]) == (
        "acme/widgets",
        "main",
        Target(repository).head(),
    )
    assert [(f["path"], f["content"], f["encoding"]) for f in body["files"]] == [
        ("docs/b.md", "B\n", "utf-8"),
        ("docs/a.md", "A\n", "utf-8"),
    ]
    assert [f["sha"] for f in body["files"]] == [Target(repository).sha_of(p) for p in ("docs/b.md", "docs/a.md")]
    assert body["missing"] == ["nope.md"]
    binary = client_for(pod).post("/api/v1/files/read", {"paths": ["bin/x"]}, format="json").json()["files"][0]
    assert (binary["encoding"], binary["content"], binary["size"]) == ("base64", "AAEC", 3)


@pytest.mark.parametrize(
    "body, status, field",
    [
        ({"paths": []}, 400, "paths"),
        ({"paths": "docs/a.md"}, 400, "paths"),
        ({"paths": ["docs/a.md", 7]}, 400, "paths[1]"),
        ({"paths": ["docs/a.md", "../etc/passwd"]}, 400, "paths[1]"),
        ({"paths": ["docs/a.md", "docs/a.md"]}, 400, "paths[1]"),
        ({"paths": [f"f{i}" for i in range(101)]}, 400, "paths"),
        ({"paths": ["docs/a.md"], "branch": "bad..branch"}, 400, "branch"),
        ({"paths": ["docs/a.md"], "repository": "acme/other"}, 403, "repository"),
        ({"paths": ["docs/a.md", "secret/key.txt"]}, 403, "paths[1]"),
    ],
)
def test_getfiles_applies_every_rule_of_getfile_naming_the_path(github, widgets, body, status, field):
    repository, pod = widgets
    pod.denied_path_globs = "secret/**"
    pod.save()
    github.reset_stats()
    answer = client_for(pod).post("/api/v1/files/read", body, format="json")
    assert answer.status_code == status, answer.json()
    assert field in answer.json()["errors"]
    assert github.stats()["requests"] == 0, "refused before GitHub is asked"


def test_getfiles_of_a_missing_branch_answers_404(github, widgets):
    _, pod = widgets
    answer = client_for(pod).post("/api/v1/files/read", {"paths": ["docs/a.md"], "branch": "nowhere"}, format="json")
    assert answer.status_code == 404 and "branch 'nowhere' not found" in answer.json()["detail"]
