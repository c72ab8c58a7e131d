"""The one place where GitHub's answers become the port's errors, and when a
rate-limited client may come back."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import requests
from django.utils import timezone
from github import GithubException

from ..port import ScmAuthError, ScmError, ScmNotFound, ScmRateLimited, ScmRejected, ScmTransientError
from .client import timeout_seconds

# When a rate-limit answer names no time, come back after this long.
DEFAULT_RATE_LIMIT_WAIT = timedelta(seconds=60)


def retry_time(headers: Mapping[str, str] | None) -> datetime:
    """When a rate-limited client may come back: `Retry-After` (seconds) first, then
    `X-RateLimit-Reset` (epoch seconds), as GitHub documents."""
    lowered = {key.lower(): value for key, value in (headers or {}).items()}
    now = timezone.now()
    if str(lowered.get("retry-after", "")).isdigit():
        return now + timedelta(seconds=int(lowered["retry-after"]))
    if str(lowered.get("x-ratelimit-reset", "")).isdigit():
        return max(now, datetime.fromtimestamp(int(lowered["x-ratelimit-reset"]), dt_timezone.utc))
    return now + DEFAULT_RATE_LIMIT_WAIT


def _is_rate_limit(error: GithubException) -> bool:
    headers = {key.lower(): value for key, value in (error.headers or {}).items()}
    if error.status == 429:
        return True
    return error.status == 403 and (
        "retry-after" in headers
        or str(headers.get("x-ratelimit-remaining")) == "0"
        or "rate limit" in github_message(error).lower()
    )


def github_message(error: GithubException) -> str:
    data = error.data if isinstance(error.data, dict) else {}
    return str(data.get("message") or error.message or "").strip()


def graphql_error(what: str, errors: list[dict], headers: dict) -> ScmError:
    """GitHub's GraphQL errors (HTTP 200, `errors[].type`) as the port's errors."""
    kind = errors[0].get("type") or ""
    said = "; ".join(str(e.get("message", "")) for e in errors)
    detail = f"{what}: GitHub answered {kind or 'an error'}: {said}"
    if kind == "NOT_FOUND":
        return ScmNotFound(detail)
    if kind == "FORBIDDEN":
        return ScmAuthError(f"{detail} (the credentials lack a permission; not retried)")
    if kind == "RATE_LIMITED":
        return ScmRateLimited(detail, retry_at=retry_time(headers))
    return ScmRejected(detail)


@contextmanager
def translated_errors(what: str):
    """The one place where GitHub's answers become the port's errors. Messages carry
    GitHub's own words and what was being done, never a credential."""
    try:
        yield
    except ScmError:
        raise
    except GithubException as error:
        said = github_message(error)
        detail = f"{what}: GitHub answered {error.status}" + (f" {said}" if said else "")
        if error.status == 401:
            raise ScmAuthError(f"{detail} (check the GitHub credentials; not retried)") from None
        if _is_rate_limit(error):
            raise ScmRateLimited(detail, retry_at=retry_time(error.headers)) from None
        if error.status == 403:
            raise ScmAuthError(f"{detail} (the credentials lack a permission; not retried)") from None
        if error.status == 404:
            raise ScmNotFound(detail) from None
        if error.status >= 500:
            raise ScmTransientError(detail) from None
        raise ScmRejected(detail) from None
    except requests.Timeout:
        raise ScmTransientError(f"{what}: GitHub did not answer within {timeout_seconds()}s") from None
    except requests.ConnectionError:
        raise ScmTransientError(f"{what}: the connection to GitHub failed or was dropped") from None
