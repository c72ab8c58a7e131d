"""The leads' admin without a browser: the audit log, the promotion page, its
buttons and the bulk actions, permissions and sanitising."""

import shutil
from html.parser import HTMLParser

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.test import Client

from promotions.models import Event, FileChange, Promotion, Repository
from promotions.rendering import diff_html, markdown_html
from promotions.scm.local import repository_path
from tests.factories import PodFactory, PromotionFactory, RepositoryFactory
from tests.helpers import Target, client_for

pytestmark = pytest.mark.django_db(transaction=True)
Status = Promotion.Status
LIST_URL = "/admin/promotions/promotion/"


class TagCollector(HTMLParser):
    """The elements and attribute values a browser would see in a piece of HTML."""

    @classmethod
    def of(cls, html):
        collector = cls()
        collector.names, collector.attribute_values = set(), []
        collector.feed(html)
        return collector

    def handle_starttag(self, tag, attrs):
        self.names.add(tag)
        self.attribute_values += [value or "" for _, value in attrs]


def page_url(promotion, suffix="change"):
    return f"{LIST_URL}{promotion.pk}/{suffix}/"


@pytest.fixture
def lead_client(django_user_model):
    client = Client()
    client.force_login(django_user_model.objects.create_superuser("ada", "ada@example.com", "pw"))
    return client


