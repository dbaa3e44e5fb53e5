"""An uploaded CSV/JSONL file -> numbered rows, or every problem found with its line number."""

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.conf import settings


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
    # Lines are what editors count: "\n" only (str.splitlines also breaks at U+2028 and other
    # characters that may sit inside a JSON string).
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, None, f"line {number}: not valid JSON ({exc.msg})"
            continue
        except (ValueError, RecursionError) as exc:
            # A number with thousands of digits, or arrays nested thousands deep.
            reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            yield number, None, f"line {number}: not valid JSON ({reason})"
            continue
        if not isinstance(value, dict):
            yield number, None, f"line {number}: expected a JSON object, got {type(value).__name__}"
            continue
        if "\\u0000" in line and _holds_nul(value):
            yield number, None, f"line {number}: a text holds a NUL character (\\u0000), which "
            "cannot be stored"
            continue
        yield number, value, None


def _holds_nul(value: object) -> bool:
    """Whether a decoded JSON value has a NUL in any string (PostgreSQL text cannot hold one)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack += [*item.keys(), *item.values()]
        elif isinstance(item, list):
            stack += item
    return False


def size_text(n: int) -> str:
    return f"{n:,} bytes" if n < 1_000_000 else f"{n / 1e6:.1f} MB ({n:,} bytes)"


def _csv_field_start(text: str, start: int, dialect: type[csv.Dialect] | csv.Dialect) -> tuple:
    """Scan one record from offset ``start``: the line offset (0-based, from ``start``) where
    its first unclosed quoted field or its first field over the csv module's limit begins, and
    which of the two it is; (None, None) when neither."""
    quote, delimiter = dialect.quotechar, dialect.delimiter
    limit = csv.field_size_limit()
    line = field_line = 0
    field_length = 0
    quoted, at_field_start = False, True
    i = start
    while i < len(text):
        char = text[i]
        if quoted:
            if char == quote:
                if dialect.doublequote and text[i + 1 : i + 2] == quote:
                    i += 1
                else:
                    quoted = False
            elif char == "\n" or (char == "\r" and text[i + 1 : i + 2] != "\n"):
                line += 1
        elif char == delimiter:
            at_field_start, field_length, field_line = True, 0, line
            i += 1
            continue
        elif char in "\r\n":
            return None, None
        elif at_field_start and char == quote and quote:
            quoted = True
        at_field_start = False
        field_length += 1
        if field_length > limit:
            return field_line, "long"
        i += 1
    return (field_line, "unclosed") if quoted else (None, None)


# The csv module's own default. Its limit is process-wide state that `analyze` raises for long
# rationales, so an import sets the one it promises before every read.
MAX_CSV_FIELD = 131_072


def _csv_rows(
    text: str, known: set[str], required: tuple[str, ...], optional: tuple[str, ...]
) -> tuple[list[tuple[int, dict[str, str]]], list[str]]:
    csv.field_size_limit(MAX_CSV_FIELD)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    # Strict: a quote left open at the end of the file is an error, not a field that swallows
    # the rest of the file.
    reader = csv.reader(io.StringIO(text, newline=""), dialect=dialect, strict=True)
    line_starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]
    errors: list[str] = []
    rows: list[tuple[int, dict[str, str]]] = []
    header: list[str] | None = None
    previous_line = 0
    while True:
        record_line = previous_line + 1
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            offset = line_starts[min(record_line, len(line_starts)) - 1]
            field_line, problem = _csv_field_start(text, offset, dialect)
            line = record_line + (field_line or 0)
            if problem == "unclosed":
                errors.append(f"line {line}: a quote opened here is never closed")
            elif problem == "long":
                errors.append(
                    f"line {line}: a field longer than {csv.field_size_limit():,} characters "
                    "starts here; CSV fields are limited to that (use JSONL for longer text)"
                )
            else:
                errors.append(f"line {record_line}: not valid CSV ({exc})")
            break
        number = record_line
        previous_line = reader.line_num
        if header is None:
            header = [h.strip() for h in record]
            missing = [c for c in required if c not in header]
            if missing:
                raise ImportFailed(
                    [
                        f"line {number}: missing column(s) {', '.join(missing)}; the header has "
                        f"{', '.join(header) or 'nothing'} (expected {', '.join(required)}"
                        f"{' and optionally ' + ', '.join(optional) if optional else ''})"
                    ]
                )
            continue
        if not any(value.strip() for value in record):
            continue
        if len(record) > len(header):
            errors.append(f"line {number}: more values than columns in the header")
            continue
        values = dict(zip(header, record, strict=False))
        rows.append((number, {k: values.get(k, "") for k in header if k in known}))
    if header is None and not errors:
        raise ImportFailed(["line 1: the file is empty"])
    return rows, errors


def parse_rows(
    data: bytes,
    filename: str,
    *,
    required: tuple[str, ...],
    optional: tuple[str, ...],
    size: int | None = None,
    structured: tuple[str, ...] = (),
) -> list[tuple[int, dict[str, str]]]:
    """Parse CSV or JSONL bytes into (line number, row) with string values, or raise.

    ``size`` is the whole file's size when ``data`` was read only up to just past the limit.
    JSONL values of the ``structured`` fields are kept as parsed (lists, objects).
    """
    limit = settings.MAX_IMPORT_BYTES
    size = max(size or 0, len(data))
    if size > limit:
        raise ImportFailed(
            [f"line 1: the file is {size_text(size)}; the limit is {size_text(limit)}"]
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
                (
                    number,
                    {
                        k: v if k in structured else "" if v is None else str(v)
                        for k, v in value.items()
                        if k in known or k in structured
                    },
                )
            )
    else:
        rows, errors = _csv_rows(text, known, required, optional)
    if errors:
        raise ImportFailed(errors)
    if not rows:
        raise ImportFailed(["line 1: the file has a header but no rows"])
    return rows
