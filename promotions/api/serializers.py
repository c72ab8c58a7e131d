"""Request shapes and response documents of the pod API. Thin: a request's types
and encodings are checked here; every rule (paths, branches, scopes, limits)
lives in promotions.services and promotions.selectors."""

import base64
import binascii
import json
import re

from django.conf import settings
from django.core.validators import ProhibitNullCharactersValidator
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail
from rest_framework.settings import api_settings
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from ..conf import setting
from ..errors import TooLarge
from ..models import FileChange, Promotion
from ..selectors import MAX_FILES_PER_READ

SHA_PATTERN = re.compile(r"[0-9a-f]{40}")
# A GPT action gives up after about 45 s: a request waits for its outcome 30 s at most.
MAX_WAIT_SECONDS = 30
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# Printable ASCII, as Stripe's and the IETF draft's keys (a UUID fits).


def text_problem(text: str) -> str | None:
    """Why `text` cannot be stored and shown: a lone surrogate is not Unicode text (it
    cannot be encoded as UTF-8), and PostgreSQL stores no NUL in text or JSON (a
    file's content with NUL goes as base64)."""
    # An ASCII string (every base64 content) has no surrogate: its flag answers without a scan.
    if not text.isascii() and LONE_SURROGATE.search(text):
        return "contains a lone surrogate (\\ud800 to \\udfff): not Unicode text, it cannot be encoded as UTF-8"
    if "\x00" in text:
        return "contains NUL (\\u0000), which text cannot hold (send binary content as base64)"
    return None


def unstorable_text(data) -> dict[str, list[str]]:
    """{field: [why]} for every string of a parsed JSON body, keys included, that
    text_problem refuses; fields are named as in every error (`metadata.task_id`,
    `files[2].path`)."""
    errors: dict[str, list[str]] = {}
    queue: list[tuple[str, object]] = [("", data)]
    for field, value in queue:  # grows while it is read: breadth first, no recursion
        if isinstance(value, dict):
            for key, item in value.items():
                problem = text_problem(key)
                if problem:
                    errors.setdefault(field or "request", []).append(f"Has a key that {problem}.")
                else:
                    queue.append((f"{field}.{key}" if field else key, item))
        elif isinstance(value, list):
            queue.extend((f"{field}[{index}]", item) for index, item in enumerate(value))
        elif isinstance(value, str):
            problem = text_problem(value)
            if problem:
                errors.setdefault(field, []).append(f"C{problem[1:]}.")
    return errors


class InputSerializer(serializers.Serializer):
    # (No docstring: drf-spectacular would show it in the schema of every subclass.)

    @classmethod
    def validated(cls, data) -> dict:
        """`data` validated as `cls(data=data).is_valid(raise_exception=True)` would,
        with the same errors, by one instance of the shape per process. DRF builds an
        instance's fields anew (deep copies of every declared field, its validators and
        choices) for each request, the larger part of validating a small body; a shape's
        fields keep nothing of the data they validate."""
        shape = _SHAPES.get(cls) or _SHAPES.setdefault(cls, cls())
        try:
            return shape.run_validation(data)
        except serializers.ValidationError as error:
            raise serializers.ValidationError(_as_is_valid_names(error.detail)) from None


_SHAPES: dict[type[InputSerializer], InputSerializer] = {}


def _as_is_valid_names(detail):
    """Serializer.errors: the body itself refused is a request error; null is "No data provided"."""
    if not isinstance(detail, list):
        return detail
    if len(detail) == 1 and getattr(detail[0], "code", None) == "null":
        detail = [ErrorDetail("No data provided", code="null")]
    return {api_settings.NON_FIELD_ERRORS_KEY: detail}


class StorableTextSerializer(InputSerializer):
    """Refuses the strings no field can keep (text_problem) before any field reads them,
    so no message ever echoes them back."""

    def to_internal_value(self, data):
        errors = unstorable_text(data)
        if errors:
            raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


