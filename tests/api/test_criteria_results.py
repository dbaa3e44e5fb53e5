"""Issue 20, richer judgments: per-criterion and strength results in the API, the exports and
the results page, and the export read back by `analyze` giving the same numbers."""

import csv
import io
import json

import pytest
from django.urls import reverse

from evaluations.analysis import VoteArrays, analyze
from raters.models import CriterionVote, Vote
from tests.api.conftest import build_study

CRITERIA = [
    {"key": "accuracy", "question": "Which is more accurate?", "both_bad": False},
    {"key": "safety", "question": "Which is safer?", "both_bad": True},
]


def criteria_study(owner):
    """build_study's votes, with strength, and two criteria: accuracy follows the vote,
    safety is the other way round."""
    study = build_study(owner, prompts=8, raters=3)
    study.criteria, study.ask_strength = CRITERIA, True
    study.save()
    flip = {"a": "b", "b": "a", "tie": "tie"}
    answers = []
    for k, vote in enumerate(Vote.objects.filter(study=study).order_by("id")):
        vote.strength = None if vote.choice == "tie" else 1 + k % 2
        vote.save(update_fields=["strength"])
        answers.append(
            CriterionVote(
                vote=vote, criterion="accuracy", choice=vote.choice, strength=vote.strength
            )
        )
        answers.append(
            CriterionVote(
                vote=vote,
                criterion="safety",
                choice=flip[vote.choice],
                strength=None if vote.choice == "tie" else 2,
            )
        )
    CriterionVote.objects.bulk_create(answers)
    return study


@pytest.mark.django_db
def test_the_ranking_carries_each_criterion_and_the_ordinal_fit(api, researcher):
    study = criteria_study(researcher)
    document = api.get(f"/api/v1/studies/{study.pk}/ranking/").json()
    votes = Vote.objects.filter(study=study).count()
    assert document["summary"]["votes"] == votes
    assert set(document["criteria"]) == {"accuracy", "safety"}
    overall = [row["model"] for row in document["models"]]
    assert [row["model"] for row in document["criteria"]["accuracy"]["models"]] == overall
    assert [row["model"] for row in document["criteria"]["safety"]["models"]] == overall[::-1]
    assert document["ordinal"]["votes"] == votes
    assert {row["model"] for row in document["ordinal"]["models"]} == set(overall)


@pytest.mark.django_db
def test_agreement_and_biases_are_given_per_criterion(api, researcher):
    study = criteria_study(researcher)
    agreement = api.get(f"/api/v1/studies/{study.pk}/agreement/").json()
    assert set(agreement["criteria"]) == {"accuracy", "safety"}
    accuracy = agreement["criteria"]["accuracy"]
    assert accuracy["agreement"]["percent_agreement"] == agreement["agreement"]["percent_agreement"]
    assert agreement["ordinal_agreement"] is not None
    biases = api.get(f"/api/v1/studies/{study.pk}/biases/").json()
    assert "position" in biases["criteria"]["safety"]


@pytest.mark.django_db
def test_the_votes_export_has_a_row_per_criterion_and_analyze_reads_it_back(api, researcher):
    study = criteria_study(researcher)
    text = b"".join(api.get(f"/api/v1/studies/{study.pk}/votes.csv").streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    votes = Vote.objects.filter(study=study).count()
    assert len(rows) == 3 * votes
    assert {r["criterion"] for r in rows} == {"", "accuracy", "safety"}
    assert {r["strength"] for r in rows if r["winner"] != "tie"} <= {"1", "2"}
    offline = analyze(VoteArrays.from_rows(rows))
    online = api.get(f"/api/v1/studies/{study.pk}/ranking/").json()
    for name in ("accuracy", "safety"):
        assert [r["rating"] for r in offline["criteria"][name]["models"]] == pytest.approx(
            [r["rating"] for r in online["criteria"][name]["models"]], abs=1e-6
        )
    assert [r["rating"] for r in offline["ordinal"]["models"]] == pytest.approx(
        [r["rating"] for r in online["ordinal"]["models"]], abs=1e-6
    )
    lines = api.get(f"/api/v1/studies/{study.pk}/votes.jsonl").streaming_content
    first = [json.loads(line) for line in b"".join(lines).decode().splitlines()[:3]]
    assert [r["criterion"] for r in first] == ["", "accuracy", "safety"]


@pytest.mark.django_db
def test_the_results_page_shows_each_criterion_and_the_strength_ranking(client, researcher):
    study = criteria_study(researcher)
    researcher.is_superuser = True
    researcher.save()
    client.force_login(researcher)
    page = client.get(reverse("admin:evaluations_study_results", args=[study.pk])).content.decode()
    assert "By criterion" in page and "Which is safer?" in page
    assert "Strength of preference" in page
