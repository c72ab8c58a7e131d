"""A pod writes and reads exactly where its scope says: repositories, branch globs,
path allow and deny globs, and sensitive paths only when named explicitly."""

import pytest
from django.core.management import call_command

from promotions import scopes
from promotions.globs import path_matches
from promotions.models import FileChange, Pod, Promotion
from tests.factories import PodFactory, RepositoryFactory
from tests.helpers import client_for


@pytest.mark.parametrize(
    "glob, path, matches",
    [
        ("outputs/**", "outputs/a.md", True),
        ("outputs/**", "outputs/deep/er/a.md", True),
        ("outputs/**", "outputs", False),
        ("outputs/**", "outputsx/a.md", False),
        ("outputs/", "outputs/a/b.md", True),
        ("/outputs/*.md", "outputs/a.md", True),
        ("outputs/*", "outputs/a/b.md", False),  # `*` stays in one segment
        ("*.md", "a.md", True),
        ("*.md", "docs/a.md", False),  # anchored at the root
        ("**/*.md", "a.md", True),
        ("**/*.md", "docs/deep/a.md", True),
        ("**/*.md", "docs/a.mdx", False),
        ("docs/**/index.md", "docs/index.md", True),
        ("docs/**/index.md", "docs/a/b/index.md", True),
        ("docs/**/index.md", "docs/a/b/index.mdx", False),
        ("file?.txt", "file1.txt", True),
        ("file?.txt", "file/.txt", False),
        ("a+b (1).md", "a+b (1).md", True),  # regex characters are literal
        ("a.md", "aXmd", False),
        ("**", ".github/workflows/ci.yml", True),
        ("reasoning_trace.md", "reasoning_trace.md", True),
        ("reasoning_trace.md", "x/reasoning_trace.md", False),
        ("**/.git*", ".gitignore", True),
        ("**/.git*", "a/b/.gitkeep", True),
        ("**/.git*", ".github/workflows/ci.yml", False),
        ("feature/*", "feature/x", True),
        ("feature/*", "feature/x/y", False),
        ("feature/**", "feature/x/y", True),
    ],
)
def test_glob_matching_is_gitignore_like_and_anchored(glob, path, matches):
    assert path_matches(glob, path) is matches


def scoped_pod(**globs) -> Pod:
    return Pod(name="scoped", **globs)


@pytest.mark.parametrize(
    "path",
    [
        ".github/workflows/ci.yml",
        ".github/actions/setup/action.yml",
        ".gitlab-ci.yml",
        ".circleci/config.yml",
        "Jenkinsfile",
        ".travis.yml",
        "azure-pipelines.yml",
        ".buildkite/pipeline.yml",
        ".gitignore",
        ".gitattributes",
        ".gitmodules",
        "a/b/.gitkeep",
    ],
)
def test_sensitive_paths_are_denied_even_to_catch_all_globs(path):
    assert "sensitive path" in scopes.path_problem(scoped_pod(), path)
    assert "sensitive path" in scopes.path_problem(scoped_pod(allowed_path_globs="**\n*\n**/*.yml"), path)


@pytest.mark.parametrize(
    "allow, path",
    [
        (".github/workflows/**", ".github/workflows/ci.yml"),
        (".github/workflows/ci.yml", ".github/workflows/ci.yml"),
        (".github/workflows/*.yml", ".github/workflows/ci.yml"),
        (".gitignore", ".gitignore"),
        ("**/.gitkeep", "a/b/.gitkeep"),
        ("Jenkinsfile", "Jenkinsfile"),
    ],
)
def test_an_allow_glob_naming_a_sensitive_path_grants_it(allow, path):
    assert scopes.path_problem(scoped_pod(allowed_path_globs=f"outputs/**\n{allow}"), path) is None


def test_naming_one_sensitive_area_does_not_grant_another():
    pod = scoped_pod(allowed_path_globs=".github/workflows/**\n**")
    assert "sensitive" in scopes.path_problem(pod, ".github/actions/a/action.yml")
    assert "sensitive" in scopes.path_problem(pod, "outputs/.gitattributes")
    assert "sensitive" in scopes.path_problem(scoped_pod(allowed_path_globs=".github/**"), ".github/workflows/ci.yml")


