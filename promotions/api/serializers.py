"""Request validation and response shapes of the pod API. Thin: business rules
live in promotions.services and promotions.selectors."""

import base64
import binascii
import re

from django.conf import settings
from rest_framework import serializers

from ..models import FileChange, Promotion
from ..validation import branch_problem, path_problem

SHA_PATTERN = re.compile(r"[0-9a-f]{40}")
MAX_FILES = settings.PATCHGATE["MAX_FILES_PER_PROMOTION"]


class StrictCharField(serializers.CharField):
    """A string, and only a string: DRF would quietly turn 42 or true into text."""

    default_error_messages = {"invalid": "Must be a string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class FileInputSerializer(serializers.Serializer):
    path = StrictCharField(trim_whitespace=False, help_text="Path inside the repository, e.g. 'outputs/report.md'.")
    content = StrictCharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text="The whole new content (not a diff). Required unless operation is 'delete'.",
    )
    encoding = serializers.ChoiceField(
        choices=FileChange.Encoding.choices, default=FileChange.Encoding.UTF8, help_text="'base64' for binary content."
    )
    operation = serializers.ChoiceField(choices=FileChange.Operation.choices, default=FileChange.Operation.UPSERT)
    base_sha = StrictCharField(
        required=False,
        allow_null=True,
        help_text=(
            "Blob sha you read (GET /api/v1/files). Changed since: conflict or merge. "
            "null: create only. Omitted: last writer wins."
        ),
    )

    def validate_path(self, path):
        problem = path_problem(path)
        if problem:
            raise serializers.ValidationError(f"{path!r} {problem}.")
        return path

    def validate_base_sha(self, base_sha):
        if base_sha is None:
            return None
        if not SHA_PATTERN.fullmatch(base_sha.lower()):
            raise serializers.ValidationError("Must be a 40-character hex blob sha, or null for create-only.")
        return base_sha.lower()

    def validate(self, data):
        deleting = data["operation"] == FileChange.Operation.DELETE
        if deleting:
            if "content" in data:
                raise serializers.ValidationError({"content": "Must be left out when operation is 'delete'."})
            data["content_bytes"] = None
        elif "content" not in data:
            raise serializers.ValidationError({"content": "This field is required."})
        elif data["encoding"] == FileChange.Encoding.BASE64:
            try:
                data["content_bytes"] = base64.b64decode(data["content"], validate=True)
            except (binascii.Error, ValueError):
                raise serializers.ValidationError({"content": "Invalid base64."}) from None
        else:
            data["content_bytes"] = data["content"].encode("utf-8")
        # Left out (last writer wins) and null (create only) mean different things.
        data["base_given"] = "base_sha" in data
        return data


class PromotionInputSerializer(serializers.Serializer):
    repository = StrictCharField(
        required=False, help_text="'owner/name'. May be left out when the pod has exactly one repository."
    )
    branch = StrictCharField(required=False, help_text="Target branch; default: the repository's default branch.")
    commit_message = StrictCharField(max_length=10_000, help_text="Commit message: first line is the summary.")
    reasoning_trace = StrictCharField(
        required=False, allow_blank=True, trim_whitespace=False, help_text="Why you made these changes (Markdown)."
    )
    metadata = serializers.DictField(required=False, default=dict, help_text="Free JSON object, e.g. {\"task_id\": \"T-1\"}.")
    atomic = serializers.BooleanField(
        default=True, help_text="true: any conflict and nothing lands. false: clean files land, conflicts reported."
    )
    mode = serializers.ChoiceField(
        choices=Promotion.Mode.choices,
        required=False,
        help_text="'pull_request' opens a PR instead; default: the repository's default mode.",
    )
    wait = serializers.IntegerField(
        required=False,
        default=0,
        min_value=0,
        max_value=settings.PATCHGATE["MAX_WAIT_SECONDS"],
        help_text="Seconds (max 30) to wait for the outcome; 200 with the final result if it finishes in time.",
    )
    files = FileInputSerializer(many=True, allow_empty=False, max_length=MAX_FILES)

    def validate_branch(self, branch):
        problem = branch_problem(branch)
        if problem:
            raise serializers.ValidationError(f"{branch!r} {problem}.")
        return branch

    def validate_files(self, files):
        seen, duplicates = set(), []
        for file in files:
            if file["path"] in seen:
                duplicates.append(file["path"])
            seen.add(file["path"])
        if duplicates:
            raise serializers.ValidationError(f"Duplicate paths in one batch: {', '.join(sorted(set(duplicates)))}.")
        return files


