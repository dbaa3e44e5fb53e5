"""Votes as integer-coded numpy arrays, their file formats, and aggregation to counts.

Everything downstream works on counts per model pair and outcome (`PairCounts`), built in one
vectorised pass; nothing loops over individual votes in Python.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

A_WINS, B_WINS, TIE, BOTH_BAD = 0, 1, 2, 3
OUTCOME_NAMES = ("a", "b", "tie", "both_bad")

# Chatbot Arena / MT-Bench battle format, plus the short spellings.
WINNER_CODES = {
    "model_a": A_WINS,
    "a": A_WINS,
    "model_b": B_WINS,
    "b": B_WINS,
    "tie": TIE,
    "tie (bothbad)": BOTH_BAD,
    "both_bad": BOTH_BAD,
    "bothbad": BOTH_BAD,
}
LEFT_CODES = {"a": 1, "model_a": 1, "b": 0, "model_b": 0}
STRENGTH_CODES = {"1": 1, "slightly": 1, "2": 2, "much": 2, "0": 0}
MAX_CSV_FIELD = 1_000_000


class VoteDataError(ValueError):
    """A vote row that cannot be used; `line` is the 1-based line in the source file if known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.line = line
        super().__init__(f"line {line}: {message}" if line is not None else message)


@dataclass(frozen=True)
class VoteArrays:
    """One vote per position. Codes index the name lists (`models`, `raters`, ...).

    `outcome` uses A_WINS, B_WINS, TIE, BOTH_BAD. `left_is_a` is 1 when model_a was shown on the
    left, 0 when model_b was, -1 when unknown. Lengths are NaN when unknown. `gold_answer` is the
    expected outcome code of a gold vote (-1 for ordinary votes).
    """

    model_a: np.ndarray
    model_b: np.ndarray
    outcome: np.ndarray
    models: list[str]
    rater: np.ndarray | None = None
    raters: list[str] = field(default_factory=list)
    item: np.ndarray | None = None
    items: list[str] = field(default_factory=list)
    category: np.ndarray | None = None
    categories: list[str] = field(default_factory=list)
    left_is_a: np.ndarray | None = None
    length_a: np.ndarray | None = None
    length_b: np.ndarray | None = None
    gold_answer: np.ndarray | None = None
    # The prompt of each vote (clustering by prompt): question_id without the turn in files,
    # the pair's prompt in the database. `item` (the unit of agreement) may be finer.
    prompt: np.ndarray | None = None
    prompts: list[str] = field(default_factory=list)
    # Style features of the two answers by name (style control), NaN when unknown.
    features: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    # Which question a vote answers: codes into `criteria`, where "" is the overall question
    # (studies with criteria give one vote per criterion beside the overall one).
    criterion: np.ndarray | None = None
    criteria: list[str] = field(default_factory=list)
    # How much better the winner is: 1 slightly, 2 much, 0 not said (ties, or not asked).
    strength: np.ndarray | None = None
    # The turn of a multi-turn conversation each vote judged ("" for a whole conversation or a
    # single answer): per-turn rankings and `turn`.
    turn: np.ndarray | None = None
    turns: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.model_a)
        for name in (
            "model_b",
            "outcome",
            "rater",
            "item",
            "category",
            "left_is_a",
            "length_a",
            "length_b",
            "gold_answer",
            "prompt",
            "criterion",
            "strength",
            "turn",
        ):
            value = getattr(self, name)
            if value is not None and len(value) != n:
                raise VoteDataError(f"{name} has {len(value)} entries, model_a has {n}")
        if n and (self.model_a == self.model_b).any():
            raise VoteDataError("a vote compares a model with itself")
        if n and ((self.outcome < 0) | (self.outcome > BOTH_BAD)).any():
            raise VoteDataError("outcome codes must be 0..3 (a, b, tie, both_bad)")
        if n and (
            max(self.model_a.max(), self.model_b.max()) >= len(self.models)
            or min(self.model_a.min(), self.model_b.min()) < 0
        ):
            raise VoteDataError("model codes must index the models list")

    def __len__(self) -> int:
        return len(self.model_a)

    @property
    def is_gold(self) -> np.ndarray:
        if self.gold_answer is None:
            return np.zeros(len(self), dtype=bool)
        return self.gold_answer >= 0

    def subset(self, mask: np.ndarray) -> VoteArrays:
        """The votes where `mask` is true, with the same name lists (codes keep their meaning)."""

        def pick(value: np.ndarray | None) -> np.ndarray | None:
            return None if value is None else value[mask]

        return VoteArrays(
            model_a=self.model_a[mask],
            model_b=self.model_b[mask],
            outcome=self.outcome[mask],
            models=self.models,
            rater=pick(self.rater),
            raters=self.raters,
            item=pick(self.item),
            items=self.items,
            category=pick(self.category),
            categories=self.categories,
            left_is_a=pick(self.left_is_a),
            length_a=pick(self.length_a),
            length_b=pick(self.length_b),
            gold_answer=pick(self.gold_answer),
            prompt=pick(self.prompt),
            prompts=self.prompts,
            features={k: (fa[mask], fb[mask]) for k, (fa, fb) in self.features.items()},
            criterion=pick(self.criterion),
            criteria=self.criteria,
            strength=pick(self.strength),
            turn=pick(self.turn),
            turns=self.turns,
        )

    def overall(self) -> VoteArrays:
        """The votes on the overall question (all of them when the votes carry no criterion)."""
        if self.criterion is None:
            return self
        if "" not in self.criteria:
            return self.subset(np.zeros(len(self), dtype=bool))
        return self.subset(self.criterion == self.criteria.index(""))

    @classmethod
    def from_rows(
        cls,
        rows: Iterable[Mapping[str, Any]],
        *,
        lines: Sequence[int] | None = None,
        features: Sequence[str] = (),
    ) -> VoteArrays:
        """Build from dicts in the battle format (or the short names the database layer uses).

        Keys: `model_a`, `model_b`, `winner` or `outcome` (model_a, model_b, tie, tie (bothbad),
        a, b, both_bad), `judge` or `rater`, `question_id` or `item` (with `turn`, the item is
        "question_id/turn"), and optionally `category`, `left` (a or b: which model was shown on
        the left), `length_a`, `length_b`, `gold` (the expected winner: makes the vote a gold vote),
        `criterion` (the question answered; empty or "overall" for the overall one) and
        `strength` (1 or "slightly", 2 or "much": by how much the winner is better).
        Style features: `headers_a`/`_b`, `lists_a`/`_b`, `bold_a`/`_b` when present, and
        `NAME_a`/`NAME_b` for each NAME in `features` (the researcher's own numeric features).
        """
        rows = list(rows)
        names: dict[str, dict[str, int]] = {
            k: {} for k in ("model", "rater", "item", "category", "turn")
        }

        def code(kind: str, value: Any) -> int:
            table = names[kind]
            key = str(value)
            if key not in table:
                table[key] = len(table)
            return table[key]

        n = len(rows)
        model_a = np.empty(n, dtype=np.int32)
        model_b = np.empty(n, dtype=np.int32)
        outcome = np.empty(n, dtype=np.int8)
        rater = np.empty(n, dtype=np.int32)
        item = np.empty(n, dtype=np.int32)
        category = np.empty(n, dtype=np.int32)
        turn_codes = np.empty(n, dtype=np.int32)
        left = np.full(n, -1, dtype=np.int8)
        length_a = np.full(n, np.nan)
        length_b = np.full(n, np.nan)
        gold = np.full(n, -1, dtype=np.int8)
        prompt_codes = np.empty(n, dtype=np.int32)
        prompt_names: dict[str, int] = {}
        criterion_codes = np.zeros(n, dtype=np.int32)
        criterion_names: dict[str, int] = {}
        strength = np.zeros(n, dtype=np.int8)
        style_names = ["headers", "lists", "bold", *[f for f in features if f != "length"]]
        style = {f: (np.full(n, np.nan), np.full(n, np.nan)) for f in style_names}
        style_seen = dict.fromkeys(style_names, False)
        seen = {
            "rater": False,
            "item": False,
            "category": False,
            "left": False,
            "length": False,
            "gold": False,
            "criterion": False,
            "strength": False,
            "turn": False,
        }
        for k, row in enumerate(rows):
            line = lines[k] if lines is not None else k + 1
            try:
                a, b = row["model_a"], row["model_b"]
            except KeyError as exc:
                raise VoteDataError(f"missing field {exc.args[0]!r}", line) from None
            # "gpt-4" and "gpt-4 " are one model: spreadsheets and hand edits leave spaces.
            a = a.strip() if isinstance(a, str) else a
            b = b.strip() if isinstance(b, str) else b
            if a in (None, "") or b in (None, ""):
                raise VoteDataError("model_a and model_b must be non-empty", line)
            if str(a) == str(b):
                raise VoteDataError(f"model_a and model_b are both {a!r}", line)
            winner = row.get("winner", row.get("outcome"))
            if winner is None:
                raise VoteDataError("missing field 'winner'", line)
            w = WINNER_CODES.get(str(winner).strip().lower())
            if w is None:
                raise VoteDataError(
                    f"winner {winner!r} is not one of model_a, model_b, tie, tie (bothbad), "
                    "a, b, both_bad",
                    line,
                )
            model_a[k], model_b[k], outcome[k] = code("model", a), code("model", b), w
            judge = row.get("judge", row.get("rater"))
            seen["rater"] |= judge not in (None, "")
            rater[k] = code("rater", "" if judge is None else judge)
            question = row.get("question_id", row.get("item"))
            seen["item"] |= question not in (None, "")
            turn = row.get("turn")
            key = "" if question is None else str(question)
            if turn not in (None, ""):
                key = f"{key}/{turn}"
                seen["turn"] = True
            turn_codes[k] = code("turn", "" if turn is None else turn)
            item[k] = code("item", key)
            prompt_key = "" if question is None else str(question)
            prompt_codes[k] = prompt_names.setdefault(prompt_key, len(prompt_names))
            for name, (fa, fb) in style.items():
                for suffix, target in (("_a", fa), ("_b", fb)):
                    value = row.get(name + suffix)
                    if value in (None, ""):
                        continue
                    try:
                        target[k] = float(value)
                    except (TypeError, ValueError):
                        raise VoteDataError(
                            f"{name}{suffix} {value!r} is not a number", line
                        ) from None
                    if not target[k] >= 0 or not np.isfinite(target[k]):
                        raise VoteDataError(f"{name}{suffix} must be a finite number >= 0", line)
                    style_seen[name] = True
            cat = row.get("category")
            seen["category"] |= cat not in (None, "")
            category[k] = code("category", "" if cat is None else cat)
            side = row.get("left")
            if side not in (None, ""):
                if str(side).strip().lower() not in LEFT_CODES:
                    raise VoteDataError(f"left {side!r} must be a or b", line)
                left[k] = LEFT_CODES[str(side).strip().lower()]
                seen["left"] = True
            for key_len, target in (("length_a", length_a), ("length_b", length_b)):
                value = row.get(key_len)
                if value not in (None, ""):
                    try:
                        target[k] = float(value)
                    except (TypeError, ValueError):
                        raise VoteDataError(f"{key_len} {value!r} is not a number", line) from None
                    if not target[k] >= 0:
                        raise VoteDataError(f"{key_len} must be >= 0", line)
                    seen["length"] = True
            answer = row.get("gold")
            if answer not in (None, ""):
                g = WINNER_CODES.get(str(answer).strip().lower())
                if g is None:
                    raise VoteDataError(f"gold {answer!r} is not a winner value", line)
                gold[k] = g
                seen["gold"] = True
            asked = row.get("criterion")
            seen["criterion"] |= "criterion" in row
            key_c = "" if asked is None else str(asked).strip()
            key_c = "" if key_c.lower() == "overall" else key_c
            criterion_codes[k] = criterion_names.setdefault(key_c, len(criterion_names))
            how = row.get("strength")
            if how not in (None, ""):
                level = STRENGTH_CODES.get(str(how).strip().lower())
                if level is None:
                    raise VoteDataError(f"strength {how!r} is not 1, 2, slightly or much", line)
                strength[k] = level if w in (A_WINS, B_WINS) else 0
                seen["strength"] = True

        def name_list(kind: str) -> list[str]:
            return list(names[kind])

        return cls(
            model_a=model_a,
            model_b=model_b,
            outcome=outcome,
            models=name_list("model"),
            rater=rater if seen["rater"] else None,
            raters=name_list("rater") if seen["rater"] else [],
            item=item if seen["item"] else None,
            items=name_list("item") if seen["item"] else [],
            category=category if seen["category"] else None,
            categories=name_list("category") if seen["category"] else [],
            left_is_a=left if seen["left"] else None,
            length_a=length_a if seen["length"] else None,
            length_b=length_b if seen["length"] else None,
            gold_answer=gold if seen["gold"] else None,
            prompt=prompt_codes if seen["item"] else None,
            prompts=list(prompt_names) if seen["item"] else [],
            features={
                **({"length": (length_a, length_b)} if seen["length"] else {}),
                **{name: style[name] for name in style_names if style_seen[name]},
            },
            criterion=criterion_codes if seen["criterion"] else None,
            criteria=list(criterion_names) if seen["criterion"] else [],
            strength=strength if seen["strength"] else None,
            turn=turn_codes if seen["turn"] else None,
            turns=name_list("turn") if seen["turn"] else [],
        )


