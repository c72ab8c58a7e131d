"""The pod API: thin views over promotions.services and promotions.selectors.
Every refusal is a promotions.errors.DomainError, answered by api.errors."""

import time

from django.conf import settings
from django.http import JsonResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import selectors
from ..errors import InvalidRequest, NotFound
from ..models import Promotion
from ..services.promotions import promotion_submit
from . import schema
from .intake import promotion_request_from
from .serializers import (
    FileQuerySerializer,
    FilesQuerySerializer,
    FileVersionSerializer,
    FileVersionsSerializer,
    PromotionInputSerializer,
    PromotionPageSerializer,
    PromotionSerializer,
    PromotionSummarySerializer,
)


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
        started = time.monotonic()
        promotion, created, wait = _submit(request)
        if wait:
            # The wait counts from the request's arrival, and may end early (promotion_wait).
            selectors.promotion_wait(promotion=promotion, seconds=wait - (time.monotonic() - started))
        if wait or not created:
            promotion = selectors.promotion_of(request.user, promotion.pk)
        headers = {"Location": f"{settings.PUBLIC_URL}/api/v1/promotions/{promotion.pk}"}
        if not created:
            headers["Idempotent-Replayed"] = "true"
        # 200 only for a finished promotion the pod waited for (or replayed); else 202.
        answered_final = promotion.is_final and (wait or not created)
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
            raise InvalidRequest({"status": [f"Must be one of: {', '.join(Promotion.Status.values)}."]})
        paginator = generics.GenericAPIView.pagination_class()
        page = paginator.paginate_queryset(selectors.promotions_of(request.user, status_filter), request, view=self)
        return paginator.get_paginated_response(PromotionSummarySerializer(page, many=True).data)


def _submit(request) -> tuple[Promotion, bool, int]:
    """Submit the body; returns (promotion, created, seconds to wait). The decoded
    request is dropped on return, so a wait does not hold the files' content."""
    submission = promotion_request_from(request.data, idempotency_key=request.headers.get("Idempotency-Key") or None)
    promotion, created = promotion_submit(pod=request.user, request=submission)
    return promotion, created, submission.wait


def unknown_api_url(request, *args, **kwargs):
    """Any URL under /api/v1/ that no route takes (e.g. /promotions/abc): a JSON 404,
    not Django's HTML page."""
    return JsonResponse({"detail": "No such API endpoint."}, status=status.HTTP_404_NOT_FOUND)


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
            raise NotFound(detail="No such promotion for this pod.")
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
            502: schema.GIT_HOST_REFUSED,
            503: schema.GIT_HOST_DOWN,
        },
        extensions=schema.READ_ONLY,
    )
    def get(self, request):
        version = selectors.file_for_pod(pod=request.user, **FileQuerySerializer.validated(request.query_params))
        return Response(FileVersionSerializer(version).data)


class FilesView(APIView):
    @extend_schema(
        operation_id="getFiles",
        summary="Read several files as they are on a branch, in one call",
        description=(
            "Call this instead of several getFile calls when you will edit several existing files: it returns each "
            "file's content and the sha to send back as its base_sha, all read at the same commit. Paths that are "
            "no file on the branch are listed in missing."
        ),
        request=FilesQuerySerializer,
        responses={
            200: FileVersionsSerializer,
            400: schema.INVALID,
            401: schema.UNAUTHORIZED,
            403: schema.OUT_OF_SCOPE,
            404: schema.error_response("No such branch."),
            413: schema.error_response("The files hold more than a promotion may: ask for fewer."),
            429: schema.THROTTLED,
            502: schema.GIT_HOST_REFUSED,
            503: schema.GIT_HOST_DOWN,
        },
        extensions=schema.READ_ONLY,
    )
    def post(self, request):
        versions = selectors.files_for_pod(pod=request.user, **FilesQuerySerializer.validated(request.data))
        return Response(FileVersionsSerializer(versions).data)
