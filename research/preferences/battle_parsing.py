"""Battle-format vote files (Chatbot Arena, MT-Bench human judgments) -> checked battles.

JSON Lines, or one JSON array, of {model_a, model_b, winner, judge, question_id} with optional
turn, category, tstamp and conversation_a/conversation_b. Every problem is reported with its
line number; writing the battles into a study is battle_import.py.
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from evaluations.analysis.votes import WINNER_CODES
from evaluations.studies.import_rows import ImportFailed, _decode, _iter_jsonl, size_text

CHOICES = {0: "a", 1: "b", 2: "tie", 3: "both_bad"}
# As the prompt import's scripted conversations (evaluations.studies.conversations.MAX_TURNS).
MAX_TURNS = 50
MAX_ERRORS = 200
# Arena's timestamps are seconds since 1970; beyond the year 5000 it is a unit mistake.
MAX_TSTAMP = 95_617_584_000


@dataclass(frozen=True)
class Battle:
    line: int
    question_id: str
    model_a: str
    model_b: str
    choice: str
    judge: str
    category: str
    tstamp: float | None
    context: str | None  # None: the file has no conversations
    prompt: str | None
    answer_a: str | None
    answer_b: str | None
    # The turn judged (None: not given and no conversations); the conversations' user turns and
    # each model's answers to them, up to that turn (empty without conversations).
    turn: int | None = None
    user_turns: tuple[str, ...] = ()
    answers_a: tuple[str, ...] = ()
    answers_b: tuple[str, ...] = ()


def _json_array(text: str) -> Iterator[tuple[int, Any, str | None]]:
    """The elements of a JSON array with the line each starts on."""
    starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]

    def line_of(offset: int) -> int:
        return bisect.bisect_right(starts, offset)

    decoder = json.JSONDecoder()
    i = text.index("[") + 1
    n = len(text)
    while True:
        while i < n and text[i] in " \t\r\n":
            i += 1
        if i < n and text[i] == "]":
            return
        try:
            value, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError as exc:
            yield line_of(exc.pos), None, f"line {line_of(exc.pos)}: not valid JSON ({exc.msg})"
            return
        except (ValueError, RecursionError) as exc:
            reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            yield line_of(i), None, f"line {line_of(i)}: not valid JSON ({reason})"
            return
        line = line_of(i)
        if isinstance(value, dict):
            yield line, value, None
        else:
            yield line, None, f"line {line}: expected a JSON object, got {type(value).__name__}"
        i = end
        while i < n and text[i] in " \t\r\n":
            i += 1
        if i < n and text[i] == ",":
            i += 1
            continue
        if i < n and text[i] == "]":
            if text[i + 1 :].strip():
                yield line_of(i + 1), None, f"line {line_of(i + 1)}: text after the JSON array"
            return
        yield line_of(i), None, f"line {line_of(i)}: expected , or ] in the JSON array"
        return


def _clean_text(value: Any, name: str, line: int, errors: list[str], *, limit: int = 0) -> str:
    """A string PostgreSQL can store: no NUL, no unpaired surrogate (from a \\ud800 escape)."""
    if not isinstance(value, str):
        errors.append(f"line {line}: {name} must be text, got {type(value).__name__}")
        return ""
    if "\x00" in value:
        errors.append(f"line {line}: {name} contains a NUL character")
        return ""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        errors.append(f"line {line}: {name} contains an unpaired surrogate (invalid Unicode)")
        return ""
    if limit and len(value) > limit:
        errors.append(f"line {line}: {name} is longer than {limit} characters")
        return ""
    return value


def _exchanges(
    conversation: Any, name: str, line: int, errors: list[str]
) -> tuple[str, list[str], list[str]] | None:
    """(context, user turns, answers) of a conversation: its system messages first, then each
    user message followed by the assistant's answer to it."""
    if not isinstance(conversation, list) or not conversation:
        errors.append(f"line {line}: {name} must be a non-empty list of messages")
        return None
    context: list[str] = []
    users: list[str] = []
    answers: list[str] = []
    for k, message in enumerate(conversation):
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            errors.append(f"line {line}: {name}[{k}] must be an object with role and content")
            return None
        content = _clean_text(message["content"], f"{name}[{k}].content", line, errors)
        role = message["role"]
        if role == "system" and not users:
            context.append(content)
        elif role == "user" and len(users) == len(answers):
            users.append(content)
        elif role == "assistant" and len(users) == len(answers) + 1:
            answers.append(content)
        else:
            errors.append(
                f"line {line}: {name}[{k}]: expected {'an assistant' if users else 'a user'} "
                f"message, got {str(role)[:20]!r} (user and assistant messages alternate)"
            )
            return None
    if not answers or len(users) != len(answers):
        errors.append(f"line {line}: {name} does not end with an assistant answer")
        return None
    if len(users) > MAX_TURNS:
        errors.append(f"line {line}: {name} has more than {MAX_TURNS} user turns")
        return None
    return "\n\n".join(context), users, answers


