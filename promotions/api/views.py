"""The pod API: thin views over promotions.services and promotions.selectors."""

import time

from django.conf import settings
from django.http import JsonResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import scopes, selectors, services
from ..models import Promotion
from ..services import FileRequest, PromotionRequest
from . import schema
from .errors import validation_response
from .serializers import (
    FileQuerySerializer,
    FileVersionSerializer,
    PromotionInputSerializer,
    PromotionPageSerializer,
    PromotionSerializer,
    PromotionSummarySerializer,
    oversize_errors,
)

POLL_INTERVAL_SECONDS = 0.2


def resolve_repository(pod, full_name):
    try:
        return selectors.repository_for(pod, full_name)
    except selectors.RepositoryNotGranted as error:
        raise PermissionDenied(str(error)) from None
    except selectors.RepositoryRequired as error:
        raise ValidationError({"repository": [str(error)]}) from None


def out_of_scope_response(pod, branch, paths_by_field) -> Response | None:
    errors = scopes.scope_errors(pod, branch, paths_by_field)
    if errors:
        return validation_response(errors, status.HTTP_403_FORBIDDEN, "Out of this pod's scope")
    return None


class PromotionListCreateView(APIView):
    @extend_schema(
        operation_id="createPromotion",
        summary="Commit whole files to the repository as one batch",
        description=schema.CREATE_PROMOTION_DESCRIPTION,
        request=PromotionInputSerializer,
        responses={
            200: OpenApiResponse(PromotionSerializer, description="Finished while you waited (wait), or a replay."),
            202: OpenApiResponse(PromotionSerializer, description="Recorded and queued: poll status_url."),
            400: schema.INVALID,
            401: schema.UNAUTHORIZED,
            403: schema.OUT_OF_SCOPE,
            413: schema.TOO_LARGE,
            422: schema.error_response("Idempotency-Key reused with another body."),
            429: schema.THROTTLED,
        },
        examples=schema.CREATE_PROMOTION_EXAMPLES,
    )
    def post(self, request):
        payload = PromotionInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        repository = resolve_repository(request.user, data.get("repository"))
        branch = data.get("branch") or repository.default_branch
        paths_by_field = {f"files[{index}].path": file["path"] for index, file in enumerate(data["files"])}
        refusal = out_of_scope_response(request.user, branch, paths_by_field)
        if refusal:
            return refusal
        too_large = oversize_errors(data["files"])
        if too_large:
            return validation_response(too_large, status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "Too large")
        promotion_request = PromotionRequest(
            repository=repository,
            branch=branch,
            commit_message=data["commit_message"],
            reasoning_trace=data.get("reasoning_trace", ""),
            metadata=data["metadata"],
            atomic=data["atomic"],
            mode=data.get("mode") or repository.default_mode,
            idempotency_key=request.headers.get("Idempotency-Key") or None,
            files=[
                FileRequest(
                    path=f["path"],
                    operation=f["operation"],
                    encoding=f["encoding"],
                    content=f["content_bytes"],
                    base_given=f["base_given"],
                    base_sha=f.get("base_sha"),
                )
                for f in data["files"]
            ],
        )
        unbased = promotion_request.paths_breaking_base_policy()
        if unbased:
            raise ValidationError(
                {"files": [f"{repository.full_name} requires base_sha on every file; missing for: {', '.join(unbased)}"]}
            )
        try:
            promotion, created = services.submit_promotion(request.user, promotion_request)
        except services.IdempotencyMismatch as error:
            return Response({"detail": str(error)}, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
        if data["wait"]:
            promotion = _wait_until_final(promotion, data["wait"])
        promotion = selectors.promotion_of(request.user, promotion.pk)
        headers = {"Location": f"{settings.PUBLIC_URL}/api/v1/promotions/{promotion.pk}"}
        if not created:
            headers["Idempotent-Replayed"] = "true"
        # 200 only for a finished promotion the pod waited for (or replayed); else 202.
        answered_final = promotion.is_final and (data["wait"] or not created)
        code = status.HTTP_200_OK if answered_final else status.HTTP_202_ACCEPTED
        return Response(PromotionSerializer(promotion).data, status=code, headers=headers)

    @extend_schema(
        operation_id="listPromotions",
        summary="List this pod's promotions, newest first",
        description="Call this to find your earlier promotions and their outcomes, e.g. after losing a status_url.",
        parameters=[
            OpenApiParameter("status", str, enum=[s.value for s in Promotion.Status], description="Only this status."),
            OpenApiParameter("limit", int, description="Page size (default 50)."),
            OpenApiParameter("offset", int, description="Items to skip."),
        ],
        responses={200: PromotionPageSerializer, 400: schema.INVALID, 401: schema.UNAUTHORIZED, 429: schema.THROTTLED},
        extensions=schema.READ_ONLY,
    )
    def get(self, request):
        status_filter = request.query_params.get("status")
        if status_filter and status_filter not in Promotion.Status.values:
            return validation_response({"status": [f"Must be one of: {', '.join(Promotion.Status.values)}."]})
        paginator = generics.GenericAPIView.pagination_class()
        page = paginator.paginate_queryset(selectors.promotions_of(request.user, status_filter), request, view=self)
        return paginator.get_paginated_response(PromotionSummarySerializer(page, many=True).data)


def unknown_api_url(request, *args, **kwargs):
    """Any URL under /api/v1/ that no route takes (e.g. /promotions/abc): a JSON 404,
    not Django's HTML page."""
    return JsonResponse({"detail": "No such API endpoint."}, status=status.HTTP_404_NOT_FOUND)


def _wait_until_final(promotion, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        promotion.refresh_from_db(fields=["status"])
        if promotion.is_final or promotion.status == Promotion.Status.AWAITING_APPROVAL:
            break
        time.sleep(POLL_INTERVAL_SECONDS)
    return promotion


class PromotionDetailView(APIView):
    @extend_schema(
        operation_id="getPromotion",
        summary="Get a promotion's status and per-file results",
        description=(
            "Call this after createPromotion answered 202, until status is final (committed, no_changes, conflict, "
            "failed, rejected, pr_open). Conflicts carry the current sha and a diff in results."
        ),
        responses={
            200: PromotionSerializer,
            401: schema.UNAUTHORIZED,
            404: schema.error_response("No promotion with this id for this pod."),
            429: schema.THROTTLED,
        },
        examples=[schema.COMMITTED_PROMOTION],
        extensions=schema.READ_ONLY,
    )
    def get(self, request, promotion_id: int):
        promotion = selectors.promotion_of(request.user, promotion_id)
        if promotion is None:
            raise NotFound("No such promotion for this pod.")
        return Response(PromotionSerializer(promotion).data)


class FileView(APIView):
    @extend_schema(
        operation_id="getFile",
        summary="Read a file as it is on a branch",
        description=(
            "Call this before changing an existing file: it returns the content and the sha to send back as "
            "base_sha, so a concurrent change becomes a merge or a conflict instead of being overwritten."
        ),
        parameters=[FileQuerySerializer],
        responses={
            200: FileVersionSerializer,
            400: schema.INVALID,
            401: schema.UNAUTHORIZED,
            403: schema.OUT_OF_SCOPE,
            404: schema.error_response("No such branch or file."),
            429: schema.THROTTLED,
            502: schema.GIT_HOST_DOWN,
            503: schema.GIT_HOST_DOWN,
        },
        extensions=schema.READ_ONLY,
    )
    def get(self, request):
        query = FileQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        repository = resolve_repository(request.user, query.validated_data.get("repository"))
        branch = query.validated_data.get("branch") or repository.default_branch
        refusal = out_of_scope_response(request.user, branch, {"path": query.validated_data["path"]})
        if refusal:
            return refusal
        try:
            version = selectors.current_file(repository, branch, query.validated_data["path"])
        except selectors.FileNotFound as error:
            raise NotFound(str(error)) from None
        return Response(FileVersionSerializer(version).data)
