import csv
import io
import json

import pytest
from django.core.management import call_command

from raters.models import Membership
from tests.api.conftest import add_gold_pair
from tests.factories import RaterFactory, VoteFactory


def get_json(api, path: str, **params):
    response = api.get(path, params)
    assert response.status_code == 200, response.content[:500]
    return json.loads(
        b"".join(response.streaming_content) if response.streaming else response.content
    )


@pytest.mark.django_db
def test_ranking_puts_the_strongest_model_first_and_counts_every_vote(api, voted_study):
    body = get_json(api, f"/api/v1/studies/{voted_study.pk}/ranking/")
    assert [m["model"] for m in body["models"]][0] == "gamma"
    assert body["summary"]["votes_ranked"] == 12 * 3 * 4
    assert set(body["categories"]) == {"math", "writing"}
    assert body["pairwise"][0]["p_value_holm"] is not None


@pytest.mark.django_db
def test_gold_votes_never_count_in_the_ranking(api, voted_study):
    before = get_json(api, f"/api/v1/studies/{voted_study.pk}/ranking/")
    rater = Membership.objects.filter(study=voted_study).first().rater
    add_gold_pair(voted_study, rater, answer="a", choice="b")
    after = get_json(api, f"/api/v1/studies/{voted_study.pk}/ranking/")
    assert after["summary"]["gold_votes"] == 1
    assert [m["rating"] for m in after["models"]] == [m["rating"] for m in before["models"]]


@pytest.mark.django_db
def test_a_new_vote_makes_the_cached_ranking_stale(api, voted_study):
    url = f"/api/v1/studies/{voted_study.pk}/ranking/"
    first = get_json(api, url)
    pair = voted_study.pairs.first()
    VoteFactory(pair=pair, rater=RaterFactory(), choice="b", left_output=pair.output_b)
    assert get_json(api, url)["summary"]["votes"] == first["summary"]["votes"] + 1


@pytest.mark.django_db
def test_excluding_raters_drops_their_votes(api, voted_study):
    memberships = list(Membership.objects.filter(study=voted_study).order_by("id"))
    Membership.objects.filter(pk=memberships[0].pk).update(flagged=True)
    url = f"/api/v1/studies/{voted_study.pk}/ranking/"
    flagged = get_json(api, url, exclude_flagged="true")
    assert flagged["summary"]["votes_ranked"] == 12 * 3 * 3
    some = get_json(api, url, exclude_raters=[memberships[1].rater_id, memberships[2].rater_id])
    assert some["summary"]["votes_ranked"] == 12 * 3 * 2


@pytest.mark.django_db
def test_exclude_gold_failures_drops_raters_below_the_gold_threshold(api, voted_study):
    rater = Membership.objects.filter(study=voted_study).first().rater
    add_gold_pair(voted_study, rater, answer="a", choice="b")
    body = get_json(api, f"/api/v1/studies/{voted_study.pk}/ranking/", exclude_gold_failures=1)
    assert body["summary"]["excluded_raters"] == 1
    assert body["summary"]["votes_ranked"] == 12 * 3 * 3


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"ties": "coinflip"}, "ties"),
        ({"bootstrap": "-1"}, "bootstrap"),
        ({"bootstrap": "100000"}, "bootstrap"),
        ({"exclude_raters": "x"}, "exclude_raters"),
        ({"anchor": "no-equals"}, "anchor"),
    ],
)
def test_invalid_options_are_refused_with_400_naming_the_parameter(api, voted_study, params, field):
    response = api.get(f"/api/v1/studies/{voted_study.pk}/ranking/", params)
    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.django_db
def test_unknown_category_is_a_400_with_a_message(api, voted_study):
    response = api.get(f"/api/v1/studies/{voted_study.pk}/ranking/", {"category": "poetry"})
    assert response.status_code == 400
    assert "poetry" in response.json()["detail"]


@pytest.mark.django_db
def test_bootstrap_with_a_seed_is_reproducible(api, voted_study):
    url = f"/api/v1/studies/{voted_study.pk}/ranking/"
    first = get_json(api, url, bootstrap=50, seed=3)
    from django.core.cache import cache

    cache.clear()
    assert get_json(api, url, bootstrap=50, seed=3)["models"] == first["models"]
    # Votes carry raters and prompts, so the default bootstrap resamples them (clustered).
    assert first["interval"]["method"] == "cluster bootstrap percentile"


@pytest.mark.django_db
def test_pairwise_matrix_is_complementary(api, voted_study):
    body = get_json(api, f"/api/v1/studies/{voted_study.pk}/pairwise/")
    p = body["win_probability"]
    assert body["models"][0] == "gamma"
    assert p[0][0] is None
    assert p[0][1] == pytest.approx(1 - p[1][0])
    assert body["ci_low"][0][1] == pytest.approx(1 - body["ci_high"][1][0])
    assert body["p_value_holm"][0][1] == body["p_value_holm"][1][0]


