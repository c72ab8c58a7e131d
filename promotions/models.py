"""Patchgate's records: who may write where, what they asked for, what happened.

State changes of a Promotion happen only through promotions.audit.transition,
which records an Event for each; every operator action records an AuditEntry.
Neither is ever edited or deleted.
"""

from django.conf import settings
from django.db import models


class Repository(models.Model):
    class Backend(models.TextChoices):
        LOCAL = "local", "Local bare repository"
        GITHUB = "github", "GitHub"

    full_name = models.CharField("owner/name", max_length=200, unique=True)
    backend = models.CharField(max_length=10, choices=Backend.choices, default=Backend.LOCAL)
    default_branch = models.CharField(max_length=255, default="main")
    require_base = models.BooleanField(
        default=False,
        help_text="Refuse writes that do not say which version of the file the pod read (base_sha).",
    )
    require_approval = models.BooleanField(default=False, help_text="Every promotion waits for a lead's approval.")
    approval_path_globs = models.TextField(
        blank=True, help_text="One glob per line (e.g. prompts/**): promotions touching them wait for approval."
    )
    default_mode = models.CharField(
        max_length=20, choices=[("direct", "direct"), ("pull_request", "pull_request")], default="direct"
    )
    trace_path_template = models.CharField(
        max_length=255,
        blank=True,
        help_text="Also commit the reasoning trace as this file, e.g. traces/{promotion_id}.md (empty: do not).",
    )

    class CommitPath(models.TextChoices):
        AUTO = "auto", "auto: GraphQL where the branch requires signed commits, else REST"
        GRAPHQL = "graphql", "GraphQL createCommitOnBranch (signed, one write per commit)"
        REST = "rest", "REST Git Data API (keeps authors and file modes)"

    commit_path = models.CharField(
        max_length=10,
        choices=CommitPath.choices,
        default=CommitPath.AUTO,
        help_text="How commits reach GitHub (github backend only); see the README's GitHub section.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "repositories"
        ordering = ["full_name"]

    def __str__(self):
        return self.full_name


class Pod(models.Model):
    name = models.CharField(max_length=100, unique=True)
    repositories = models.ManyToManyField(Repository, related_name="pods", blank=True)
    is_active = models.BooleanField(default=True)
    require_approval = models.BooleanField(default=False, help_text="Every promotion of this pod waits for approval.")
    branch_globs = models.TextField(blank=True, help_text="One glob per line; empty: any branch of its repositories.")
    allowed_path_globs = models.TextField(blank=True, help_text="One glob per line; empty: any path.")
    denied_path_globs = models.TextField(blank=True, help_text="One glob per line, checked before the allowed ones.")
    throttle_rate = models.CharField(
        max_length=20, blank=True, help_text="e.g. 120/min; empty: the default from settings."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    # DRF's throttles and permissions ask request.user this; an authenticated request's user is a Pod.
    is_authenticated = True


class ApiKey(models.Model):
    """A pod's bearer key. Only its SHA-256 is kept: keys are long random strings,
    so a fast hash is enough and lets a request find its key with one indexed lookup."""

    pod = models.ForeignKey(Pod, on_delete=models.CASCADE, related_name="api_keys")
    label = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=16, help_text="The first characters, to recognise a key.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.prefix}… ({self.pod})"


class Promotion(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        QUEUED = "queued"
        APPLYING = "applying"
        RETRYING = "retrying"
        AWAITING_APPROVAL = "awaiting_approval"
        COMMITTED = "committed"
        NO_CHANGES = "no_changes"
        CONFLICT = "conflict"
        FAILED = "failed"
        REJECTED = "rejected"
        PR_OPEN = "pr_open"

    FINAL_STATUSES = frozenset(
        {Status.COMMITTED, Status.NO_CHANGES, Status.CONFLICT, Status.FAILED, Status.REJECTED, Status.PR_OPEN}
    )

    class Mode(models.TextChoices):
        DIRECT = "direct"
        PULL_REQUEST = "pull_request"

    # No index of their own: the composite indexes below start with each (a promotion is
    # written once per POST and every index is a write more).
    pod = models.ForeignKey(Pod, on_delete=models.PROTECT, related_name="promotions", db_index=False)
    repository = models.ForeignKey(Repository, on_delete=models.PROTECT, related_name="promotions", db_index=False)
    branch = models.CharField(max_length=255)
    base_branch = models.CharField(
        max_length=255,
        blank=True,
        help_text="Where the pod asked to create the branch from, if it did not exist; empty: it had to exist.",
    )
    commit_message = models.TextField()
    reasoning_trace = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    atomic = models.BooleanField(default=True)
    mode = models.CharField(max_length=20, choices=Mode.choices, default=Mode.DIRECT)
    # NULL, not "": the unique constraint holds only among promotions that sent a key.
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    request_fingerprint = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    commit_sha = models.CharField(max_length=40, blank=True)
    commit_url = models.URLField(max_length=500, blank=True)
    review_branch = models.CharField(max_length=255, blank=True)
    pull_request_url = models.URLField(max_length=500, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    transient_errors = models.PositiveIntegerField(
        default=0,
        help_text="Transient host errors of its own (its retry budget); rate-limit waits and crashes not counted.",
    )
    started_at = models.DateTimeField(
        null=True, blank=True, help_text="First taken up by a worker since it was queued: its time bound starts here."
    )
    ref_update_sent = models.BooleanField(
        default=False, help_text="A ref update carrying its commit was sent: checked on the branch before it may fail."
    )
    last_error = models.TextField(blank=True)
    not_before = models.DateTimeField(null=True, blank=True, help_text="Retry no earlier than this.")
    budget_wait_seconds = models.FloatField(
        default=0, help_text="Time it waited for the git host's write budget (GITHUB_WRITE_LIMITS)."
    )
    budget_wait_since = models.DateTimeField(
        null=True, blank=True, help_text="Waiting for the write budget since then (added up when taken up again)."
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("approve_promotion", "Can approve or reject promotions")]
        constraints = [
            models.UniqueConstraint(
                fields=["pod", "idempotency_key"],
                condition=models.Q(idempotency_key__isnull=False),
                name="unique_idempotency_key_per_pod",
            )
        ]
        indexes = [
            models.Index(fields=["repository", "branch", "status", "id"], name="promotion_lane_idx"),
            models.Index(fields=["pod", "created_at"], name="promotion_pod_created_idx"),
            models.Index(fields=["repository", "created_at"], name="promotion_repo_created_idx"),
            # As db_index would, without the pattern-matching twin PostgreSQL gets for a text column.
            models.Index(fields=["status"], name="promotion_status_idx"),
        ]

    def __str__(self):
        return f"#{self.pk} {self.commit_message.splitlines()[0][:60] if self.commit_message else ''}"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL_STATUSES


class FileChange(models.Model):
    class Operation(models.TextChoices):
        UPSERT = "upsert"
        DELETE = "delete"

    class Encoding(models.TextChoices):
        UTF8 = "utf-8"
        BASE64 = "base64"

    class Mode(models.TextChoices):
        """The git file modes a pod may ask for."""

        REGULAR = "100644", "100644 (regular file)"
        EXECUTABLE = "100755", "100755 (executable)"

    class Status(models.TextChoices):
        PENDING = "pending"
        CREATED = "created"
        UPDATED = "updated"
        DELETED = "deleted"
        UNCHANGED = "unchanged"
        MERGED = "merged"
        CONFLICT = "conflict"
        SKIPPED = "skipped"
        ERROR = "error"

    # Its index is the unique (promotion, path) one below.
    promotion = models.ForeignKey(Promotion, on_delete=models.CASCADE, related_name="files", db_index=False)
    position = models.PositiveIntegerField()
    path = models.CharField(max_length=1024)
    operation = models.CharField(max_length=10, choices=Operation.choices, default=Operation.UPSERT)
    encoding = models.CharField(max_length=10, choices=Encoding.choices, default=Encoding.UTF8)
    content = models.BinaryField(null=True, blank=True, help_text="Decoded bytes; empty for deletions.")
    base_given = models.BooleanField(
        default=False, help_text="The pod sent base_sha (null means: create only, the file must not exist)."
    )
    # NULL with base_given means "create only", which "" could not say.
    base_sha = models.CharField(max_length=40, null=True, blank=True)  # noqa: DJ001
    mode = models.CharField(
        max_length=6,
        blank=True,
        choices=Mode.choices,
        help_text="The git file mode the pod asked for; empty: a new file is 100644, an existing one keeps its mode.",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    old_sha = models.CharField(max_length=40, blank=True)
    new_sha = models.CharField(max_length=40, blank=True)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["promotion", "path"], name="unique_path_per_promotion")]

    def __str__(self):
        return self.path

    @property
    def is_text(self) -> bool:
        return self.encoding == self.Encoding.UTF8


class FileDiff(models.Model):
    """What a landed file changed, as the git host showed it the first time a lead
    looked: a commit never changes, so its page never asks the host again."""

    change = models.OneToOneField(FileChange, on_delete=models.CASCADE, primary_key=True, related_name="diff")
    patch = models.TextField(blank=True, help_text="The hunks, as git prints them; empty when there is a note.")
    note = models.CharField(max_length=500, blank=True, help_text="Why there is no patch (binary, too large...).")
    read_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"diff of {self.change}"


class Event(models.Model):
    """The audit log: one row per status change, never edited."""

    class ActorKind(models.TextChoices):
        POD = "pod"
        USER = "user"
        SYSTEM = "system"

    promotion = models.ForeignKey(Promotion, on_delete=models.CASCADE, related_name="events")
    actor_kind = models.CharField(max_length=10, choices=ActorKind.choices)
    actor_pod = models.ForeignKey(Pod, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150, help_text="Who, as named at the time.")
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20)
    detail = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"{self.from_status or '∅'} → {self.to_status} by {self.actor_name}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("Events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Events are append-only.")


class AuditEntry(models.Model):
    """The audit log of operator actions: keys issued, rotated and revoked, pods and
    repositories created or changed, a lead's decisions. Never edited."""

    actor_kind = models.CharField(max_length=10, choices=Event.ActorKind.choices)
    actor_pod = models.ForeignKey(Pod, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField("actor", max_length=150, help_text="Who, as named at the time.")
    action = models.CharField(max_length=40, db_index=True)
    object_type = models.CharField(max_length=40)
    object_id = models.CharField(max_length=40)
    object_repr = models.CharField("object", max_length=200)
    changes = models.JSONField(default=dict, blank=True, help_text="field: [before, after]")
    detail = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "audit log entry"
        verbose_name_plural = "audit log"
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object_idx")]

    def __str__(self):
        return f"{self.actor_name} {self.action} {self.object_repr}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("Audit entries are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Audit entries are append-only.")


class BranchLane(models.Model):
    """Serializes work on one repository branch across every worker and machine:
    the worker holding the lease applies that branch's promotions in order."""

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="lanes")
    branch = models.CharField(max_length=255)
    lease_owner = models.CharField(max_length=100, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    woken_at = models.DateTimeField(null=True, blank=True, help_text="When the lane clock last woke this lane.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["repository", "branch"], name="unique_lane")]

    def __str__(self):
        return f"{self.repository}@{self.branch}"


class RequestCount(models.Model):
    """A pod's requests in the current and the previous window of its rate: the
    throttle's store when there is no Redis (promotions.throttling)."""

    key = models.CharField(max_length=100, primary_key=True)
    slot = models.BigIntegerField(help_text="Which window: the time divided by the rate's period.")
    count = models.PositiveIntegerField(default=0)
    previous = models.PositiveIntegerField(default=0, help_text="Requests in the window before.")

    def __str__(self):
        return self.key


class GitHubWriteBudget(models.Model):
    """The shared write budget of one GitHub credential, when there is no Redis: recent
    writes, holds and lanes waiting in turn (promotions.scm.github.budget)."""

    credential = models.CharField(max_length=100, unique=True, help_text="An installation or a token's fingerprint.")
    state = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return self.credential
