"""The four MCP tools, each a thin wrapper over the service or selector behind its
REST operation: the same rules, the same documents, the same `{detail, errors}`.

A refusal is a tool result with `isError: true` whose text is the REST error body,
naming the field (`files[0].path`), so a model can correct its call; it is never
a protocol error or an HTTP 5xx. Runs synchronously, on the request's own thread."""

from __future__ import annotations

import functools
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mcp import MCPError, types
from mcp.types import INVALID_PARAMS
from rest_framework.settings import api_settings

from .. import selectors
from ..api.errors import scm_error_response
from ..api.intake import promotion_request_from
from ..api.serializers import FileVersionSerializer, PromotionSerializer, PromotionSummarySerializer
from ..errors import DomainError, InvalidRequest, NotFound
from ..models import Pod, Promotion
from ..scm.port import ScmError
from ..services.promotions import promotion_submit
from ..throttling import pod_request_wait
from . import schemas

log = logging.getLogger(__name__)

Document = dict[str, Any]
MAX_LIST_LIMIT = 100
# The REST API takes the key as a header; its errors name it so.
IDEMPOTENCY_HEADER = "Idempotency-Key"


@dataclass(frozen=True)
class ToolSpec:
    tool: types.Tool
    run: Callable[[Pod, dict[str, Any]], Document]


# --- the tools -------------------------------------------------------------------


def promote_files(pod: Pod, arguments: dict[str, Any]) -> Document:
    idempotency_key = _string(arguments.pop("idempotency_key", None), "idempotency_key")
    submission = promotion_request_from(arguments, idempotency_key=idempotency_key or None)
    promotion, _created = promotion_submit(pod=pod, request=submission)
    if submission.wait:
        promotion = selectors.promotion_wait(promotion=promotion, seconds=submission.wait)
    return PromotionSerializer(selectors.promotion_of(pod, promotion.pk)).data


def get_promotion(pod: Pod, arguments: dict[str, Any]) -> Document:
    promotion_id = _integer(arguments.get("id"), "id", minimum=1)
    promotion = selectors.promotion_of(pod, promotion_id) if promotion_id is not None else None
    if promotion is None:
        raise NotFound({"id": [f"No promotion {arguments.get('id')!r} for this pod."]})
    return PromotionSerializer(promotion).data


def list_promotions(pod: Pod, arguments: dict[str, Any]) -> Document:
    status = _string(arguments.get("status"), "status")
    if status and status not in Promotion.Status.values:
        raise InvalidRequest({"status": [f"Must be one of: {', '.join(Promotion.Status.values)}."]})
    limit = _integer(arguments.get("limit"), "limit", minimum=1, maximum=MAX_LIST_LIMIT)
    limit = limit or api_settings.PAGE_SIZE or MAX_LIST_LIMIT
    offset = _integer(arguments.get("offset"), "offset", minimum=0) or 0
    promotions = selectors.promotions_of(pod, status or None)
    count = promotions.count()
    return {
        "count": count,
        "limit": limit,
        "offset": offset,
        "next_offset": offset + limit if offset + limit < count else None,
        "results": PromotionSummarySerializer(promotions[offset : offset + limit], many=True).data,
    }


def get_file(pod: Pod, arguments: dict[str, Any]) -> Document:
    path = _string(arguments.get("path"), "path")
    if path is None:
        raise InvalidRequest({"path": ["This field is required."]})
    version = selectors.file_for_pod(
        pod=pod,
        path=path,
        branch=_string(arguments.get("branch"), "branch") or None,
        repository=_string(arguments.get("repository"), "repository") or None,
    )
    return FileVersionSerializer(version).data


