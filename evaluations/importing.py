"""Prompt (and output) files -> rows, all or nothing.

A file is parsed and validated whole before anything is written; every problem found is
reported with its line number, and a file with any problem writes nothing.
"""

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction

from evaluations.models import Prompt, Study


class ImportFailed(Exception):
    """The file was refused; ``errors`` lists each problem as 'line N: ...'."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        shown = errors[:20]
        more = f"\n... and {len(errors) - 20} more" if len(errors) > 20 else ""
        super().__init__("; ".join(shown) + more)


@dataclass
class ParsedRows:
    rows: list[tuple[int, dict[str, str]]] = field(default_factory=list)  # (line number, row)


def _decode(data: bytes) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ImportFailed(
            [f"line {line}: the file is not UTF-8 text (byte {exc.start}); save it as UTF-8"]
        ) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise ImportFailed([f"line {line}: the file contains NUL bytes; it is not a text file"])
    return text


def _guess_format(filename: str, text: str) -> str:
    name = filename.lower()
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if name.endswith((".csv", ".tsv", ".txt")):
        return "csv"
    return "jsonl" if text.lstrip().startswith("{") else "csv"


def _iter_jsonl(text: str) -> Iterator[tuple[int, dict | None, str | None]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, None, f"line {number}: not valid JSON ({exc.msg})"
            continue
        if not isinstance(value, dict):
            yield number, None, f"line {number}: expected a JSON object, got {type(value).__name__}"
            continue
        yield number, value, None


def parse_rows(
    data: bytes, filename: str, *, required: tuple[str, ...], optional: tuple[str, ...]
) -> list[tuple[int, dict[str, str]]]:
    """Parse CSV or JSONL bytes into (line number, row) with string values, or raise."""
    limit = settings.MAX_IMPORT_BYTES
    if len(data) > limit:
        raise ImportFailed(
            [f"line 1: the file is {len(data) / 1e6:.1f} MB; the limit is {limit / 1e6:.0f} MB"]
        )
    text = _decode(data)
    if not text.strip():
        raise ImportFailed(["line 1: the file is empty"])
    known = set(required) | set(optional)
    errors: list[str] = []
    rows: list[tuple[int, dict[str, str]]] = []

    if _guess_format(filename, text) == "jsonl":
        for number, value, error in _iter_jsonl(text):
            if error:
                errors.append(error)
                continue
            missing = [c for c in required if c not in value]
            if missing:
                errors.append(f"line {number}: missing field(s) {', '.join(missing)}")
                continue
            rows.append(
                (number, {k: "" if v is None else str(v) for k, v in value.items() if k in known})
            )
    else:
        try:
            dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
        reader = csv.DictReader(io.StringIO(text, newline=""), dialect=dialect)
        header = [h.strip() for h in (reader.fieldnames or [])]
        reader.fieldnames = header
        missing = [c for c in required if c not in header]
        if missing:
            raise ImportFailed(
                [
                    f"line 1: missing column(s) {', '.join(missing)}; the header has "
                    f"{', '.join(header) or 'nothing'} (expected {', '.join(required)}"
                    f"{' and optionally ' + ', '.join(optional) if optional else ''})"
                ]
            )
        try:
            for record in reader:
                number = reader.line_num
                if None in record:
                    errors.append(f"line {number}: more values than columns in the header")
                    continue
                if all(not (v or "").strip() for v in record.values()):
                    continue
                rows.append((number, {k: (v or "") for k, v in record.items() if k in known}))
        except csv.Error as exc:
            errors.append(f"line {reader.line_num}: not valid CSV ({exc})")
    if errors:
        raise ImportFailed(errors)
    if not rows:
        raise ImportFailed(["line 1: the file has a header but no rows"])
    return rows


PROMPT_FIELDS = ("id", "text")
PROMPT_OPTIONAL = ("category", "context", "reference")


def prompts_import(*, study: Study, data: bytes, filename: str) -> int:
    """Create the study's prompts from a CSV/JSONL file; all or nothing. Returns rows created."""
    rows = parse_rows(data, filename, required=PROMPT_FIELDS, optional=PROMPT_OPTIONAL)
    errors: list[str] = []
    seen: dict[str, int] = {}
    existing = set(Prompt.objects.filter(study=study).values_list("external_id", flat=True))
    prompts: list[Prompt] = []
    for number, row in rows:
        external_id = row.get("id", "").strip()
        text = row.get("text", "")
        if not external_id:
            errors.append(f"line {number}: empty id")
        elif len(external_id) > 200:
            errors.append(f"line {number}: id longer than 200 characters")
        elif external_id in seen:
            first = seen[external_id]
            errors.append(f"line {number}: duplicate id {external_id!r} (first on line {first})")
        elif external_id in existing:
            errors.append(f"line {number}: id {external_id!r} already exists in this study")
        else:
            seen[external_id] = number
        if not text.strip():
            errors.append(f"line {number}: empty text")
        category = row.get("category", "").strip()
        if len(category) > 100:
            errors.append(f"line {number}: category longer than 100 characters")
        prompts.append(
            Prompt(
                study=study,
                external_id=external_id,
                text=text,
                category=category,
                context=row.get("context", ""),
                reference=row.get("reference", ""),
            )
        )
    if errors:
        raise ImportFailed(errors)
    with transaction.atomic():
        Prompt.objects.bulk_create(prompts, batch_size=1000)
    return len(prompts)
