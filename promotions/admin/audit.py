"""The Audit log page: every operator action (keys issued, rotated and revoked,
pods and repositories created or changed, a lead's decisions on promotions), who
did it and when, with before -> after for what changed. Read-only."""

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from ..models import AuditEntry


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows only the services write: the admin shows them, and adds, edits or deletes none."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor_name", "actor_kind", "action", "object_type", "object_repr", "changed"]
    list_filter = ["actor_kind", "action", "object_type", "actor_name"]
    search_fields = ["actor_name", "object_repr", "object_id", "detail"]
    search_help_text = "Searches actors, objects and details."
    date_hierarchy = "created_at"
    fields = readonly_fields = (
        "created_at",
        "actor_name",
        "actor_kind",
        "action",
        "object_type",
        "object_id",
        "object_repr",
        "changed",
        "detail",
    )

    @admin.display(description="before → after")
    def changed(self, entry: AuditEntry):
        if not entry.changes:
            return entry.detail or "-"
        return format_html(
            "<ul class='pg-audit-changes'>{}</ul>",
            format_html_join(
                "",
                "<li><b>{}</b>: {} → {}</li>",
                ((field, _shown(before), _shown(after)) for field, (before, after) in entry.changes.items()),
            ),
        )


def _shown(value) -> str:
    if value in (None, "", []):
        return "∅"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)
