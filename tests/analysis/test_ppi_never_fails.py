"""Whatever the judges and humans said, the prediction-powered block is finite numbers or a
message: never an exception, NaN or infinity (the judges' results page and API show it)."""

import math
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from research.judging.ppi import judge_pair_scores, judge_ppi_ratings

VERDICTS = st.sampled_from(["a", "b", "tie", "unparseable"])
PROBABILITIES = st.none() | st.sampled_from([0.0, 1.0, 0.5]) | st.floats(0, 1)


@st.composite
def studies(draw):
    models = draw(st.integers(2, 4))
    pairs = {}
    for pair_id in range(draw(st.integers(0, 14))):
        a = draw(st.integers(0, models - 1))
        b = draw(st.integers(0, models - 1).filter(lambda x, a=a: x != a))
        pairs[pair_id] = (a, b, "")
    judges = draw(st.integers(1, 3))
    verdicts = [
        {p: {o: draw(VERDICTS) for o in ("ab", "ba")} for p in pairs if draw(st.booleans())}
        for _ in range(judges)
    ]
    # Some calls came with the verdict's probability (0 and 1 included), some without.
    probabilities = [
        {p: {o: draw(PROBABILITIES) for o in ("ab", "ba")} for p in v} for v in verdicts
    ]
    humans = {
        p: Counter({draw(st.sampled_from(["a", "b", "tie"])): draw(st.integers(1, 3))})
        for p in pairs
        if draw(st.booleans())
    }
    return pairs, verdicts, probabilities, humans, {m: f"m{m}" for m in range(models)}


def _finite(value) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return True


@settings(max_examples=300, deadline=None)
@given(studies())
def test_ppi_block_is_finite_or_a_message(study):
    pairs, verdicts, probabilities, humans, labels = study
    block = judge_ppi_ratings(
        scores=[judge_pair_scores(v, p) for v, p in zip(verdicts, probabilities, strict=True)],
        judge_names=[f"j{k}" for k in range(len(verdicts))],
        pairs=pairs,
        humans=humans,
        labels=labels,
    )
    assert "message" in block or block["models"]
    assert _finite(block)
