"""Domain errors: what a service raises when it refuses an action.

Each carries the HTTP status it means and the fields it names, so every caller
(the REST API, the MCP endpoint, the admin, commands) answers the same way:
`{"detail": "...", "errors": {"files[0].path": ["..."]}}`."""

from __future__ import annotations


class DomainError(Exception):
    status = 400
    headline = "Invalid request"

    def __init__(self, errors: dict[str, list[str]] | None = None, *, detail: str | None = None):
        self.errors = errors or {}
        if detail is None:
            summary = "; ".join(f"{field}: {' '.join(messages)}" for field, messages in self.errors.items())
            detail = f"{self.headline}: {summary}" if summary else self.headline
        self.detail = detail
        super().__init__(detail)

    def as_dict(self) -> dict:
        body: dict = {"detail": self.detail}
        if self.errors:
            body["errors"] = self.errors
        return body


class InvalidRequest(DomainError):
    """The request itself is wrong: a field's value breaks a rule."""


class OutOfScope(DomainError):
    """The pod may not touch this repository, branch or path."""

    status = 403
    headline = "Out of this pod's scope"


class NotAllowed(DomainError):
    """The acting user lacks the permission this action needs."""

    status = 403
    headline = "Not allowed"


class NotFound(DomainError):
    status = 404
    headline = "Not found"


class StateConflict(DomainError):
    """The object is not in a state where this action applies (e.g. approving a committed promotion)."""

    status = 409
    headline = "Not possible now"


class TooLarge(DomainError):
    status = 413
    headline = "Too large"


class IdempotencyMismatch(DomainError):
    """An Idempotency-Key used before with a different body."""

    status = 422
    headline = "Idempotency-Key reused with another body"
