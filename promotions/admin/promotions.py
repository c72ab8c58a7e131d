"""The promotions in the admin: a read-only list and page (diffs, trace, timeline)
with a lead's decisions (approve, reject, retry) as buttons and bulk actions, each a
call to the same service as everywhere else."""

from functools import partial

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from .. import diffs, rendering
from ..errors import DomainError, NotAllowed
from ..models import Promotion
from ..services import promotions as services
from .audit import ReadOnlyAdmin

PROMOTION_OPTIONS = ["mode", "atomic", "commit_message"]


@admin.register(Promotion)
class PromotionAdmin(ReadOnlyAdmin):
    """The leads' audit log. Read-only: a promotion's files and history change only
    through the decisions below, which go through the same services as the API."""

    list_display = ["id", "status_badge", "pod", "repository", "branch", "summary", "created_at"]
    list_display_links = ["id", "summary"]
    list_filter = ["status", "pod", "repository", "branch", ("created_at", admin.DateFieldListFilter)]
    list_select_related = ["pod", "repository"]
    search_fields = ["commit_message", "files__path", "commit_sha"]
    search_help_text = "Searches commit messages, file paths and commit shas."
    ordering = ["-created_at", "-id"]
    actions = ["approve_selected", "reject_selected", "retry_selected"]
    change_form_template = "admin/promotions/promotion/change_form.html"
    fieldsets = [
        (None, {"fields": ["status_badge", "pod", "repository", "branch", "base_branch", *PROMOTION_OPTIONS]}),
        ("Outcome", {"fields": ["commit", "review", "attempts", "last_error", "created_at", "finished_at"]}),
        ("Metadata", {"fields": ["metadata", "idempotency_key"]}),
    ]
    readonly_fields = [str(name) for _, options in fieldsets for name in options["fields"]]

    def has_approve_permission(self, request):
        return services.can_approve(request.user)

    def has_retry_permission(self, request):
        return services.can_retry(request.user)

    @admin.display(description="status", ordering="status")
    def status_badge(self, promotion):
        return rendering.status_badge(promotion.status)

    @admin.display(description="commit message", ordering="commit_message")
    def summary(self, promotion):
        return (promotion.commit_message.splitlines() or [""])[0][:80]

    @admin.display(description="commit")
    def commit(self, promotion):
        if promotion.commit_url:
            return format_html('<a href="{}">{}</a>', promotion.commit_url, promotion.commit_sha)
        return promotion.commit_sha or "-"

    @admin.display(description="review")
    def review(self, promotion):
        if promotion.pull_request_url:
            return format_html('<a href="{}">{}</a>', promotion.pull_request_url, promotion.pull_request_url)
        return promotion.review_branch or "-"

    # --- the promotion page --------------------------------------------------------

    def change_view(self, request, object_id, form_url="", extra_context=None):
        promotion = self._promotion_or_404(request, object_id)
        if not self.has_view_permission(request, promotion):
            raise PermissionDenied
        retryable = promotion.status in services.RETRYABLE_STATUSES
        no_retry = services.retry_refusal(promotion) if retryable else None
        extra_context = {
            **(extra_context or {}),
            "trace_html": rendering.markdown_html(promotion.reasoning_trace),
            "file_diffs": diffs.promotion_diffs(promotion),
            "events": promotion.events.select_related("actor_user"),
            "may_approve": promotion.status == Promotion.Status.AWAITING_APPROVAL
            and self.has_approve_permission(request),
            "may_retry": retryable and not no_retry and self.has_retry_permission(request),
            "no_retry": no_retry,  # why Retry is not offered, where it would conflict again
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        decide = self.admin_site.admin_view(require_POST(self.decision_view))
        decisions = [
            path(
                f"<path:object_id>/{decision}/", decide, {"decision": decision}, name=f"promotions_promotion_{decision}"
            )
            for decision in ("approve", "reject", "retry")
        ]
        file_diff = self.admin_site.admin_view(self.file_diff_view)
        diff_url = path("<path:object_id>/files/<int:file_id>/diff/", file_diff, name="promotions_promotion_file_diff")
        return [*decisions, diff_url, *super().get_urls()]

    def file_diff_view(self, request, object_id, file_id):
        """One file's diff as a piece of the promotion's page, read when the lead opens
        the file (see promotions.diffs for what it costs)."""
        promotion = self._promotion_or_404(request, object_id)
        if not self.has_view_permission(request, promotion):
            raise PermissionDenied
        change = promotion.files.filter(pk=file_id).first()
        if change is None:
            raise Http404("No such file in this promotion.")
        return TemplateResponse(
            request, "admin/promotions/promotion/file_diff.html", {"file": diffs.file_diff(promotion, change)}
        )

    def _promotion_or_404(self, request, object_id) -> Promotion:
        promotion = self.get_object(request, unquote(object_id))
        if promotion is None:
            raise Http404("No such promotion.")
        return promotion

    def decision_view(self, request, object_id, decision):
        promotion = self._promotion_or_404(request, object_id)
        decide, done = {
            "approve": (services.promotion_approve, "approved"),
            "reject": (partial(services.promotion_reject, reason=request.POST.get("reason", "")), "rejected"),
            "retry": (services.promotion_retry, "queued again"),
        }[decision]
        self._decide(request, [promotion], decide, done)
        return redirect(reverse("admin:promotions_promotion_change", args=[promotion.pk]))

    def _decide(self, request, promotions, decide, done: str) -> None:
        """Apply one decision to each promotion and tell the lead what happened;
        a missing permission becomes a 403."""
        moved = []
        for promotion in promotions:
            try:
                if decide(promotion=promotion, acting_user=request.user):
                    moved.append(f"#{promotion.pk}")
                else:
                    self.message_user(request, f"#{promotion.pk} was changed by someone else first.", messages.WARNING)
            except NotAllowed as error:
                raise PermissionDenied(error.detail) from None
            except DomainError as error:
                level = messages.WARNING if error.status == 409 else messages.ERROR
                self.message_user(request, " ".join(sum(error.errors.values(), [])) or error.detail, level)
        if moved:
            self.message_user(request, f"{', '.join(moved)} {done}.", messages.SUCCESS)

    # --- bulk actions of the list --------------------------------------------------

    @admin.action(description="Approve selected promotions", permissions=["approve"])
    def approve_selected(self, request, queryset):
        self._decide(request, queryset, services.promotion_approve, "approved")

    @admin.action(description="Reject selected promotions…", permissions=["approve"])
    def reject_selected(self, request, queryset):
        reason = request.POST.get("reason", "").strip()
        if request.POST.get("confirmed") and reason:
            self._decide(request, queryset, partial(services.promotion_reject, reason=reason), "rejected")
            return None
        # First the lead says why, on a page of its own (as Django's delete confirmation).
        return TemplateResponse(
            request,
            "admin/promotions/promotion/reject_selected.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "promotions": queryset,
                "reason_missing": bool(request.POST.get("confirmed")),
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "title": "Reject promotions",
            },
        )

    @admin.action(description="Retry selected promotions", permissions=["retry"])
    def retry_selected(self, request, queryset):
        self._decide(request, queryset, services.promotion_retry, "queued again")
