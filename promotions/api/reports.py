"""Activity reports for leads, as JSON or CSV (`?format=csv`, same columns and numbers).

Staff only: a staff user's admin session, or HTTP Basic with a staff user's
username and password (`curl -u lead:secret .../api/v1/reports/pods?format=csv`).
A pod's key authenticates as the pod and is refused with 403. Kept out of the
pods' OpenAPI schema."""

import csv
import io
import json

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework.authentication import BasicAuthentication, SessionAuthentication
from rest_framework.exceptions import AuthenticationFailed, Throttled, ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder
from rest_framework.views import APIView

from .. import reports
from ..auth import PodKeyAuthentication


class IsStaff(BasePermission):
    """Staff users only; a pod (or nobody) is not one."""

    def has_permission(self, request, view):
        return bool(getattr(request.user, "is_staff", False))


class LockedOutBasicAuthentication(BasicAuthentication):
    """HTTP Basic, guarded by django-axes as the admin login is: once a username has
    failed too often from an address, even its right password is refused, with 429."""

    def authenticate_credentials(self, userid, password, request=None):
        try:
            return super().authenticate_credentials(userid, password, request)
        except AuthenticationFailed:
            if getattr(request, "axes_locked_out", False):
                cooloff = int(settings.AXES_COOLOFF_TIME.total_seconds())
                raise Throttled(wait=cooloff, detail="Too many failed logins: locked out for a while.") from None
            raise


class CSVRenderer(BaseRenderer):
    """The report's rows, one CSV line each, with the view's columns as header."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        # Through the JSON encoder first, so dates and numbers read exactly as in the JSON.
        rows = json.loads(json.dumps(data["results"], cls=JSONEncoder))
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=renderer_context["view"].columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return text.getvalue().encode(self.charset)


class StaffReportView(APIView):
    """GET ?since=YYYY-MM-DD&until=YYYY-MM-DD&repository=owner/name -> {period..., results: [rows]}."""

    authentication_classes = [PodKeyAuthentication, SessionAuthentication, LockedOutBasicAuthentication]
    permission_classes = [IsStaff]
    renderer_classes = [JSONRenderer, CSVRenderer]
    columns: tuple[str, ...]

    def report(self, period: reports.Period) -> list[dict]:
        raise NotImplementedError

    @extend_schema(exclude=True)
    def get(self, request):
        form = reports.PeriodForm(request.query_params)
        if not form.is_valid():
            raise ValidationError({field: list(messages) for field, messages in form.errors.items()})
        period = form.period()
        return Response(
            {
                "since": period.since,
                "until": period.until,
                "repository": period.repository.full_name if period.repository else None,
                "results": self.report(period),
            }
        )

    def handle_exception(self, exc):
        # Errors are answered in the API's JSON error shape, whatever format was asked for.
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return super().handle_exception(exc)


class PodReportView(StaffReportView):
    columns = reports.POD_COLUMNS

    def report(self, period):
        return reports.pod_figures(period)


class RepositoryReportView(StaffReportView):
    columns = reports.REPOSITORY_COLUMNS

    def report(self, period):
        return reports.repository_figures(period)


class DayReportView(StaffReportView):
    columns = reports.DAY_COLUMNS

    def report(self, period):
        return reports.daily_outcomes(period)
