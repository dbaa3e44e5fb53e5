"""A pair's votes -> training records in each format, with how contested the pair was.

Pure functions over `PairVotes`; nothing here reads the database. A pair's conversation is
held as the message list up to the judged answer, so a study with only single-turn prompts
has one user message, and multi-turn conversations need no change here: the plain-string
form is written only when the conversation is a single user message.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from research.preferences.options import PreferenceOptions

OUTCOMES = ("a", "b", "tie", "both_bad")
ARENA_WINNERS = {"a": "model_a", "b": "model_b", "tie": "tie", "both_bad": "tie (bothbad)"}


@dataclass(frozen=True)
class CastVote:
    rater: str  # the rater's pseudonym in this study
    choice: str  # a, b, tie or both_bad, relative to the pair's a and b
    tstamp: float


@dataclass(frozen=True)
class PairVotes:
    pair_id: str
    prompt_id: str
    category: str
    messages: tuple[dict[str, str], ...]  # the conversation before the answers
    model_a: str
    model_b: str
    answer_a: str
    answer_b: str
    votes: tuple[CastVote, ...]
    # Arena's turn and each model's conversation up to the judged answer; without them (records
    # built elsewhere) they are made from messages and the answers. messages is empty when the
    # two histories differ (scripted turns after the first): only the Arena format is written.
    turn: int | None = None
    conversation_a: tuple[dict[str, Any], ...] | None = None
    conversation_b: tuple[dict[str, Any], ...] | None = None
    verdict: str | None = None  # a senior rater's adjudication, relative to a and b


def votes_tally(votes: Iterable[CastVote]) -> dict[str, int]:
    counts = Counter(vote.choice for vote in votes)
    return {outcome: counts.get(outcome, 0) for outcome in OUTCOMES}


def majority_outcome(tally: dict[str, int]) -> str | None:
    """The outcome with the most votes, or None when two share the most (a split pair)."""
    top = max(tally.values())
    leaders = [outcome for outcome, n in tally.items() if n == top]
    return leaders[0] if top and len(leaders) == 1 else None


def _content_has_text(content: Any) -> bool:
    if isinstance(content, str):
        return bool(content.strip())
    return any(p.get("type") != "text" or str(p.get("text", "")).strip() for p in content)


def _has_text(pair: PairVotes) -> bool:
    messages = pair.messages or (pair.conversation_a or ())[:-1]
    return (
        bool(pair.answer_a.strip())
        and bool(pair.answer_b.strip())
        and any(_content_has_text(m["content"]) for m in messages)
    )


def _is_plain(messages: tuple[dict[str, str], ...]) -> bool:
    return len(messages) == 1 and messages[0]["role"] == "user"


def _assistant(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def _margin(ratings: dict[str, float], first: str, second: str) -> float | None:
    if first in ratings and second in ratings:
        return round(ratings[first] - ratings[second], 3)
    return None


@dataclass(frozen=True)
class _Outcome:
    choice: str
    raters: tuple[str, ...]
    tstamp: float


def _outcomes(
    pair: PairVotes, mode: str, tally: dict[str, int], adjudicated: bool = False
) -> list[_Outcome]:
    if mode == "every":
        return [_Outcome(v.choice, (v.rater,), v.tstamp) for v in pair.votes]
    majority = pair.verdict if adjudicated and pair.verdict else majority_outcome(tally)
    if majority is None:
        return []
    return [
        _Outcome(majority, tuple(v.rater for v in pair.votes), max(v.tstamp for v in pair.votes))
    ]


def _paired(
    fmt: str, pair: PairVotes, winner: str, outcome: _Outcome, meta: dict[str, Any]
) -> dict[str, Any]:
    chosen, rejected = (
        (pair.answer_a, pair.answer_b) if winner == "a" else (pair.answer_b, pair.answer_a)
    )
    chosen_model, rejected_model = (
        (pair.model_a, pair.model_b) if winner == "a" else (pair.model_b, pair.model_a)
    )
    messages = list(pair.messages)
    if fmt == "trl":
        if _is_plain(pair.messages):
            record = {"prompt": messages[0]["content"], "chosen": chosen, "rejected": rejected}
        else:
            record = {
                "prompt": messages,
                "chosen": _assistant(chosen),
                "rejected": _assistant(rejected),
            }
    elif fmt == "openai-dpo":
        record = {
            "input": {"messages": messages},
            "preferred_output": _assistant(chosen),
            "non_preferred_output": _assistant(rejected),
        }
    else:  # rewardbench
        record = {
            "prompt": messages[-1]["content"] if _is_plain(pair.messages) else messages,
            "chosen": chosen,
            "chosen_model": chosen_model,
            "rejected": rejected,
            "rejected_model": rejected_model,
            "subset": pair.category or "default",
        }
    return {**record, **meta}


def _kto(pair: PairVotes, answer: str, label: bool, meta: dict[str, Any]) -> dict[str, Any]:
    messages = list(pair.messages)
    if _is_plain(pair.messages):
        record = {"prompt": messages[0]["content"], "completion": answer, "label": label}
    else:
        record = {"prompt": messages, "completion": _assistant(answer), "label": label}
    return {**record, **meta}


def _arena(pair: PairVotes, outcome: _Outcome, meta: dict[str, Any], mode: str) -> dict:
    record: dict[str, Any] = {
        "model_a": pair.model_a,
        "model_b": pair.model_b,
        "winner": ARENA_WINNERS[outcome.choice],
        "judge": outcome.raters[0] if mode == "every" else "majority",
        "question_id": pair.prompt_id,
        "turn": pair.turn
        if pair.turn is not None
        else sum(1 for m in pair.messages if m["role"] == "user"),
        "tstamp": outcome.tstamp,
        "anony": True,
    }
    if _has_text(pair) and pair.conversation_a is not None and pair.conversation_b is not None:
        record["conversation_a"] = list(pair.conversation_a)
        record["conversation_b"] = list(pair.conversation_b)
    elif _has_text(pair):
        record["conversation_a"] = [*pair.messages, *_assistant(pair.answer_a)]
        record["conversation_b"] = [*pair.messages, *_assistant(pair.answer_b)]
    return {**record, **meta}


def _contested(
    pair: PairVotes,
    tally: dict[str, int],
    outcome: _Outcome,
    *,
    first: str,
    second: str,
    first_is_a: bool,
    ratings: dict[str, float],
    arena: bool,
    mode: str,
) -> dict[str, Any]:
    """How contested the pair is: its votes per side, ties, both-bad, the share of its votes
    that agree with this record's outcome, and the fitted rating difference (Elo points)."""
    total = sum(tally.values())
    first_votes, second_votes = (tally["a"], tally["b"]) if first_is_a else (tally["b"], tally["a"])
    sides = (
        {"votes_a": tally["a"], "votes_b": tally["b"]}
        if arena
        else {"votes_chosen": first_votes, "votes_rejected": second_votes}
    )
    raters = {"rater": outcome.raters[0]} if mode == "every" else {"raters": list(outcome.raters)}
    return {
        "pair_id": pair.pair_id,
        "prompt_id": pair.prompt_id,
        "category": pair.category,
        **raters,
        "votes": total,
        **sides,
        "ties": tally["tie"],
        "both_bad": tally["both_bad"],
        "agreement": round(tally[outcome.choice] / total, 6) if total else None,
        "margin_elo": _margin(ratings, first, second),
    }


