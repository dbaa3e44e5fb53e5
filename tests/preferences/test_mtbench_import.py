"""The published MT-Bench human judgments imported as a study give, through the API, the
ranking and agreement `manage.py analyze` gives on the same file."""

from pathlib import Path

import pytest

from evaluations.analysis import analyze, votes_read
from evaluations.models import Candidate, Output, Pair
from raters.models import Rater, Vote
from research.preferences.battle_import import votes_import


@pytest.mark.refdata
def test_mtbench_human_judgments_import_and_rank_as_analyze_does_on_the_file(
    refdata: Path, api, own_study
):
    path = refdata / "mtbench_human_turn1" / "human_judgments.jsonl"
    report = votes_import(study=own_study, data=path.read_bytes(), filename=path.name)

    # 1,689 lines; author_0's second vote on q128 claude-v1 vs gpt-3.5-turbo is left out.
    assert report.votes == Vote.objects.filter(study=own_study).count() == 1688
    assert report.repeats == [(report.repeats[0][0], report.repeats[0][1])]
    assert Candidate.objects.filter(study=own_study, imported=True).count() == 6
    assert Pair.objects.filter(study=own_study).count() == 910
    assert Rater.objects.filter(memberships__study=own_study).count() == 65
    assert not Output.objects.filter(prompt__study=own_study).exclude(status="done").exists()

    from_file = analyze(votes_read(path))
    ranking = api.get(f"/api/v1/studies/{own_study.pk}/ranking/").json()
    agreement = api.get(f"/api/v1/studies/{own_study.pk}/agreement/").json()["agreement"]

    assert [m["model"] for m in ranking["models"]] == [m["model"] for m in from_file["models"]]
    file_ratings = {m["model"]: m["rating"] for m in from_file["models"]}
    for model in ranking["models"]:
        # One tie fewer (the repeat) moves ratings by well under an Elo point.
        assert model["rating"] == pytest.approx(file_ratings[model["model"]], abs=1.0)
    expected = from_file["agreement"]
    assert (
        agreement["units_with_two_or_more_raters"]
        == expected["units_with_two_or_more_raters"]
        == 484
    )
    assert expected["repeat_votes_dropped"] == 1 and agreement["repeat_votes_dropped"] == 0
    for key in ("percent_agreement", "fleiss_kappa", "krippendorff_alpha"):
        # Equal up to the order floating-point sums are taken in.
        assert _flat(agreement[key]) == pytest.approx(_flat(expected[key]), rel=1e-12), key


def _flat(value, prefix=""):
    if isinstance(value, dict):
        return {k: v for key in value for k, v in _flat(value[key], f"{prefix}{key}.").items()}
    if isinstance(value, list):
        return {k: v for i, x in enumerate(value) for k, v in _flat(x, f"{prefix}{i}.").items()}
    return {prefix: value}
