"""The fast path for reading a CSV vote file: pyarrow parses the columns, and every check of the
row reader (`VoteArrays.from_rows`) runs once per distinct value instead of once per row.

It gives the same `VoteArrays` as the row reader, name lists in first-appearance order
included, or `None` when the file has anything the row reader would refuse (a bad value, a short
or long row, a field over the limit) or that the fast path does not handle (a quoted header, a
duplicate column, an empty file). The caller then runs the row reader, which finds the first bad
line and names it: the line-numbered messages stay those of one implementation.

pyarrow rather than polars: both parse the 1,000,000-vote benchmark file in about 0.2 s of CPU
(benchmarks/analysis.py), but pyarrow parses straight into dictionary-encoded columns and says
how it treats quotes and newlines in values; polars 2 removed the categorical API we used.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from .votes import LEFT_CODES, MAX_CSV_FIELD, WINNER_CODES, VoteArrays, formula_unquoted

# A block must hold a whole row; a row larger than this falls back to the row reader.
_BLOCK_BYTES = 1 << 23


class _Refused(Exception):
    """A value the row reader would refuse: leave the message to it."""


@dataclass(frozen=True)
class _Column:
    """A dictionary-encoded column: row k holds values[codes[k]]; only used values are kept."""

    codes: np.ndarray
    values: list[str]

    def mapped(self, convert: Callable[[str], object], dtype: type) -> np.ndarray:
        """convert(value) per row, computed once per distinct value."""
        return np.array([convert(v) for v in self.values], dtype=dtype)[self.codes]

    def any_nonempty(self) -> bool:
        return any(v != "" for v in self.values)


def votes_read_columnar(text: str, *, features: Sequence[str] = ()) -> VoteArrays | None:
    """`VoteArrays` from CSV text (byte-order mark removed, newlines translated), or None when
    the row reader must decide (see the module docstring)."""
    end = text.find("\n")
    first_line = text[:end]
    if end <= 0 or '"' in first_line:
        return None
    header = next(csv.reader([first_line]))
    if len(set(header)) != len(header) or not {"model_a", "model_b", "winner"} <= set(header):
        return None
    if {"criterion", "strength"} & set(header):  # read by the row reader
        return None
    columns = _columns_read(text, header)
    if columns is None:
        return None
    try:
        return _votes_from_columns(columns, features)
    except _Refused:
        return None


def _columns_read(text: str, header: list[str]) -> dict[str, _Column] | None:
    try:
        table = pacsv.read_csv(
            pa.py_buffer(text.encode()),
            read_options=pacsv.ReadOptions(
                column_names=header, skip_rows=1, block_size=_BLOCK_BYTES
            ),
            parse_options=pacsv.ParseOptions(newlines_in_values='"' in text),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.dictionary(pa.int32(), pa.string()) for name in header},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowException):
        return None
    if table.num_rows == 0:
        return None
    table = table.unify_dictionaries()
    columns = {}
    for name in header:
        chunks = [chunk for chunk in table.column(name).chunks if len(chunk)]
        if any(chunk.null_count for chunk in chunks):
            return None
        dictionary = chunks[0].dictionary
        longest = pc.max(pc.utf8_length(dictionary)).as_py() if len(dictionary) else 0
        # The row reader's csv module refuses a field over the limit, with its line.
        if longest is not None and longest >= MAX_CSV_FIELD:
            return None
        codes = np.concatenate([_indices(chunk) for chunk in chunks])
        columns[name] = _column_compact(codes, dictionary.to_pylist())
    return columns


def _indices(chunk: pa.DictionaryArray) -> np.ndarray:
    # From the buffer: pyarrow's to_numpy imports pandas (a second of start-up) to do the same.
    indices = chunk.indices
    return np.frombuffer(
        indices.buffers()[1], dtype=np.int32, count=len(indices), offset=indices.offset * 4
    )


def _column_compact(codes: np.ndarray, values: list[str]) -> _Column:
    """Drop unused values and apply the formula unquoting the row reader applies to each cell."""
    used = np.flatnonzero(np.bincount(codes, minlength=len(values)))
    if len(used) == len(values):
        return _Column(codes=codes, values=[formula_unquoted(v) for v in values])
    remap = np.zeros(len(values), dtype=np.int32)
    remap[used] = np.arange(len(used), dtype=np.int32)
    return _Column(codes=remap[codes], values=[formula_unquoted(values[k]) for k in used])


def _first_positions(codes: np.ndarray, n_values: int) -> np.ndarray:
    first = np.full(n_values, len(codes), dtype=np.int64)
    np.minimum.at(first, codes, np.arange(len(codes), dtype=np.int64))
    return first


def _names_in_order(labels: list[str], first: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Codes numbered by first appearance, as the row reader numbers them: `labels[k]` first
    appears at `first[k]`; labels that are equal strings share one code."""
    earliest: dict[str, int] = {}
    for label, position in zip(labels, first.tolist(), strict=True):
        if position < earliest.get(label, math.inf):
            earliest[label] = position
    names = sorted(earliest, key=earliest.__getitem__)
    index = {name: k for k, name in enumerate(names)}
    return np.array([index[label] for label in labels], dtype=np.int32), names