# A CSV cell that a spreadsheet would run as a formula is written with a leading quote (OWASP;
# tastetest's exports do it); the quote is not part of the value.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20", "'")


def formula_unquoted(value: str | None) -> str | None:
    if isinstance(value, str) and value.startswith("'") and value[1:].startswith(_FORMULA_STARTS):
        return value[1:]
    return value


def votes_read(path: str | Path, *, features: Sequence[str] = ()) -> VoteArrays:
    """Read a CSV or JSONL battle file (JSONL when the first non-blank character is `{`)."""
    if Path(path).is_dir():
        raise VoteDataError(f"{path} is a directory, not a vote file")
    try:
        # utf-8-sig: Excel starts a UTF-8 CSV with a byte-order mark.
        text = Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise VoteDataError(f"{path} is not UTF-8 text ({exc.reason})") from None
    except PermissionError:
        raise VoteDataError(f"{path} cannot be read (permission denied)") from None
    stripped = text.lstrip()
    if not stripped:
        raise VoteDataError(f"{path} is empty")
    if stripped[0] != "{":
        # Imported here: only reading a CSV file needs pyarrow, not the web process.
        from .votes_columnar import votes_read_columnar

        votes = votes_read_columnar(text, features=features)
        if votes is not None:
            return votes
    return votes_read_rows(text, features=features)


