"""The judges' results carry prediction-powered ratings: judge verdicts on every pair plus the
human votes on some of them."""

import numpy as np
import pytest
from rest_framework.test import APIClient

from evaluations.models import Candidate, Output, Pair, Prompt
from tests.factories import JudgeFactory, JudgeVoteFactory, RaterFactory, VoteFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(staff_user) -> APIClient:
    client = APIClient()
    client.force_authenticate(staff_user)
    return client


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
