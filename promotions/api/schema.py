"""The OpenAPI document as a custom GPT's Actions editor imports it: the pod
operations only, the bearer key scheme, short texts telling a model when to call
what, examples, every answer documented (the fuzz test holds the API to it)."""

from django.conf import settings
from django.utils.functional import lazy
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiExample, OpenApiResponse

from ..conf import setting
from .serializers import ErrorSerializer

# What a pod calls; anything else (staff reports, admin, the schema itself) stays out.
POD_OPERATION_PATHS = frozenset(
    {"/api/v1/promotions", "/api/v1/promotions/{promotion_id}", "/api/v1/files", "/api/v1/files/read"}
)

# GPT Actions run reads without asking the user first.
READ_ONLY = {"x-openai-isConsequential": False}


def _lazy_text(text):
    """A description built from settings when the schema is generated, not at import."""
    return lazy(text, str)()


def pod_operations_only(endpoints, **kwargs):
    """drf-spectacular preprocessing hook."""
    return [endpoint for endpoint in endpoints if endpoint[0] in POD_OPERATION_PATHS]


def public_server(result, generator, request, public):
    """drf-spectacular postprocessing hook: the absolute URL a GPT calls."""
    result["servers"] = [{"url": settings.PUBLIC_URL}]
    return result


class PodKeyScheme(OpenApiAuthenticationExtension):
    target_class = "promotions.auth.PodKeyAuthentication"
    name = "podKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "The pod's API key (pgk_...), given once by a lead."}


def _megabytes(size: int) -> str:
    return f"{size / 2**20:g} MB"


def error_response(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


UNAUTHORIZED = error_response("Missing, unknown or revoked API key.")
OUT_OF_SCOPE = error_response(
    "The repository, branch or a path is outside this pod's scope (sensitive paths such as CI configuration "
    "need an explicit grant); the message names it. Nothing was stored."
)
THROTTLED = error_response(
    _lazy_text(
        lambda: (
            f"Over this pod's request rate (default {setting('THROTTLE_RATE')}): "
            "wait the Retry-After seconds, then retry."
        )
    )
)
INVALID = error_response("Invalid input; `errors` names each field, e.g. files[2].path. Fix it and retry.")
GIT_HOST_DOWN = error_response("The git host could not be reached or rate-limited us; retry after Retry-After seconds.")
GIT_HOST_REFUSED = error_response("The git host refused Patchgate's credentials: an operator must fix them.")
TOO_LARGE = error_response(
    _lazy_text(
        lambda: (
            f"Too large: over {_megabytes(setting('MAX_FILE_BYTES'))} in one file or "
            f"{_megabytes(setting('MAX_PROMOTION_BYTES'))} in all (decoded), or a body over "
            f"{_megabytes(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)}. Split the batch."
        )
    )
)

CREATE_PROMOTION_DESCRIPTION = _lazy_text(
    lambda: (
        "Call this to save your work to the repository: send whole files (not diffs), a commit message and your "
        f"reasoning; they land as one commit. At most {setting('MAX_FILES_PER_PROMOTION')} files. Then poll "
        "getPromotion, or set wait (seconds) to get the outcome in this answer."
    )
)

SEED_BATCH = OpenApiExample(
    "Seed batch",
    request_only=True,
    value={
        "branch": "main",
        "commit_message": "Add task outputs",
        "reasoning_trace": "Summarised the run; data.json holds the figures.",
        "files": [
            {"path": "outputs/summary.md", "content": "# Summary\n"},
            {"path": "outputs/data.json", "content": '{"ok": true}\n'},
            {"path": "reasoning_trace.md", "content": "Reasoning.\n"},
        ],
    },
)

UPDATE_WITH_BASE = OpenApiExample(
    "Update a file you read",
    request_only=True,
    value={
        "commit_message": "Tighten the summary",
        "files": [
            {
                "path": "outputs/summary.md",
                "content": "# Summary\n\nShorter.\n",
                "base_sha": "6a0e3b6f7c1d2e9f8a7b6c5d4e3f2a1b0c9d8e7f",
            }
        ],
        "wait": 10,
    },
)

_PROMOTION = {
    "id": 42,
    "status": "queued",
    "status_url": "https://patchgate.example.com/api/v1/promotions/42",
    "repository": "demo/sandbox",
    "branch": "main",
    "mode": "direct",
    "commit_message": "Add task outputs",
    "commit_sha": "",
    "commit_url": None,
    "review_branch": "",
    "pull_request_url": "",
    "attempts": 0,
    "last_error": "",
    "metadata": {},
    "created_at": "2025-01-01T12:00:00Z",
    "updated_at": "2025-01-01T12:00:00Z",
    "finished_at": None,
}

QUEUED_PROMOTION = OpenApiExample(
    "Queued",
    response_only=True,
    status_codes=["202"],
    value={
        **_PROMOTION,
        "results": [
            {
                "path": "outputs/summary.md",
                "operation": "upsert",
                "status": "pending",
                "old_sha": "",
                "new_sha": "",
                "message": "",
            }
        ],
    },
)

COMMITTED_PROMOTION = OpenApiExample(
    "Committed",
    response_only=True,
    status_codes=["200"],
    value={
        **_PROMOTION,
        "status": "committed",
        "commit_sha": "3f786850e387550fdab836ed7e6dc881de23001b",
        "attempts": 1,
        "finished_at": "2025-01-01T12:00:01Z",
        "results": [
            {
                "path": "outputs/summary.md",
                "operation": "upsert",
                "status": "created",
                "old_sha": "",
                "new_sha": "8b137891791fe96927ad78e64b0aad7bded08bdc",
                "message": "",
            }
        ],
    },
)

OUT_OF_SCOPE_EXAMPLE = OpenApiExample(
    "Outside the pod's paths",
    response_only=True,
    status_codes=["403"],
    value={
        "detail": "Out of this pod's scope: files[0].path: '.github/workflows/ci.yml' is a sensitive path "
        "(.github/workflows/**): only an allow glob naming it grants it",
        "errors": {
            "files[0].path": [
                "'.github/workflows/ci.yml' is a sensitive path (.github/workflows/**): "
                "only an allow glob naming it grants it"
            ]
        },
    },
)

CREATE_PROMOTION_EXAMPLES = [SEED_BATCH, UPDATE_WITH_BASE, QUEUED_PROMOTION, COMMITTED_PROMOTION, OUT_OF_SCOPE_EXAMPLE]