def votes_read_rows(text: str, *, features: Sequence[str] = ()) -> VoteArrays:
    """The row-by-row reader: the reference for what a file means and which line is at fault."""
    stripped = text.lstrip()
    rows: list[Mapping[str, Any]] = []
    lines: list[int] = []
    if stripped[0] == "{":
        for number, raw in enumerate(text.splitlines(), start=1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise VoteDataError(f"not valid JSON ({exc.msg})", number) from None
            if not isinstance(row, dict):
                raise VoteDataError("each line must be a JSON object", number)
            rows.append(row)
            lines.append(number)
    else:
        # Rationales can be long; a field beyond this is not a vote file.
        csv.field_size_limit(MAX_CSV_FIELD)
        reader = csv.DictReader(io.StringIO(text))
        try:
            header = reader.fieldnames or []
            missing = [c for c in ("model_a", "model_b", "winner") if c not in header]
            if missing:
                raise VoteDataError(f"CSV header lacks {', '.join(missing)}", 1)
            for row in reader:
                if None in row:
                    raise VoteDataError("more fields than the header", reader.line_num)
                rows.append({key: formula_unquoted(value) for key, value in row.items()})
                lines.append(reader.line_num)
        except csv.Error as exc:
            raise VoteDataError(f"not valid CSV ({exc})", reader.line_num + 1) from None
    return VoteArrays.from_rows(rows, lines=lines, features=features)


@dataclass(frozen=True)
class PairCounts:
    """Counts per unordered model pair (first < second) and outcome, oriented to `first`.

    `counts[k]` = (first wins, second wins, ties, both bad) for pair k.
    """

    n_models: int
    first: np.ndarray
    second: np.ndarray
    counts: np.ndarray

    @property
    def total(self) -> np.ndarray:
        return self.counts.sum(axis=1)


def pair_counts(
    model_a: np.ndarray, model_b: np.ndarray, outcome: np.ndarray, n_models: int
) -> PairCounts:
    """Aggregate votes into per-pair outcome counts: one bincount over ordered (a, b, outcome)
    codes, then the orientation is folded on the small M x M x 4 table (no per-vote Python)."""
    m = n_models
    dtype = np.int32 if m * m * 4 < 2**31 else np.int64
    key = np.asarray(model_a, dtype=dtype) * (4 * m)
    key += np.asarray(model_b, dtype=dtype) * 4
    key += np.asarray(outcome, dtype=dtype)
    table = np.bincount(key, minlength=m * m * 4).reshape(m, m, 4)
    # Seen from the other side, A_WINS and B_WINS swap; ties stay.
    folded = table + table.transpose(1, 0, 2)[:, :, [B_WINS, A_WINS, TIE, BOTH_BAD]]
    lo, hi = np.triu_indices(m, k=1)
    counts = folded[lo, hi]
    present = counts.any(axis=1)
    return PairCounts(
        n_models=m, first=lo[present], second=hi[present], counts=counts[present].astype(np.float64)
    )
