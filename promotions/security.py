"""HTTP hardening that Django does not do itself: a Content-Security-Policy on the
admin's pages, and the client address django-axes counts login failures by."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

# The admin shows what pods wrote (rendered reasoning traces, paths, messages): nothing
# in it may load from elsewhere, so a remote image in a trace never calls out from a
# lead's browser, and no injected script runs. Inline styles stay: the admin and our
# badges and charts use them.
ADMIN_CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' data:",
        "style-src 'self' 'unsafe-inline'",
        "script-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class AdminContentSecurityPolicyMiddleware:
    """Adds ADMIN_CONTENT_SECURITY_POLICY to every answer under /admin/."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith("/admin/"):
            response.setdefault("Content-Security-Policy", ADMIN_CONTENT_SECURITY_POLICY)
        return response


def client_ip(request: HttpRequest) -> str | None:
    """The address a login attempt came from. Behind our TLS proxy every connection
    comes from the proxy, which appends the client's address to X-Forwarded-For: the
    last entry is the one it saw (earlier ones are whatever the client sent)."""
    if settings.BEHIND_TLS_PROXY:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")[-1].strip()
        if forwarded:
            return forwarded
    return request.META.get("REMOTE_ADDR")