def oversize_errors(files: list[dict]) -> dict[str, list[str]]:
    """Decoded sizes over the limits (answered 413, not 400), by request field."""
    max_file, max_total = settings.PATCHGATE["MAX_FILE_BYTES"], settings.PATCHGATE["MAX_PROMOTION_BYTES"]
    sizes = [len(file["content_bytes"] or b"") for file in files]
    errors = {
        f"files[{index}].content": [f"{size} bytes once decoded; at most {max_file} per file."]
        for index, size in enumerate(sizes)
        if size > max_file
    }
    if sum(sizes) > max_total:
        errors["files"] = [f"{sum(sizes)} bytes once decoded; at most {max_total} per promotion."]
    return errors


class FileResultSerializer(serializers.Serializer):
    path = serializers.CharField()
    operation = serializers.CharField()
    status = serializers.ChoiceField(choices=FileChange.Status.choices)
    old_sha = serializers.CharField(allow_blank=True, help_text="Blob sha before, if the file existed.")
    new_sha = serializers.CharField(allow_blank=True, help_text="Blob sha written.")
    message = serializers.CharField(allow_blank=True, help_text="Why: conflicts carry the current sha and a diff.")


class PromotionSerializer(serializers.ModelSerializer):
    repository = serializers.CharField(source="repository.full_name")
    status_url = serializers.SerializerMethodField()
    commit_url = serializers.SerializerMethodField()
    results = FileResultSerializer(source="files", many=True)
    # Declared, not derived from the model, so the schema is the same on every database.
    attempts = serializers.IntegerField(read_only=True, help_text="How many times the worker tried to apply it.")

    class Meta:
        model = Promotion
        fields = [
            "id",
            "status",
            "status_url",
            "repository",
            "branch",
            "mode",
            "commit_message",
            "commit_sha",
            "commit_url",
            "review_branch",
            "pull_request_url",
            "attempts",
            "last_error",
            "metadata",
            "created_at",
            "updated_at",
            "finished_at",
            "results",
        ]

    def get_status_url(self, promotion) -> str:
        return f"{settings.PUBLIC_URL}/api/v1/promotions/{promotion.pk}"

    def get_commit_url(self, promotion) -> str | None:
        return promotion.commit_url or None


class PromotionSummarySerializer(PromotionSerializer):
    class Meta(PromotionSerializer.Meta):
        fields = [f for f in PromotionSerializer.Meta.fields if f != "results"]


class PromotionPageSerializer(serializers.Serializer):
    """One page of LimitOffsetPagination."""

    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = PromotionSummarySerializer(many=True)


class FileQuerySerializer(serializers.Serializer):
    path = StrictCharField(trim_whitespace=False)
    branch = StrictCharField(required=False)
    repository = StrictCharField(required=False)

    validate_path = FileInputSerializer.validate_path
    validate_branch = PromotionInputSerializer.validate_branch


class FileVersionSerializer(serializers.Serializer):
    repository = serializers.CharField()
    branch = serializers.CharField()
    path = serializers.CharField()
    sha = serializers.CharField(help_text="Send this back as base_sha when you write the file.")
    size = serializers.IntegerField()
    encoding = serializers.ChoiceField(choices=FileChange.Encoding.choices)
    content = serializers.CharField(allow_blank=True)
    commit_sha = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)