def _encode(column: _Column) -> tuple[np.ndarray, list[str]]:
    mapping, names = _names_in_order(
        column.values, _first_positions(column.codes, len(column.values))
    )
    return mapping[column.codes], names


def _model_codes(columns: dict[str, _Column]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    a, b = columns["model_a"], columns["model_b"]
    names_a = [v.strip() for v in a.values]
    names_b = [v.strip() for v in b.values]
    if "" in names_a or "" in names_b:
        raise _Refused
    # The row reader numbers model_a before model_b within a row.
    first = np.concatenate(
        [
            2 * _first_positions(a.codes, len(names_a)),
            2 * _first_positions(b.codes, len(names_b)) + 1,
        ]
    )
    mapping, names = _names_in_order(names_a + names_b, first)
    model_a = mapping[: len(names_a)][a.codes]
    model_b = mapping[len(names_a) :][b.codes]
    if (model_a == model_b).any():
        raise _Refused
    return model_a, model_b, names


def _required(table: dict[str, int]) -> Callable[[str], int]:
    def convert(value: str) -> int:
        code = table.get(value.strip().lower())
        if code is None:
            raise _Refused
        return code

    return convert


def _optional(table: dict[str, int], missing: int) -> Callable[[str], int]:
    required = _required(table)
    return lambda value: missing if value == "" else required(value)


def _number(*, finite: bool) -> Callable[[str], float]:
    def convert(value: str) -> float:
        if value == "":
            return math.nan
        try:
            number = float(value)
        except ValueError:
            raise _Refused from None
        if not number >= 0 or (finite and not math.isfinite(number)):
            raise _Refused
        return number

    return convert


def _items(
    columns: dict[str, _Column],
) -> tuple[np.ndarray, list[str], np.ndarray, list[str], bool]:
    """Item codes (question_id/turn), prompt codes (question_id) and whether any was given."""
    question = columns.get("question_id", columns.get("item"))
    if question is None:
        return np.zeros(0), [], np.zeros(0), [], False
    prompt, prompts = _encode(question)
    turn = columns.get("turn")
    if turn is None or not turn.any_nonempty():
        return prompt, prompts, prompt, prompts, question.any_nonempty()
    pair = question.codes.astype(np.int64) * len(turn.values) + turn.codes
    unique, pair_codes = np.unique(pair, return_inverse=True)
    labels = [
        question.values[q] + (f"/{turn.values[t]}" if turn.values[t] != "" else "")
        for q, t in zip(
            (unique // len(turn.values)).tolist(), (unique % len(turn.values)).tolist(), strict=True
        )
    ]
    mapping, items = _names_in_order(labels, _first_positions(pair_codes, len(unique)))
    return mapping[pair_codes], items, prompt, prompts, question.any_nonempty()


def _votes_from_columns(columns: dict[str, _Column], features: Sequence[str]) -> VoteArrays:
    n = len(columns["model_a"].codes)
    model_a, model_b, models = _model_codes(columns)
    outcome = columns["winner"].mapped(_required(WINNER_CODES), np.int8)
    judge = columns.get("judge", columns.get("rater"))
    has_rater = judge is not None and judge.any_nonempty()
    item, items, prompt, prompts, has_item = _items(columns)
    category = columns.get("category")
    has_category = category is not None and category.any_nonempty()
    turn = columns.get("turn")
    has_turn = turn is not None and turn.any_nonempty()
    side = columns.get("left")
    has_left = side is not None and side.any_nonempty()
    gold = columns.get("gold")
    has_gold = gold is not None and gold.any_nonempty()

    def numbers(name: str, *, finite: bool) -> tuple[np.ndarray, np.ndarray] | None:
        """The feature's two columns, or None when neither holds a value."""
        given = [columns.get(f"{name}{suffix}") for suffix in ("_a", "_b")]
        if not any(c is not None and c.any_nonempty() for c in given):
            return None
        convert = _number(finite=finite)
        pair = tuple(
            np.full(n, np.nan) if column is None else column.mapped(convert, np.float64)
            for column in given
        )
        return pair

    length = numbers("length", finite=False)
    style = {}
    for name in ["headers", "lists", "bold", *[f for f in features if f != "length"]]:
        pair = numbers(name, finite=True)
        if pair is not None:
            style[name] = pair
    rater, raters = _encode(judge) if has_rater else (None, [])
    category_codes, categories = _encode(category) if has_category else (None, [])
    turn_codes, turns = _encode(turn) if has_turn else (None, [])
    return VoteArrays(
        model_a=model_a,
        model_b=model_b,
        outcome=outcome,
        models=models,
        rater=rater,
        raters=raters,
        item=item if has_item else None,
        items=items if has_item else [],
        category=category_codes,
        categories=categories,
        left_is_a=side.mapped(_optional(LEFT_CODES, -1), np.int8) if has_left else None,
        length_a=length[0] if length else None,
        length_b=length[1] if length else None,
        gold_answer=gold.mapped(_optional(WINNER_CODES, -1), np.int8) if has_gold else None,
        prompt=prompt if has_item else None,
        prompts=prompts if has_item else [],
        features={
            **({"length": length} if length else {}),
            **style,
        },
        turn=turn_codes,
        turns=turns,
    )
