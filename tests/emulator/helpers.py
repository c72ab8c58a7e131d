"""Helpers of the emulator's tests: plain HTTP to an emulated repository, the `git`
command to check shas and diffs against, GitHub's error body, and GitHub's own
OpenAPI description (`@octokit/openapi`, fetched once with `npm pack` into the
checkout's var/, whatever PATCHGATE_DATA_DIR says) to validate answers with."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import jwt
import pytest
import requests
from django.conf import settings
from github import Auth, Github
from jsonschema import FormatChecker
from openapi_schema_validator import OAS30Validator

from tests.helpers import new_app_key

OCTOKIT_OPENAPI = "@octokit/openapi@23.0.2"
# In the checkout, not in PATCHGATE_DATA_DIR: a test run on a throwaway data folder
# uses the description fetched once, instead of fetching it again.
OPENAPI_CACHE = Path(settings.BASE_DIR) / "var" / "octokit-openapi" / "23.0.2" / "api.github.com.json"
TOKEN = {"Authorization": "token any"}
AUTHOR = {"name": "Ada Lovelace", "email": "ada@example.invalid", "date": "2026-01-02T03:04:05+02:00"}
COMMITTER = {"name": "Grace Hopper", "email": "grace@example.invalid", "date": "2026-01-03T10:20:30-05:30"}
BINARY = bytes(range(256)) * 3
R = "/repos/{owner}/{repo}"


def client(emulator, **options) -> Github:
    return Github(
        auth=Auth.Token("any"),
        base_url=emulator.url,
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
        **options,
    )


class Api:
    """Plain HTTP to the emulator's repository, for exact bodies and headers."""

    def __init__(self, emulator, full_name="acme/widgets"):
        self.base = f"{emulator.url}/repos/{full_name}"

    def __call__(self, method, path, body=None, **options) -> requests.Response:
        return requests.request(method, self.base + path, json=body, headers=TOKEN, timeout=10, **options)


def error(message, docs, status):
    return {"message": message, "documentation_url": f"https://docs.github.com/rest{docs}", "status": str(status)}


def git(repo: Path, *args, stdin: bytes = b"", env: dict | None = None) -> str:
    done = subprocess.run(
        ["git", *args], cwd=repo, input=stdin, capture_output=True, check=True, env={**os.environ, **(env or {})}
    )
    return done.stdout.decode().strip()


def mktree(repo: Path, lines: list[str]) -> str:
    return git(repo, "mktree", stdin="".join(f"{line}\n" for line in lines).encode())


def fetch_head(repo, branch="main") -> str:
    """PyGithub's ref is lazy: reading its object is the GET."""
    return repo.get_git_ref(f"heads/{branch}").object.sha


def head_of(api) -> str:
    return api("GET", "/git/ref/heads/main").json()["object"]["sha"]


def commit_on(api, parent: str, path: str, text: str, message="change") -> str:
    """A commit that writes one file on top of `parent` (no ref moved)."""
    entry = {"path": path, "mode": "100644", "type": "blob", "content": text}
    tree = api("POST", "/git/trees", {"base_tree": parent, "tree": [entry]})
    return api("POST", "/git/commits", {"message": message, "tree": tree.json()["sha"], "parents": [parent]}).json()[
        "sha"
    ]


def graphql(emulator, query, variables=None, headers=TOKEN, path="/graphql") -> dict:
    """A GraphQL request's answer (GitHub answers 200, errors or not)."""
    answer = requests.post(
        emulator.url + path, json={"query": query, "variables": variables or {}}, headers=headers, timeout=10
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def registered_app_jwt(emulator, app_id: int, installation_id: int) -> dict:
    """Headers with the JWT of a GitHub App registered in the emulator, as PyGithub signs it."""
    private, public = new_app_key()
    emulator.register_app(app_id, public, installation_id)
    issued = int(time.time()) - 60
    token = jwt.encode({"iat": issued, "exp": issued + 600, "iss": str(app_id)}, private, algorithm="RS256")
    return {"Authorization": f"Bearer {token}"}


# --- GitHub's OpenAPI description --------------------------------------------------------


def github_openapi_description() -> dict:
    """GitHub's official description, from the npm package, fetched once into var/;
    skips the test when it cannot be fetched."""
    if not OPENAPI_CACHE.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip(f"npm is missing: cannot fetch {OCTOKIT_OPENAPI}")
        OPENAPI_CACHE.parent.mkdir(parents=True, exist_ok=True)
        packed = subprocess.run(
            [npm, "pack", OCTOKIT_OPENAPI, "--pack-destination", str(OPENAPI_CACHE.parent)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if packed.returncode != 0:
            pytest.skip(f"could not fetch {OCTOKIT_OPENAPI} from the npm registry: {packed.stderr.strip()[-500:]}")
        tarball = OPENAPI_CACHE.parent / packed.stdout.strip().splitlines()[-1]
        with tarfile.open(tarball) as archive:
            member = archive.extractfile("package/generated/api.github.com.json")
            assert member is not None
            OPENAPI_CACHE.write_bytes(member.read())
        tarball.unlink()
    return json.loads(OPENAPI_CACHE.read_text(), object_hook=null_allowed)


def null_allowed(schema: dict) -> dict:
    """OpenAPI 3.0's `nullable` on a schema without a `type` (GitHub's commit author:
    a user, an empty object, or null) is lost on the validator: say it in JSON Schema."""
    if (
        schema.get("nullable") is True
        and "type" not in schema
        and any(k in schema for k in ("oneOf", "anyOf", "allOf"))
    ):
        return {"anyOf": [{"enum": [None]}, {key: value for key, value in schema.items() if key != "nullable"}]}
    return schema


FORMATS = FormatChecker()
FORMATS.checkers = dict(OAS30Validator.FORMAT_CHECKER.checkers)


@FORMATS.checks("uri")
def is_absolute_url(value) -> bool:
    parts = urlsplit(value)
    return not isinstance(value, str) or bool(parts.scheme in ("http", "https", "git") and parts.netloc)


def response_validator(spec: dict, template: str, method: str, status: int) -> OAS30Validator:
    answer = spec["paths"][template][method.lower()]["responses"][str(status)]
    if "$ref" in answer:
        answer = spec["components"]["responses"][answer["$ref"].rsplit("/", 1)[1]]
    schema = answer["content"]["application/json"]["schema"]
    # The schema's `#/components/...` references resolve within the whole description.
    return OAS30Validator({**schema, "components": spec["components"]}, format_checker=FORMATS)


def mismatches(spec: dict, answers: list[tuple[str, str, requests.Response]]) -> list[str]:
    """Where each (method, path template, answer) departs from GitHub's description."""
    failures = []
    for method, template, answer in answers:
        validator = response_validator(spec, template, method, answer.status_code)
        failures += [
            f"{method} {template} {answer.status_code}: {e.json_path}: {e.message[:300]}"
            for e in validator.iter_errors(answer.json())
        ]
    return failures