def pair_records(
    pair: PairVotes,
    options: PreferenceOptions,
    ratings: dict[str, float],
    dropped: Counter,
) -> list[dict[str, Any]]:
    """The records one pair gives under resolved ``options``; reasons for what it does not give
    are counted in ``dropped``."""
    fmt = options.format
    tally = votes_tally(pair.votes)
    total = sum(tally.values())
    if total < options.min_votes:
        dropped["fewer_votes_than_min_votes"] += 1
        return []
    majority = majority_outcome(tally)
    pair_agreement = tally[majority] / total if majority else max(tally.values()) / total
    labelled = options.adjudicated and pair.verdict is not None
    # A verdict settles the raters' disagreement: min_agreement does not drop the pair.
    if pair_agreement < options.min_agreement and not labelled:
        dropped["agreement_below_min_agreement"] += 1
        return []
    if fmt != "arena" and not _has_text(pair):
        dropped["no_text"] += 1
        return []
    if fmt != "arena" and not pair.messages:
        dropped["histories_differ"] += 1
        return []
    outcomes = _outcomes(pair, options.mode, tally, options.adjudicated)
    if not outcomes:
        dropped["no_majority"] += 1
    records = []
    for outcome in outcomes:
        choice = outcome.choice
        if (choice == "tie" and options.ties == "drop") or (
            choice == "both_bad" and options.both_bad == "drop"
        ):
            dropped[choice] += 1
            continue

        def meta(first_is_a: bool, outcome: _Outcome = outcome) -> dict[str, Any]:
            if not options.contested:
                return {}
            # Every record carries the field when asked, so that columnar writers keep it.
            adjudication = {"adjudicated": labelled} if options.adjudicated else {}
            first, second = (
                (pair.model_a, pair.model_b) if first_is_a else (pair.model_b, pair.model_a)
            )
            return {
                **_contested(
                    pair,
                    tally,
                    outcome,
                    first=first,
                    second=second,
                    first_is_a=first_is_a,
                    ratings=ratings,
                    arena=fmt == "arena",
                    mode=options.mode,
                ),
                **adjudication,
            }

        if fmt == "arena":
            records.append(_arena(pair, outcome, meta(True), options.mode))
        elif fmt == "trl-kto":
            if choice == "both_bad":
                records.append(_kto(pair, pair.answer_a, False, meta(True)))
                records.append(_kto(pair, pair.answer_b, False, meta(False)))
            else:
                a_won = choice == "a"
                records.append(_kto(pair, pair.answer_a, a_won, meta(True)))
                records.append(_kto(pair, pair.answer_b, not a_won, meta(False)))
        else:
            records.append(_paired(fmt, pair, choice, outcome, meta(choice == "a")))
    return records


def preference_records(
    pairs: Iterable[PairVotes],
    options: PreferenceOptions,
    ratings: dict[str, float],
    dropped: Counter | None = None,
) -> Iterator[dict[str, Any]]:
    dropped = Counter() if dropped is None else dropped
    for pair in pairs:
        yield from pair_records(pair, options, ratings, dropped)
