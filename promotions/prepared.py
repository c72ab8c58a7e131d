"""Hot queries compiled once per process. Django's ORM builds and compiles a query on
every call, which for the queries every pod request makes (its key, its
repositories, a status document) costs several times what the database takes to
answer them. A PreparedQuery is compiled once from its queryset, written with
placeholder values, and then run with the real ones; its rows pass through the same
converters the ORM would apply, so it answers what the queryset would."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import connection
from django.db.models import Model, QuerySet

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple
    positions: tuple[int, ...]
    compiler: Any
    converters: dict


class PreparedQuery:
    """`build(*placeholders)` returns a values_list() queryset; `rows(*values)` runs it
    with `values` in the placeholders' places. Each placeholder must reach the SQL's
    parameters unchanged and once (a distinctive string or integer)."""

    def __init__(self, build: Callable[..., QuerySet], *placeholders: object):
        self.build, self.placeholders = build, placeholders
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def rows(self, *values: object) -> list[tuple]:
        compiled = self._compiled.get(connection.alias) or self._compile()
        params = list(compiled.params)
        for position, value in zip(compiled.positions, values, strict=True):
            params[position] = value
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        if compiled.converters:
            return list(compiled.compiler.apply_converters(rows, compiled.converters))
        return rows

    def _compile(self) -> _Compiled:
        with self._lock:
            compiler = self.build(*self.placeholders).query.get_compiler(connection=connection)
            sql, params = compiler.as_sql()
            positions = tuple(params.index(placeholder) for placeholder in self.placeholders)
            converters = compiler.get_converters([expression for expression, _, _ in compiler.select])
            compiled = _Compiled(sql, tuple(params), positions, compiler, converters)
            self._compiled[connection.alias] = compiled
            return compiled


def columns(model: type[Model], prefix: str = "") -> list[str]:
    """The values_list() names of a model's concrete fields, e.g. for `pod__` fields."""
    return [f"{prefix}{field.attname}" for field in model._meta.concrete_fields]


def instance(model: type[M], values: Sequence[object], names: Sequence[str] | None = None) -> M:
    """A model instance from its concrete fields' values (in `columns` order, or named),
    as the ORM makes one from a row."""
    names = names or [field.attname for field in model._meta.concrete_fields]
    return model.from_db(connection.alias, names, values)
