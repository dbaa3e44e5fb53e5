"""The ranking endpoint clusters by rater and prompt by default, and takes cluster= and power=."""

import pytest

from tests.api.test_results_api import get_json


@pytest.mark.django_db
def test_ranking_clusters_by_rater_and_prompt_by_default(api, voted_study):
    body = get_json(api, f"/api/v1/studies/{voted_study.pk}/ranking/")
    assert body["interval"]["cluster"] == "both"
    assert body["interval"]["method"] == "cluster-robust sandwich"
    assert "raters like these" in body["interval"]["population"]
    assert body["interval"]["clusters"]["rater"] == 4
    pair = body["pairwise"][0]
    assert {"p_value_anytime", "p_value_anytime_holm", "cs_low", "cs_high"} <= set(pair)
    assert "style_control" in body


@pytest.mark.django_db
def test_ranking_cluster_and_power_options(api, voted_study):
    url = f"/api/v1/studies/{voted_study.pk}/ranking/"
    plain = get_json(api, url, cluster="none", power=0.9)
    assert plain["interval"]["cluster"] == "none"
    assert plain["interval"]["population"].startswith("these raters and these prompts")
    assert all(entry["power"] == 0.9 for entry in plain["votes_needed"])
    by_rater = get_json(api, url, cluster="rater")
    assert by_rater["interval"]["cluster"] == "rater"
    assert [m["rating"] for m in by_rater["models"]] == pytest.approx(
        [m["rating"] for m in plain["models"]]
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "field"), [({"cluster": "judge"}, "cluster"), ({"power": "1.5"}, "power")]
)
def test_bad_cluster_or_power_is_a_400(api, voted_study, params, field):
    response = api.get(f"/api/v1/studies/{voted_study.pk}/ranking/", params)
    assert response.status_code == 400
    assert field in response.json()
