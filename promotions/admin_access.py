"""Who may write where, in the admin: repositories, pods with their scopes and
limits, and pods' API keys (issued, rotated, revoked; shown in clear once, on the
page answering the action, and stored only as a hash)."""

from dataclasses import dataclass

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse

from . import services
from .models import ApiKey, Pod, Repository
from .throttling import rate_problem
from .validation import branch_problem, repository_name_problem, trace_path

# Settings that decide where Patchgate writes: changing one re-checks the repository.
WHERE_FIELDS = {"full_name", "backend", "default_branch"}


class RepositoryForm(forms.ModelForm):
    """The same checks as `addrepo`: a valid name and branch, and a repository that
    answers (a new `local` one is created when saved)."""

    class Meta:
        model = Repository
        fields = "__all__"

    def clean_full_name(self):
        full_name = self.cleaned_data["full_name"].strip()
        problem = repository_name_problem(full_name)
        if problem:
            raise forms.ValidationError(f"{full_name!r} {problem}.")
        return full_name

    def clean_default_branch(self):
        branch = self.cleaned_data["default_branch"]
        problem = branch_problem(branch)
        if problem:
            raise forms.ValidationError(f"{branch!r} {problem}.")
        return branch

    def clean_trace_path_template(self):
        template = self.cleaned_data["trace_path_template"].strip()
        if template:
            try:
                trace_path(template, promotion_id=1, pod="pod")
            except ValueError as problem:
                raise forms.ValidationError(f"Trace path template: {problem}.") from None
        return template

    def clean(self):
        cleaned = super().clean()
        if self.errors or not WHERE_FIELDS & set(self.changed_data):
            return cleaned
        candidate = Repository(**{field: cleaned[field] for field in WHERE_FIELDS})
        try:
            services.check_reachable(candidate)
        except services.RepositoryUnreachable as unreachable:
            self.add_error(unreachable.field, str(unreachable))
        return cleaned


@admin.register(Repository)
class RepositoryAdmin(admin.ModelAdmin):
    form = RepositoryForm
    list_display = ["full_name", "backend", "default_branch", "default_mode", "require_base", "require_approval"]
    list_filter = ["backend", "default_mode", "require_approval"]
    search_fields = ["full_name"]

    def save_model(self, request, obj, form, change):
        services.save_repository(obj)


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
    fields = ["prefix", "label", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


class PodForm(forms.ModelForm):
    class Meta:
        model = Pod
        fields = "__all__"

    def clean_throttle_rate(self):
        rate = self.cleaned_data["throttle_rate"].strip()
        problem = rate and rate_problem(rate)
        if problem:
            raise forms.ValidationError(f"Throttle rate {problem}.")
        return rate


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

    @admin.action(description="Issue new key", permissions=["change"])
    def issue_new_key(self, request, queryset):
        issued = [IssuedKey(pod, services.issue_api_key(pod, label="issued in the admin")) for pod in queryset]
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
        issued = [
            IssuedKey(api_key.pod, services.rotate_api_key(api_key), api_key)
            for api_key in queryset.filter(revoked_at__isnull=True).select_related("pod")
        ]
        if not issued:
            self.message_user(request, "Only keys not revoked yet can be rotated.", messages.WARNING)
            return None
        return issued_keys_page(self, request, issued)

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke_selected(self, request, queryset):
        revoked = 0
        for api_key in queryset.filter(revoked_at__isnull=True):
            services.revoke_api_key(api_key)
            revoked += 1
        self.message_user(request, f"{revoked} key(s) revoked: they answer 401 from now on.", messages.SUCCESS)
