"""Pods authenticate with `Authorization: Bearer <key>`: one query finds the key, its
pod and the repositories granted to it (kept on `pod.granted_repositories`, so the
request needs no second query for them)."""

from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions

from .keys import hash_key
from .models import ApiKey, Pod, Repository
from .prepared import PreparedQuery, columns, instance

# last_used_at is advisory: writing it at most once a minute spares a write per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)

_POD = columns(Pod, "pod__")
_REPOSITORY = columns(Repository, "pod__repositories__")
_KEY = PreparedQuery(
    lambda key_hash: (
        ApiKey.objects.filter(key_hash=key_hash, revoked_at__isnull=True, pod__is_active=True)
        .order_by()
        .values_list("id", "last_used_at", *_POD, *_REPOSITORY)
    ),
    "\x00key hash\x00",
)


def pod_for_key(raw_key: str) -> Pod | None:
    """The active pod holding this unrevoked key, or None (unknown, revoked and
    malformed keys alike). Notes when the key was last used."""
    raw_key = raw_key.strip()
    if not raw_key:
        return None
    rows = _KEY.rows(hash_key(raw_key))
    if not rows:
        return None
    key_id, last_used_at = rows[0][:2]
    repositories_at = 2 + len(_POD)
    pod = instance(Pod, rows[0][2:repositories_at])
    pod.granted_repositories = [  # type: ignore[attr-defined]
        instance(Repository, row[repositories_at:]) for row in rows if row[repositories_at] is not None
    ]
    now = timezone.now()
    if last_used_at is None or now - last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key_id).update(last_used_at=now)
    return pod


class PodKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        keyword, _, raw_key = header.partition(" ")
        if keyword.lower() != self.keyword.lower():
            return None
        pod = pod_for_key(raw_key)
        if pod is None:
            # Same answer for unknown, revoked and malformed keys: no hint which.
            raise exceptions.AuthenticationFailed("Invalid API key.")
        return pod, None

    def authenticate_header(self, request):
        return 'Bearer realm="patchgate"'
