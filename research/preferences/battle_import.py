"""Battle-format vote files (Chatbot Arena, MT-Bench human judgments) -> a study's rows.

JSON Lines, or one JSON array, of {model_a, model_b, winner, judge, question_id} with optional
turn, category, tstamp and conversation_a/conversation_b. The file is checked whole before
anything is written; every problem is reported with its line number and a file with any
problem writes nothing. Models become imported candidates (never called), the conversations'
first exchange becomes the prompt and the two answers, each judge an external rater who cannot
sign in, and each vote a vote on the pair of the two answers.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F

from evaluations.analysis.votes import WINNER_CODES
from evaluations.models import Candidate, Output, Pair, Prompt, Study
from evaluations.studies.import_rows import ImportFailed, _decode, _iter_jsonl, size_text
from raters.models import Membership, Rater, Vote

CHOICES = {0: "a", 1: "b", 2: "tie", 3: "both_bad"}
FLIPPED = {"a": "b", "b": "a", "tie": "tie", "both_bad": "both_bad"}
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


@dataclass
class VotesImported:
    votes: int = 0
    candidates: int = 0
    prompts: int = 0
    pairs: int = 0
    raters: int = 0
    # (line, first line): the same judge on the same pair again; the first vote is kept.
    repeats: list[tuple[int, int]] = field(default_factory=list)

    def summary(self) -> str:
        text = (
            f"{_count(self.votes, 'vote')} by {_count(self.raters, 'new judge')} on "
            f"{_count(self.pairs, 'new pair')} ({_count(self.candidates, 'new candidate')}, "
            f"{_count(self.prompts, 'new prompt')})"
        )
        if self.repeats:
            lines = ", ".join(f"line {a} (first on line {b})" for a, b in self.repeats[:10])
            more = f" and {len(self.repeats) - 10} more" if len(self.repeats) > 10 else ""
            text += (
                f"; {len(self.repeats)} repeat vote(s) of a judge on a pair they had already "
                f"judged were left out: {lines}{more}"
            )
        return text


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


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


def _first_exchange(
    conversation: Any, name: str, line: int, turn: Any, errors: list[str]
) -> tuple[str, str, str] | None:
    """(context, prompt, answer) from a conversation's system messages, first user message and
    the assistant's reply to it."""
    if not isinstance(conversation, list) or not conversation:
        errors.append(f"line {line}: {name} must be a non-empty list of messages")
        return None
    context, prompt, answer = [], None, None
    users = 0
    for k, message in enumerate(conversation):
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            errors.append(f"line {line}: {name}[{k}] must be an object with role and content")
            return None
        content = _clean_text(message["content"], f"{name}[{k}].content", line, errors)
        role = message["role"]
        if role == "system" and prompt is None:
            context.append(content)
        elif role == "user":
            users += 1
            if prompt is None:
                prompt = content
        elif role == "assistant" and prompt is not None and answer is None:
            answer = content
    if prompt is None or answer is None:
        errors.append(f"line {line}: {name} has no user message followed by an assistant answer")
        return None
    if users > 1 and turn in (None, ""):
        errors.append(
            f"line {line}: {name} has {users} user turns and no turn field; multi-turn "
            "conversations cannot be imported yet (give turn 1 to import the first exchange)"
        )
        return None
    return "\n\n".join(context), prompt, answer


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
    turn = row.get("turn")
    if turn not in (None, "", 1, "1"):
        errors.append(
            f"line {line}: turn {str(turn)[:20]!r}: only first turns can be imported yet "
            "(multi-turn conversations are not supported); leave out the other turns"
        )
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
    if has_a != has_b:
        errors.append(f"line {line}: conversation_a and conversation_b come together")
    elif has_a:
        first_a = _first_exchange(row["conversation_a"], "conversation_a", line, turn, errors)
        first_b = _first_exchange(row["conversation_b"], "conversation_b", line, turn, errors)
        if first_a and first_b:
            if first_a[:2] != first_b[:2]:
                errors.append(
                    f"line {line}: conversation_a and conversation_b start with different "
                    "user messages"
                )
            context, prompt, answer_a = first_a
            answer_b = first_b[2]
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


def _consistent(seen: dict, key: Any, value: Any, line: int, what: str, errors: list[str]) -> None:
    if value is None:
        return
    if key in seen and seen[key][0] != value:
        errors.append(f"line {line}: {what} differs from line {seen[key][1]}")
    seen.setdefault(key, (value, line))


