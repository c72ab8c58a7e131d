"""GitHub Apps (https://docs.github.com/rest/apps/apps): an App authenticates with a
JWT signed by its private key (RS256) to find its installations and trade one for an
installation token; that token reaches only the installation's account (404
elsewhere, as GitHub answers for a repository it cannot see)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import jwt

from . import shapes
from .core import Call
from .store import App, Installation, Refused

PERMISSIONS = {"contents": "write", "metadata": "read", "pull_requests": "write"}


def authenticated_app(call: Call) -> App:
    """The registered App whose JWT (RS256, `iss` its id) authenticates the request."""
    scheme, _, credential = call.request.headers.get("Authorization", "").partition(" ")
    try:
        if scheme.lower() != "bearer":
            raise jwt.InvalidTokenError("not a bearer JWT")
        issuer = str(jwt.decode(credential, options={"verify_signature": False}).get("iss"))
        app = call.emulator.apps.get(issuer)
        if app is None:
            raise jwt.InvalidTokenError("unknown app")
        jwt.decode(credential, app.public_key, algorithms=["RS256"], options={"require": ["exp", "iat", "iss"]})
    except jwt.InvalidTokenError:
        raise Refused(401, "A JSON web token could not be decoded") from None
    return app


def installation(urls: shapes.Urls, app: App, found: Installation) -> dict:
    """GitHub's `installation` object."""
    login = found.owner or shapes.LOGIN
    account = shapes.simple_user(urls, login)
    created = shapes.iso(found.created_at)
    return {
        "id": int(found.id),
        "client_id": f"Iv1.{int(app.id):016x}",
        "account": account,
        "repository_selection": "all",
        "access_tokens_url": f"{urls.api}/app/installations/{found.id}/access_tokens",
        "repositories_url": f"{urls.api}/installation/repositories",
        "html_url": f"{urls.web}/organizations/{login}/settings/installations/{found.id}",
        "app_id": int(app.id),
        "app_slug": f"app-{app.id}",
        "target_id": account["id"],
        "target_type": account["type"],
        "permissions": PERMISSIONS,
        "events": [],
        "created_at": created,
        "updated_at": created,
        "single_file_name": None,
        "has_multiple_single_files": False,
        "single_file_paths": [],
        "suspended_by": None,
        "suspended_at": None,
    }


def list_installations(call: Call):
    app = authenticated_app(call)
    mine = [found for found in call.emulator.installations.values() if found.app_id == app.id]
    page, headers = call.page([installation(call.urls, app, found) for found in mine])
    return 200, page, headers


def get_repo_installation(call: Call, owner: str, repo: str):
    """The App's installation that reaches the repository; 404 where it has none."""
    app = authenticated_app(call)
    if f"{owner}/{repo}".lower() not in call.emulator.repos:
        raise Refused(404, "Not Found")
    for found in call.emulator.installations.values():
        if found.app_id == app.id and found.reaches(owner):
            return 200, installation(call.urls, app, found)
    raise Refused(404, "Not Found")


def create_installation_token(call: Call, installation_id: str):
    """An App trades its JWT for a token of one of its installations, valid an hour,
    as PyGithub's AppInstallationAuth does before its first call and before expiry."""
    app = authenticated_app(call)
    found = call.emulator.installations.get(installation_id)
    if found is None or found.app_id != app.id:
        raise Refused(404, "Not Found")
    token = call.emulator.issue_installation_token(found.id)
    expires = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(hours=1)
    return 201, {
        "token": token,
        "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "permissions": PERMISSIONS,
        "repository_selection": "all",
    }
