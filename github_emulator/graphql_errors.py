"""GitHub's GraphQL error shapes for what graphql-core finds wrong with a request.

GitHub runs graphql-ruby, so a request that graphql-core refuses is answered (HTTP 200)
with graphql-ruby's wording: `{"message": "Field 'foo' doesn't exist on type 'User'",
"locations": [...], "path": ["query", "viewer", "foo"], "extensions": {"code":
"undefinedField", "typeName": "User", "fieldName": "foo"}}` (as GitHub's clients print
them, e.g. microsoft/vscode-pull-request-github#6738 "undefinedField,variableNotUsed",
dlvhdr/gh-dash#376), `Parse error on "}" (RCURLY) at [1, 5]`, and `Variable $input of
type CreateCommitOnBranchInput! was provided invalid value for expectedHeadOid (Expected
value to not be null)` (avitorio/outstatic#17). Rules without a translation here keep
graphql-core's message.
"""

from __future__ import annotations

import json
import re
from typing import Any, cast

from graphql import (
    GraphQLError,
    GraphQLInputType,
    GraphQLSchema,
    Source,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    is_input_type,
    visit,
)
from graphql.language import (
    ArgumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    Lexer,
    Node,
    ObjectFieldNode,
    OperationDefinitionNode,
    Token,
    TokenKind,
    ValueNode,
    VariableDefinitionNode,
)
from graphql.language.printer import print_ast
from graphql.pyutils import Undefined
from graphql.utilities import type_from_ast, validate_input_value

# graphql-ruby's names of the tokens graphql-core's lexer reads.
TOKEN_NAMES = {
    TokenKind.BRACE_L: "LCURLY",
    TokenKind.BRACE_R: "RCURLY",
    TokenKind.PAREN_L: "LPAREN",
    TokenKind.PAREN_R: "RPAREN",
    TokenKind.BRACKET_L: "LBRACKET",
    TokenKind.BRACKET_R: "RBRACKET",
    TokenKind.COLON: "COLON",
    TokenKind.EQUALS: "EQUALS",
    TokenKind.DOLLAR: "VAR_SIGN",
    TokenKind.BANG: "BANG",
    TokenKind.SPREAD: "ELLIPSIS",
    TokenKind.AT: "DIR_SIGN",
    TokenKind.PIPE: "PIPE",
    TokenKind.AMP: "AMP",
    TokenKind.NAME: "IDENTIFIER",
    TokenKind.INT: "INT",
    TokenKind.FLOAT: "FLOAT",
    TokenKind.STRING: "STRING",
    TokenKind.BLOCK_STRING: "STRING",
}


def location(line: int, column: int) -> dict:
    return {"line": line, "column": column}


def parse_error(error: GraphQLError) -> dict:
    """graphql-ruby's parse error: the token it stopped at, or the end of the document."""
    body = error.source.body if error.source else ""
    position = list(error.positions)[0] if error.positions else len(body)
    line, column = (error.locations[0].line, error.locations[0].column) if error.locations else (1, 1)
    lexer = Lexer(Source(body))
    token: Token | None = lexer.token
    try:
        while token is not None and token.kind != TokenKind.EOF and token.end <= position:
            token = lexer.advance()
    except GraphQLError:
        token = None  # the lexer itself stopped there (an unterminated string...)
    if token is not None and token.kind == TokenKind.EOF:
        return {"message": "Unexpected end of document", "locations": []}
    value = token.value if token is not None and token.value is not None else body[position : position + 1]
    kind = TOKEN_NAMES.get(token.kind, "UNKNOWN_CHAR") if token is not None else "UNKNOWN_CHAR"
    if kind == "IDENTIFIER" and value in (
        "query",
        "mutation",
        "subscription",
        "fragment",
        "on",
        "true",
        "false",
        "null",
    ):
        kind = value.upper()
    return {
        "message": f"Parse error on {json.dumps(value)} ({kind}) at [{line}, {column}]",
        "locations": [location(line, column)],
    }


