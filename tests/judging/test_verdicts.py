from collections import Counter

import pytest

from evaluations.models import JudgeVote, Study
from research.judging.results import combined_verdict, human_majority
from research.judging.verdicts import judge_messages, verdict_canonical, verdict_parse


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Assistant A is clearer. [[A]]", "A"),
        ("[[b]]", "B"),
        ("Both are equally good.\n[[ C ]]", "C"),
        ("Neither stands out: [[Tie]]", "C"),
        ("Output [[A]] if A is better, [[B]] if B is.\nFinal verdict: [[B]]", "B"),
        ("After comparing them...\nFinal verdict: A", "A"),
        ("Long explanation.\n\n[B]", "B"),
        ("Reasoning here.\nVerdict: tie.", "C"),
        ("**C**", "C"),
    ],
)
def test_verdicts_are_read_from_the_last_verdict_token(text, expected):
    assert verdict_parse(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "I cannot decide between these answers.",
        "A is good but B is better in places.",
        "Assistant B wins on detail, assistant A on brevity",
        "[[D]]",
    ],
)
def test_an_answer_without_a_verdict_is_unparseable_not_guessed(text):
    assert verdict_parse(text) is None


def test_verdicts_are_stored_relative_to_the_pairs_own_order():
    assert verdict_canonical(token="A", order="ab") == "a"
    assert verdict_canonical(token="A", order="ba") == "b"
    assert verdict_canonical(token="B", order="ba") == "a"
    assert verdict_canonical(token="C", order="ba") == "tie"
    assert verdict_canonical(token=None, order="ab") == "unparseable"


def test_a_verdict_that_flips_with_the_order_counts_as_a_tie():
    assert combined_verdict("a", "a") == "a"
    assert combined_verdict("b", "b") == "b"
    assert combined_verdict("a", "b") == "tie"
    assert combined_verdict("tie", "a") == "tie"


def test_a_pair_with_an_unparseable_or_missing_order_has_no_combined_verdict():
    assert combined_verdict("a", JudgeVote.Verdict.UNPARSEABLE) is None
    assert combined_verdict(None, "a") is None


def test_the_human_majority_breaks_a_split_as_a_tie():
    assert human_majority(Counter(a=2, b=1)) == "a"
    assert human_majority(Counter(a=1, b=1)) == "tie"
    assert human_majority(Counter(a=1, tie=1)) == "tie"
    assert human_majority(Counter(b=1)) == "b"


def test_the_judge_prompt_keeps_braces_in_answers_and_fills_every_placeholder():
    study = Study()
    messages = judge_messages(
        study=study,
        question="Write JSON {x}",
        reference="",
        answer_a='{"a": 1} {answer_b}',
        answer_b="plain",
    )
    system, user = messages
    assert system["role"] == "system" and "[[C]]" in system["content"]
    assert '{"a": 1} {answer_b}' in user["content"]
    assert "Write JSON {x}" in user["content"]
    assert user["content"].index("Assistant A's Answer") < user["content"].index("plain")


def test_empty_judge_prompt_fields_mean_mt_benchs_prompt():
    study = Study(judge_system_prompt=" ", judge_prompt_template="")
    system, user = judge_messages(
        study=study, question="Q?", reference="", answer_a="one", answer_b="two"
    )
    assert system["content"].startswith("Please act as an impartial judge")
    assert user["content"].startswith("[User Question]\nQ?")
