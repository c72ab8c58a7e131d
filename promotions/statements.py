"""SQL for the hot paths, written from Django's own compilers and the models' metadata
and sent in fewer round trips than the ORM would take:

- INSERTs compiled once per shape, each value prepared by its field (a submission,
  services.rows);
- on PostgreSQL, the engine's UPDATEs written once per shape (update_sql); a status
  change with its event, in one statement (update_adding, audit.transition); a train's
  outcomes in one statement that applies them only while the lane's lease holds
  (updates_if, rows_update_sql, engine.lanes.Lease.hold_while).
Those run as prepared statements (prepared.fetch_all): parsed and planned once per
connection and shape."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import cast

from django.db import connection, connections
from django.db.models import (
    BigIntegerField,
    BooleanField,
    CharField,
    Field,
    ForeignKey,
    IntegerField,
    Model,
    PositiveIntegerField,
    TextField,
)
from django.db.models.sql import InsertQuery
from django.utils import timezone

from .prepared import fetch_all

# A new row's values by field attname (`promotion_id`, `path`): a field left out takes
# its default (now, for auto_now fields). Rows inserted in bulk are written from these,
# without the cost of a model instance each.
Values = Mapping[str, object]


def insert_sql(model: type[Model], rows: Sequence[Values]) -> tuple[str, list]:
    """The INSERT of `rows` of `model` as Django writes it (defaults, auto_now, each value
    prepared by its field), compiled once per shape."""
    sql, fields = _insert_shape(model, len(rows))
    return sql, row_values(rows, fields)


def insert_linked(
    lock: tuple[str, list], parent: Model, children: Sequence[tuple[type[Model], Sequence[Values]]], link: str
) -> int:
    """PostgreSQL, one statement (prepared: promotions.prepared.fetch_all): take the
    `lock` (a SELECT), INSERT `parent` (unsaved), then each non-empty list of rows of
    `children` with their `link` field set to the parent's new id, which it returns.
    Outside a transaction the statement is one of its own: all or nothing."""
    groups = [(model, rows) for model, rows in children if rows]
    shape = tuple((model, len(rows)) for model, rows in groups)
    sql, parent_fields, group_fields = _linked_shape(lock[0], type(parent), shape, link)
    params = [*lock[1], *row_values([parent], parent_fields)]
    for (_, rows), fields in zip(groups, group_fields, strict=True):
        params += row_values(rows, fields)
    [(parent_id,)] = fetch_all(sql, params, keep_cursor=True)
    return parent_id


@functools.lru_cache(maxsize=64)
def _linked_shape(
    lock: str, parent: type[Model], groups: tuple[tuple[type[Model], int], ...], link: str
) -> tuple[str, list[Field], list[list[Field]]]:
    """The SQL of insert_linked, and the fields whose values are its parameters."""
    quote = connection.ops.quote_name
    pk = _quoted_pk(parent)
    parent_fields = _valued(parent)
    sql = (
        f"WITH locked AS ({lock}), parent AS (INSERT INTO {quote(parent._meta.db_table)} "
        f"({_columns(parent_fields)}) SELECT {_cast_parameters(parent_fields)} FROM locked RETURNING {pk})"
    )
    group_fields = []
    for number, (model, count) in enumerate(groups):
        fields = _valued(model, without=link)
        columns = _columns([cast(Field, model._meta.get_field(link)), *fields])
        values = ", ".join([f"({_cast_parameters(fields)})"] * count)
        sql += (
            f", group_{number} AS (INSERT INTO {quote(model._meta.db_table)} ({columns}) "
            f"SELECT parent.{pk}, v.* FROM parent, (VALUES {values}) AS v)"
        )
        group_fields.append(fields)
    return f"{sql} SELECT {pk} FROM parent", parent_fields, group_fields


def _valued(model: type[Model], without: str = "") -> list[Field]:
    """The fields an INSERT gives values to: every concrete one but the key (and `without`)."""
    return [field for field in model._meta.concrete_fields if not field.primary_key and field.name != without]


def _columns(fields: Sequence[Field]) -> str:
    return ", ".join(_column(field) for field in fields)


def _cast_parameters(fields: Sequence[Field]) -> str:
    """A parameter per field, cast to its column's type, as a SELECT or VALUES list
    needs them. Lengths are left to the INSERT: a cast to varchar(n) would cut a
    longer value where the INSERT refuses it."""
    types = (field.cast_db_type(connection) or "" for field in fields)
    return ", ".join(f"%s::{'varchar' if type_.startswith('varchar') else type_}" for type_ in types)


def row_values(rows: Sequence[Model | Values], fields: Sequence[Field]) -> list:
    """Each row's value of each field, as Django's INSERT would send it (pre_save, then
    get_db_prep_save), taking the short way where that is the value itself. A row is a
    model instance or its Values."""
    database = connections[connection.alias]  # the wrapper itself: the proxy costs a lookup per use
    plan = _value_plan(tuple(fields))
    values = []
    for row in rows:
        if isinstance(row, Model):
            for field, attname, read_plainly, plain_type, _ in plan:
                value = getattr(row, attname) if read_plainly else field.pre_save(row, True)
                values.append(_prepared(field, value, plain_type, database))
        else:
            for field, attname, _, plain_type, default in plan:
                value = row[attname] if attname in row else default()
                values.append(_prepared(field, value, plain_type, database))
    return values


# Fields whose prepared value is the value itself when it already has this type (their
# get_prep_value only converts other types); every other value goes through the field.
# A foreign key's int is its target's key as it is (an integer primary key).
_PLAIN = {
    CharField: str,
    TextField: str,
    BooleanField: bool,
    PositiveIntegerField: int,
    IntegerField: int,
    BigIntegerField: int,
    ForeignKey: int,
}


@functools.lru_cache(maxsize=128)
def _value_plan(fields: tuple[Field, ...]) -> tuple[tuple[Field, str, bool, type | None, Callable[[], object]], ...]:
    """Per field: its attribute, whether its pre_save only reads it (no auto_now and the
    like), the type whose values need no preparation, and a new row's value when its
    Values leave the field out."""
    return tuple(
        (field, field.attname, type(field).pre_save is Field.pre_save, _PLAIN.get(type(field)), _default(field))
        for field in fields
    )


def _default(field: Field) -> Callable[[], object]:
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return timezone.now
    return field.get_default


def _db_value(field: Field, value: object, database) -> object:
    return _prepared(field, value, _PLAIN.get(type(field)), database)


def _prepared(field: Field, value: object, plain_type: type | None, database) -> object:
    if value is None or type(value) is plain_type:
        return value
    return field.get_db_prep_save(value, database)


@functools.lru_cache(maxsize=64)
def _insert_shape(model: type[Model], count: int) -> tuple[str, list[Field]]:
    """(SQL, the fields whose values are its parameters, row after row)."""
    fields = _valued(model)
    query = InsertQuery(model)
    query.insert_values(fields, [model() for _ in range(count)])
    [(sql, params)] = query.get_compiler(connection=connection).as_sql()
    assert len(params) == count * len(fields), "every parameter is a field's value"
    return sql, fields


def update_adding(
    update: tuple[str, list],
    added: tuple[type[Model], Values],
    link: str,
    then: tuple[str, list] | None,
    model: type[Model],
) -> bool:
    """PostgreSQL, one statement: the `update` (update_sql) of rows of `model` and, only
    if it updated one, the INSERT of the `added` row (its `link` field set to that row's
    id), then the `then` SELECT expression (e.g. a pg_notify) once. True when a row was
    updated. One round trip where a transaction of its own would take four or five."""
    added_model, added_values = added
    insert, fields = _insert_from_updated(added_model, link)
    last, last_params = then or ("1", [])
    sql = (
        f"WITH updated AS ({update[0]} RETURNING {_quoted_pk(model)}), "
        f"added AS ({insert} RETURNING 1) SELECT {last} FROM added"
    )
    return bool(fetch_all(sql, [*update[1], *row_values([added_values], fields), *last_params], keep_cursor=True))


def _quoted_pk(model: type[Model]) -> str:
    return _column(model._meta.pk)


def column_of(model: type[Model], name: str) -> str:
    """The column of `model`'s concrete field `name`, quoted."""
    return _column(cast(Field, model._meta.get_field(name)))


