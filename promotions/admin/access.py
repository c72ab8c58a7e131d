"""Who may write where, in the admin: repositories, pods with their scopes and
limits, and pods' API keys (issued, rotated, revoked; shown in clear once, on the
page answering the action, and stored only as a hash)."""

from dataclasses import dataclass

from django import forms
from django.contrib import admin, messages
from django.db.models import Model, QuerySet
from django.template.response import TemplateResponse

from ..audit import Actor, Changes
from ..errors import DomainError
from ..models import ApiKey, Pod, Repository
from ..services import access as services


def form_changes(form: forms.ModelForm) -> Changes:
    """What the lead changed in a form, as the audit keeps it: field -> [before, after]."""
    return {
        name: [_audit_value(form.initial.get(name)), _audit_value(form.cleaned_data.get(name))]
        for name in form.changed_data
    }


def _audit_value(value):
    if isinstance(value, (list, tuple, QuerySet)):
        return sorted(str(item) for item in value)
    if isinstance(value, Model):
        return str(value)
    return value


class ServiceCheckedForm(forms.ModelForm):
    """A form whose object the service checks before saving it: the service's
    refusals show on the form's fields, so nothing invalid is ever saved."""

    def check_with_service(self, candidate) -> None:
        raise NotImplementedError

    def _post_clean(self):
        super()._post_clean()  # the instance now holds the submitted values
        if self.errors:
            return
        try:
            self.check_with_service(self.instance)
        except DomainError as refusal:
            for field, messages_of_field in refusal.errors.items():
                self.add_error(field if field in self.fields else None, messages_of_field)


class RepositoryForm(ServiceCheckedForm):
    """The same checks as `addrepo`: a valid name and branch, and a repository that
    answers (a new `local` one is created when saved)."""

    class Meta:
        model = Repository
        fields = [
            "full_name",
            "backend",
            "default_branch",
            "commit_path",
            "require_base",
            "require_approval",
            "approval_path_globs",
            "default_mode",
            "trace_path_template",
        ]

    def check_with_service(self, candidate) -> None:
        services.repository_check(candidate, set(self.changed_data))


@admin.register(Repository)
class RepositoryAdmin(admin.ModelAdmin):
    form = RepositoryForm
    list_display = [
        "full_name",
        "backend",
        "default_branch",
        "default_mode",
        "commit_path",
        "require_base",
        "require_approval",
    ]
    list_filter = ["backend", "default_mode", "commit_path", "require_approval"]
    search_fields = ["full_name"]

    def save_model(self, request, obj, form, change):
        services.repository_save(repository=obj, actor=Actor.of_user(request.user), changes=form_changes(form))


@dataclass(frozen=True)
class IssuedKey:
    pod: Pod
    raw_key: str
    replaces: ApiKey | None = None


def issued_keys_page(model_admin: admin.ModelAdmin, request, issued: list[IssuedKey]) -> TemplateResponse:
    """The only place a new key is shown: this answer, never a message (messages can
    end up in the session table)."""
    return TemplateResponse(
        request,
        "admin/promotions/issued_keys.html",
        {
            **model_admin.admin_site.each_context(request),
            "opts": model_admin.opts,
            "issued_keys": issued,
            "title": "New API keys",
        },
    )


class ApiKeyInline(admin.TabularInline):
    """A pod's keys at a glance; they change only through the actions."""

    model = ApiKey
    extra = 0
    fields = readonly_fields = ("prefix", "label", "created_at", "last_used_at", "revoked_at")
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


class PodForm(ServiceCheckedForm):
    class Meta:
        model = Pod
        fields = [
            "name",
            "is_active",
            "repositories",
            "require_approval",
            "branch_globs",
            "allowed_path_globs",
            "denied_path_globs",
            "throttle_rate",
        ]

    def check_with_service(self, candidate) -> None:
        services.pod_check(candidate)


@admin.register(Pod)
class PodAdmin(admin.ModelAdmin):
    form = PodForm
    list_display = ["name", "is_active", "require_approval", "throttle_rate", "created_at"]
    list_filter = ["is_active", "require_approval", "repositories"]
    search_fields = ["name"]
    filter_horizontal = ["repositories"]
    fieldsets = [
        (None, {"fields": ["name", "is_active", "repositories", "require_approval"]}),
        (
            "Scope",
            {
                "fields": ["branch_globs", "allowed_path_globs", "denied_path_globs"],
                "description": (
                    "Globs as in .gitignore: * within a folder, ** across folders. CI configuration and .git* "
                    "files stay denied unless an allowed glob names them, e.g. .github/workflows/**."
                ),
            },
        ),
        ("Limits", {"fields": ["throttle_rate"]}),
    ]
    inlines = [ApiKeyInline]
    actions = ["issue_new_key"]

    def save_model(self, request, obj, form, change):
        services.pod_save(pod=obj, actor=Actor.of_user(request.user), changes=form_changes(form))

    @admin.action(description="Issue new key", permissions=["change"])
    def issue_new_key(self, request, queryset):
        actor = Actor.of_user(request.user)
        issued = [
            IssuedKey(pod, services.key_issue(pod=pod, actor=actor, label="issued in the admin")) for pod in queryset
        ]
        return issued_keys_page(self, request, issued)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["prefix", "pod", "label", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["pod", ("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["pod"]
    search_fields = ["prefix", "label", "pod__name"]
    fields = ["pod", "prefix", "label", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["pod", "prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["rotate_selected", "revoke_selected"]

    def has_add_permission(self, request):
        return False  # a key is issued from its pod, so that it can be shown once

    def has_delete_permission(self, request, obj=None):
        return False  # revoked keys stay, for the record of who held what

    @admin.action(description="Rotate: issue a new key, revoke this one", permissions=["change"])
    def rotate_selected(self, request, queryset):
        actor = Actor.of_user(request.user)
        issued = [
            IssuedKey(api_key.pod, services.key_rotate(api_key=api_key, actor=actor), api_key)
            for api_key in queryset.filter(revoked_at__isnull=True).select_related("pod")
        ]
        if not issued:
            self.message_user(request, "Only keys not revoked yet can be rotated.", messages.WARNING)
            return None
        return issued_keys_page(self, request, issued)

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke_selected(self, request, queryset):
        actor = Actor.of_user(request.user)
        revoked = sum(services.key_revoke(api_key=api_key, actor=actor) for api_key in queryset.select_related("pod"))
        self.message_user(request, f"{revoked} key(s) revoked: they answer 401 from now on.", messages.SUCCESS)
