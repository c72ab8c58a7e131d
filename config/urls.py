from django.contrib import admin
from django.db import connection
from django.http import JsonResponse
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from promotions.admin.reports import pod_activity, write_budget
from promotions.api.views import unknown_api_url
from promotions.mcp.endpoint import mcp_endpoint


def healthz(request):
    """200 when the database answers, 503 when it does not."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        return JsonResponse({"status": "unavailable", "database": "down"}, status=503)
    return JsonResponse({"status": "ok", "database": "up"})


urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index"), name="home"),  # leads start in the admin
    path("healthz", healthz, name="healthz"),
    re_path(r"^mcp/?$", mcp_endpoint, name="mcp"),
    path("api/v1/", include("promotions.api.urls")),
    re_path(r"^api/v1/", unknown_api_url),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("admin/reports/pods/", admin.site.admin_view(pod_activity), name="pod-activity"),
    path("admin/reports/github-write-budget/", admin.site.admin_view(write_budget), name="write-budget"),
    path("admin/", admin.site.urls),
]
