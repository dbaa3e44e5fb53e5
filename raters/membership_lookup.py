"""The signed-in user's membership of a study, with its rater and study, in one prepared
statement: what every rater request reads first.

The ORM's select_related query cost about 1 ms of CPU to compile and to turn into three model
instances on every vote (benchmarks/profile_voting.py), more than the query took to run. Here
the statement is written once from the models' own fields (whatever fields are added later),
prepared per connection, and its row turned into models as the ORM would: each value through
its field's converters, then Model.from_db.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from django.db import connection
from django.db.models import Model
from django.db.models.expressions import Col

from evaluations.models import Study
from raters.models import Membership, Rater
from raters.prepared_sql import prepared_cursor

_MODELS: tuple[tuple[type[Model], str], ...] = ((Membership, "m"), (Rater, "r"), (Study, "s"))


@dataclass(frozen=True)
class _Part:
    model: type[Model]
    attnames: list[str]
    columns: list[tuple[Col, list[Callable]]]  # each column and its converters


@cache
def _statement() -> tuple[str, tuple[_Part, ...]]:
    q = connection.ops.quote_name
    select, parts = [], []
    for model, alias in _MODELS:
        fields = model._meta.concrete_fields
        select += [f"{alias}.{q(f.column)}" for f in fields]
        columns = []
        for field in fields:
            col = field.get_col(model._meta.db_table)
            converters = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
            columns.append((col, converters))
        parts.append(_Part(model=model, attnames=[f.attname for f in fields], columns=columns))
    m, r, s = (q(model._meta.db_table) for model, _ in _MODELS)
    sql = (
        f"SELECT {', '.join(select)} FROM {m} m"
        f" JOIN {r} r ON r.{q('id')} = m.{q(Membership._meta.get_field('rater').column)}"
        f" JOIN {s} s ON s.{q('id')} = m.{q(Membership._meta.get_field('study').column)}"
        f" WHERE r.{q(Rater._meta.get_field('user').column)} = %(user)s"
        f" AND m.{q(Membership._meta.get_field('study').column)} = %(study)s"
    )
    return sql, tuple(parts)


def _instance(part: _Part, values: tuple) -> Model:
    converted = []
    for (col, converters), value in zip(part.columns, values, strict=True):
        for converter in converters:
            value = converter(value, col, connection)
        converted.append(value)
    return part.model.from_db(connection.alias, part.attnames, converted)


def membership_find(*, user_id: int, study_id: int) -> Membership | None:
    """The user's rater's membership of the study (rater and study loaded), or None."""
    sql, layout = _statement()
    with prepared_cursor() as cursor:
        cursor.execute(sql, {"user": user_id, "study": study_id})
        row = cursor.fetchone()
    if row is None:
        return None
    instances, start = [], 0
    for part in layout:
        instances.append(_instance(part, row[start : start + len(part.attnames)]))
        start += len(part.attnames)
    membership, rater, study = instances
    membership.rater, membership.study = rater, study
    return membership