def test_configured_sensitive_globs_are_denied_too(settings):
    settings.PATCHGATE = {**settings.PATCHGATE, "SENSITIVE_PATH_GLOBS": ["secrets/**"]}
    assert "sensitive path (secrets/**)" in scopes.path_problem(scoped_pod(), "secrets/key.pem")
    assert scopes.path_problem(scoped_pod(allowed_path_globs="secrets/**"), "secrets/key.pem") is None


def test_deny_globs_win_over_allow_globs():
    pod = scoped_pod(allowed_path_globs="outputs/**", denied_path_globs="# no drafts\noutputs/drafts/**")
    assert scopes.path_problem(pod, "outputs/final.md") is None
    assert "denied" in scopes.path_problem(pod, "outputs/drafts/x.md")
    assert "outside this pod's allowed paths" in scopes.path_problem(pod, "src/app.py")


def test_no_globs_allow_any_ordinary_path_and_branch():
    pod = scoped_pod()
    assert scopes.scope_errors(pod, "any/branch", {"path": "src/deep/app.py"}) == {}


def test_branch_globs_limit_branches():
    pod = scoped_pod(branch_globs="main\nagents/**")
    assert scopes.branch_problem(pod, "main") is None
    assert scopes.branch_problem(pod, "agents/pod-1/task") is None
    assert "branch 'release'" in scopes.branch_problem(pod, "release")


# --- through the API --------------------------------------------------------------


@pytest.fixture
def scoped(repository):
    pod = PodFactory(
        name="scoped",
        repositories=[repository],
        allowed_path_globs="outputs/**\nreasoning_trace.md",
        branch_globs="main",
    )
    return client_for(pod)


def batch(*paths, branch="main"):
    return {
        "branch": branch,
        "commit_message": "Add outputs",
        "files": [{"path": path, "content": "x\n"} for path in paths],
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body, field, named",
    [
        (batch("outputs/a.md", "src/app.py"), "files[1].path", "'src/app.py'"),
        (batch(".github/workflows/ci.yml"), "files[0].path", "'.github/workflows/ci.yml'"),
        (batch("outputs/a.md", branch="release"), "branch", "branch 'release'"),
    ],
)
def test_out_of_scope_writes_answer_403_naming_it_and_store_nothing(scoped, body, field, named):
    response = scoped.post("/api/v1/promotions", body, format="json")
    assert response.status_code == 403
    assert named in response.json()["errors"][field][0]
    assert named in response.json()["detail"]
    assert not Promotion.objects.exists() and not FileChange.objects.exists()


@pytest.mark.django_db
def test_another_repository_answers_403(scoped):
    RepositoryFactory(full_name="acme/other")
    response = scoped.post("/api/v1/promotions", {**batch("outputs/a.md"), "repository": "acme/other"}, format="json")
    assert response.status_code == 403
    assert "acme/other" in response.json()["detail"]
    assert not Promotion.objects.exists()


@pytest.mark.django_db
def test_in_scope_write_is_accepted(scoped):
    response = scoped.post("/api/v1/promotions", batch("outputs/a.md", "reasoning_trace.md"), format="json")
    assert response.status_code == 202
    assert Promotion.objects.get().files.count() == 2


@pytest.mark.django_db
def test_reads_of_paths_out_of_scope_answer_403(scoped):
    refused = scoped.get("/api/v1/files", {"path": ".gitignore"})
    assert refused.status_code == 403
    assert "'.gitignore'" in refused.json()["errors"]["path"][0]
    assert scoped.get("/api/v1/files", {"path": "src/app.py"}).status_code == 403
    assert scoped.get("/api/v1/files", {"path": "outputs/a.md", "branch": "dev"}).status_code == 403
    assert scoped.get("/api/v1/files", {"path": "outputs/missing.md"}).status_code == 404