class _Place:
    """Where a node sits in the document, as graphql-ruby names it in `path`, and the
    field and argument it is part of."""

    def __init__(
        self,
        path: list[str],
        field: str = "",
        parent_type: str = "",
        argument: ArgumentNode | None = None,
        argument_type: str = "",
        argument_path: list[str] | None = None,
        variable: str = "",
    ):
        self.path, self.field, self.parent_type = path, field, parent_type
        self.argument, self.argument_type, self.argument_path = argument, argument_type, argument_path or []
        self.variable = variable  # inside the definition of this variable

    def within(self, step: str, variable: str = "") -> _Place:
        return _Place(
            [*self.path, step] if step else self.path,
            self.field,
            self.parent_type,
            self.argument,
            self.argument_type,
            self.argument_path,
            variable or self.variable,
        )


class _Indexer(Visitor):
    def __init__(self, type_info: TypeInfo):
        super().__init__()
        self.type_info = type_info
        self.places: dict[int, _Place] = {}
        self.stack: list[_Place] = []

    def enter(self, node: Node, *_args: Any) -> None:
        place = self.stack[-1] if self.stack else _Place([])
        step = _step(node)
        if isinstance(node, FieldNode):
            parent = self.type_info.get_parent_type()
            place = _Place([*place.path, step], node.name.value, parent.name if parent else "")
        elif isinstance(node, ArgumentNode):
            argument = self.type_info.get_argument()
            path = [*place.path, step]
            place = _Place(path, place.field, place.parent_type, node, str(argument.type) if argument else "", path)
        elif isinstance(node, VariableDefinitionNode):
            place = place.within("", node.variable.name.value)
        elif step:
            place = place.within(step)
        self.places[id(node)] = place
        self.stack.append(place)

    def leave(self, *_args: Any) -> None:
        self.stack.pop()


def _step(node: Node) -> str:
    if isinstance(node, OperationDefinitionNode):
        return node.operation.value + (f" {node.name.value}" if node.name else "")
    if isinstance(node, FragmentDefinitionNode):
        return f"fragment {node.name.value}"
    if isinstance(node, FieldNode):
        return (node.alias or node.name).value
    if isinstance(node, (ArgumentNode, ObjectFieldNode)):
        return node.name.value
    if isinstance(node, InlineFragmentNode):
        return f"... on {node.type_condition.name.value}" if node.type_condition else "..."
    if isinstance(node, FragmentSpreadNode):
        return f"... {node.name.value}"
    return ""


def validation_errors(schema: GraphQLSchema, document: Node, errors: list[GraphQLError]) -> list[dict]:
    """graphql-core's validation errors, worded and shaped as graphql-ruby's."""
    indexer = _Indexer(TypeInfo(schema))
    visit(document, TypeInfoVisitor(indexer.type_info, indexer))
    answers: list[dict] = []
    merged: dict[tuple[str, int], dict[str, Any]] = {}
    for error in errors:
        node = error.nodes[0] if error.nodes else None
        # A variable used where it does not fit: graphql-ruby names the argument it is used in.
        where = error.nodes[-1] if error.nodes and "used in position" in error.message else node
        place = indexer.places.get(id(where), _Place([])) if where is not None else _Place([])
        message, extensions, at = _translated(error, node, place)
        code = extensions.get("code")
        # graphql-ruby names every missing argument of a field in one error, and a wrong
        # literal once per argument.
        key = (str(code), id(node) if code == "missingRequiredArguments" else id(place.argument))
        if code in ("missingRequiredArguments", "argumentLiteralsIncompatible") and key in merged:
            if code == "missingRequiredArguments":
                merged[key]["extensions"]["arguments"] += f", {extensions['arguments']}"
                merged[key]["message"] += f", {extensions['arguments']}"
            continue
        answer: dict[str, Any] = {"message": message, "locations": [location(*at)], "path": place.path}
        if extensions:
            answer["extensions"] = extensions
        merged[key] = answer
        answers.append(answer)
    return answers


