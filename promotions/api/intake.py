"""A pod's createPromotion body, as the REST API and the MCP endpoint receive it,
turned into the service's request: types and encodings checked by the input
serializer, every other rule left to `promotion_submit`."""

from __future__ import annotations

from rest_framework.exceptions import ValidationError

from ..errors import InvalidRequest
from ..services.promotions import FileRequest, PromotionRequest
from .errors import flatten_errors
from .serializers import PromotionInputSerializer


def promotion_request_from(payload, *, idempotency_key: str | None) -> PromotionRequest:
    """Raises InvalidRequest naming each field (e.g. `files[2].content`). Each file's
    content leaves `payload` once decoded (FileInputSerializer)."""
    try:
        data = PromotionInputSerializer.validated(payload)
    except ValidationError as error:
        raise InvalidRequest(flatten_errors(error.detail)) from None
    return PromotionRequest(
        repository=data.get("repository"),
        branch=data.get("branch"),
        base_branch=data.get("base_branch"),
        commit_message=data["commit_message"],
        reasoning_trace=data.get("reasoning_trace", ""),
        metadata=data["metadata"],
        atomic=data["atomic"],
        mode=data.get("mode"),
        wait=data["wait"],
        idempotency_key=idempotency_key,
        files=[
            FileRequest(
                path=file["path"],
                operation=file["operation"],
                encoding=file["encoding"],
                content=file["content_bytes"],
                base_given=file["base_given"],
                base_sha=file.get("base_sha"),
                mode=file.get("mode", ""),
            )
            for file in data["files"]
        ],
    )
