"""The judge's probability for its verdict, read from the verdict token's log-probabilities."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from research.judging.verdicts import verdict_probability


def _tokens(*pieces, alternatives=None):
    """[(token, logprob, top)] with log-probability 0 except where alternatives are given."""
    out = []
    for piece in pieces:
        options = (alternatives or {}).get(piece, {piece: 1.0})
        top = [(tok, math.log(p)) for tok, p in options.items()]
        out.append((piece, math.log(options[piece]), top))
    return out


def test_the_verdict_tokens_alternatives_give_model_a_its_expected_score():
    tokens = _tokens(
        "Better.", " ", "[[", "A", "]]", alternatives={"A": {"A": 0.7, "B": 0.2, "C": 0.1}}
    )
    text = "Better. [[A]]"
    assert verdict_probability(text=text, token_logprobs=tokens, order="ab") == pytest.approx(0.75)
    # Shown the other way round, "A" is model_b.
    assert verdict_probability(text=text, token_logprobs=tokens, order="ba") == pytest.approx(0.25)


def test_only_the_final_verdict_counts_and_a_joined_token_is_read_around_the_letter():
    text = "Format: [[A]] or [[B]].\nVerdict: [[B]]"
    tokens = _tokens(
        "Format", ":", " [[A", "]]", " or", " [[B", "]].", "\n", "Verdict", ":", " [[B", "]]",
        alternatives={" [[B": {" [[B": 0.6, "[[A": 0.3, " [[tie": 0.1}},
    )  # fmt: skip
    # The first " [[B" is the quoted format; alternatives apply to every " [[B" here, so both
    # read the same: B 0.6, A 0.3, tie 0.1.
    assert verdict_probability(text=text, token_logprobs=tokens, order="ab") == pytest.approx(0.35)


def test_alternatives_that_are_not_verdicts_are_left_out_and_the_rest_renormalised():
    tokens = _tokens("[[", "B", "]]", alternatives={"B": {"B": 0.5, "A": 0.25, "The": 0.25}})
    value = verdict_probability(text="[[B]]", token_logprobs=tokens, order="ab")
    assert value == pytest.approx(1 / 3)


def test_a_last_line_verdict_without_brackets_is_read_too():
    tokens = _tokens(
        "Hmm", ".", "\n", "Verdict", ":", " B", alternatives={" B": {" B": 0.9, " A": 0.1}}
    )
    assert verdict_probability(text="Hmm.\nVerdict: B", token_logprobs=tokens, order="ab") == (
        pytest.approx(0.1)
    )


@pytest.mark.parametrize(
    "text, tokens",
    [
        ("[[A]]", []),  # the provider gave none
        ("[[A]]", _tokens("[[", "A", "]")),  # tokens that do not spell the answer
        ("no verdict here", _tokens("no verdict here")),
        ("[[TIE]]", _tokens("[[", "T", "IE", "]]")),  # the verdict word split over tokens
        ("[[A]]", [("[[", 0.0, []), ("A", float("nan"), [("A", float("nan"))]), ("]]", 0.0, [])]),
    ],
)
def test_no_probability_when_it_cannot_be_read(text, tokens):
    assert verdict_probability(text=text, token_logprobs=tokens, order="ab") is None


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["[[", "A", "B", "C", "]]", " ", "\n", "Verdict", ":", "[[A", "tie"]),
            st.floats(allow_nan=True, allow_infinity=True),
            st.lists(st.tuples(st.text(max_size=4), st.floats(allow_nan=True)), max_size=4),
        ),
        max_size=12,
    ),
    st.sampled_from(["ab", "ba"]),
)
def test_hostile_log_probabilities_give_a_probability_or_none(tokens, order):
    text = "".join(token for token, _, _ in tokens)
    value = verdict_probability(text=text, token_logprobs=tokens, order=order)
    assert value is None or 0.0 <= value <= 1.0
