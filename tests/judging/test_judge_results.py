from decimal import Decimal

import pytest

from evaluations.models import JudgeVote
from research.judging.results import study_judge_results
from research.results.aggregation import ResultOptions, study_ranking
from tests.factories import (
    CandidateFactory,
    JudgeFactory,
    JudgeVoteFactory,
    OutputFactory,
    PairFactory,
    PromptFactory,
    RaterFactory,
    VoteFactory,
)

pytestmark = pytest.mark.django_db

# Per pair: the judge's (ab, ba) verdicts and the human votes, all relative to the pair's A/B.
CASE = {
    "p1": (("a", "a"), ["a", "a", "b"]),  # judge a; majority a
    "p2": (("a", "b"), ["a", "b"]),  # flips: judge tie; split: majority tie
    "p3": (("b", "b"), ["b", "tie"]),  # judge b; split b/tie: majority tie
    "p4": (("a", "unparseable"), ["a"]),  # no judge verdict: left out
    "p5": (("tie", "tie"), ["both_bad", "a"]),  # judge tie; both bad counts as a tie
}


@pytest.fixture
def hand_built(study):
    x = CandidateFactory(study=study, label="x")
    y = CandidateFactory(study=study, label="y")
    judge = JudgeFactory(study=study, model="openai/judge")
    raters = [RaterFactory() for _ in range(3)]
    for external_id, ((ab, ba), human) in CASE.items():
        prompt = PromptFactory(study=study, external_id=external_id)
        pair = PairFactory(
            study=study,
            prompt=prompt,
            output_a=OutputFactory(prompt=prompt, candidate=x),
            output_b=OutputFactory(prompt=prompt, candidate=y),
        )
        for order, verdict in (("ab", ab), ("ba", ba)):
            JudgeVoteFactory(
                judge=judge,
                pair=pair,
                order=order,
                verdict=verdict,
                cost_usd=Decimal("0.001"),
                latency_ms=100.0,
                input_tokens=200,
                output_tokens=50,
            )
        for rater, choice in zip(raters, human, strict=False):
            VoteFactory(pair=pair, rater=rater, choice=choice)
    # A judge call still pending is counted but changes nothing.
    prompt = PromptFactory(study=study)
    pending_pair = PairFactory(
        study=study,
        prompt=prompt,
        output_a=OutputFactory(prompt=prompt, candidate=x),
        output_b=OutputFactory(prompt=prompt, candidate=y),
    )
    JudgeVoteFactory(judge=judge, pair=pending_pair, status="pending", verdict="")
    return study


def test_agreement_with_humans_matches_the_hand_computed_figures(hand_built):
    block = study_judge_results(study=hand_built)["judges"][0]
    agreement = block["agreement_with_humans"]
    assert agreement["pairs"] == 4
    # Vote pairs: p1 3 (2 agree), p2 2 (0), p3 2 (1), p5 2 (1) -> 4 / 9.
    assert agreement["percent_agreement"]["with_ties"] == pytest.approx(4 / 9)
    assert agreement["percent_agreement"]["vote_pairs_with_ties"] == 9
    # Neither a tie: p1 3 (2 agree), p3 1 (1 agrees) -> 3 / 4.
    assert agreement["percent_agreement"]["without_ties"] == pytest.approx(3 / 4)
    assert agreement["percent_agreement"]["vote_pairs_without_ties"] == 4
    # Judge vs majority: (a,a) (tie,tie) (b,tie) (tie,tie): po 3/4, pe 7/16 -> kappa 5/9.
    kappa = agreement["cohen_kappa_vs_majority"]
    assert kappa["kappa"] == pytest.approx(5 / 9)
    assert kappa["pairs"] == 4
    assert agreement["majority_table"]["rows_judge_columns_humans"] == [
        [1, 0, 0],
        [0, 2, 0],
        [0, 1, 0],
    ]


def test_position_consistency_and_cost_are_reported_per_judge(hand_built):
    block = study_judge_results(study=hand_built)["judges"][0]
    consistency = block["position_consistency"]
    assert consistency["pairs_both_orders"] == 4
    assert consistency["consistent_pairs"] == 3
    assert consistency["share"] == pytest.approx(0.75)
    # Decisive single-order verdicts: 7, of which 5 for the answer shown first.
    assert consistency["first_position_win_share"] == pytest.approx(5 / 7)
    progress = block["progress"]
    assert (progress["calls"], progress["done"], progress["pending"]) == (11, 10, 1)
    assert progress["unparseable"] == 1
    assert progress["pairs_with_verdict"] == 4
    assert block["cost"]["total_usd"] == pytest.approx(0.01)
    assert block["cost"]["per_pair_usd"] == pytest.approx(0.0025)
    assert block["cost"]["input_tokens"] == 2000
    assert block["cost"]["latency_ms_median"] == 100.0


def test_the_judge_ranking_sits_beside_the_human_one_without_entering_it(hand_built):
    before = study_ranking(study=hand_built, options=ResultOptions(seed=1))
    document = study_judge_results(study=hand_built)
    block = document["judges"][0]
    # Judge: x wins p1, y wins p3, p2 and p5 are ties: level.
    ratings = {row["model"]: row["rating"] for row in block["ranking"]["models"]}
    assert ratings["x"] == pytest.approx(ratings["y"])
    assert block["ranking"]["summary"]["votes"] == 4
    beside = {row["model"]: row for row in block["beside_humans"]["models"]}
    assert beside["x"]["human_rating"] > beside["y"]["human_rating"]
    # Humans only: 10 votes; the judge's 11 calls are nowhere in it.
    assert document["human_ranking"]["models"] == before["models"]
    assert before["summary"]["votes"] == 10
    JudgeVote.objects.filter(study=hand_built).update(verdict="b")
    after = study_ranking(study=hand_built, options=ResultOptions(seed=1))
    assert after["models"] == before["models"]
