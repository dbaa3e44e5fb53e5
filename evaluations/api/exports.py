"""Streamed CSV, JSON Lines and JSON bodies: rows are written as they are read, never held."""

import csv
import json
from collections.abc import Iterable, Iterator
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


def csv_lines(rows: Iterable[dict[str, Any]], fields: list[str]) -> Iterator[str]:
    writer = csv.DictWriter(_Echo(), fieldnames=fields)
    yield writer.writeheader()
    for row in rows:
        yield writer.writerow(row)


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
    rows: Iterable[dict[str, Any]], *, fields: list[str], fmt: str, filename: str
) -> StreamingHttpResponse:
    if fmt == "csv":
        lines = csv_lines(rows, fields)
    elif fmt == "jsonl":
        lines = jsonl_lines(rows)
    else:
        lines = json_array_lines(rows)
    response = StreamingHttpResponse(_chunked(lines), content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{filename}.{fmt}"'
    return response
