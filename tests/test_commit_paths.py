"""The github adapter's two commit paths against the emulator over real HTTP: signed
commits through GraphQL's createCommitOnBranch where a ruleset requires them (the
seed's batch in one write), the REST path elsewhere, file modes never silently
changed, the exact compare-and-swap, and pull-request mode on the signed path."""

from datetime import timedelta

import pytest
from django.utils import timezone

from promotions.api.schema import SEED_BATCH
from promotions.engine.messages import promotion_ids_in
from promotions.models import GitHubWriteBudget, Promotion, Repository
from promotions.scm.port import NewCommit, TreeWrite
from tests.factories import PodFactory, RepositoryFactory
from tests.helpers import OTHER_WRITER as OTHER
from tests.helpers import Target, apply, client_for, file, results, submit

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("github_graphql_schema")]
Status = Promotion.Status
SIGNED_MAIN = {
    "name": "signed main",
    "enforcement": "active",
    "conditions": {"ref_name": {"include": ["~DEFAULT_BRANCH"], "exclude": []}},
    "rules": [{"type": "required_signatures"}],
}


def emulated(github, full_name: str, commit_path="auto", signed=False, executable: bytes | None = None) -> Repository:
    """A repository in the emulator registered with `commit_path`, with `run.sh`
    executable when given, then a ruleset requiring signatures on main when asked."""
    github.create_repository(full_name)
    repository = RepositoryFactory(full_name=full_name, backend=Repository.Backend.GITHUB, commit_path=commit_path)
    target = Target(repository)
    if executable is not None:
        target.commit_directly({"run.sh": executable}, mode="100755")
    if signed:
        target.scm.github.requester.requestJsonAndCheck("POST", f"/repos/{full_name}/rulesets", input=SIGNED_MAIN)
    return repository


def head_commit(repository: Repository) -> dict:
    return Target(repository).scm.repo.get_commit("main").raw_data


def mode_of(target: Target, path: str) -> str:
    return target.entry(path).mode


def test_the_seed_batch_lands_as_one_verified_commit_in_one_write(github):
    signed = emulated(github, "acme/signed", signed=True)
    pod = PodFactory(name="seeder", repositories=[signed])
    answer = client_for(pod).post(
        "/api/v1/promotions", {**SEED_BATCH.value, "repository": "acme/signed"}, format="json"
    )
    assert answer.status_code == 202, answer.json()
    github.reset_stats()
    promotion = apply(Promotion.objects.get(pk=answer.json()["id"]))
    stats = github.stats()
    assert promotion.status == Status.COMMITTED and set(results(promotion)) == {"created"}
    assert stats["writes"] <= 1 and stats["requests"] <= 4, stats
    commit = head_commit(signed)
    assert commit["sha"] == promotion.commit_sha
    assert commit["commit"]["verification"]["verified"] is True
    assert promotion_ids_in(commit["commit"]["message"]) == {promotion.pk}
    assert "Pod: seeder" in commit["commit"]["message"]


def test_without_the_rule_the_rest_path_lands_as_today(github):
    plain = emulated(github, "acme/plain")
    pod = PodFactory(name="writer", repositories=[plain])
    github.reset_stats()
    promotion = apply(submit(pod, plain, [file("a.txt", "a\n")]))
    stats = github.stats()
    assert promotion.status == Status.COMMITTED
    assert stats["writes"] == 3  # a tree, a commit, the ref moved by updateRefs: no commit mutation
    commit = head_commit(plain)
    assert commit["commit"]["verification"]["verified"] is False and commit["commit"]["author"]["name"] == "writer"


def test_the_rules_are_read_once_for_several_promotions(github):
    signed = emulated(github, "acme/signed", signed=True)
    pod = PodFactory(name="writer", repositories=[signed])
    apply(submit(pod, signed, [file("one.txt", "1\n")]))
    github.reset_stats()
    apply(submit(pod, signed, [file("two.txt", "2\n")]))
    assert "GET /repos/{owner}/{repo}/rules/branches/{branch}" not in github.stats()["by_route"]


def test_the_rest_path_forced_on_a_signed_branch_fails_with_githubs_refusal(github):
    signed = emulated(github, "acme/signed", commit_path="rest", signed=True)
    pod = PodFactory(name="writer", repositories=[signed])
    before = Target(signed).head()
    promotion = apply(submit(pod, signed, [file("a.txt", "a\n")]))
    assert promotion.status == Status.FAILED
    assert "Repository rule violations found" in promotion.last_error
    assert "Commits must have verified signatures" in promotion.last_error
    assert Target(signed).head() == before


def test_an_executable_on_a_signed_branch_is_refused_naming_its_mode(github):
    signed = emulated(github, "acme/signed", signed=True, executable=b"#!/bin/sh\n")
    pod = PodFactory(name="writer", repositories=[signed])
    target = Target(signed)
    before = target.head()
    atomic = apply(submit(pod, signed, [file("notes.md", "n\n"), file("run.sh", "#!/bin/sh\necho bye\n")]))
    assert atomic.status == Status.FAILED and results(atomic) == ["skipped", "error"]
    message = atomic.files.get(path="run.sh").message
    assert "mode 100755 (an executable) cannot be kept" in message and "requires signed commits" in message
    assert target.head() == before
    loose = apply(submit(pod, signed, [file("notes.md", "n\n"), file("run.sh", "x\n")], atomic=False))
    assert loose.status == Status.COMMITTED and results(loose) == ["created", "error"]
    assert target.read("run.sh") == b"#!/bin/sh\n" and mode_of(target, "run.sh") == "100755"
    asked = apply(submit(pod, signed, [file("tool.sh", "#!/bin/sh\n", mode="100755")]))
    assert results(asked) == ["error"] and "100755" in asked.files.get().message
    plain = apply(submit(pod, signed, [file("run.sh", "#!/bin/sh\necho plain\n", mode="100644")]))
    assert plain.status == Status.COMMITTED and mode_of(target, "run.sh") == "100644"


