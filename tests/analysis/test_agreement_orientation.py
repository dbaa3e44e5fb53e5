"""Agreement must not depend on the order of the file's rows or on which side a model is on."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evaluations.analysis import VoteArrays
from evaluations.analysis.report import _agreement as agreement_of

MODELS = ["gpt-4", "claude", "llama", "mistral"]
WINNERS = ["model_a", "model_b", "tie"]
SWAPPED = {"model_a": "model_b", "model_b": "model_a", "tie": "tie"}


@st.composite
def vote_rows(draw: st.DrawFn) -> list[dict]:
    """Votes of up to 5 raters on up to 6 items; one vote per (rater, item, model pair)."""
    rows = []
    for item in range(draw(st.integers(2, 6))):
        pairs = draw(
            st.lists(
                st.tuples(st.sampled_from(MODELS), st.sampled_from(MODELS)).filter(
                    lambda p: p[0] != p[1]
                ),
                min_size=1,
                max_size=2,
                unique_by=lambda p: frozenset(p),
            )
        )
        for a, b in pairs:
            raters = draw(st.lists(st.integers(0, 4), min_size=2, max_size=5, unique=True))
            for r in raters:
                rows.append(
                    {
                        "model_a": a,
                        "model_b": b,
                        "winner": draw(st.sampled_from(WINNERS)),
                        "judge": f"r{r}",
                        "question_id": f"q{item}",
                    }
                )
    return rows


def _agreement(rows: list[dict]) -> dict:
    block = agreement_of(VoteArrays.from_rows(rows), "tie", 2)
    return {
        "percent": block["percent_agreement"],
        "fleiss": block["fleiss_kappa"],
        "alpha": block["krippendorff_alpha"],
        "cohen": block["cohen_kappa"],
        "loo": block["leave_one_out_majority"],
    }


def _same(x: object, y: object) -> None:
    if isinstance(x, dict):
        assert x.keys() == y.keys()
        for k in x:
            _same(x[k], y[k])
    elif isinstance(x, list):
        assert len(x) == len(y)
        for u, v in zip(x, y, strict=True):
            _same(u, v)
    elif isinstance(x, float):
        assert y == pytest.approx(x, abs=1e-9)
    else:
        assert x == y


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=vote_rows(), data=st.data())
def test_agreement_is_invariant_to_row_order(rows: list[dict], data: st.DataObject) -> None:
    permuted = data.draw(st.permutations(rows))
    _same(_agreement(rows), _agreement(permuted))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=vote_rows(), data=st.data())
def test_agreement_is_invariant_to_swapping_sides(rows: list[dict], data: st.DataObject) -> None:
    flips = data.draw(st.lists(st.booleans(), min_size=len(rows), max_size=len(rows)))
    swapped = [
        {**r, "model_a": r["model_b"], "model_b": r["model_a"], "winner": SWAPPED[r["winner"]]}
        if flip
        else r
        for r, flip in zip(rows, flips, strict=True)
    ]
    _same(_agreement(rows), _agreement(swapped))


def test_fleiss_kappa_does_not_follow_the_first_model_in_the_file() -> None:
    # Rater r1 always prefers gpt-4, r2 always says tie. Whether llama or gpt-4 is read first
    # must not change the category shares Fleiss' kappa is built on.
    rows = [
        {"model_a": "gpt-4", "model_b": "llama", "winner": w, "judge": r, "question_id": f"q{i}"}
        for i in range(10)
        for r, w in (("r1", "model_a"), ("r2", "tie"))
    ]
    llama_first = {
        "model_a": "llama",
        "model_b": "gpt-4",
        "winner": "model_b",
        "judge": "r3",
        "question_id": "q0",
    }
    _same(_agreement([llama_first, *rows]), _agreement([*rows, llama_first]))