def _column(field: Field) -> str:
    """A concrete field's column, quoted."""
    assert field.column is not None
    return connection.ops.quote_name(field.column)


@functools.lru_cache(maxsize=16)
def _insert_from_updated(model: type[Model], link: str) -> tuple[str, list[Field]]:
    """INSERT INTO model (...) SELECT <its values, cast to their columns' types>, with
    `link` taken from the updated row, FROM updated: (SQL, the fields of its parameters)."""
    valued = _valued(model, without=link)
    linked = cast(Field, model._meta.get_field(link))
    columns = _columns([linked, *valued])
    selected = f"updated.{_quoted_pk(linked.related_model)}, {_cast_parameters(valued)}"  # type: ignore[arg-type]
    return (
        f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} ({columns}) SELECT {selected} FROM updated",
        valued,
    )


def update_sql(model: type[Model], values: dict, where: dict) -> tuple[str, list]:
    """PostgreSQL: UPDATE `model` SET `values` WHERE each field of `where` equals its
    value (is one of them, for a list), written once per shape and each value
    prepared by its field: the engine's hot UPDATEs without the ORM's per-call
    query building."""
    shape = tuple((name, isinstance(value, list)) for name, value in where.items())
    sql, set_fields, where_fields = _update_shape(model, tuple(values), shape)
    database = connections[connection.alias]
    params = [_db_value(field, values[name], database) for name, field in set_fields]
    for name, field in where_fields:
        value = where[name]
        params.append(
            [_db_value(field, v, database) for v in value]
            if isinstance(value, list)
            else _db_value(field, value, database)
        )
    return sql, params