def test_an_executable_takes_the_rest_path_where_signatures_are_not_required(github):
    graphql = emulated(github, "acme/fast", commit_path="graphql", executable=b"#!/bin/sh\n")
    pod = PodFactory(name="writer", repositories=[graphql])
    target = Target(graphql)
    github.reset_stats()
    kept = apply(submit(pod, graphql, [file("run.sh", "#!/bin/sh\necho bye\n")]))
    assert kept.status == Status.COMMITTED and mode_of(target, "run.sh") == "100755"
    assert github.stats()["writes"] == 3  # a tree, a commit, the ref moved by updateRefs
    assert head_commit(graphql)["commit"]["verification"]["verified"] is False
    github.reset_stats()
    apply(submit(pod, graphql, [file("notes.md", "n\n")]))
    assert github.stats()["writes"] == 1 and head_commit(graphql)["commit"]["verification"]["verified"]


def test_a_branch_moved_before_the_mutation_is_replanned_with_one_commit(github, monkeypatch):
    """STALE_DATA: the first mutation is refused, the train is re-read and lands once,
    on top of the other writer's commit, their file kept."""
    signed = emulated(github, "acme/signed", signed=True)
    pod = PodFactory(name="writer", repositories=[signed])
    target = Target(signed)
    promotion = submit(pod, signed, [file("shared.md", "mine\n")])
    adapter = type(target.scm)
    real = adapter.commit_onto_branch
    theirs = []

    def someone_commits_first(self, branch, expected, commits):
        if not theirs:
            theirs.append(real(self, branch, expected, [NewCommit([TreeWrite("theirs.md", b"t\n")], "theirs", OTHER)]))
        return real(self, branch, expected, commits)

    monkeypatch.setattr(adapter, "commit_onto_branch", someone_commits_first)
    github.reset_stats()
    promotion = apply(promotion)
    assert promotion.status == Status.COMMITTED and results(promotion) == ["created"]
    history = target.commits()
    assert [c.sha for c in history[:2]] == [promotion.commit_sha, theirs[0][0]]
    assert sum(promotion.pk in promotion_ids_in(c.message) for c in history) == 1
    assert target.read("theirs.md") == b"t\n"
    assert github.stats()["writes"] == 3  # theirs, ours refused as stale, ours again


def test_pull_request_mode_commits_signed_onto_the_review_branch(github):
    signed = emulated(github, "acme/signed", signed=True)
    pod = PodFactory(name="writer", repositories=[signed])
    target = Target(signed)
    before = target.head()
    promotion = apply(submit(pod, signed, [file("proposal.md", "p\n")], mode=Promotion.Mode.PULL_REQUEST))
    assert promotion.status == Status.PR_OPEN and promotion.pull_request_url
    assert target.head() == before
    review = target.scm.repo.get_commit(promotion.commit_sha).raw_data
    assert review["commit"]["verification"]["verified"] is True and review["parents"][0]["sha"] == before
    assert target.read("proposal.md", branch=promotion.review_branch) == b"p\n"


def test_a_rate_limited_mutation_waits_for_githubs_time_and_a_lost_answer_lands_once(github):
    signed = emulated(github, "acme/signed", signed=True)
    pod = PodFactory(name="writer", repositories=[signed])
    github.inject({"kind": "secondary_rate_limit", "retry_after": 90, "method": "POST", "path": "/graphql$"})
    limited = apply(submit(pod, signed, [file("a.txt", "a\n")]))
    assert limited.status == Status.RETRYING and "rate limit" in limited.last_error.lower()
    assert abs((limited.not_before - timezone.now()).total_seconds() - 90) < 5

    # The mutation lands but its answer is lost: the retry finds the commit by its trailer.
    github.inject({"kind": "drop_after_write", "method": "POST", "path": "/graphql$"})
    Promotion.objects.filter(pk=limited.pk).update(not_before=timezone.now() - timedelta(seconds=1))
    GitHubWriteBudget.objects.update(state={})  # Patchgate's own pause until GitHub's time
    dropped = apply(limited)
    assert dropped.status == Status.RETRYING
    Promotion.objects.filter(pk=dropped.pk).update(not_before=timezone.now() - timedelta(seconds=1))
    landed = apply(dropped)
    assert landed.status == Status.COMMITTED
    history = Target(signed).commits()
    assert history[0].sha == landed.commit_sha
    assert sum(landed.pk in promotion_ids_in(c.message) for c in history) == 1


def test_a_mode_other_than_regular_or_executable_or_on_a_delete_is_refused_naming_the_field(api):
    files = [
        {"path": "a.sh", "content": "a\n", "mode": "120000"},
        {"path": "b.sh", "operation": "delete", "mode": "100755"},
    ]
    answer = api.post("/api/v1/promotions", {"commit_message": "m", "files": files}, format="json")
    assert answer.status_code == 400
    assert set(answer.json()["errors"]) == {"files[0].mode", "files[1].mode"}
    assert not Promotion.objects.exists()
