"""The tools' JSON schemas, taken from the pod API's own OpenAPI document by
operationId: a tool takes and returns exactly what its REST operation does, and a
field added to the API appears in the tool with the same description and limits."""

from __future__ import annotations

import copy
import functools
from typing import Any

from drf_spectacular.generators import SchemaGenerator

Schema = dict[str, Any]
COMPONENT_PREFIX = "#/components/schemas/"


@functools.cache
def openapi_document() -> Schema:
    """The pods' OpenAPI document, as /api/schema/ serves it; built once per process."""
    return SchemaGenerator().get_schema(request=None, public=True)


def _operations() -> dict[str, Schema]:
    return {
        operation["operationId"]: operation
        for item in openapi_document()["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    }


def _inlined(node: Any, components: Schema) -> Any:
    """`node` with every component $ref replaced by the component itself (a tool's
    schema stands alone)."""
    if isinstance(node, dict):
        reference = node.get("$ref")
        if isinstance(reference, str) and reference.startswith(COMPONENT_PREFIX):
            return _inlined(components[reference.removeprefix(COMPONENT_PREFIX)], components)
        # drf-spectacular writes a blank-able URL as oneOf [uri, empty string], and '' matches both
        # (validators do not assert `format`): anyOf says what is meant.
        return {("anyOf" if key == "oneOf" else key): _inlined(value, components) for key, value in node.items()}
    if isinstance(node, list):
        return [_inlined(item, components) for item in node]
    return copy.deepcopy(node)


def _standalone(schema: Schema) -> Schema:
    return _inlined(schema, openapi_document()["components"]["schemas"])


def request_body(operation_id: str) -> Schema:
    """The JSON body an operation takes."""
    body = _operations()[operation_id]["requestBody"]["content"]["application/json"]["schema"]
    return _standalone(body)


def query_parameters(operation_id: str) -> Schema:
    """An operation's query parameters as one object schema."""
    properties: Schema = {}
    required = []
    for parameter in _operations()[operation_id].get("parameters", []):
        if parameter.get("in") != "query":
            continue
        prop = _standalone(parameter["schema"])
        if parameter.get("description"):
            prop.setdefault("description", parameter["description"])
        properties[parameter["name"]] = prop
        if parameter.get("required"):
            required.append(parameter["name"])
    return {"type": "object", "properties": properties, "required": required}


def response(operation_id: str, status: str = "200") -> Schema:
    """What an operation answers with `status`."""
    return _standalone(_operations()[operation_id]["responses"][status]["content"]["application/json"]["schema"])
