"""A lead in a real browser: find a pod's pending promotion, read its trace and
diff, approve it and see it land, reject another, retry a failed one."""

import pytest
from playwright.sync_api import expect

from promotions.models import Promotion
from tests.factories import PodFactory
from tests.helpers import Target, client_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
Status = Promotion.Status


def post_promotion(pod, path, content, **extra):
    body = {
        "branch": "main",
        "commit_message": f"Update {path}",
        "files": [{"path": path, "content": content}],
        **extra,
    }
    response = client_for(pod).post("/api/v1/promotions", body, format="json")
    assert response.status_code in (200, 202), response.json()
    return Promotion.objects.get(pk=response.json()["id"])


@pytest.fixture
def careful_pod(repository, inline_worker):
    """A pod whose work waits for a lead, with a prompt already on main."""
    pod = PodFactory(name="careful", repositories=[repository])
    post_promotion(pod, "prompts/system.md", "Be brief.\nBe kind.\n")
    pod.require_approval = True
    pod.save(update_fields=["require_approval"])
    return pod


def open_promotion(page, promotion):
    """With the mouse: filter the audit log to waiting promotions, click the one."""
    page.goto("/admin/promotions/promotion/")
    page.get_by_role("link", name=promotion.status.replace("_", " ").title(), exact=True).click()
    page.get_by_role("link", name=promotion.commit_message).click()
    expect(page.locator("h2", has_text="Reasoning trace")).to_be_visible()


def timeline_row(page, change):
    return page.locator("#pg-timeline tr.pg-event", has_text=change)


def test_lead_reads_trace_and_diff_then_approves_and_it_lands(admin_page, careful_pod, repository):
    promotion = post_promotion(
        careful_pod,
        "prompts/system.md",
        "Be brief.\nBe exact.\n",
        reasoning_trace="## Why\n\nKindness was **vague**.\n\n<script>window.pwned = true</script>\n",
    )
    open_promotion(admin_page, promotion)

    trace = admin_page.locator("#pg-trace .pg-markdown")
    expect(trace.locator("h2")).to_have_text("Why")
    expect(trace.locator("strong")).to_have_text("vague")
    expect(trace).to_contain_text("<script>window.pwned = true</script>")  # shown as text, never run
    assert admin_page.evaluate("window.pwned") is None
    expect(admin_page.locator(".pg-diff-del")).to_have_count(0)  # read from the repository when opened
    admin_page.get_by_text("What it would change on main as it is now").click()
    expect(admin_page.locator(".pg-diff-del")).to_have_text("-Be kind.\n")
    expect(admin_page.locator(".pg-diff-add")).to_have_text("+Be exact.\n")
    expect(admin_page.locator(".pg-retry")).to_have_count(0)

    admin_page.get_by_role("button", name="Approve").click()

    expect(admin_page.locator(".messagelist")).to_contain_text(f"#{promotion.pk} approved.")
    expect(admin_page.locator(".field-status_badge .pg-badge")).to_have_text("committed")
    expect(timeline_row(admin_page, "awaiting_approval → queued")).to_contain_text("ada")
    expect(timeline_row(admin_page, "applying → committed")).to_be_visible()
    expect(admin_page.get_by_role("button", name="Approve")).to_have_count(0)
    assert Target(repository).read("prompts/system.md") == b"Be brief.\nBe exact.\n"


def test_lead_rejects_with_a_reason(admin_page, careful_pod, repository):
    promotion = post_promotion(careful_pod, "prompts/system.md", "Be rude.\n")
    open_promotion(admin_page, promotion)

    admin_page.get_by_label("Reason for rejecting:").fill("Rudeness is not a policy.")
    admin_page.get_by_role("button", name="Reject").click()

    expect(admin_page.locator(".field-status_badge .pg-badge")).to_have_text("rejected")
    row = timeline_row(admin_page, "awaiting_approval → rejected")
    expect(row).to_contain_text("ada")
    expect(row).to_contain_text("Rudeness is not a policy.")
    assert Target(repository).read("prompts/system.md") == b"Be brief.\nBe kind.\n"


def test_lead_retries_a_failed_promotion(admin_page, repository, inline_worker, branches_deleted_after_submission):
    pod = PodFactory(name="hasty", repositories=[repository])
    promotion = post_promotion(pod, "outputs/a.md", "a\n", branch="release")
    assert promotion.status == Status.FAILED
    scm = Target(repository).scm
    scm.create_branch("release", scm.branch_head("main"))  # what the pod needed is there now
    open_promotion(admin_page, promotion)
    expect(admin_page.get_by_role("button", name="Approve")).to_have_count(0)

    admin_page.get_by_role("button", name="Retry").click()

    expect(admin_page.locator(".field-status_badge .pg-badge")).to_have_text("committed")
    expect(timeline_row(admin_page, "failed → queued")).to_contain_text("ada")
    assert Target(repository).read("outputs/a.md", branch="release") == b"a\n"


def test_lead_approves_from_the_list(admin_page, careful_pod, repository):
    first = post_promotion(careful_pod, "prompts/a.md", "a\n")
    second = post_promotion(careful_pod, "prompts/b.md", "b\n")

    admin_page.goto("/admin/promotions/promotion/?status__exact=awaiting_approval")
    for promotion in (first, second):
        admin_page.locator(f"input.action-select[value='{promotion.pk}']").check()
    admin_page.locator("select[name=action]").select_option("approve_selected")
    admin_page.get_by_role("button", name="Go").click()

    expect(admin_page.locator(".messagelist")).to_contain_text(f"#{second.pk}, #{first.pk} approved.")
    assert Target(repository).read("prompts/b.md") == b"b\n"
    assert set(Promotion.objects.filter(pk__in=[first.pk, second.pk]).values_list("status", flat=True)) == {
        Status.COMMITTED
    }