def preview_errors(operation: OperationDefinitionNode, previews: dict[tuple[str, str], str], accept: str) -> list[dict]:
    """A root field of a schema preview asked without its media type in `Accept`: GitHub
    does not show preview members then, so the field is unknown, in graphql-ruby's words."""
    root = "Mutation" if operation.operation.value == "mutation" else "Query"
    answers = []
    for selection in operation.selection_set.selections:
        if not isinstance(selection, FieldNode):
            continue
        media_type = previews.get((root, selection.name.value))
        if media_type is None or media_type in accept:
            continue
        field = selection.name.value
        loc = selection.loc.source.get_location(selection.loc.start) if selection.loc and selection.loc.source else None
        answers.append(
            {
                "message": f"Field '{field}' doesn't exist on type '{root}'",
                "locations": [location(loc.line, loc.column)] if loc else [],
                "path": [_step(operation), (selection.alias or selection.name).value],
                "extensions": {"code": "undefinedField", "typeName": root, "fieldName": field},
            }
        )
    return answers


def _translated(error: GraphQLError, node: Node | None, place: _Place) -> tuple[str, dict, tuple[int, int]]:
    text = error.message
    at = (error.locations[0].line, error.locations[0].column) if error.locations else (1, 1)
    if m := re.match(r"Cannot query field '(\w+)' on type '(\w+)'", text):
        field, type_name = m.groups()
        return (
            f"Field '{field}' doesn't exist on type '{type_name}'",
            {"code": "undefinedField", "typeName": type_name, "fieldName": field},
            at,
        )
    if m := re.match(r"Unknown argument '(\w+)' on field '\w+\.(\w+)'", text):
        argument, field = m.groups()
        return (
            f"Field '{field}' doesn't accept argument '{argument}'",
            {"code": "argumentNotAccepted", "name": field, "typeName": "Field", "argumentName": argument},
            at,
        )
    if m := re.match(r"Argument '\w+\.(\w+)\((\w+):\)' of type '.*' is required", text):
        field, argument = m.groups()
        return (
            f"Field '{field}' is missing required arguments: {argument}",
            {"code": "missingRequiredArguments", "className": "Field", "name": field, "arguments": argument},
            at,
        )
    if m := re.match(r"Field '(\w+)' of type '(.*)' must have a selection of subfields", text):
        field, type_name = m.groups()
        message = (
            f"Field must have selections (field '{field}' returns {type_name} but has no selections. "
            f"Did you mean '{field} {{ ... }}'?)"
        )
        return message, {"code": "selectionMismatch", "nodeName": f"field '{field}'"}, at
    if m := re.match(r"Field '(\w+)' must not have a selection since type '(.*)' has no subfields", text):
        field, type_name = m.groups()
        selections = ", ".join(print_ast(s) for s in node.selections) if node is not None else ""  # type: ignore[attr-defined]
        message = (
            f"Selections can't be made on scalars (field '{field}' returns {type_name} "
            f"but has selections [{selections}])"
        )
        return message, {"code": "selectionMismatch", "nodeName": f"field '{field}'"}, at
    operation = place.path[0].split(" ", 1)[1] if place.path and " " in place.path[0] else "anonymous query"
    if m := re.match(r"Variable '\$(\w+)' is not defined", text):
        return (
            f"Variable ${m[1]} is used by {operation} but not declared",
            {"code": "variableNotDefined", "variableName": m[1]},
            at,
        )
    if m := re.match(r"Variable '\$(\w+)' is never used", text):
        return (
            f"Variable ${m[1]} is declared by {operation} but not used",
            {"code": "variableNotUsed", "variableName": m[1]},
            at,
        )
    if m := re.match(r"Unknown type '(\w+)'", text):
        if place.variable:
            return (
                f"{m[1]} isn't a defined input type (on ${place.variable})",
                {"code": "variableRequiresValidType", "typeName": m[1], "variableName": place.variable},
                at,
            )
        return (
            f"No such type {m[1]}, so it can't be a fragment condition",
            {"code": "undefinedType", "typeName": m[1]},
            at,
        )
    if m := re.match(r"Variable '\$(\w+)' of type '(.*)' used in position expecting type '(.*)'", text):
        variable, given, expected = m.groups()
        kind = "Nullability mismatch" if given.rstrip("!") == expected.rstrip("!") else "Type mismatch"
        argument = place.argument.name.value if place.argument else ""
        return (
            f"{kind} on variable ${variable} and argument {argument} ({given} / {expected})",
            {
                "code": "variableMismatch",
                "variableName": variable,
                "typeName": given,
                "argumentName": argument,
                "errorMessage": kind,
            },
            at,
        )
    if isinstance(node, ValueNode) and place.argument is not None:
        return _argument_literal(place, at)
    return text, {}, at


