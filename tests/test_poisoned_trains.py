"""One pod's promotion that cannot be applied never hurts another pod's: it is set
aside and the rest of its train lands, on every backend. Every file of a final
promotion has a final status, and only what happened to it."""

import pytest
from django.db import connection

from promotions.models import FileChange, Promotion
from promotions.scm.port import ScmRejected
from promotions.services.promotions import promotion_reject
from tests.factories import PodFactory
from tests.helpers import apply, client_for, drain_until_final, fail_chains_carrying, file, results, submit

pytestmark = pytest.mark.django_db
Status = Promotion.Status
FileStatus = FileChange.Status


def with_a_directory_of_its_name(target, promotion, monkeypatch):
    # Stored before submissions were checked for it.
    FileChange.objects.create(promotion=promotion, position=1, path="poison/fd/x", content=b"x\n")
    return "'poison/fd' and 'poison/fd/x' cannot both be files: one would be the other's directory"


def under_a_file_on_the_branch(target, promotion, monkeypatch):
    target.commit_directly({"poison": b"a file\n"})
    return "'poison' is a file on the branch, so it cannot hold 'poison/fd'"


def with_a_message_git_cannot_encode(target, promotion, monkeypatch):
    if connection.vendor == "postgresql":
        pytest.skip("PostgreSQL refuses to store text that cannot be encoded: such a promotion cannot exist there")
    Promotion.objects.filter(pk=promotion.pk).update(metadata={"task_id": "T-\ud800"})
    return "its commit message cannot be encoded as UTF-8 (surrogates not allowed at"


def refused_by_the_host(target, promotion, monkeypatch):
    refusal = "writing the commits: GitHub answered 422 Repository rule violations found"
    fail_chains_carrying(monkeypatch, target, "Pod: poisoner", ScmRejected(refusal))
    return refusal


def failing_in_any_other_way(target, promotion, monkeypatch):
    fail_chains_carrying(monkeypatch, target, "Pod: poisoner", RuntimeError("something nobody foresaw"))
    return "could not be applied: RuntimeError: something nobody foresaw"


@pytest.mark.parametrize(
    "poison",
    [
        with_a_directory_of_its_name,
        under_a_file_on_the_branch,
        with_a_message_git_cannot_encode,
        refused_by_the_host,
        failing_in_any_other_way,
    ],
)
def test_a_poisoned_promotion_is_set_aside_and_the_rest_of_its_train_lands(target, poison, monkeypatch):
    pods = [PodFactory(name=name, repositories=[target.repository]) for name in ("first", "poisoner", "third")]
    paths = {"first": "first.txt", "poisoner": "poison/fd", "third": "third.txt"}
    train = [submit(pod, target.repository, [file(paths[pod.name], f"{pod.name}\n")], message=pod.name) for pod in pods]
    said = poison(target, train[1], monkeypatch)

    first, poisoned, third = drain_until_final(train)
    assert (first.status, third.status) == (Status.COMMITTED, Status.COMMITTED)
    assert target.read("first.txt") == b"first\n" and target.read("third.txt") == b"third\n"
    assert poisoned.status == Status.FAILED and poisoned.commit_sha == ""
    shown = [poisoned.last_error, *poisoned.files.values_list("message", flat=True)]
    assert any(said in text for text in shown), shown
    assert set(results(poisoned)) <= {FileStatus.ERROR, FileStatus.SKIPPED}
    assert not poisoned.files.exclude(new_sha="").exists()
    history = [c.sha for c in target.commits()]
    assert history.index(third.commit_sha) < history.index(first.commit_sha)


def test_a_batch_holding_a_file_and_a_directory_of_one_name_is_refused_at_submit(api):
    body = {
        "commit_message": "m",
        "files": [
            {"path": "t/fd", "content": "a\n"},
            {"path": "t/fd/x", "content": "b\n"},
            {"path": "t/ok", "content": "c"},
        ],
    }
    response = api.post("/api/v1/promotions", body, format="json")
    assert response.status_code == 400 and list(response.json()["errors"]) == ["files[1].path"]
    assert "'t/fd'" in response.json()["errors"]["files[1].path"][0]
    assert not Promotion.objects.exists() and not FileChange.objects.exists()


# --- every file of a final promotion says what happened ----------------------------------


def test_the_files_of_a_promotion_whose_branch_is_gone_are_skipped_saying_why(
    target, monkeypatch, branches_deleted_after_submission
):
    pod = PodFactory(name="lost", repositories=[target.repository])
    monkeypatch.setattr(type(target.scm), "branch_head", lambda self, branch: None)
    monkeypatch.setattr(type(target.scm), "read_tip", lambda self, branch, paths, **options: None)
    promotion = apply(submit(pod, target.repository, [file("a.txt", "a\n"), file("b.txt", "b\n")]))
    assert promotion.status == Status.FAILED
    assert promotion.last_error == "branch main not found in acme/contract"
    for change in promotion.files.all():
        assert (change.status, change.old_sha, change.new_sha) == (FileStatus.SKIPPED, "", "")
        assert change.message == "not applied: the promotion failed: branch main not found in acme/contract"


def test_the_skipped_files_of_an_atomic_conflict_carry_no_sha(target):
    pod = PodFactory(name="careful", repositories=[target.repository])
    apply(submit(pod, target.repository, [file("x.txt", "x\n"), file("ok.txt", "old\n")]))
    promotion = apply(submit(pod, target.repository, [file("ok.txt", "new\n"), file("x.txt", "y\n", base_sha=None)]))
    assert promotion.status == Status.CONFLICT
    skipped, conflict = promotion.files.all()
    assert (skipped.status, skipped.old_sha, skipped.new_sha) == (FileStatus.SKIPPED, "", "")
    assert conflict.status == FileStatus.CONFLICT and conflict.old_sha


def test_the_files_of_a_rejected_promotion_are_skipped_naming_the_lead(repository, django_user_model):
    pod = PodFactory(name="waiting", repositories=[repository], require_approval=True)
    lead = django_user_model.objects.create_superuser("ada", "ada@example.com", "pw")
    promotion = submit(pod, repository, [file("a.txt", "a\n")])
    assert promotion_reject(promotion=promotion, acting_user=lead, reason="Not this week.")
    document = client_for(pod).get(f"/api/v1/promotions/{promotion.pk}").json()
    [result] = document["results"]
    assert result["status"] == "skipped" and result["message"] == "not applied: rejected by ada: Not this week."
    assert result.get("new_sha", "") == ""
