"""A study's voted pairs with their texts and (pseudonymous) votes, read in pair order."""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import groupby
from typing import Any

from evaluations.models import Pair, Prompt, Study
from evaluations.studies.conversation_export import (
    conversation,
    conversation_turns,
    prompt_history,
)
from raters.models import Membership, Vote
from research.preferences.options import PreferenceOptions
from research.preferences.records import CastVote, PairVotes
from research.results.aggregation import (
    ResultOptions,
    rater_pseudonyms,
    study_excluded_raters,
    study_ranking,
)

PAIRS_PER_BATCH = 500
PSEUDONYM = re.compile(r"rater-[0-9a-f]{12}")


def prompt_messages(prompt: Prompt) -> tuple[dict[str, str], ...]:
    """The conversation the answers reply to, before any answer: one user message for a
    single-turn prompt, with the prompt's context before its text as the candidates were sent
    it; a fixed history as it is."""
    return tuple(prompt_history(prompt))


def rater_ids_from(study: Study, given: tuple[str, ...]) -> list[int]:
    """Rater ids from ids or the pseudonyms the exports show; ValueError for anything else."""
    members = list(Membership.objects.filter(study=study).values_list("rater_id", flat=True))
    by_pseudonym = {
        name: rid for rid, name in rater_pseudonyms(study_id=study.pk, rater_ids=members).items()
    }
    ids = []
    for value in given:
        value = str(value).strip()
        if value.isdigit():
            ids.append(int(value))
        elif PSEUDONYM.fullmatch(value):
            if value not in by_pseudonym:
                raise ValueError(f"no rater {value} in this study")
            ids.append(by_pseudonym[value])
        else:
            raise ValueError(
                f"exclude_raters takes rater ids or pseudonyms (rater-...), not {value[:40]!r}"
            )
    return ids


def result_options(study: Study, options: PreferenceOptions) -> ResultOptions:
    return ResultOptions(
        category=options.category,
        cluster="none",
        exclude_flagged=options.exclude_flagged,
        exclude_gold_failures=options.exclude_gold_failures,
        exclude_raters=tuple(rater_ids_from(study, options.exclude_raters)),
    )


def study_category_check(study: Study, category: str | None) -> None:
    if category is None:
        return
    categories = set(Prompt.objects.filter(study=study).values_list("category", flat=True))
    if category not in categories:
        shown = ", ".join(sorted(repr(c) for c in categories if c)) or "none"
        raise ValueError(
            f"no prompt of this study has category {category!r}; its categories: {shown}"
        )


def study_ratings(study: Study, options: ResultOptions) -> dict[str, float]:
    """Each candidate's fitted rating (Elo scale) over the same votes, for the records' margins."""
    try:
        document = study_ranking(study=study, options=options)
    except ValueError:
        return {}
    return {row["model"]: row["rating"] for row in document.get("models", [])}


def study_preference_pairs(study: Study, options: ResultOptions) -> Iterator[PairVotes]:
    """Every non-gold pair of the study with at least one counted vote, oldest pair first."""
    excluded = study_excluded_raters(study=study, options=options)
    votes = Vote.objects.filter(study=study, pair__gold_answer="").exclude(rater_id__in=excluded)
    if options.category is not None:
        votes = votes.filter(pair__prompt__category=options.category)
    rows = votes.order_by("pair_id", "turn", "id").values_list(
        "pair_id", "rater_id", "choice", "created_at", "turn"
    )
    pseudonyms: dict[int, str] = {}
    batch: list[tuple[int, list[tuple]]] = []
    # One unit per pair, or per pair and turn when the study was voted turn by turn.
    for (pair_id, _), group in groupby(
        rows.iterator(chunk_size=5000), key=lambda row: (row[0], row[4])
    ):
        batch.append((pair_id, list(group)))
        if len(batch) >= PAIRS_PER_BATCH:
            yield from _pairs_of(study, batch, pseudonyms)
            batch = []
    if batch:
        yield from _pairs_of(study, batch, pseudonyms)


def _pairs_of(
    study: Study, batch: list[tuple[int, list[tuple]]], pseudonyms: dict
) -> Iterator[PairVotes]:
    pairs = Pair.objects.select_related(
        "prompt", "output_a__candidate", "output_b__candidate", "adjudication"
    ).in_bulk({pair_id for pair_id, _ in batch})
    new = {row[1] for _, rows in batch for row in rows} - set(pseudonyms)
    pseudonyms.update(rater_pseudonyms(study_id=study.pk, rater_ids=sorted(new)))
    for pair_id, rows in batch:
        pair: Any = pairs[pair_id]
        turn = rows[0][4]
        conversation_a = conversation(pair.prompt, pair.output_a, turn)
        conversation_b = conversation(pair.prompt, pair.output_b, turn)
        # Scripted turns after the first follow each model's own earlier answers: the two
        # histories then differ, and only the Arena format (two conversations) can hold them.
        shared = conversation_a[:-1] == conversation_b[:-1]
        yield PairVotes(
            pair_id=pair.public_id,
            prompt_id=pair.prompt.external_id,
            category=pair.prompt.category,
            messages=tuple(conversation_a[:-1]) if shared else (),
            model_a=pair.output_a.candidate.label,
            model_b=pair.output_b.candidate.label,
            answer_a=conversation_a[-1]["content"],
            answer_b=conversation_b[-1]["content"],
            votes=tuple(
                CastVote(rater=pseudonyms[rater], choice=choice, tstamp=created.timestamp())
                for _, rater, choice, created, _ in rows
            ),
            turn=conversation_turns(conversation_a),
            conversation_a=tuple(conversation_a),
            conversation_b=tuple(conversation_b),
            verdict=_verdict(pair),
        )


def _verdict(pair: Pair) -> str | None:
    try:
        return pair.adjudication.choice
    except Pair.adjudication.RelatedObjectDoesNotExist:
        return None