def _string(value: Any, field: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise InvalidRequest({field: ["Must be a string."]})
    return value


def _integer(value: Any, field: str, *, minimum: int, maximum: int | None = None) -> int | None:
    # bool is an int to Python, not to a JSON schema.
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise InvalidRequest({field: ["Must be an integer."]})
    if value is not None and value < minimum:
        raise InvalidRequest({field: [f"Must be at least {minimum}."]})
    if value is not None and maximum is not None and value > maximum:
        raise InvalidRequest({field: [f"Must be at most {maximum}."]})
    return value


# --- calling a tool --------------------------------------------------------------


def call_tool(pod: Pod, name: str, arguments: dict[str, Any] | None) -> types.CallToolResult:
    """Run one tool for `pod`; counts against the pod's request rate like a REST call.
    Raises MCPError only for a tool that does not exist."""
    spec = tool_specs().get(name)
    if spec is None:  # a protocol error, as the MCP specification has it, not a refusal of the pod's request
        raise MCPError(INVALID_PARAMS, f"Unknown tool {name!r}; the tools are: {', '.join(tool_specs())}.")
    wait = pod_request_wait(pod)
    if wait is not None:
        seconds = max(1, math.ceil(wait))
        return _refusal({"detail": f"Request was throttled. Expected available in {seconds} seconds."})
    arguments = dict(arguments or {})
    unknown = sorted(set(arguments) - set(spec.tool.input_schema["properties"]))
    try:
        if unknown:
            raise InvalidRequest({argument: ["Unknown argument."] for argument in unknown})
        document = spec.run(pod, arguments)
    except DomainError as error:
        return _refusal(_renamed_key_field(error.as_dict()))
    except ScmError as error:
        return _refusal(dict(scm_error_response(error).data))
    except Exception:
        log.exception("MCP tool %s failed", name)
        return _refusal({"detail": "Internal error. It has been logged."})
    # DRF hands back ReturnDicts and lists of OrderedDicts: plain JSON for the wire.
    structured = json.loads(json.dumps(document))
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=json.dumps(structured))],
        structured_content=structured,
    )


def _refusal(body: Document) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=json.dumps(body))], is_error=True)


def _renamed_key_field(body: Document) -> Document:
    """The service names the REST header; here the key is the `idempotency_key` argument."""
    body["detail"] = body["detail"].replace(IDEMPOTENCY_HEADER, "idempotency_key")
    if "errors" in body:
        body["errors"] = {("idempotency_key" if f == IDEMPOTENCY_HEADER else f): m for f, m in body["errors"].items()}
    return body


# --- what tools/list shows -------------------------------------------------------

PROMOTE_DESCRIPTION = (
    "Commit whole files (not diffs) to a Git repository as ONE commit, with your commit message and reasoning. "
    "Send every file of your change in one call. To change an existing file, call get_file first and send its "
    "`sha` as that file's `base_sha`: if someone changed the file since, Patchgate merges non-overlapping edits "
    "or reports the file as `conflict` with the current sha and a diff in its `message` (nothing is overwritten); "
    "then read the file again, redo your edit and call promote_files again. Set `wait` (up to 30 s) to get the "
    "outcome in this answer; otherwise poll get_promotion until `status` is final (committed, no_changes, "
    "conflict, failed, rejected, pr_open). `awaiting_approval` means a lead must approve it first. Send an "
    "`idempotency_key` (e.g. your task id) so that retrying this call never makes a second commit. A refused "
    "call returns `{detail, errors}` naming each wrong field, e.g. `files[0].path`; nothing is stored then."
)

DESCRIPTIONS = {
    "wait": "Seconds (0-30) to wait for the outcome before answering; 0 answers at once with status queued.",
    "idempotency_key": (
        "Any string unique to this change (e.g. your task id). The same key with the same arguments returns the "
        "same promotion instead of committing again; the same key with other arguments is refused."
    ),
    "base_sha": (
        "The `sha` get_file gave you for this path. If the file changed since: merged or `conflict`, never "
        "overwritten. null: create only (conflict if the file exists). Left out: last writer wins."
    ),
    "path": "Path inside the repository, e.g. 'outputs/report.md'.",
    "branch": "Branch to read; default: the repository's default branch.",
    "repository": "'owner/name'. May be left out when the pod has exactly one repository.",
}