@pytest.fixture
def viewer_client(django_user_model):
    """Staff who may view and retry promotions but not approve them."""
    user = django_user_model.objects.create_user("bob", "bob@example.com", "pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=["view_promotion", "change_promotion"]))
    client = Client()
    client.force_login(user)
    return client


def post_promotion(api, files, **extra):
    body = {"branch": "main", "commit_message": "Tune the prompt", "files": files, **extra}
    response = api.post("/api/v1/promotions", body, format="json")
    assert response.status_code in (200, 202), response.json()
    return Promotion.objects.get(pk=response.json()["id"])


@pytest.fixture
def waiting(api, pod, repository, inline_worker):
    """A promotion changing a file on main, held for approval by its pod's policy."""
    post_promotion(api, [{"path": "prompts/system.md", "content": "Be brief.\nBe kind.\n"}])
    pod.require_approval = True
    pod.save(update_fields=["require_approval"])
    return post_promotion(
        api,
        [{"path": "prompts/system.md", "content": "Be brief.\nBe exact.\n"}],
        reasoning_trace=(
            "## Why\n\nKindness was **vague**.\n\n<script>alert('trace')</script>\n[x](javascript:alert(1))\n"
        ),
    )


@pytest.fixture
def failed(repository, inline_worker, branches_deleted_after_submission):
    """A promotion of another pod, failed: its branch was deleted after it was submitted."""
    tester = client_for(PodFactory(name="tester", repositories=[repository]))
    promotion = post_promotion(tester, [{"path": "outputs/a.md", "content": "a\n"}], branch="nowhere")
    assert promotion.status == Status.FAILED
    return promotion


def test_list_is_newest_first_with_badges_filters_and_search(lead_client, waiting, failed):
    page = lead_client.get(LIST_URL).content.decode()
    assert page.index(f"{page_url(failed)}") < page.index(f"{page_url(waiting)}")
    assert 'class="pg-badge" data-status="awaiting_approval"' in page

    waiting_only = lead_client.get(LIST_URL, {"status__exact": "awaiting_approval"}).content.decode()
    assert page_url(waiting) in waiting_only and page_url(failed) not in waiting_only

    by_path = lead_client.get(LIST_URL, {"q": "prompts/system.md"}).content.decode()
    assert page_url(waiting) in by_path and page_url(failed) not in by_path

    committed = Promotion.objects.get(status=Status.COMMITTED)
    by_sha = lead_client.get(LIST_URL, {"q": committed.commit_sha}).content.decode()
    assert page_url(committed) in by_sha and page_url(waiting) not in by_sha

    by_branch = lead_client.get(LIST_URL, {"branch": "nowhere"}).content.decode()
    assert page_url(failed) in by_branch and page_url(waiting) not in by_branch


def test_pending_page_shows_trace_diff_timeline_and_only_approve_reject(lead_client, waiting):
    page = lead_client.get(page_url(waiting)).content.decode()

    assert "<h2>Why</h2>" in page and "<strong>vague</strong>" in page
    assert "What it would change on main as it is now" in page and "+Be exact." not in page  # read when opened
    diff = lead_client.get(page_url(waiting, f"files/{waiting.files.get().pk}/diff")).content.decode()
    assert '<span class="pg-diff-del">-Be kind.\n</span>' in diff
    assert '<span class="pg-diff-add">+Be exact.\n</span>' in diff
    assert "pending → awaiting_approval" in page and "pod writer requires approval" in page
    assert 'class="button pg-approve"' in page and 'class="button pg-reject-button"' in page
    assert 'class="button pg-retry"' not in page


def test_trace_is_sanitised(lead_client, waiting):
    page = lead_client.get(page_url(waiting)).content.decode()
    assert "<script>alert('trace')" not in page
    assert "&lt;script&gt;alert(" in page
    assert "javascript:" not in page.lower().replace("[x](javascript:alert(1))</p>", "")  # shown as text, not a link
    assert 'href="javascript:' not in page.lower()


@pytest.mark.parametrize(
    "trace",
    [
        "<script>alert(1)</script>",
        "<div><script>alert(1)</script></div>",
        "```\n</code><script>alert(1)</script>\n```",
        "<img src=x onerror=alert(1)>",
        "[a](javascript:alert(1)) <a href='javascript:alert(1)'>b</a>",
        "&lt;script&gt; <SCRIPT>alert(1)</SCRIPT>",
    ],
)
def test_markdown_never_lets_markup_through(trace):
    tags = TagCollector.of(markdown_html(trace))
    assert tags.names <= {"p", "a", "pre", "code"}
    assert not [value for value in tags.attribute_values if "javascript" in value.lower()]


def test_diff_html_escapes_content():
    html = diff_html("--- a/x\n+++ b/x\n@@ -1 +1 @@\n-<b>old</b>\n+<script>x</script>\n")
    assert "<script>" not in html and '<span class="pg-diff-add">+&lt;script&gt;x&lt;/script&gt;\n</span>' in html


def test_failed_page_shows_only_retry(lead_client, failed):
    page = lead_client.get(page_url(failed)).content.decode()
    assert 'class="button pg-retry"' in page
    assert 'class="button pg-approve"' not in page and 'class="button pg-reject-button"' not in page


def test_final_page_shows_no_buttons_and_the_landed_diff(lead_client, waiting):
    committed = Promotion.objects.get(status=Status.COMMITTED)
    page = lead_client.get(page_url(committed)).content.decode()
    assert '<div class="pg-decisions">' not in page
    assert "What it changed:" in page and '<span class="pg-diff-add">+Be kind.\n</span>' in page
    assert f"commit {committed.commit_sha}" in page


def test_approve_button_lands_and_records_the_lead(lead_client, waiting):
    response = lead_client.post(page_url(waiting, "approve"), follow=True)

    assert response.redirect_chain[-1][0] == page_url(waiting)
    waiting.refresh_from_db()
    assert waiting.status == Status.COMMITTED
    assert Target(waiting.repository).read("prompts/system.md") == b"Be brief.\nBe exact.\n"
    page = response.content.decode()
    assert f"#{waiting.pk} approved." in page
    approval = waiting.events.get(from_status=Status.AWAITING_APPROVAL)
    assert (approval.actor_name, approval.to_status) == ("ada", Status.QUEUED)


def test_reject_button_needs_a_reason(lead_client, waiting):
    events = waiting.events.count()
    response = lead_client.post(page_url(waiting, "reject"), {"reason": " "}, follow=True)
    assert "Say why the promotion is rejected." in response.content.decode()
    waiting.refresh_from_db()
    assert (waiting.status, waiting.events.count()) == (Status.AWAITING_APPROVAL, events)

    lead_client.post(page_url(waiting, "reject"), {"reason": "Kindness stays."})
    waiting.refresh_from_db()
    assert waiting.status == Status.REJECTED
    rejection = waiting.events.last()
    assert (rejection.actor_name, rejection.detail) == ("ada", "Kindness stays.")
    assert Target(waiting.repository).read("prompts/system.md") == b"Be brief.\nBe kind.\n"


def test_a_button_that_does_not_apply_changes_nothing(lead_client, failed):
    events = failed.events.count()
    response = lead_client.post(page_url(failed, "approve"), follow=True)
    assert f"Promotion #{failed.pk} is failed: it cannot be approved" in response.content.decode()
    failed.refresh_from_db()
    assert (failed.status, failed.events.count()) == (Status.FAILED, events)


def test_decisions_are_post_only(lead_client, waiting):
    assert lead_client.get(page_url(waiting, "approve")).status_code == 405
    waiting.refresh_from_db()
    assert waiting.status == Status.AWAITING_APPROVAL


def test_staff_without_the_permission_sees_no_approve_and_gets_403(viewer_client, waiting):
    page = viewer_client.get(page_url(waiting)).content.decode()
    assert 'class="button pg-approve"' not in page and 'class="button pg-reject-button"' not in page

    assert viewer_client.post(page_url(waiting, "approve")).status_code == 403
    assert viewer_client.post(page_url(waiting, "reject"), {"reason": "no"}).status_code == 403
    waiting.refresh_from_db()
    assert waiting.status == Status.AWAITING_APPROVAL

    actions = viewer_client.get(LIST_URL).content.decode()
    assert "retry_selected" in actions and "approve_selected" not in actions and "reject_selected" not in actions


def test_staff_without_the_permission_cannot_use_the_bulk_action(viewer_client, waiting):
    response = viewer_client.post(LIST_URL, {"action": "approve_selected", "_selected_action": [waiting.pk]})
    assert response.status_code in (200, 302)
    waiting.refresh_from_db()
    assert waiting.status == Status.AWAITING_APPROVAL


def test_nobody_edits_files_or_history(lead_client, waiting):
    page = lead_client.get(page_url(waiting)).content.decode()
    assert 'name="commit_message"' not in page and 'name="_save"' not in page
    assert lead_client.post(page_url(waiting), {"commit_message": "forged"}).status_code == 403
    assert lead_client.post(page_url(waiting, "delete"), {"post": "yes"}).status_code == 403
    waiting.refresh_from_db()
    assert waiting.commit_message == "Tune the prompt"
    assert not admin.site.is_registered(Event) and not admin.site.is_registered(FileChange)
    event = waiting.events.first()
    event.detail = "forged"
    with pytest.raises(ValueError):
        event.save()


def test_bulk_approve_and_retry(lead_client, waiting, failed, repository):
    response = lead_client.post(
        LIST_URL, {"action": "approve_selected", "_selected_action": [waiting.pk, failed.pk]}, follow=True
    )
    page = response.content.decode()
    assert f"#{waiting.pk} approved." in page and f"Promotion #{failed.pk} is failed" in page
    waiting.refresh_from_db()
    assert waiting.status == Status.COMMITTED

    scm = Target(repository).scm
    scm.create_branch("nowhere", scm.branch_head("main"))
    lead_client.post(LIST_URL, {"action": "retry_selected", "_selected_action": [failed.pk]})
    failed.refresh_from_db()
    assert failed.status == Status.COMMITTED
    assert failed.events.get(from_status=Status.FAILED).actor_name == "ada"


def test_bulk_reject_asks_for_a_reason_first(lead_client, api, pod, waiting):
    other = post_promotion(api, [{"path": "prompts/other.md", "content": "x\n"}])
    selected = {"action": "reject_selected", "_selected_action": [waiting.pk, other.pk]}

    asked = lead_client.post(LIST_URL, selected).content.decode()
    assert 'name="reason"' in asked and f"#{other.pk} Tune the prompt" in asked
    without_reason = lead_client.post(LIST_URL, {**selected, "confirmed": "yes", "reason": ""}).content.decode()
    assert "reason: say why" in without_reason
    assert set(Promotion.objects.filter(pk__in=[waiting.pk, other.pk]).values_list("status", flat=True)) == {
        Status.AWAITING_APPROVAL
    }

    lead_client.post(LIST_URL, {**selected, "confirmed": "yes", "reason": "Not this week."})
    for promotion in (waiting, other):
        promotion.refresh_from_db()
        assert promotion.status == Status.REJECTED
        assert promotion.events.last().detail == "Not this week."


def test_page_survives_an_unreadable_repository(lead_client):
    repository = RepositoryFactory(full_name="acme/gone")
    promotion = PromotionFactory(pod=PodFactory(repositories=[repository]), repository=repository, branch="main")
    change = FileChange.objects.create(promotion=promotion, position=0, path="a.txt", content=b"a\n")
    shutil.rmtree(repository_path(repository.full_name))
    assert lead_client.get(page_url(promotion)).status_code == 200
    diff = lead_client.get(page_url(promotion, f"files/{change.pk}/diff")).content.decode()
    assert "could not read the repository" in diff


@pytest.mark.parametrize(
    "field, value, error",
    [
        ("trace_path_template", "traces/{task}.md", "only {promotion_id} and {pod} can be filled in"),
        ("trace_path_template", "../{promotion_id}.md", "must not contain '..' segments"),
        ("trace_path_template", "traces/{promotion_id", "can be filled in"),
        ("default_branch", "bad..branch", "is not a valid git branch name"),
        ("default_branch", "nowhere", "branch nowhere not found in demo/sandbox"),
        ("full_name", "../escape", "must be OWNER/NAME"),
        ("full_name", "acme", "must be OWNER/NAME"),
    ],
)
def test_repository_settings_that_cannot_work_are_refused_naming_the_field(
    admin_client, repository, field, value, error
):
    url = f"/admin/promotions/repository/{repository.pk}/change/"
    form = {
        "full_name": repository.full_name,
        "backend": repository.backend,
        "default_branch": "main",
        "default_mode": "direct",
        "commit_path": "auto",
        "trace_path_template": "traces/{promotion_id}.md",
        field: value,
    }
    response = admin_client.post(url, form)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == [field] and error in errors[field][0]
    repository.refresh_from_db()
    assert getattr(repository, field) != value

    target = Target(repository)
    target.scm.create_branch("trunk", target.head())
    form[field] = {
        "trace_path_template": "traces/{pod}/{promotion_id}.md",
        "default_branch": "trunk",
        "full_name": "acme/renamed",
    }[field]
    assert admin_client.post(url, form).status_code == 302
    repository.refresh_from_db()
    assert getattr(repository, field) == form[field]


NEW_REPOSITORY = {"default_branch": "main", "default_mode": "direct", "commit_path": "auto", "trace_path_template": ""}


def test_a_local_repository_added_in_the_admin_is_created_with_its_first_commit(admin_client):
    response = admin_client.post(
        "/admin/promotions/repository/add/", {**NEW_REPOSITORY, "full_name": "acme/fresh", "backend": "local"}
    )
    assert response.status_code == 302
    target = Target(Repository.objects.get(full_name="acme/fresh"))
    assert [c.message.strip() for c in target.commits()] == ["Initial commit"]


@pytest.mark.parametrize(
    "full_name, branch, field, error",
    [
        ("acme/absent", "main", "full_name", "repository acme/absent: GitHub answered 404 Not Found"),
        ("acme/site", "trunk", "default_branch", "branch trunk not found in acme/site"),
    ],
)
def test_a_github_repository_is_added_only_when_github_answers_for_it(
    admin_client, github, full_name, branch, field, error
):
    github.create_repository("acme/site")
    form = {**NEW_REPOSITORY, "backend": "github"}
    response = admin_client.post(
        "/admin/promotions/repository/add/", {**form, "full_name": full_name, "default_branch": branch}
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == [field] and error in errors[field][0]
    assert not Repository.objects.exists()

    assert admin_client.post("/admin/promotions/repository/add/", {**form, "full_name": "acme/site"}).status_code == 302
    assert Repository.objects.get().backend == "github"
