"""GitHub's GraphQL endpoint (`POST /graphql`, and `/api/graphql` under an Enterprise
Server-style base URL; https://docs.github.com/graphql/guides/forming-calls-with-graphql).

Every request is parsed, validated and executed with graphql-core against GitHub's
own published schema, npm's `@octokit/graphql-schema` (fetched once with `npm pack`
into the checkout's var/, never committed), so a query GitHub would refuse (an unknown
field, a wrong argument or variable type) is refused here too, in GitHub's words
(graphql_errors); what it resolves is in graphql_objects. Answers are HTTP 200, with
`errors` when something went wrong, as on GitHub.
"""

from __future__ import annotations

import functools
import json
import secrets
import shutil
import subprocess
import tarfile
import threading
from pathlib import Path
from typing import Any

from graphql import (
    GraphQLError,
    GraphQLSchema,
    OperationType,
    build_schema,
    default_field_resolver,
    execute,
    get_operation_ast,
    parse,
    validate,
)
from graphql.language import StringValueNode
from werkzeug.wrappers import Request

from .core import Call
from .graphql_errors import location, parse_error, preview_errors, validation_errors, variable_errors
from .graphql_objects import GitHubError, mutation_root, query_root
from .store import Refused

OCTOKIT_GRAPHQL_SCHEMA = "@octokit/graphql-schema@15.26.1"
SCHEMA_FILE = Path(__file__).resolve().parent.parent / "var" / "octokit-graphql-schema" / "15.26.1" / "schema.graphql"
# Scalars GitHub passes as strings; graphql-core would take any value for a custom scalar.
STRING_SCALARS = ("GitObjectID", "Base64String", "GitRefname", "URI", "DateTime", "GitTimestamp", "HTML")
# Schema previews GitHub documents as needing their media type in `Accept`
# (https://docs.github.com/graphql/overview/schema-previews#update-refs-preview).
PREVIEWS = {("Mutation", "updateRefs"): "application/vnd.github.update-refs-preview+json"}
SOMETHING_WENT_WRONG = (
    "Something went wrong while executing your query. This may be the result of a timeout, or it could be a "
    "GitHub bug. Please include `{request_id}` when reporting this issue."
)

MUTATION_RAN = "github_emulator.mutation_ran"  # set in the request's environ

_schema: GraphQLSchema | None = None
_schema_lock = threading.Lock()


class SchemaUnavailable(RuntimeError):
    """GitHub's schema is not in var/ and npm could not fetch it."""


