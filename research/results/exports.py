"""Rows of the votes and outputs exports (CSV, JSONL) and the fields they carry."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery

from evaluations.analysis.style_features import STYLE_FEATURES
from evaluations.models import Candidate, Output, Study
from evaluations.output_style import STYLE_COLUMNS, outputs_style_fill
from raters.models import CriterionVote, Vote
from research.results.aggregation import rater_pseudonyms

# Battle-format winner for each stored choice (relative to the pair's canonical order).
WINNER_NAMES = {"a": "model_a", "b": "model_b", "tie": "tie", "both_bad": "tie (bothbad)"}


# --- votes export ------------------------------------------------------------------------------

EXPORT_FIELDS = [
    "model_a",
    "model_b",
    "winner",
    "judge",
    "question_id",
    "category",
    "left",
    "time_spent_ms",
    "rationale",
    "gold",
    "pair",
    "tstamp",
    # Studies with criteria: one row per criterion answered beside the overall one (criterion
    # empty); strength 1 (slightly) or 2 (much) where the study asks by how much.
    "criterion",
    "strength",
    # The answers' style features, so that `analyze` on the export measures length bias and
    # fits the style-controlled ranking exactly as the API does.
    *(f"{name}_{side}" for name in STYLE_FEATURES for side in ("a", "b")),
]
EXPORT_NUMERIC_FIELDS = frozenset(
    {
        "time_spent_ms",
        "tstamp",
        "strength",
        *(f"{name}_{side}" for name in STYLE_FEATURES for side in "ab"),
    }
)


VOTE_VALUES = (
    "pair__output_a__candidate_id",
    "pair__output_b__candidate_id",
    "choice",
    "rater_id",
    "pair__prompt__external_id",
    "pair__prompt__category",
    "left_output_id",
    "pair__output_a_id",
    "time_spent_ms",
    "rationale",
    "pair__gold_answer",
    "pair__public_id",
    "created_at",
    "pair__output_b_id",
)


def study_votes_values(
    *, study: Study, include_gold: bool = True, category: str | None = None
) -> QuerySet:
    """The study's votes, oldest first, as tuples of VOTE_VALUES (for `vote_rows`)."""
    votes = Vote.objects.filter(study=study)
    if not include_gold:
        votes = votes.filter(pair__gold_answer="")
    if category is not None:
        votes = votes.filter(pair__prompt__category=category)
    # Each criterion's answer (choice, strength) in two columns, read with the vote.
    answers = {}
    for k, criterion in enumerate(study.criteria or []):
        answer = CriterionVote.objects.filter(vote=OuterRef("pk"), criterion=criterion["key"])
        answers[f"criterion_{k}_choice"] = Subquery(answer.values("choice")[:1])
        answers[f"criterion_{k}_strength"] = Subquery(answer.values("strength")[:1])
    return votes.order_by("id").annotate(**answers).values_list(*VOTE_VALUES, "strength", *answers)


def vote_rows(
    *, study: Study, values: Iterable[tuple], pseudonymize: bool = True
) -> Iterator[dict[str, Any]]:
    """Votes in the Chatbot Arena / MT-Bench battle format, one dict per vote.

    `question_id` is the prompt's external id; `left` says which model was shown on the left;
    `gold` is the expected winner of a gold (attention-check) pair, empty otherwise, so that
    `manage.py analyze` leaves gold votes out of the ranking just as the API does.
    """
    labels = dict(Candidate.objects.filter(study=study).values_list("id", "label"))
    criteria = [c["key"] for c in study.criteria or []]
    judges: dict[int, str] = {}
    if isinstance(values, list | tuple):
        outputs = Output.objects.filter(
            id__in={row[7] for row in values} | {row[13] for row in values}
        )
    else:
        outputs = Output.objects.filter(prompt__study=study)
    outputs_style_fill(outputs)
    style = {
        oid: dict(zip(STYLE_FEATURES, features, strict=True))
        for oid, *features in outputs.values_list("id", *STYLE_COLUMNS.values())
    }
    for (
        cand_a,
        cand_b,
        choice,
        rater_id,
        question,
        category,
        left_output,
        output_a,
        time_spent,
        rationale,
        gold,
        public_id,
        created,
        output_b,
        strength,
        *answers,
    ) in values:
        if rater_id not in judges:
            judges[rater_id] = (
                rater_pseudonyms(study_id=study.pk, rater_ids=[rater_id])[rater_id]
                if pseudonymize
                else f"rater-{rater_id}"
            )
        row = {
            "model_a": labels[cand_a],
            "model_b": labels[cand_b],
            "winner": WINNER_NAMES[choice],
            "judge": judges[rater_id],
            "question_id": question,
            "category": category,
            "left": "model_a" if left_output == output_a else "model_b",
            "time_spent_ms": time_spent,
            "rationale": rationale,
            "gold": WINNER_NAMES[gold] if gold else "",
            "pair": public_id,
            "tstamp": created.timestamp(),
            "criterion": "",
            "strength": strength,
            **{f"{name}_a": int(value) for name, value in style[output_a].items()},
            **{f"{name}_b": int(value) for name, value in style[output_b].items()},
        }
        yield row
        for key, criterion_choice, criterion_strength in zip(
            criteria, answers[::2], answers[1::2], strict=True
        ):
            if criterion_choice is not None:
                yield {
                    **row,
                    "winner": WINNER_NAMES[criterion_choice],
                    "rationale": "",
                    "criterion": key,
                    "strength": criterion_strength,
                }


OUTPUT_EXPORT_FIELDS = [
    "prompt",
    "category",
    "prompt_text",
    "model",
    "candidate",
    "status",
    "text",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "latency_ms",
    "ttft_ms",
    "served_model",
]
OUTPUT_EXPORT_NUMERIC_FIELDS = frozenset(
    {"input_tokens", "output_tokens", "cost_usd", "latency_ms", "ttft_ms"}
)


def outputs_export_queryset(
    *, study: Study, candidate_id: int | None = None, status: str | None = None
) -> Any:
    outputs = Output.objects.filter(prompt__study=study).select_related("prompt", "candidate")
    if candidate_id is not None:
        outputs = outputs.filter(candidate_id=candidate_id)
    if status:
        outputs = outputs.filter(status=status)
    return outputs.order_by("prompt_id", "candidate_id")


def _finite(value: float | None) -> float | None:
    """Rows stored before imports refused Infinity and NaN: exported as not measured."""
    return value if value is not None and math.isfinite(value) else None


def _finite_text(value: Decimal | None) -> str | None:
    return str(value) if value is not None and value.is_finite() else None


def output_export_row(output: Output) -> dict[str, Any]:
    return {
        "prompt": output.prompt.external_id,
        "category": output.prompt.category,
        "prompt_text": output.prompt.text,
        "model": output.candidate.model,
        "candidate": output.candidate.label,
        "status": output.status,
        "text": output.text,
        "input_tokens": output.input_tokens,
        "output_tokens": output.output_tokens,
        "cost_usd": _finite_text(output.cost_usd),
        "latency_ms": _finite(output.latency_ms),
        "ttft_ms": _finite(output.ttft_ms),
        "served_model": output.served_model,
    }
