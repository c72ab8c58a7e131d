"""One error shape for every API answer: {"detail": "...", "errors": {"field": [...]}}.

Services raise promotions.errors.DomainError, each carrying its status and fields;
this handler is the one place that turns them (and DRF's own errors) into answers.
Nothing internal leaks: unexpected exceptions become a bare 500 (logged here),
and SCM errors carry only their own safe text, never a token."""

import logging
import math

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.utils import timezone
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ..errors import DomainError, InvalidRequest
from ..scm.port import ScmAuthError, ScmError, ScmNotFound, ScmRateLimited

log = logging.getLogger(__name__)


def flatten_errors(detail, prefix="") -> dict[str, list[str]]:
    """{"files": [{}, {"path": ["bad"]}]} -> {"files[1].path": ["bad"]}"""
    if isinstance(detail, dict):
        flat = {}
        for key, value in detail.items():
            if isinstance(key, int):  # DRF keys list items by index
                flat.update(flatten_errors(value, f"{prefix}[{key}]"))
                continue
            name = key if key != "non_field_errors" else ""
            flat.update(flatten_errors(value, f"{prefix}.{name}" if prefix and name else prefix or name))
        return flat
    if isinstance(detail, list) and detail and all(isinstance(item, (dict, list)) for item in detail):
        flat = {}
        for index, item in enumerate(detail):
            flat.update(flatten_errors(item, f"{prefix}[{index}]"))
        return flat
    messages = detail if isinstance(detail, list) else [detail]
    return {prefix or "request": [str(message) for message in messages]}


def scm_error_response(error: ScmError) -> Response:
    if isinstance(error, ScmRateLimited):
        wait = max(1, math.ceil((error.retry_at - timezone.now()).total_seconds()))
        return Response({"detail": str(error)}, status=503, headers={"Retry-After": str(wait)})
    if isinstance(error, ScmNotFound):
        return Response({"detail": str(error)}, status=404)
    if isinstance(error, ScmAuthError):
        # Reached, and it said no: Patchgate's own credentials, which an operator must fix.
        detail = f"The git host refused Patchgate's credentials (an operator must fix them, retrying cannot): {error}"
        return Response({"detail": detail}, status=502)
    return Response({"detail": f"The git host could not be reached: {error}"}, status=503)


def exception_handler(exc, context):
    if isinstance(exc, ValidationError):
        exc = InvalidRequest(flatten_errors(exc.detail))
    if isinstance(exc, DomainError):
        return Response(exc.as_dict(), status=exc.status)
    if isinstance(exc, ScmError):
        return scm_error_response(exc)
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return Response({"detail": f"Request body too large: at most {limit} bytes."}, status=413)
    response = drf_exception_handler(exc, context)
    if response is not None:
        if isinstance(exc, APIException) and not isinstance(response.data, dict):
            response.data = {"detail": str(response.data)}
        return response
    log.exception("unhandled error in %s", context.get("view").__class__.__name__)
    return Response({"detail": "Internal error. It has been logged."}, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
