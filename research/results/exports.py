"""Rows of the votes and outputs exports (CSV, JSONL) and the fields they carry."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery

from evaluations.analysis.style_features import STYLE_FEATURES
from evaluations.models import Candidate, Output, Prompt, Study
from evaluations.output_style import STYLE_COLUMNS, outputs_style_fill
from evaluations.studies.conversation_export import conversation, conversation_turns
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
    # The turn judged (MT-Bench: 1, 2; a whole conversation: its number of user turns) and each
    # model's conversation up to that turn's answer, as in the Chatbot Arena dumps.
    "turn",
    "conversation_a",
    "conversation_b",
    # The answers' style features, so that `analyze` on the export measures length bias and
    # fits the style-controlled ranking exactly as the API does.
    *(f"{name}_{side}" for name in STYLE_FEATURES for side in ("a", "b")),
]
EXPORT_NUMERIC_FIELDS = frozenset(
    {
        "time_spent_ms",
        "tstamp",
        "strength",
        "turn",
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
    "turn",
    "pair__prompt_id",
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
    conversations = _Conversations(study, rows=values if isinstance(values, list | tuple) else None)
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
        turn,
        prompt_id,
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
            **conversations.of_vote(prompt_id, output_a, output_b, turn),
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


class _Conversations:
    """The conversations of a study's votes, from its prompts and outputs read once (a study's
    texts, not one row per vote) when the first vote needs them."""

    def __init__(self, study: Study, rows: list | tuple | None = None) -> None:
        self.study = study
        self.rows = rows  # a page of vote values: only its prompts and outputs are read
        self.prompts: dict[int, Prompt] | None = None
        self.outputs: dict[int, Output] = {}

    def _load(self) -> None:
        prompts = Prompt.objects.filter(study=self.study)
        outputs = Output.objects.filter(prompt__study=self.study).only("id", "text", "turns")
        if self.rows is not None:
            prompts = prompts.filter(id__in={row[15] for row in self.rows})
            outputs = outputs.filter(
                id__in={row[7] for row in self.rows} | {row[13] for row in self.rows}
            )
        self.prompts = prompts.in_bulk()
        self.outputs = outputs.in_bulk()

    def of_vote(
        self, prompt_id: int, output_a: int, output_b: int, turn: int | None
    ) -> dict[str, Any]:
        if self.prompts is None:
            self._load()
        prompt = self.prompts[prompt_id]
        conversation_a = conversation(prompt, self.outputs[output_a], turn)
        conversation_b = conversation(prompt, self.outputs[output_b], turn)
        # Arena's turn: the user turns up to the judged answer, which for a scripted turn is the
        # vote's turn and for a fixed history its length (its one answered turn is Vote.turn 1).
        return {
            "turn": conversation_turns(conversation_a),
            "conversation_a": conversation_a,
            "conversation_b": conversation_b,
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
    # Scripted conversations: every turn's answer and measurements, and the whole conversation
    # (OpenAI messages) this candidate had.
    "turns",
    "conversation",
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
        "turns": [_turn_export(k, t) for k, t in enumerate(output.turns or [], start=1)],
        "conversation": conversation(output.prompt, output),
    }


TURN_EXPORT_KEYS = (
    "text",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "latency_ms",
    "ttft_ms",
    "served_model",
)


def _turn_export(number: int, turn: dict[str, Any]) -> dict[str, Any]:
    """One turn as exported: the scrubbed answer and its measurements (not the raw text, which
    the output's `text` also leaves out)."""
    values = {key: turn.get(key) for key in TURN_EXPORT_KEYS}
    for key in ("latency_ms", "ttft_ms"):
        values[key] = _finite(values[key])
    return {"turn": number, **values}
