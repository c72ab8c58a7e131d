from rest_framework.permissions import BasePermission

from .models import Pod


class IsPod(BasePermission):
    """Only requests authenticated with a pod's API key."""

    def has_permission(self, request, view):
        return isinstance(request.user, Pod)