def fetch_schema() -> Path:
    """The schema file, fetched with `npm pack` on first use."""
    if SCHEMA_FILE.exists():
        return SCHEMA_FILE
    npm = shutil.which("npm")
    if npm is None:
        raise SchemaUnavailable(f"npm is missing: cannot fetch {OCTOKIT_GRAPHQL_SCHEMA}")
    SCHEMA_FILE.parent.mkdir(parents=True, exist_ok=True)
    packed = subprocess.run(
        [npm, "pack", OCTOKIT_GRAPHQL_SCHEMA, "--pack-destination", str(SCHEMA_FILE.parent)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if packed.returncode != 0:
        raise SchemaUnavailable(f"could not fetch {OCTOKIT_GRAPHQL_SCHEMA}: {packed.stderr.strip()[-500:]}")
    tarball = SCHEMA_FILE.parent / packed.stdout.strip().splitlines()[-1]
    with tarfile.open(tarball) as archive:
        member = archive.extractfile("package/schema.graphql")
        assert member is not None
        partial = SCHEMA_FILE.with_suffix(".partial")
        partial.write_bytes(member.read())
        partial.replace(SCHEMA_FILE)  # whole or absent, for a run that looks meanwhile
    tarball.unlink()
    return SCHEMA_FILE


def github_schema() -> GraphQLSchema:
    """GitHub's schema, built once per process. Its SDL repeats two fields and breaks
    two graphql-js rules about deprecated interface fields that graphql-ruby does not
    have; neither concerns validating or executing a request, so both checks are off."""
    global _schema
    with _schema_lock:
        if _schema is None:
            schema = build_schema(fetch_schema().read_text(encoding="utf-8"), assume_valid_sdl=True)
            schema._validation_errors = []
            for name in STRING_SCALARS:
                scalar = schema.type_map[name]
                scalar.coerce_input_value = _string_value(name)  # type: ignore[attr-defined]
                scalar.coerce_input_literal = _string_literal(name)  # type: ignore[attr-defined]
                scalar.parse_literal = None  # type: ignore[attr-defined]
            _schema = schema
    return _schema


def _string_value(name: str):
    def coerce(value: Any) -> str:
        if not isinstance(value, str):
            raise GraphQLError(f"{name} cannot represent a non string value: {json.dumps(value)}")
        return value

    return coerce


def _string_literal(name: str):
    def coerce(node: Any, *_variables: Any) -> str:
        if not isinstance(node, StringValueNode):
            raise GraphQLError(f"{name} cannot represent a non string value", node)
        return node.value

    return coerce


@functools.lru_cache(maxsize=256)
def _checked(query: str, operation_name: str | None):
    """(document, operation, validation errors) of a query. Validating against GitHub's
    whole schema costs the emulator about 30 ms a request, and a query's text alone
    decides it: each text is parsed and validated once (a syntax error is not kept)."""
    document = parse(query)
    return document, get_operation_ast(document, operation_name), tuple(validate(github_schema(), document))


def ran_mutation(request: Request) -> bool:
    """Whether a request ran a mutation (a write, in the statistics); a query is a read,
    and so is a mutation refused before it ran (a wrong field, an invalid variable)."""
    return bool(request.environ.get(MUTATION_RAN))


def resolve_field(source: Any, info, **args: Any) -> Any:
    """A dict's key or function; a field the emulator does not resolve is an error."""
    if not isinstance(source, dict):
        return default_field_resolver(source, info, **args)
    if info.field_name not in source:
        raise GitHubError(
            "NOT_EMULATED", f"The GitHub emulator does not resolve {info.parent_type.name}.{info.field_name}"
        )
    value = source[info.field_name]
    return value(info, **args) if callable(value) else value


def execution_error(error: GraphQLError, request_id: str) -> dict:
    found = error.original_error
    locations = [location(loc.line, loc.column) for loc in error.locations or []]
    if isinstance(found, GitHubError):
        return {"type": found.type, "path": error.path, "locations": locations, "message": found.message}
    if found is None:
        return {"path": error.path, "locations": locations, "message": error.message}
    return {"message": SOMETHING_WENT_WRONG.format(request_id=request_id)}


def graphql(call: Call):
    body = call.body
    query, variables = body.get("query"), body.get("variables") or {}
    if isinstance(variables, str):
        try:
            variables = json.loads(variables or "{}")
        except ValueError:
            raise Refused(400, "Problems parsing JSON") from None
    if not isinstance(query, str) or not isinstance(variables, dict):
        return 200, {"errors": [{"message": "A query attribute must be specified and must be a string."}]}
    try:
        schema = github_schema()
    except SchemaUnavailable as problem:
        raise Refused(503, f"The emulator has no GraphQL schema: {problem}") from None
    try:
        name = body.get("operationName")
        document, operation, errors = _checked(query, name if name is None or isinstance(name, str) else repr(name))
    except GraphQLError as error:
        return 200, {"errors": [parse_error(error)]}
    if errors:
        return 200, {"errors": validation_errors(schema, document, list(errors))}
    if operation is None:
        return 200, {"errors": [{"message": "An operation name is required"}]}
    problems = variable_errors(schema, operation, variables) or preview_errors(
        operation, PREVIEWS, call.request.headers.get("Accept", "")
    )
    if problems:
        return 200, {"errors": problems}
    mutation = operation.operation == OperationType.MUTATION
    call.request.environ[MUTATION_RAN] = mutation
    result = execute(
        schema,
        document,
        root_value=mutation_root(call) if mutation else query_root(call),
        variable_values=variables,
        operation_name=body.get("operationName"),
        field_resolver=resolve_field,
    )
    answer: dict = {"data": result.data}  # type: ignore[union-attr]
    if result.errors:  # type: ignore[union-attr]
        request_id = secrets.token_hex(4).upper()
        answer["errors"] = [execution_error(error, request_id) for error in result.errors]  # type: ignore[union-attr]
    return 200, answer
