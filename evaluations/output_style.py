"""An output's style features (length, Markdown headers, list items, bold spans), stored on the
output when its text is written, so that results read four integer columns per output instead
of every answer's text on every computation.

Every write of an output's text goes through `ScrubResult.output_fields()` (generation, cache
reuse, import, identity review and rescrub) or `Output.save()`, both of which add these
columns; clones copy them. A NULL column means "not computed" (rows written by raw SQL):
`outputs_style_fill` computes those from the text, and results call it before reading.
"""

from __future__ import annotations

from typing import Any

from django.db import connection

from evaluations.analysis.style_features import STYLE_FEATURES, text_style_features

STYLE_COLUMNS = {name: f"style_{name}" for name in STYLE_FEATURES}


def output_style_columns(text: str) -> dict[str, int]:
    """The Output column values of the text's style features."""
    features = text_style_features(text or "")
    return {STYLE_COLUMNS[name]: int(value) for name, value in features.items()}


def outputs_style_write(rows: list[tuple[int, str]], *, db_table: str) -> None:
    """Store the style columns of (output id, text) rows of the outputs table in one statement.

    UPDATE ... FROM (VALUES ...), not bulk_update: its CASE per column compares every row with
    every id of the batch, which made a backfill of 200,000 outputs take minutes."""
    if not rows:
        return
    columns = list(STYLE_COLUMNS.values())
    values = []
    for output_id, text in rows:
        style = output_style_columns(text)
        values.append((output_id, *(style[c] for c in columns)))
    table = connection.ops.quote_name(db_table)
    placeholders = ", ".join(["(" + ", ".join(["%s"] * (1 + len(columns))) + ")"] * len(values))
    # VALUES columns are column1, column2, ... in PostgreSQL and SQLite alike (SQLite takes no
    # column aliases after the table alias).
    assignments = ", ".join(f"{c} = v.column{k + 2}" for k, c in enumerate(columns))
    sql = (
        f"UPDATE {table} SET {assignments}"  # noqa: S608 - names from model metadata
        f" FROM (VALUES {placeholders}) AS v WHERE {table}.id = v.column1"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [value for row in values for value in row])


def outputs_style_fill(outputs: Any, *, batch_size: int = 2000) -> int:
    """Compute the style columns of the outputs (a queryset) that lack them; returns how many.

    Rows are read in id order in batches, so a first fill of a large study neither holds every
    text in memory nor locks the table for long."""
    output_model = outputs.model
    missing = outputs.filter(style_length__isnull=True).order_by("id")
    filled = 0
    last_id = 0
    while True:
        # Ids first: the usual answer is none, and then no text is read at all.
        ids = list(missing.filter(id__gt=last_id).values_list("id", flat=True)[:batch_size])
        if not ids:
            return filled
        batch = list(
            output_model.objects.filter(id__in=ids).order_by("id").values_list("id", "text")
        )
        outputs_style_write(batch, db_table=output_model._meta.db_table)
        filled += len(batch)
        last_id = batch[-1][0]