@pytest.mark.django_db
def test_agreement_and_biases_are_computed_per_vote(api, voted_study):
    agreement = get_json(api, f"/api/v1/studies/{voted_study.pk}/agreement/")
    assert agreement["agreement"]["units_with_two_or_more_raters"] == 12 * 3
    assert agreement["agreement"]["fleiss_kappa"]["kappa"] is not None
    biases = get_json(api, f"/api/v1/studies/{voted_study.pk}/biases/")
    assert biases["bias"]["position"]["votes_with_side"] == 12 * 3 * 4
    assert "longer_win_share" in biases["bias"]["length"]


@pytest.mark.django_db
def test_study_detail_reports_progress(api, voted_study):
    body = get_json(api, f"/api/v1/studies/{voted_study.pk}/")
    assert body["progress"]["outputs_done"] == 36
    assert body["progress"]["pairs"] == 36
    assert body["progress"]["votes"] == 144
    assert body["progress"]["raters"] == 4


@pytest.mark.django_db
def test_candidates_carry_cost_and_latency_aggregates(api, voted_study):
    body = get_json(api, f"/api/v1/studies/{voted_study.pk}/candidates/")
    alpha = next(c for c in body if c["label"] == "alpha")
    assert alpha["total_cost_usd"] == pytest.approx(0.012)
    assert alpha["cost_per_1000_prompts_usd"] == pytest.approx(1.0)
    assert alpha["latency_ms_median"] == pytest.approx(155.0)
    assert alpha["latency_ms_p95"] == pytest.approx(204.5)
    assert alpha["output_tokens_total"] == 600


@pytest.mark.django_db
def test_votes_are_paginated_and_pseudonymized_by_default(api, voted_study):
    body = get_json(api, f"/api/v1/studies/{voted_study.pk}/votes/", limit=10)
    assert body["count"] == 144 and len(body["results"]) == 10
    rater_ids = set(Membership.objects.filter(study=voted_study).values_list("rater_id", flat=True))
    judges = {row["judge"] for row in body["results"]}
    assert all(j.startswith("rater-") and len(j) == 18 for j in judges)
    plain = get_json(api, f"/api/v1/studies/{voted_study.pk}/votes/", pseudonymize="false")
    assert {row["judge"] for row in plain["results"]} == {f"rater-{r}" for r in rater_ids}


@pytest.mark.django_db
def test_exported_csv_ranks_the_same_through_manage_py_analyze(api, voted_study, tmp_path):
    rater = Membership.objects.filter(study=voted_study).first().rater
    add_gold_pair(voted_study, rater, answer="a", choice="b")
    response = api.get(f"/api/v1/studies/{voted_study.pk}/votes.csv")
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    data = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(data)))
    assert len(rows) == 145
    assert {
        "model_a",
        "model_b",
        "winner",
        "judge",
        "question_id",
        "category",
        "left",
        "time_spent_ms",
        "rationale",
    } <= set(rows[0])
    path = tmp_path / "votes.csv"
    path.write_text(data)
    out = io.StringIO()
    call_command("analyze", str(path), stdout=out)
    from_file = json.loads(out.getvalue())
    from_api = get_json(api, f"/api/v1/studies/{voted_study.pk}/ranking/")
    assert [m["model"] for m in from_file["models"]] == [m["model"] for m in from_api["models"]]
    for a, b in zip(from_file["models"], from_api["models"], strict=True):
        assert a["rating"] == pytest.approx(b["rating"], abs=1e-6)
        assert a["ci_low"] == pytest.approx(b["ci_low"], abs=1e-6)
    assert from_file["summary"]["gold_votes"] == from_api["summary"]["gold_votes"] == 1


@pytest.mark.django_db
def test_json_exports_are_streamed_and_parse(api, voted_study):
    response = api.get(f"/api/v1/studies/{voted_study.pk}/votes.jsonl")
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert len(lines) == 144 and json.loads(lines[0])["winner"]
    response = api.get(f"/api/v1/studies/{voted_study.pk}/votes.json")
    assert len(json.loads(b"".join(response.streaming_content))) == 144


@pytest.mark.django_db
def test_outputs_export_holds_prompt_model_text_tokens_cost_and_latency(api, voted_study):
    response = api.get(f"/api/v1/studies/{voted_study.pk}/outputs.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 36
    assert rows[0]["cost_usd"] == "0.00100000" and rows[0]["output_tokens"] == "50"
    page = get_json(api, f"/api/v1/studies/{voted_study.pk}/outputs/", status="done", limit=5)
    assert page["count"] == 36 and len(page["results"]) == 5


@pytest.mark.django_db
def test_create_api_token_prints_a_token_for_staff_only(researcher):
    out = io.StringIO()
    call_command("create_api_token", researcher.username, stdout=out)
    key = out.getvalue().strip()
    assert len(key) == 40
    again = io.StringIO()
    call_command("create_api_token", researcher.username, stdout=again)
    assert again.getvalue().strip() == key
    call_command("create_api_token", researcher.username, "--reset", stdout=again)
    assert again.getvalue().split()[-1] != key
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="not staff"):
        call_command("create_api_token", RaterFactory().user.username)