@pytest.mark.django_db
def test_createpod_records_scope_options(repository, capsys):
    call_command(
        "createpod",
        "scribe",
        "--repository",
        repository.full_name,
        "--allow-path",
        "outputs/**",
        "--allow-path",
        "reasoning_trace.md",
        "--deny-path",
        "outputs/private/**",
        "--branch",
        "agents/*",
    )
    pod = Pod.objects.get(name="scribe")
    assert pod.allowed_path_globs.splitlines() == ["outputs/**", "reasoning_trace.md"]
    assert pod.denied_path_globs == "outputs/private/**"
    assert pod.branch_globs == "agents/*"
    assert capsys.readouterr().out.strip().startswith("pgk_")


@pytest.mark.parametrize("path", ["Secrets/key.pem", "SECRETS/key.pem", "secrets/KEY.pem", "ſecrets/key.pem"])
def test_a_deny_glob_holds_for_every_spelling_a_checkout_folds_together(path):
    pod = scoped_pod(denied_path_globs="secrets/**")
    assert "denied" in scopes.path_problem(pod, path)


def test_a_deny_glob_holds_for_both_unicode_normalisations():
    pod = scoped_pod(denied_path_globs="caf\u00e9/**")  # composed é
    assert "denied" in scopes.path_problem(pod, "cafe\u0301/menu.md")  # decomposed e + accent
    assert "denied" in scopes.path_problem(scoped_pod(denied_path_globs="cafe\u0301/**"), "CAF\u00c9/menu.md")


@pytest.mark.parametrize(
    "path", [".GitHub/workflows/ci.yml", ".github/Workflows/deploy.yml", ".GITLAB-CI.yml", "JENKINSFILE"]
)
def test_sensitive_paths_are_sensitive_in_any_case(path):
    assert "sensitive path" in scopes.path_problem(scoped_pod(allowed_path_globs="**"), path)


def test_allow_globs_match_exactly_so_another_spelling_is_outside_them():
    pod = scoped_pod(allowed_path_globs="outputs/**")
    assert scopes.path_problem(pod, "outputs/a.md") is None
    assert "outside this pod's allowed paths" in scopes.path_problem(pod, "Outputs/a.md")
    assert "outside" in scopes.branch_problem(scoped_pod(branch_globs="agents/*"), "Agents/x")


def test_an_allow_glob_written_in_another_case_still_grants_the_sensitive_path_it_spells_out():
    pod = scoped_pod(allowed_path_globs=".GitHub/workflows/**")
    assert scopes.path_problem(pod, ".GitHub/workflows/ci.yml") is None
    assert "outside" in scopes.path_problem(pod, ".github/workflows/ci.yml")  # allow rules match exactly


@pytest.mark.parametrize(
    "path", ["CODEOWNERS", ".github/CODEOWNERS", "docs/CODEOWNERS", ".github/dependabot.yml", "docs/codeowners"]
)
def test_who_reviews_what_and_dependency_bots_are_sensitive_by_default(path):
    assert "sensitive path" in scopes.path_problem(scoped_pod(allowed_path_globs="**"), path)
    assert "sensitive path" in scopes.path_problem(scoped_pod(allowed_path_globs="**\n.github/**\ndocs/**"), path)


@pytest.mark.parametrize(
    "allow, path", [("CODEOWNERS", "CODEOWNERS"), (".github/dependabot.yml", ".github/dependabot.yml")]
)
def test_naming_codeowners_or_dependabot_grants_it(allow, path):
    assert scopes.path_problem(scoped_pod(allowed_path_globs=allow), path) is None


def test_glob_matching_folds_case_and_normalisation_unless_asked_to_match_exactly():
    assert path_matches("prompts/**", "Prompts/System.md")
    assert path_matches("caf\u00e9.md", "CAFE\u0301.md")
    assert not path_matches("prompts/**", "Prompts/System.md", folded=False)


@pytest.mark.django_db(transaction=True)
def test_an_approval_glob_holds_a_promotion_whatever_the_case_of_its_path(api, repository, inline_worker):
    repository.approval_path_globs = "prompts/**"
    repository.save()
    body = {"commit_message": "x", "files": [{"path": "PROMPTS/system.md", "content": "be kind\n"}]}
    response = api.post("/api/v1/promotions", body, format="json")
    assert response.status_code == 202
    assert Promotion.objects.get(pk=response.json()["id"]).status == Promotion.Status.AWAITING_APPROVAL