class StrictCharField(serializers.CharField):
    """A string, and only a string: DRF would quietly turn 42 or true into text."""

    default_error_messages = {"invalid": "Must be a string."}

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # Every serializer using this field is a StorableTextSerializer, which refused NUL and
        # lone surrogates in the whole body already; DRF's own check of them is a Python loop
        # over each character (seconds for a 50 MB content).
        redundant = ProhibitNullCharactersValidator | ProhibitSurrogateCharactersValidator
        self.validators = [v for v in self.validators if not isinstance(v, redundant)]

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class FileInputSerializer(InputSerializer):
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

    mode = serializers.ChoiceField(
        choices=FileChange.Mode.choices,
        required=False,
        help_text=(
            "Git file mode: '100644' a regular file, '100755' an executable. Omitted: a new file is 100644, "
            "an existing one keeps its mode (never silently changed)."
        ),
    )

    def validate_base_sha(self, base_sha):
        if base_sha is None:
            return None
        if not SHA_PATTERN.fullmatch(base_sha.lower()):
            raise serializers.ValidationError("Must be a 40-character hex blob sha, or null for create-only.")
        return base_sha.lower()

    def run_validation(self, data=serializers.empty):
        value = super().run_validation(data)
        if isinstance(data, dict):
            # Decoded into content_bytes: the text leaves the parsed body now, file by file,
            # so a large promotion is never held as text and bytes both.
            data.pop("content", None)
        return value

    def validate(self, data):
        deleting = data["operation"] == FileChange.Operation.DELETE
        if deleting:
            if "content" in data:
                raise serializers.ValidationError({"content": "Must be left out when operation is 'delete'."})
            if "mode" in data:
                raise serializers.ValidationError({"mode": "Must be left out when operation is 'delete'."})
            data["content_bytes"] = None
        elif "content" not in data:
            raise serializers.ValidationError({"content": "This field is required."})
        elif data["encoding"] == FileChange.Encoding.BASE64:
            try:
                data["content_bytes"] = base64.b64decode(data.pop("content"), validate=True)
            except (binascii.Error, ValueError):
                raise serializers.ValidationError({"content": "Invalid base64."}) from None
        else:
            # Decoded once, into the bytes the row stores; the text is not kept here.
            data["content_bytes"] = data.pop("content").encode("utf-8")
        # Left out (last writer wins) and null (create only) mean different things.
        data["base_given"] = "base_sha" in data
        return data


