"""Pods authenticate with `Authorization: Bearer <key>`."""

from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions

from .models import ApiKey
from .services import hash_key

# last_used_at is advisory: writing it at most once a minute spares a write per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class PodKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        keyword, _, raw_key = header.partition(" ")
        if keyword.lower() != self.keyword.lower():
            return None
        raw_key = raw_key.strip()
        api_key = (
            ApiKey.objects.select_related("pod")
            .filter(key_hash=hash_key(raw_key), revoked_at__isnull=True, pod__is_active=True)
            .first()
            if raw_key
            else None
        )
        if api_key is None:
            # Same answer for unknown, revoked and malformed keys: no hint which.
            raise exceptions.AuthenticationFailed("Invalid API key.")
        now = timezone.now()
        if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        return api_key.pod, api_key

    def authenticate_header(self, request):
        return 'Bearer realm="patchgate"'
