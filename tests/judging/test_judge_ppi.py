"""The judges' results carry prediction-powered ratings: judge verdicts on every pair plus the
human votes on some of them."""

import numpy as np
import pytest
from rest_framework.test import APIClient

from evaluations.analysis.ppi import ppi_bradley_terry
from evaluations.analysis.ppi_crossfit import judge_scores_crossfit
from evaluations.models import Candidate, Output, Pair, Prompt
from tests.factories import JudgeFactory, JudgeVoteFactory, RaterFactory, VoteFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(staff_user) -> APIClient:
    client = APIClient()
    client.force_authenticate(staff_user)
    return client


def _three_model_study(study, prompts: int) -> tuple[list, list]:
    """Three candidates, every pair of them on each prompt: [(pair, i, x, y)] and the labels."""
    labels = ["alpha", "beta", "gamma"]
    candidates = [
        Candidate.objects.create(study=study, label=x, model=f"openai/{x}") for x in labels
    ]
    built = []
    for i in range(prompts):
        prompt = Prompt.objects.create(study=study, external_id=f"p{i}", text=f"Q{i}?")
        outs = [
            Output.objects.create(prompt=prompt, candidate=c, text=f"{c.label} {i}")
            for c in candidates
        ]
        for x in range(3):
            for y in range(x + 1, 3):
                pair = Pair.objects.create(
                    study=study, prompt=prompt, output_a=outs[x], output_b=outs[y]
                )
                built.append((pair, i, x, y))
    return built, labels


def test_judge_results_report_ppi_ratings_and_effective_human_votes(api, study):
    rng = np.random.default_rng(0)
    labels = ["alpha", "beta", "gamma"]
    candidates = [
        Candidate.objects.create(study=study, label=x, model=f"openai/{x}") for x in labels
    ]
    judge = JudgeFactory(study=study, model="openai/judge")
    raters = [RaterFactory() for _ in range(3)]
    for i in range(40):
        prompt = Prompt.objects.create(study=study, external_id=f"p{i}", text=f"Q{i}?")
        outs = [
            Output.objects.create(prompt=prompt, candidate=c, text=f"{c.label} {i}")
            for c in candidates
        ]
        for x in range(3):
            for y in range(x + 1, 3):
                pair = Pair.objects.create(
                    study=study, prompt=prompt, output_a=outs[x], output_b=outs[y]
                )
                human = "a" if rng.random() < 0.3 + 0.2 * (y - x) else "b"
                verdict = human if rng.random() < 0.85 else ("b" if human == "a" else "a")
                for order in ("ab", "ba"):
                    JudgeVoteFactory(judge=judge, pair=pair, order=order, verdict=verdict)
                if i < 15:
                    VoteFactory(pair=pair, rater=raters[i % 3], choice=human)
    body = api.get(f"/api/v1/studies/{study.pk}/judges/").json()
    ppi = body["judges"][0]["ppi"]
    assert ppi["human_votes"] == 45
    assert ppi["judge_only_pairs"] == 75
    assert 0 <= ppi["tuning"] <= 1
    assert ppi["effective_human_votes"] > 45
    assert {row["model"] for row in ppi["models"]} == set(labels)
    for row in ppi["models"]:
        assert row["ci_low"] < row["rating"] < row["ci_high"]
        assert row["se"] <= row["human_only_se"] * 1.01


def test_a_judges_score_for_a_pair_is_its_mean_over_both_orders(api, study):
    # "a" in one order and "tie" in the other is 3/4 for model_a, not MT-Bench's combined tie;
    # the score is recalibrated on the human-voted pairs (folds by pair) before PPI++.
    rng = np.random.default_rng(4)
    built, labels = _three_model_study(study, 30)
    judge = JudgeFactory(study=study, model="openai/judge")
    rater = RaterFactory()
    a, b, scores, human, groups = [], [], [], [], []
    for pair, i, x, y in built:
        vote = "a" if rng.random() < 0.4 + 0.2 * (y - x) else "b"
        other = "b" if vote == "a" else "a"
        first = vote if rng.random() < 0.85 else other
        second = "tie" if rng.random() < 0.5 else first
        JudgeVoteFactory(judge=judge, pair=pair, order="ab", verdict=first)
        JudgeVoteFactory(judge=judge, pair=pair, order="ba", verdict=second)
        score = (
            {"a": 1.0, "tie": 0.5, "b": 0.0}[first] + {"a": 1.0, "tie": 0.5, "b": 0.0}[second]
        ) / 2
        a.append(x)
        b.append(y)
        groups.append(pair.pk)
        scores.append(score)
        human.append(np.nan)
        if i < 12:
            VoteFactory(pair=pair, rater=rater, choice=vote)
            human[-1] = 1.0 if vote == "a" else 0.0
    a, b, human = np.array(a), np.array(b), np.array(human)
    recalibrated = judge_scores_crossfit(a, b, np.array(scores), human, 3, groups=np.array(groups))
    expected = ppi_bradley_terry(a, b, recalibrated, human, 3)
    ppi = api.get(f"/api/v1/studies/{study.pk}/judges/").json()["judges"][0]["ppi"]
    by_model = {row["model"]: row["rating"] for row in ppi["models"]}
    assert [by_model[x] for x in labels] == pytest.approx(list(expected.ratings), abs=1e-6)
    assert ppi["tuning"] == pytest.approx(expected.tuning, abs=1e-9)


def test_several_judges_give_one_prediction_powered_ranking_with_a_weight_each(api, study):
    rng = np.random.default_rng(5)
    built, labels = _three_model_study(study, 60)
    good = JudgeFactory(study=study, model="openai/good-judge")
    noise = JudgeFactory(study=study, model="openai/coin-flip")
    rater = RaterFactory()
    for pair, i, x, y in built:
        vote = "a" if rng.random() < 0.35 + 0.15 * (y - x) else "b"
        other = "b" if vote == "a" else "a"
        for order in ("ab", "ba"):
            verdict = vote if rng.random() < 0.9 else other
            JudgeVoteFactory(judge=good, pair=pair, order=order, verdict=verdict)
            coin = "a" if rng.random() < 0.5 else "b"
            JudgeVoteFactory(judge=noise, pair=pair, order=order, verdict=coin)
        if i < 20:
            VoteFactory(pair=pair, rater=rater, choice=vote)
    body = api.get(f"/api/v1/studies/{study.pk}/judges/").json()
    combined = body["ppi_all_judges"]
    weights = combined["judge_weights"]
    assert set(weights) == {f"openai/good-judge (#{good.pk})", f"openai/coin-flip (#{noise.pk})"}
    assert weights[f"openai/good-judge (#{good.pk})"] > 0.4
    assert weights[f"openai/coin-flip (#{noise.pk})"] < 0.15
    assert combined["human_votes"] == 60
    assert combined["judge_only_pairs"] == 120
    assert combined["effective_human_votes"] > 60
    assert {row["model"] for row in combined["models"]} == set(labels)
    good_alone = body["judges"][0]["ppi"]
    # The coin-flipping judge cannot buy much width, nor cost much.
    assert combined["width_ratio"] == pytest.approx(good_alone["width_ratio"], abs=0.05)


def test_one_judge_has_no_combined_block_beyond_its_own(api, study):
    built, _ = _three_model_study(study, 2)
    judge = JudgeFactory(study=study)
    JudgeVoteFactory(judge=judge, pair=built[0][0], order="ab", verdict="a")
    body = api.get(f"/api/v1/studies/{study.pk}/judges/").json()
    assert "its own block" in body["ppi_all_judges"]["message"]