def _rater_username(study: Study, judge: str) -> str:
    digest = hashlib.sha256(judge.encode()).hexdigest()[:24]
    return f"imported-{study.pk}-{digest}"


def votes_import(
    *, study: Study, data: bytes, filename: str = "", size: int | None = None
) -> VotesImported:
    """Import a battle-format vote file into ``study``; all or nothing."""
    from evaluations.anonymity.scrubbing import study_terms, text_scrub
    from research.results.cache_versioning import results_invalidate

    battles = battles_parse(data, size)
    errors: list[str] = []
    prompts_text: dict[str, tuple] = {}
    categories: dict[str, tuple] = {}
    answers: dict[tuple[str, str], tuple] = {}
    for b in battles:
        _consistent(
            prompts_text,
            b.question_id,
            b.prompt and (b.context, b.prompt),
            b.line,
            f"the prompt of question {b.question_id!r}",
            errors,
        )
        _consistent(
            categories,
            b.question_id,
            b.category or None,
            b.line,
            f"the category of question {b.question_id!r}",
            errors,
        )
        _consistent(
            answers,
            (b.question_id, b.model_a),
            b.answer_a,
            b.line,
            f"{b.model_a!r}'s answer to question {b.question_id!r}",
            errors,
        )
        _consistent(
            answers,
            (b.question_id, b.model_b),
            b.answer_b,
            b.line,
            f"{b.model_b!r}'s answer to question {b.question_id!r}",
            errors,
        )
    prompts = {
        p.external_id: p
        for p in Prompt.objects.filter(
            study=study, external_id__in=list({b.question_id for b in battles})
        )
    }
    for question, ((context, text), line) in prompts_text.items():
        existing = prompts.get(question)
        if existing and (existing.text, existing.context) != (text, context) and existing.text:
            errors.append(
                f"line {line}: question {question!r} is already a prompt of this study "
                "with another text"
            )
    candidates = {c.label: c for c in Candidate.objects.filter(study=study)}
    outputs = {
        (o.prompt.external_id, o.candidate.label): o
        for o in Output.objects.filter(prompt__in=list(prompts.values())).select_related(
            "prompt", "candidate"
        )
    }
    for (question, model), (text, line) in answers.items():
        existing = outputs.get((question, model))
        if existing and existing.status != Output.Status.DONE:
            errors.append(
                f"line {line}: {model!r}'s answer to question {question!r} is being "
                "generated in this study"
            )
        elif existing and existing.raw_text and existing.raw_text != text:
            errors.append(
                f"line {line}: {model!r} already has another answer to question "
                f"{question!r} in this study"
            )
    # One vote per judge and pair: a repeat is left out (analyze drops it from agreement too).
    first_vote: dict[tuple, int] = {}
    kept: list[Battle] = []
    repeats: list[tuple[int, int]] = []
    for b in battles:
        key = (b.question_id, frozenset((b.model_a, b.model_b)), b.judge)
        if key in first_vote:
            repeats.append((b.line, first_vote[key]))
        else:
            first_vote[key] = b.line
            kept.append(b)
    usernames = {b.judge: _rater_username(study, b.judge) for b in kept}
    User = get_user_model()
    users = {u.username: u for u in User.objects.filter(username__in=list(usernames.values()))}
    existing_votes = set()
    if users:
        existing_votes = set(
            Vote.objects.filter(study=study, rater__user__in=list(users.values())).values_list(
                "rater__user__username",
                "prompt__external_id",
                "candidate_a__label",
                "candidate_b__label",
            )
        )
    for b in kept:
        user = usernames[b.judge]
        if (user, b.question_id, b.model_a, b.model_b) in existing_votes or (
            user,
            b.question_id,
            b.model_b,
            b.model_a,
        ) in existing_votes:
            errors.append(
                f"line {b.line}: judge {b.judge!r} already has a vote on this pair in this "
                "study (imported before?)"
            )
    if errors:
        raise ImportFailed(errors[:MAX_ERRORS])

    report = VotesImported(repeats=repeats)
    with transaction.atomic():
        for model in dict.fromkeys(m for b in kept for m in (b.model_a, b.model_b)):
            if model not in candidates:
                candidates[model] = Candidate.objects.create(
                    study=study, label=model, model=model, imported=True
                )
                report.candidates += 1
        new_prompts = []
        for question in dict.fromkeys(b.question_id for b in kept):
            if question not in prompts:
                context, text = prompts_text.get(question, (("", ""), 0))[0]
                category = categories.get(question, ("", 0))[0]
                new_prompts.append(
                    Prompt(
                        study=study,
                        external_id=question,
                        text=text,
                        context=context,
                        category=category,
                    )
                )
            elif prompts[question].text == "" and question in prompts_text:
                prompt = prompts[question]
                prompt.context, prompt.text = prompts_text[question][0]
                prompt.save(update_fields=["context", "text"])
        for prompt in Prompt.objects.bulk_create(new_prompts, batch_size=1000):
            prompts[prompt.external_id] = prompt
        report.prompts = len(new_prompts)
        terms = study_terms(
            labels=[c.label for c in candidates.values()],
            models=[c.model for c in candidates.values()],
        )
        new_outputs = []
        for key in dict.fromkeys((b.question_id, m) for b in kept for m in (b.model_a, b.model_b)):
            text = answers.get(key, ("", 0))[0]
            existing = outputs.get(key)
            if existing is None:
                scrubbed = text_scrub(text, terms=terms)
                new_outputs.append(
                    Output(
                        prompt=prompts[key[0]],
                        candidate=candidates[key[1]],
                        status=Output.Status.DONE,
                        text=scrubbed.text,
                        raw_text=text,
                        **scrubbed.output_fields(),
                        imported=True,
                    )
                )
            elif not existing.raw_text and text:
                scrubbed = text_scrub(text, terms=terms)
                existing.text, existing.raw_text = scrubbed.text, text
                for name, value in scrubbed.output_fields().items():
                    setattr(existing, name, value)
                existing.save()
        for output in Output.objects.bulk_create(new_outputs, batch_size=1000):
            outputs[(output.prompt.external_id, output.candidate.label)] = output
        raters = {}
        for judge, username in usernames.items():
            user = users.get(username)
            if user is None:
                user = User(username=username, is_active=False)
                user.set_unusable_password()
                user.save()
                report.raters += 1
            rater, _ = Rater.objects.get_or_create(
                user=user,
                defaults={"display_name": judge, "expertise": "external judge (imported)"},
            )
            Membership.objects.get_or_create(rater=rater, study=study)
            raters[judge] = rater
        pairs: dict[tuple[int, int], Pair] = {}
        for pair in Pair.objects.filter(
            study=study, prompt__in=list(prompts.values())
        ).select_related("output_a", "output_b"):
            pairs[(pair.output_a_id, pair.output_b_id)] = pair
        new_pairs: list[Pair] = []
        added: dict[int, int] = {}  # id(pair) -> votes added, for the pair's load
        votes: list[Vote] = []
        dated: list[tuple[Vote, datetime]] = []
        for b in kept:
            out_a, out_b = outputs[(b.question_id, b.model_a)], outputs[(b.question_id, b.model_b)]
            pair = pairs.get((out_a.pk, out_b.pk))
            flipped = False
            if pair is None and (out_b.pk, out_a.pk) in pairs:
                pair, flipped = pairs[(out_b.pk, out_a.pk)], True
            if pair is None:
                pair = Pair(
                    study=study, prompt=prompts[b.question_id], output_a=out_a, output_b=out_b
                )
                pairs[(out_a.pk, out_b.pk)] = pair
                new_pairs.append(pair)
            added[id(pair)] = added.get(id(pair), 0) + 1
            vote = Vote(
                study=study,
                pair=pair,
                rater=raters[b.judge],
                choice=FLIPPED[b.choice] if flipped else b.choice,
                left_output=out_a,  # the battle format's model_a is the one shown first
                candidate_a_id=pair.output_a.candidate_id,
                candidate_b_id=pair.output_b.candidate_id,
                prompt_id=pair.prompt_id,
            )
            votes.append(vote)
            if b.tstamp is not None:
                dated.append((vote, datetime.fromtimestamp(b.tstamp, tz=UTC)))
        for pair in new_pairs:
            pair.load = added[id(pair)]
        Pair.objects.bulk_create(new_pairs, batch_size=1000)
        report.pairs = len(new_pairs)
        fresh = {id(p) for p in new_pairs}
        for pair in pairs.values():
            if id(pair) not in fresh and id(pair) in added:
                Pair.objects.filter(pk=pair.pk).update(load=F("load") + added[id(pair)])
        created = Vote.objects.bulk_create(votes, batch_size=2000)
        # created_at is set on insert (auto_now_add); the battles' own times are written after.
        for vote, moment in dated:
            vote.created_at = moment
        Vote.objects.bulk_update([v for v, _ in dated], ["created_at"], batch_size=2000)
        report.votes = len(created)
    results_invalidate(study_id=study.pk)
    return report
