"""Streamed CSV, JSON Lines and JSON bodies: rows are written as they are read, never held."""

import csv
import json
import re
from collections.abc import Collection, Iterable, Iterator
from decimal import Decimal
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.http import StreamingHttpResponse

# Rows per chunk sent to the client: one tiny write per row would dominate the export time.
CHUNK_ROWS = 500


class _Echo:
    def write(self, value: str) -> str:
        return value


def _chunked(lines: Iterator[str]) -> Iterator[str]:
    buffer: list[str] = []
    for line in lines:
        buffer.append(line)
        if len(buffer) >= CHUNK_ROWS:
            yield "".join(buffer)
            buffer = []
    if buffer:
        yield "".join(buffer)


# Spreadsheets run a cell that starts with one of these as a formula (OWASP "CSV Injection";
# the full-width forms too, in East Asian locales). A leading quote is escaped as well, so that
# removing the one added quote always gives the original text back.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20", "'")
_NUMBER = re.compile(r"-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")


def csv_cell(value: Any, *, numeric: bool = False) -> Any:
    """The value as a spreadsheet may safely read it: text that starts like a formula gets a
    leading single quote; a number in a numeric column stays a number, negative or not."""
    if numeric and (
        (isinstance(value, int | float | Decimal) and not isinstance(value, bool))
        or (isinstance(value, str) and _NUMBER.fullmatch(value))
    ):
        return value
    if value is None:
        return None
    if isinstance(value, list | dict):  # conversations: JSON text, as JSON exports hold them
        value = json.dumps(value, ensure_ascii=False)
    text = value if isinstance(value, str) else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def csv_lines(
    rows: Iterable[dict[str, Any]], fields: list[str], numeric_fields: Collection[str] = ()
) -> Iterator[str]:
    writer = csv.DictWriter(_Echo(), fieldnames=fields)
    numeric = {field: field in numeric_fields for field in fields}
    yield writer.writeheader()
    for row in rows:
        yield writer.writerow(
            {key: csv_cell(value, numeric=numeric.get(key, False)) for key, value in row.items()}
        )


def jsonl_lines(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    for row in rows:
        yield json.dumps(row, cls=DjangoJSONEncoder, ensure_ascii=False) + "\n"


def json_array_lines(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    yield "["
    separator = "\n"
    for row in rows:
        yield separator + json.dumps(row, cls=DjangoJSONEncoder, ensure_ascii=False)
        separator = ",\n"
    yield "\n]\n"


CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/jsonl; charset=utf-8",
    "json": "application/json",
}


def export_response(
    rows: Iterable[dict[str, Any]],
    *,
    fields: list[str],
    fmt: str,
    filename: str,
    numeric_fields: Collection[str] = (),
) -> StreamingHttpResponse:
    """CSV cells are neutralized against formula injection (see `csv_cell`); JSON is exact."""
    if fmt == "csv":
        lines = csv_lines(rows, fields, numeric_fields)
    elif fmt == "jsonl":
        lines = jsonl_lines(rows)
    else:
        lines = json_array_lines(rows)
    response = StreamingHttpResponse(_chunked(lines), content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{filename}.{fmt}"'
    return response
