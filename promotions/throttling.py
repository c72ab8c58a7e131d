"""Per-pod request throttling: `settings.PATCHGATE["THROTTLE_RATE"]` (default
120/min) or the pod's own `throttle_rate`, counted in the configured cache (the
database, or Redis with REDIS_URL) so every web process sees the same counts.
Over the rate: 429 with Retry-After."""

import math
import re

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from .models import Pod

RATE_PATTERN = re.compile(r"(?P<count>[1-9][0-9]*)/(?P<period>s|sec|second|m|min|minute|h|hour|d|day)")


def rate_problem(rate: str) -> str | None:
    """Why `rate` is not a rate DRF understands, or None."""
    if not RATE_PATTERN.fullmatch(rate):
        return "must be requests per period, e.g. 120/min, 10/s, 5000/hour or 20000/day"
    return None


def rate_of(pod: Pod) -> str:
    return pod.throttle_rate.strip() or settings.PATCHGATE["THROTTLE_RATE"]


class PodRateThrottle(SimpleRateThrottle):
    scope = "pod"

    def __init__(self):
        # The rate depends on the pod, known only in allow_request.
        pass

    def allow_request(self, request, view):
        pod = request.user
        if not isinstance(pod, Pod):
            return True  # staff views and the schema: not a pod's budget
        self.rate = rate_of(pod)
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request, view):
        # With its creation time: the id of a deleted pod may be given again.
        pod = request.user
        return self.cache_format % {"scope": self.scope, "ident": f"{pod.pk}-{pod.created_at.timestamp():.6f}"}

    def wait(self):
        # DRF gives no wait when the rate was lowered below the recorded history.
        return super().wait() or max(1, math.ceil(self.duration - (self.now - self.history[-1])))