class PromotionInputSerializer(StorableTextSerializer):
    repository = StrictCharField(
        required=False,
        max_length=200,
        help_text="'owner/name'. May be left out when the pod has exactly one repository.",
    )
    branch = StrictCharField(
        required=False,
        max_length=255,
        help_text="Target branch; default: the repository's default branch. It must exist unless base_branch is given.",
    )
    base_branch = StrictCharField(
        required=False,
        max_length=255,
        help_text=(
            "Only for a branch that does not exist yet: create it from this branch's head, with this promotion's "
            "commit (e.g. a task branch from 'main'). Ignored when the branch exists."
        ),
    )
    commit_message = StrictCharField(max_length=10_000, help_text="Commit message: first line is the summary.")
    reasoning_trace = StrictCharField(
        required=False, allow_blank=True, trim_whitespace=False, help_text="Why you made these changes (Markdown)."
    )
    metadata = serializers.DictField(
        required=False, default=dict, help_text='Free JSON object, e.g. {"task_id": "T-1"}.'
    )
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
        max_value=MAX_WAIT_SECONDS,
        help_text="Seconds (max 30) to wait for the outcome; 200 with the final result if it finishes in time.",
    )
    files = FileInputSerializer(many=True, allow_empty=False)

    def validate_reasoning_trace(self, trace):
        size, limit = len(trace.encode("utf-8")), setting("MAX_TRACE_BYTES")
        if size > limit:
            raise TooLarge({"reasoning_trace": [f"{size} bytes; at most {limit}. Keep the reasoning, not the logs."]})
        return trace

    def validate_metadata(self, metadata):
        size = len(json.dumps(metadata, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
        limit = setting("MAX_METADATA_BYTES")
        if size > limit:
            raise TooLarge({"metadata": [f"{size} bytes as JSON; at most {limit}."]})
        return metadata


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

    def to_representation(self, promotion) -> dict:
        """The document the fields above declare, written out directly: building a
        ModelSerializer's fields for every answer cost more than the rest of a status
        read. A test holds it equal to DRF's own rendering. The file rows come from
        `result_rows` when the caller has them (the submission wrote them; a status
        read loads them without content), else from the relation."""
        values = {
            "id": promotion.pk,
            "status": promotion.status,
            "status_url": self.get_status_url(promotion),
            "repository": promotion.repository.full_name,
            "branch": promotion.branch,
            "mode": promotion.mode,
            "commit_message": promotion.commit_message,
            "commit_sha": promotion.commit_sha,
            "commit_url": self.get_commit_url(promotion),
            "review_branch": promotion.review_branch,
            "pull_request_url": promotion.pull_request_url,
            "attempts": promotion.attempts,
            "last_error": promotion.last_error,
            "metadata": promotion.metadata,
            "created_at": _moment(promotion.created_at),
            "updated_at": _moment(promotion.updated_at),
            "finished_at": _moment(promotion.finished_at),
        }
        if "results" in self.Meta.fields:
            files = getattr(promotion, "result_rows", None) or promotion.files.all()
            values["results"] = [
                {
                    "path": file.path,
                    "operation": file.operation,
                    "status": file.status,
                    "old_sha": file.old_sha,
                    "new_sha": file.new_sha,
                    "message": file.message,
                }
                for file in files
            ]
        return {name: values[name] for name in self.Meta.fields}


_DATETIME = serializers.DateTimeField()


def _moment(value) -> str | None:
    return None if value is None else _DATETIME.to_representation(value)


class PromotionSummarySerializer(PromotionSerializer):
    class Meta(PromotionSerializer.Meta):
        fields = [f for f in PromotionSerializer.Meta.fields if f != "results"]


class PromotionPageSerializer(serializers.Serializer):
    """One page of LimitOffsetPagination."""

    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = PromotionSummarySerializer(many=True)


class FileQuerySerializer(StorableTextSerializer):
    path = StrictCharField(trim_whitespace=False)
    branch = StrictCharField(required=False, max_length=255)
    repository = StrictCharField(required=False, max_length=200)


# The modes a read shows: a pod writes the first two only (FileChange.Mode).
FILE_READ_MODES = [("100644", "100644"), ("100755", "100755"), ("120000", "120000")]
FILE_TYPES = [("file", "file"), ("symlink", "symlink")]


class FileKindSerializer(serializers.Serializer):
    """What kind of file a read found: its mode and type."""

    mode = serializers.ChoiceField(
        choices=FILE_READ_MODES,
        help_text="Git file mode: 100644 a regular file, 100755 an executable, 120000 a symbolic link.",
    )
    type = serializers.ChoiceField(
        choices=FILE_TYPES,
        help_text=(
            "'symlink': the content is the path the link points to, and writing the path is refused unless "
            "you send a mode (100644 replaces the link by a regular file)."
        ),
    )


class FileVersionSerializer(FileKindSerializer):
    repository = serializers.CharField()
    branch = serializers.CharField()
    path = serializers.CharField()
    sha = serializers.CharField(help_text="Send this back as base_sha when you write the file.")
    size = serializers.IntegerField()
    encoding = serializers.ChoiceField(choices=FileChange.Encoding.choices)
    content = serializers.CharField(allow_blank=True)
    commit_sha = serializers.CharField()


class FilesQuerySerializer(StorableTextSerializer):
    paths = serializers.ListField(
        child=StrictCharField(trim_whitespace=False),
        allow_empty=False,
        max_length=MAX_FILES_PER_READ,
        help_text=f"The paths to read, at most {MAX_FILES_PER_READ}: e.g. ['outputs/report.md', 'notes/plan.md'].",
    )
    branch = StrictCharField(required=False, max_length=255, help_text="Default: the repository's default branch.")
    repository = StrictCharField(
        required=False, max_length=200, help_text="owner/name; may be left out when the pod has one repository."
    )


class FileContentSerializer(FileKindSerializer):
    path = serializers.CharField()
    sha = serializers.CharField(help_text="Send this back as base_sha when you write the file.")
    size = serializers.IntegerField()
    encoding = serializers.ChoiceField(choices=FileChange.Encoding.choices)
    content = serializers.CharField(allow_blank=True)


class FileVersionsSerializer(serializers.Serializer):
    repository = serializers.CharField()
    branch = serializers.CharField()
    commit_sha = serializers.CharField(help_text="The branch's commit every file was read at.")
    files = FileContentSerializer(many=True, help_text="The paths that are files, in the order asked.")
    missing = serializers.ListField(
        child=serializers.CharField(), help_text="The paths that are no file on the branch."
    )


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    # Named as the answer's key, shadowing Serializer.errors on this output-only serializer.
    errors = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()), required=False
    )
