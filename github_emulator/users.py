"""Who is calling: the authenticated user (https://docs.github.com/rest/users/users).
GitHub Apps and their installations are in apps.py."""

from __future__ import annotations

from . import shapes
from .core import Call
from .store import Refused


def get_user(call: Call):
    if "Authorization" not in call.request.headers:
        raise Refused(401, "Requires authentication")
    return 200, shapes.authenticated_user(call.urls)
