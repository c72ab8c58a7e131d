"""The audit log: every operator action (commands, the admin's key, pod and
repository actions, a lead's decisions) leaves a row naming its actor, in the same
transaction, shown read-only on the admin's "Audit log" page."""

from io import StringIO

import pytest
from django.core.management import call_command

from promotions.audit import Actor
from promotions.errors import InvalidRequest
from promotions.models import ApiKey, AuditEntry, Pod, Repository
from promotions.services.access import pod_save

pytestmark = pytest.mark.django_db
AUDIT_URL = "/admin/promotions/auditentry/"


def entries(action=None):
    rows = AuditEntry.objects.order_by("id")
    return list(rows.filter(action=action) if action else rows)


def test_commands_record_their_actions_with_the_command_as_actor(capsys):
    call_command("addrepo", "acme/tools", stdout=StringIO())
    call_command("createpod", "scout", "--repository", "acme/tools", "--allow-path", "outputs/**", stdout=StringIO())

    [register] = entries("repository.register")
    assert register.actor_name == "manage.py addrepo" and register.actor_kind == "system"
    assert register.object_repr == "acme/tools" and register.changes["full_name"] == [None, "acme/tools"]
    [created] = entries("pod.create")
    assert created.actor_name == "manage.py createpod"
    assert created.changes["allowed_path_globs"] == [None, "outputs/**"]
    assert created.changes["repositories"] == [None, ["acme/tools"]]
    [issued] = entries("key.issue")
    assert issued.object_id == str(ApiKey.objects.get(pod__name="scout").pk)


def test_a_refused_command_records_nothing():
    with pytest.raises(Exception, match="must be OWNER/NAME"):
        call_command("addrepo", "../escape", stdout=StringIO())
    assert entries() == []


def test_admin_key_actions_are_audited_with_the_lead(admin_client, admin_user, pod):
    admin_client.post("/admin/promotions/pod/", {"action": "issue_new_key", "_selected_action": [pod.pk]})
    first = pod.api_keys.order_by("id").first()
    admin_client.post("/admin/promotions/apikey/", {"action": "rotate_selected", "_selected_action": [first.pk]})
    newest = pod.api_keys.order_by("id").last()
    admin_client.post("/admin/promotions/apikey/", {"action": "revoke_selected", "_selected_action": [newest.pk]})

    lead_rows = [e for e in entries() if e.actor_kind == "user"]
    assert [e.action for e in lead_rows] == ["key.issue", "key.issue", "key.revoke", "key.rotate", "key.revoke"]
    assert {e.actor_name for e in lead_rows} == {admin_user.username}
    assert all(e.actor_user_id == admin_user.pk for e in lead_rows)


def test_a_pods_scope_change_in_the_admin_records_before_and_after(admin_client, admin_user, pod, repository):
    form = {
        "name": pod.name,
        "is_active": "on",
        "repositories": [repository.pk],
        "branch_globs": "",
        "allowed_path_globs": "outputs/**",
        "denied_path_globs": "secrets/**",
        "throttle_rate": "30/min",
        "api_keys-TOTAL_FORMS": "0",
        "api_keys-INITIAL_FORMS": "0",
    }
    response = admin_client.post(f"/admin/promotions/pod/{pod.pk}/change/", form)
    assert response.status_code == 302, response.content[:2000]

    [change] = entries("pod.change")
    assert change.actor_name == admin_user.username
    assert change.changes == {
        "allowed_path_globs": ["", "outputs/**"],
        "denied_path_globs": ["", "secrets/**"],
        "throttle_rate": ["", "30/min"],
    }


def test_an_invalid_pod_change_is_refused_on_the_form_and_records_nothing(admin_client, pod, repository):
    form = {"name": pod.name, "is_active": "on", "repositories": [repository.pk], "throttle_rate": "lots"}
    form.update({"api_keys-TOTAL_FORMS": "0", "api_keys-INITIAL_FORMS": "0"})
    response = admin_client.post(f"/admin/promotions/pod/{pod.pk}/change/", form)
    assert response.status_code == 200
    assert "throttle_rate" in response.context["adminform"].form.errors
    assert entries("pod.change") == []
    with pytest.raises(InvalidRequest) as refusal:
        pod_save(pod=Pod(name="x", throttle_rate="lots"), actor=Actor.system("tests"), changes={})
    assert list(refusal.value.errors) == ["throttle_rate"]


def test_repositories_added_and_changed_in_the_admin_are_audited(admin_client, admin_user):
    form = {
        "full_name": "acme/fresh",
        "backend": "local",
        "default_branch": "main",
        "default_mode": "direct",
        "commit_path": "auto",
    }
    assert admin_client.post("/admin/promotions/repository/add/", form).status_code == 302
    repository = Repository.objects.get(full_name="acme/fresh")
    form["require_approval"] = "on"
    assert admin_client.post(f"/admin/promotions/repository/{repository.pk}/change/", form).status_code == 302

    [registered] = entries("repository.register")
    [changed] = entries("repository.change")
    assert registered.actor_name == changed.actor_name == admin_user.username
    assert changed.changes == {"require_approval": [False, True]}


def test_the_admin_index_links_the_audit_log_which_filters_by_actor_and_object(admin_client, pod):
    index = admin_client.get("/admin/").content.decode()
    assert f'href="{AUDIT_URL}"' in index and "Audit log" in index
    call_command("addrepo", "acme/tools", stdout=StringIO())

    page = admin_client.get(AUDIT_URL, {"actor_name": "manage.py addrepo"})
    assert page.status_code == 200
    shown = [entry.object_repr for entry in page.context["cl"].result_list]
    assert shown == ["acme/tools"]
    assert admin_client.get(AUDIT_URL, {"object_type": "apikey"}).context["cl"].result_count == 1  # the pod's key
    assert admin_client.get(f"{AUDIT_URL}add/").status_code == 403


def test_audit_rows_are_append_only():
    row = AuditEntry.objects.create(actor_kind="system", actor_name="t", action="x", object_type="y", object_id="1")
    with pytest.raises(ValueError):
        row.save()
    with pytest.raises(ValueError):
        row.delete()
