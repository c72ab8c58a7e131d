"""Approval policies and a lead's decisions (approve, reject, retry) through the services."""

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command

from promotions.audit import IllegalTransition
from promotions.errors import InvalidRequest, NotAllowed
from promotions.globs import glob_lines, path_matches
from promotions.models import Event, Pod, Promotion
from promotions.scm import adapter_for
from promotions.services.promotions import promotion_approve, promotion_reject, promotion_retry
from tests.factories import PodFactory, RepositoryFactory
from tests.helpers import Target, client_for

pytestmark = pytest.mark.django_db(transaction=True)
Status = Promotion.Status


def body(*paths, branch="main"):
    return {
        "branch": branch,
        "commit_message": "Tune the prompts",
        "reasoning_trace": "Shorter prompts answered better.",
        "files": [{"path": path, "content": f"{path} v2\n"} for path in paths],
    }


def submit(api, *paths, **kwargs):
    response = api.post("/api/v1/promotions", body(*paths, **kwargs), format="json")
    assert response.status_code in (200, 202), response.json()
    return Promotion.objects.get(pk=response.json()["id"])


@pytest.fixture
def staff_without_approval(django_user_model):
    user = django_user_model.objects.create_user("bob", "bob@example.com", "pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=["view_promotion", "change_promotion"]))
    return user


@pytest.mark.parametrize(
    ("glob", "path", "matches"),
    [
        ("prompts/**", "prompts/system.md", True),
        ("prompts/**", "prompts/a/b/c.md", True),
        ("prompts/**", "outputs/prompts/x.md", False),
        ("config/", "config/app.yml", True),
        ("**/*.md", "notes.md", True),
        ("**/*.md", "a/b/notes.md", True),
        ("*.md", "a/notes.md", False),
        ("secret?.txt", "secret1.txt", True),
        ("secret?.txt", "secret/.txt", False),
    ],
)
def test_globs_follow_gitignore_double_star(glob, path, matches):
    assert path_matches(glob, path) is matches


def test_glob_lines_skip_blanks_and_comments():
    assert glob_lines("prompts/**\n\n  # why\n config/** \n") == ["prompts/**", "config/**"]


def test_pod_policy_waits_and_names_the_policy(api, pod, inline_worker):
    pod.require_approval = True
    pod.save(update_fields=["require_approval"])
    promotion = submit(api, "outputs/a.md")

    assert promotion.status == Status.AWAITING_APPROVAL
    event = promotion.events.last()
    assert (event.from_status, event.to_status) == (Status.PENDING, Status.AWAITING_APPROVAL)
    assert event.detail == "pod writer requires approval"
    assert api.get(f"/api/v1/promotions/{promotion.pk}").json()["status"] == "awaiting_approval"
    assert Target(promotion.repository).read("outputs/a.md") is None


def test_repository_policy_waits(api, repository, inline_worker):
    repository.require_approval = True
    repository.save()
    promotion = submit(api, "outputs/a.md")
    assert promotion.status == Status.AWAITING_APPROVAL
    assert "repository demo/sandbox requires approval" in promotion.events.last().detail


def test_path_globs_hold_only_matching_batches(api, repository, inline_worker):
    repository.approval_path_globs = "config/**\nprompts/**"
    repository.save()

    held = submit(api, "outputs/a.md", "prompts/system.md")
    landed = submit(api, "outputs/b.md", "prompts.md")

    assert held.status == Status.AWAITING_APPROVAL
    assert held.events.last().detail == "prompts/system.md matches prompts/**, which requires approval in demo/sandbox"
    landed.refresh_from_db()
    assert landed.status == Status.COMMITTED


def test_approval_lands_and_records_the_lead(api, pod, lead, inline_worker):
    pod.require_approval = True
    pod.save(update_fields=["require_approval"])
    promotion = submit(api, "outputs/a.md")

    assert promotion_approve(promotion=promotion, acting_user=lead) is True

    promotion.refresh_from_db()
    assert promotion.status == Status.COMMITTED
    assert Target(promotion.repository).read("outputs/a.md") == b"outputs/a.md v2\n"
    approval = promotion.events.get(to_status=Status.QUEUED)
    assert (approval.actor_kind, approval.actor_user, approval.actor_name) == (Event.ActorKind.USER, lead, "ada")
    assert approval.from_status == Status.AWAITING_APPROVAL


def test_reject_needs_a_reason_and_lands_nothing(api, pod, lead, inline_worker):
    pod.require_approval = True
    pod.save(update_fields=["require_approval"])
    promotion = submit(api, "outputs/a.md")
    events_before = promotion.events.count()

    with pytest.raises(InvalidRequest) as error:
        promotion_reject(promotion=promotion, acting_user=lead, reason="   ")
    assert list(error.value.errors) == ["reason"]
    assert promotion.events.count() == events_before

    assert promotion_reject(promotion=promotion, acting_user=lead, reason="Touches the billing prompt.") is True
    document = api.get(f"/api/v1/promotions/{promotion.pk}").json()
    assert document["status"] == "rejected"
    assert document["last_error"] == "rejected: Touches the billing prompt."
    assert promotion.events.last().detail == "Touches the billing prompt."
    assert Target(promotion.repository).read("outputs/a.md") is None


def test_only_the_approve_permission_decides(api, pod, staff_without_approval, inline_worker):
    pod.require_approval = True
    pod.save(update_fields=["require_approval"])
    promotion = submit(api, "outputs/a.md")

    with pytest.raises(NotAllowed):
        promotion_approve(promotion=promotion, acting_user=staff_without_approval)
    with pytest.raises(NotAllowed):
        promotion_reject(promotion=promotion, acting_user=staff_without_approval, reason="no")
    promotion.refresh_from_db()
    assert promotion.status == Status.AWAITING_APPROVAL


def test_a_pod_has_no_route_to_approve_and_cannot_decide(api, pod, django_user_model):
    pod.require_approval = True
    pod.save(update_fields=["require_approval"])
    promotion = submit(api, "outputs/a.md")
    inactive = django_user_model.objects.create_superuser("gone", "gone@example.com", "pw", is_active=False)
    for decider in (pod, inactive):
        with pytest.raises(NotAllowed):
            promotion_approve(promotion=promotion, acting_user=decider)
    for verb in ("approve", "reject", "retry"):
        assert api.post(f"/api/v1/promotions/{promotion.pk}/{verb}", {}, format="json").status_code in (404, 405)
    promotion.refresh_from_db()
    assert promotion.status == Status.AWAITING_APPROVAL


def test_retry_cannot_approve_and_approve_cannot_retry(
    api, pod, lead, inline_worker, branches_deleted_after_submission
):
    pod.require_approval = True
    pod.save(update_fields=["require_approval"])
    waiting = submit(api, "outputs/a.md")
    with pytest.raises(IllegalTransition):
        promotion_retry(promotion=waiting, acting_user=lead)

    pod.require_approval = False

    pod.save(update_fields=["require_approval"])
    failed = submit(api, "outputs/b.md", branch="feature")
    assert failed.status == Status.FAILED
    with pytest.raises(IllegalTransition):
        promotion_approve(promotion=failed, acting_user=lead)


def test_retry_rereads_the_branch(api, repository, lead, inline_worker, branches_deleted_after_submission):
    failed = submit(api, "outputs/a.md", branch="feature")
    assert failed.status == Status.FAILED
    assert "branch feature not found" in failed.last_error

    scm = adapter_for(repository)
    scm.create_branch("feature", scm.branch_head("main"))
    assert promotion_retry(promotion=failed, acting_user=lead) is True

    failed.refresh_from_db()
    assert failed.status == Status.COMMITTED
    assert failed.last_error == ""
    assert scm.branch_head("feature") == failed.commit_sha
    retried = failed.events.get(from_status=Status.FAILED)
    assert (retried.to_status, retried.actor_name, retried.detail) == (Status.QUEUED, "ada", "retried")


def test_createpod_require_approval(capsys):
    RepositoryFactory(full_name="demo/prompts")
    call_command("createpod", "careful", "--repository", "demo/prompts", "--require-approval")
    call_command("createpod", "bold", "--repository", "demo/prompts")
    assert Pod.objects.get(name="careful").require_approval is True
    assert Pod.objects.get(name="bold").require_approval is False


def test_policy_of_another_pod_does_not_apply(repository, inline_worker):
    PodFactory(name="careful", repositories=[repository], require_approval=True)
    bold = PodFactory(name="bold", repositories=[repository])
    assert submit(client_for(bold), "outputs/a.md").status == Status.COMMITTED


def test_retry_of_a_conflict_rereads_the_branch(api, repository, lead, inline_worker):
    target = Target(repository)
    target.commit_directly({"outputs/a.md": b"someone else's\n"})
    create_only = body("outputs/a.md")
    create_only["files"][0]["base_sha"] = None
    response = api.post("/api/v1/promotions", create_only, format="json")
    conflicted = Promotion.objects.get(pk=response.json()["id"])
    assert conflicted.status == Status.CONFLICT

    target.commit_directly({"outputs/a.md": None})  # the other writer withdraws its file
    promotion_retry(promotion=conflicted, acting_user=lead)

    conflicted.refresh_from_db()
    assert conflicted.status == Status.COMMITTED
    assert [f.status for f in conflicted.files.all()] == ["created"]
    assert target.read("outputs/a.md") == b"outputs/a.md v2\n"