@functools.lru_cache(maxsize=64)
def _update_shape(
    model: type[Model], names: tuple[str, ...], where: tuple[tuple[str, bool], ...]
) -> tuple[str, list[tuple[str, Field]], list[tuple[str, Field]]]:
    def field(name: str) -> Field:
        return model._meta.pk if name == "pk" else cast(Field, model._meta.get_field(name))

    set_fields = [(name, field(name)) for name in names]
    where_fields = [(name, field(name)) for name, _ in where]
    assignments = ", ".join(f"{_column(f)} = %s" for _, f in set_fields)
    conditions = " AND ".join(f"{_column(field(name))} {'= ANY(%s)' if many else '= %s'}" for name, many in where)
    table = connection.ops.quote_name(model._meta.db_table)
    return f"UPDATE {table} SET {assignments} WHERE {conditions}", set_fields, where_fields


def rows_update_sql(rows: Sequence[Model], fields: Sequence[str]) -> tuple[str, list]:
    """PostgreSQL: one UPDATE giving each of `rows` (saved instances) its own values of
    `fields`, from a VALUES list, where bulk_update would build a CASE per field."""
    model = type(rows[0])
    columns = [model._meta.pk, *(cast(Field, model._meta.get_field(name)) for name in fields)]
    row = f"({_cast_parameters(columns)})"
    table, pk = connection.ops.quote_name(model._meta.db_table), _quoted_pk(model)
    names = _columns(columns)
    assignments = ", ".join(f"{_column(field)} = v.{_column(field)}" for field in columns[1:])
    sql = (
        f"UPDATE {table} SET {assignments} FROM (VALUES {', '.join([row] * len(rows))}) AS v ({names}) "
        f"WHERE {table}.{pk} = v.{pk}"
    )
    database = connections[connection.alias]
    params = [_db_value(field, getattr(item, field.attname), database) for item in rows for field in columns]
    return sql, params


def updated(update: tuple[str, list]) -> int:
    """PostgreSQL: an update_sql UPDATE run as a prepared statement; how many rows it changed."""
    return len(fetch_all(f"{update[0]} RETURNING 1", update[1], keep_cursor=True))


def updates_if(guard: tuple[str, list], updates: list[tuple[str, list]]) -> bool:
    """PostgreSQL, one statement: the `guard` UPDATE and, only if it updated a row, the
    `updates` (UPDATEs ending in their WHERE clause). True when the guard held."""
    sql = f"WITH guard AS ({guard[0]} RETURNING 1)"
    params = list(guard[1])
    for number, (update, update_params) in enumerate(updates):
        sql += f", update_{number} AS ({update} AND EXISTS (SELECT 1 FROM guard))"
        params += update_params
    [(held,)] = fetch_all(sql + " SELECT count(*) FROM guard", params, keep_cursor=True)
    return bool(held)