def _closed(schema: schemas.Schema) -> schemas.Schema:
    """An argument object: no other arguments than those listed; the tool's description says
    what it is for (a serializer's docstring is for its readers)."""
    return {**{k: v for k, v in schema.items() if k != "description"}, "additionalProperties": False}


def _promote_input() -> schemas.Schema:
    schema = schemas.request_body("createPromotion")
    properties = schema["properties"]
    properties["wait"]["description"] = DESCRIPTIONS["wait"]
    properties["files"]["items"]["properties"]["base_sha"]["description"] = DESCRIPTIONS["base_sha"]
    properties["idempotency_key"] = {"type": "string", "minLength": 1, "description": DESCRIPTIONS["idempotency_key"]}
    return _closed(schema)


def _get_file_input() -> schemas.Schema:
    schema = schemas.query_parameters("getFile")
    for name, prop in schema["properties"].items():
        prop.setdefault("description", DESCRIPTIONS.get(name, ""))
    return _closed(schema)


def _list_input() -> schemas.Schema:
    schema = schemas.query_parameters("listPromotions")
    properties = schema["properties"]
    page_size = f"Page size (default {api_settings.PAGE_SIZE}, at most {MAX_LIST_LIMIT})."
    properties["limit"].update(minimum=1, maximum=MAX_LIST_LIMIT, description=page_size)
    properties["offset"].update(minimum=0)
    return _closed(schema)


def _list_output() -> schemas.Schema:
    summaries = schemas.response("listPromotions")["properties"]["results"]
    return {
        "type": "object",
        "properties": {
            "count": {"type": "integer", "description": "How many promotions match, on every page."},
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
            "next_offset": {
                "type": ["integer", "null"],
                "description": "The offset of the next page; null: last page.",
            },
            "results": summaries,
        },
        "required": ["count", "limit", "offset", "next_offset", "results"],
    }


READ_ONLY = types.ToolAnnotations(read_only_hint=True, open_world_hint=False)


def _build_specs() -> dict[str, ToolSpec]:
    promotion = schemas.response("getPromotion")
    specs = [
        ToolSpec(
            types.Tool(
                name="promote_files",
                title="Promote files as one commit",
                description=PROMOTE_DESCRIPTION,
                input_schema=_promote_input(),
                output_schema=promotion,
                # Deletes and overwrites are possible; a retry is a no-op only with an idempotency_key,
                # which is optional, so the tool as a whole does not claim to be idempotent.
                annotations=types.ToolAnnotations(
                    read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=False
                ),
            ),
            promote_files,
        ),
        ToolSpec(
            types.Tool(
                name="get_promotion",
                title="Get a promotion",
                description=(
                    "A promotion's status and per-file results (status, old_sha, new_sha, message). Call it until "
                    "status is final. Conflicts carry the current sha and a diff in the file's message."
                ),
                input_schema=_closed(
                    {
                        "type": "object",
                        "properties": {
                            "id": {"type": "integer", "minimum": 1, "description": "The id promote_files returned."}
                        },
                        "required": ["id"],
                    }
                ),
                output_schema=promotion,
                annotations=READ_ONLY,
            ),
            get_promotion,
        ),
        ToolSpec(
            types.Tool(
                name="list_promotions",
                title="List my promotions",
                description="This pod's promotions, newest first, without per-file results; page with offset.",
                input_schema=_list_input(),
                output_schema=_list_output(),
                annotations=READ_ONLY,
            ),
            list_promotions,
        ),
        ToolSpec(
            types.Tool(
                name="get_file",
                title="Read a file",
                description=(
                    "A file as it is on a branch: its content (utf-8, or base64 when binary) and blob `sha`. Call it "
                    "before changing an existing file and send the sha back as that file's base_sha in promote_files."
                ),
                input_schema=_get_file_input(),
                output_schema=schemas.response("getFile"),
                annotations=READ_ONLY,
            ),
            get_file,
        ),
    ]
    return {spec.tool.name: spec for spec in specs}


@functools.cache
def tool_specs() -> dict[str, ToolSpec]:
    """The tools by name, built on first use (the schemas need the URLconf)."""
    return _build_specs()
