"""What a rater's submission says about a pair: the overall answer and one per criterion.

Each question is answered by one token: "A" or "B" (the left or right answer is better), "tie"
or "both_bad"; in studies that ask by how much (Study.ask_strength), "A1"/"B1" (slightly better)
or "A2"/"B2" (much better) instead of "A"/"B". Criteria (Study.criteria) always offer tie, and
both-bad where the criterion says so; the overall question follows the study's allow_tie and
allow_both_bad. A study with criteria wants every one answered.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from evaluations.models import Study

CRITERION_FIELD_PREFIX = "criterion_"
STRENGTH_LABELS = {1: "slightly better", 2: "much better"}


class JudgmentInvalid(Exception):
    """The submission cannot be recorded; the message is safe to show the rater."""


@dataclass(frozen=True)
class Answer:
    side: str  # "A", "B", "tie" or "both_bad", as the rater saw the sides
    strength: int | None = None  # 1 slightly, 2 much; None for tie, both bad, or not asked


def answer_parse(token: str) -> Answer | None:
    if token in {"A", "B", "tie", "both_bad"}:
        return Answer(side=token)
    if len(token) == 2 and token[0] in "AB" and token[1] in "12":
        return Answer(side=token[0], strength=int(token[1]))
    return None


def answer_allowed(answer: Answer, *, tie: bool, both_bad: bool, strength: bool) -> bool:
    if answer.side in {"A", "B"}:
        return (answer.strength is not None) == strength
    if answer.side == "tie":
        return tie
    return both_bad


def overall_allowed(*, study: Study, answer: Answer) -> bool:
    return answer_allowed(
        answer, tie=study.allow_tie, both_bad=study.allow_both_bad, strength=study.ask_strength
    )


def criteria_answers(*, study: Study, data: Mapping[str, str]) -> dict[str, Answer]:
    """Every criterion's answer from the posted fields `criterion_<key>`."""
    answers: dict[str, Answer] = {}
    for criterion in study.criteria or []:
        token = data.get(CRITERION_FIELD_PREFIX + criterion["key"]) or ""
        answer = answer_parse(token)
        if answer is None:
            raise JudgmentInvalid("Please answer every question before submitting.")
        if not answer_allowed(
            answer, tie=True, both_bad=criterion["both_bad"], strength=study.ask_strength
        ):
            raise JudgmentInvalid("That choice is not offered in this study.")
        answers[criterion["key"]] = answer
    return answers


def answer_options(*, tie: bool, both_bad: bool, strength: bool) -> list[dict[str, str]]:
    """The buttons of one question, with their keys (1-5 with strength, else A/B/T; X both bad)."""
    if strength:
        options = [
            ("A2", "A much better", "1"),
            ("A1", "A slightly better", "2"),
            ("tie", "Tie", "3"),
            ("B1", "B slightly better", "4"),
            ("B2", "B much better", "5"),
        ]
    else:
        options = [("A", "A is better", "a"), ("B", "B is better", "b"), ("tie", "Tie", "t")]
    options.append(("both_bad", "Both are bad", "x"))
    return [
        {"value": value, "label": label, "key": key}
        for value, label, key in options
        if (value != "tie" or tie) and (value != "both_bad" or both_bad)
    ]


def study_questions(study: Study) -> list[dict]:
    """The rows of the voting form: each criterion, then the overall question (field `choice`)."""
    rows = [
        {
            "name": CRITERION_FIELD_PREFIX + c["key"],
            "question": c["question"],
            "choices": answer_options(
                tie=True, both_bad=c["both_bad"], strength=study.ask_strength
            ),
        }
        for c in study.criteria or []
    ]
    rows.append(
        {
            "name": "choice",
            "question": study.question,
            "choices": answer_options(
                tie=study.allow_tie, both_bad=study.allow_both_bad, strength=study.ask_strength
            ),
        }
    )
    return rows