def _turn(value: Any, line: int, errors: list[str]) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TURNS:
        errors.append(f"line {line}: turn {str(value)[:20]!r} must be a whole number 1-{MAX_TURNS}")
        return None
    return value


def battle_parse(line: int, row: dict[str, Any], errors: list[str]) -> Battle | None:
    before = len(errors)
    missing = [k for k in ("model_a", "model_b", "winner", "judge", "question_id") if k not in row]
    if missing:
        errors.append(f"line {line}: missing field(s) {', '.join(missing)}")
        return None
    model_a = _clean_text(row["model_a"], "model_a", line, errors, limit=100).strip()
    model_b = _clean_text(row["model_b"], "model_b", line, errors, limit=100).strip()
    if len(errors) == before and (not model_a or not model_b):
        errors.append(f"line {line}: model_a and model_b must be non-empty")
    elif model_a and model_a == model_b:
        errors.append(f"line {line}: model_a and model_b are both {model_a!r}")
    winner = row["winner"]
    code = WINNER_CODES.get(winner.strip().lower()) if isinstance(winner, str) else None
    if code is None:
        errors.append(
            f"line {line}: winner {str(winner)[:40]!r} is not one of model_a, model_b, tie, "
            "tie (bothbad)"
        )
    judge = row["judge"]
    judge = _clean_text(
        str(judge) if isinstance(judge, int) else judge, "judge", line, errors, limit=100
    ).strip()
    if not judge and len(errors) == before:
        errors.append(f"line {line}: empty judge")
    question = row["question_id"]
    if isinstance(question, bool) or not isinstance(question, int | str):
        errors.append(f"line {line}: question_id must be a number or text")
        question = ""
    question = _clean_text(str(question), "question_id", line, errors, limit=200).strip()
    if not question and len(errors) == before:
        errors.append(f"line {line}: empty question_id")
    turn = _turn(row.get("turn"), line, errors)
    category = row.get("category")
    category = (
        ""
        if category is None
        else _clean_text(category, "category", line, errors, limit=100).strip()
    )
    tstamp = row.get("tstamp")
    if tstamp is not None:
        if isinstance(tstamp, bool) or not isinstance(tstamp, int | float):
            errors.append(f"line {line}: tstamp must be a number of seconds since 1970")
            tstamp = None
        elif not (math.isfinite(tstamp) and 0 <= tstamp <= MAX_TSTAMP):
            errors.append(f"line {line}: tstamp {tstamp!r} is not a time (seconds since 1970)")
            tstamp = None
    has_a, has_b = row.get("conversation_a") is not None, row.get("conversation_b") is not None
    context = prompt = answer_a = answer_b = None
    users: list[str] = []
    answers_a: list[str] = []
    answers_b: list[str] = []
    if has_a != has_b:
        errors.append(f"line {line}: conversation_a and conversation_b come together")
    elif has_a:
        parsed_a = _exchanges(row["conversation_a"], "conversation_a", line, errors)
        parsed_b = _exchanges(row["conversation_b"], "conversation_b", line, errors)
        if parsed_a and parsed_b:
            if parsed_a[:2] != parsed_b[:2]:
                errors.append(
                    f"line {line}: conversation_a and conversation_b have different system or "
                    "user messages"
                )
            context, users, answers_a = parsed_a
            answers_b = parsed_b[2]
            prompt, answer_a, answer_b = users[0], answers_a[0], answers_b[0]
            if turn is None:
                turn = len(users)  # Arena's turn: the conversation's user turns
            elif turn != len(users):
                errors.append(
                    f"line {line}: turn {turn}, but the conversations have {len(users)} user "
                    "turns (give each turn's conversation up to that turn's answer)"
                )
    if len(errors) > before:
        return None
    return Battle(
        line=line,
        question_id=question,
        model_a=model_a,
        model_b=model_b,
        choice=CHOICES[code],
        judge=judge,
        category=category,
        tstamp=float(tstamp) if tstamp is not None else None,
        context=context,
        prompt=prompt,
        answer_a=answer_a,
        answer_b=answer_b,
        turn=turn,
        user_turns=tuple(users),
        answers_a=tuple(answers_a),
        answers_b=tuple(answers_b),
    )


def battles_parse(data: bytes, size: int | None = None) -> list[Battle]:
    limit = settings.MAX_IMPORT_BYTES
    size = max(size or 0, len(data))
    if size > limit:
        raise ImportFailed(
            [f"line 1: the file is {size_text(size)}; the limit is {size_text(limit)}"]
        )
    text = _decode(data)
    if not text.strip():
        raise ImportFailed(["line 1: the file is empty"])
    rows = _json_array(text) if text.lstrip().startswith("[") else _iter_jsonl(text)
    errors: list[str] = []
    battles = []
    for line, row, error in rows:
        if error:
            errors.append(error)
        else:
            battle = battle_parse(line, row, errors)
            if battle:
                battles.append(battle)
        if len(errors) >= MAX_ERRORS:
            errors.append("... stopped after 200 problems")
            break
    if errors:
        raise ImportFailed(errors)
    if not battles:
        raise ImportFailed(["line 1: the file has no votes"])
    return battles