def _argument_literal(place: _Place, at: tuple[int, int]) -> tuple[str, dict, tuple[int, int]]:
    """graphql-ruby reports a wrong literal once per argument, with the argument's whole value."""
    assert place.argument is not None
    name = place.argument.name.value
    place.path = place.argument_path
    return (
        f"Argument '{name}' on Field '{place.field}' has an invalid value ({print_ast(place.argument.value)}). "
        f"Expected type '{place.argument_type}'.",
        {"code": "argumentLiteralsIncompatible", "typeName": "Field", "argumentName": name},
        at,
    )


def variable_errors(schema: GraphQLSchema, operation: OperationDefinitionNode, variables: dict) -> list[dict]:
    """The operation's variables checked against their declared types, each wrong one
    worded as graphql-ruby words it (graphql-core would stop at the first)."""
    answers = []
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        type_ = type_from_ast(schema, definition.type)
        if not is_input_type(type_):
            continue  # refused by validation already
        given = variables.get(name, Undefined)
        if given is Undefined and definition.default_value is not None:
            continue
        problems: list[dict] = []

        def collect(error: GraphQLError, path: list, problems=problems, given=given) -> None:
            problems.append(_problem(error.message, [str(step) for step in path], given))

        validate_input_value(given, cast(GraphQLInputType, type_), collect)
        if not problems:
            continue
        where = f" for {'.'.join(problems[0]['path'])}" if problems[0]["path"] else ""
        loc = (
            definition.loc.source.get_location(definition.loc.start)
            if definition.loc and definition.loc.source
            else None
        )
        answers.append(
            {
                "message": f"Variable ${name} of type {print_ast(definition.type)} was provided invalid value{where} "
                f"({problems[0]['explanation']})",
                "locations": [location(loc.line, loc.column)] if loc else [],
                "extensions": {"value": None if given is Undefined else given, "problems": problems},
            }
        )
    return answers


def _problem(message: str, path: list[str], given: Any) -> dict:
    if re.match(
        r"Expected (a value of non-null type .* to be provided|value of non-null type .* not to be None)", message
    ):
        return {"path": path, "explanation": "Expected value to not be null"}
    if m := re.match(r"Expected value of type '(\w+)' to include required field '(\w+)'", message):
        return {"path": [*path, m[2]], "explanation": "Expected value to not be null"}
    if m := re.match(r"Expected value of type '(\w+)' not to include unknown field '(\w+)'", message):
        return {"path": [*path, m[2]], "explanation": f"Field is not defined on {m[1]}"}
    if m := re.match(r"Expected value of type '(\w+)' to be an object, found: (.*)\.$", message):
        return {
            "path": path,
            "explanation": f"Expected {m[2]} to be a key, value object responding to `to_h` or `to_unsafe_h`.",
        }
    value = given
    for step in path:
        value = value.get(step) if isinstance(value, dict) else value[int(step)] if isinstance(value, list) else None
    if m := re.match(r"(?:Expected value of type '(\w+)'|(\w+) cannot represent)", message):
        return {"path": path, "explanation": f"Could not coerce value {json.dumps(value)} to {m[1] or m[2]}"}
    return {"path": path, "explanation": message}
