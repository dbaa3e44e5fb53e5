"""Results of a big study: served from the newest computed snapshot, never stale as current.

`RESULTS_INLINE_MAX_VOTES = 0` makes every study "big": requests then never compute, and the
computation is run here as the Celery task runs it (`results_compute`); a test with a real
worker is in test_results_snapshots_worker.py.
"""

import json

import pytest
from django.core.cache import cache
from django.urls import reverse

from evaluations.models import Prompt, Study
from raters.models import Membership, Vote
from raters.speed import membership_flags_update
from research.reevaluation.clones import study_clone
from research.results.aggregation import ResultOptions, results_state, study_analysis
from research.results.cache_versioning import _generation_key, results_invalidate
from research.results.snapshots import (
    COMPUTING,
    CURRENT,
    STALE,
    options_data,
    results_compute,
    results_snapshot,
)
from tests.factories import RaterFactory, VoteFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def clean_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def big(settings):
    settings.RESULTS_INLINE_MAX_VOTES = 0


def compute(study: Study, kind: str = "analysis", options: ResultOptions | None = None) -> None:
    options = options or ResultOptions()
    results_compute(study_id=study.pk, kind=kind, options_values=options_data(options))


def snapshot(study: Study, kind: str = "analysis", options: ResultOptions | None = None):
    return results_snapshot(study=study, kind=kind, options=options or ResultOptions())


def new_vote(study: Study) -> Vote:
    pair = study.pairs.order_by("id").first()
    rater = RaterFactory()
    return VoteFactory(pair=pair, rater=rater, choice="a", left_output=pair.output_a)


def test_a_big_study_first_says_it_is_computing_then_serves_the_result(big, voted_study):
    first = snapshot(voted_study)
    assert first.status == COMPUTING and first.document is None
    assert first.computing_since is not None
    compute(voted_study)
    ready = snapshot(voted_study)
    assert ready.status == CURRENT
    assert ready.votes == voted_study.votes.count()
    assert ready.document == json.loads(
        json.dumps(study_analysis(study=voted_study, options=ResultOptions()))
    )


def test_new_votes_make_it_stale_saying_from_how_many_votes_until_recomputed(big, voted_study):
    compute(voted_study)
    before = voted_study.votes.count()
    new_vote(voted_study)
    stale = snapshot(voted_study)
    assert stale.status == STALE
    assert stale.votes == before and stale.document["summary"]["votes"] == before
    assert stale.computing_since is not None
    compute(voted_study)
    assert snapshot(voted_study).status == CURRENT
    assert snapshot(voted_study).votes == before + 1


def test_an_undone_vote_makes_it_stale(big, voted_study):
    vote = new_vote(voted_study)
    compute(voted_study)
    Vote.objects.filter(pk=vote.pk).delete()
    assert snapshot(voted_study).status == STALE
    compute(voted_study)
    assert snapshot(voted_study).votes == voted_study.votes.count()


def test_a_rater_flagged_by_a_queryset_update_changes_the_excluded_raters_result(voted_study):
    """Flags set by raters.speed and raters.gold are queryset updates: no signal is sent."""
    options = ResultOptions(exclude_flagged=True)
    all_votes = study_analysis(study=voted_study, options=options)["summary"]["votes"]
    membership = Membership.objects.filter(study=voted_study).order_by("id").first()
    Membership.objects.filter(pk=membership.pk).update(flagged=True, flag_reason="by hand")
    theirs = voted_study.votes.filter(rater_id=membership.rater_id).count()
    after = study_analysis(study=voted_study, options=options)["summary"]["votes"]
    assert after == all_votes - theirs


def test_a_flag_recomputed_by_the_rater_checks_makes_the_big_result_stale(
    big, voted_study, settings
):
    options = ResultOptions(exclude_flagged=True)
    compute(voted_study, options=options)
    membership = Membership.objects.filter(study=voted_study).order_by("id").first()
    settings.RATER_MIN_SECONDS_PER_VOTE = 60  # every rater now votes implausibly fast
    assert membership_flags_update(rater=membership.rater, study=voted_study)
    assert snapshot(voted_study, options=options).status == STALE
    assert snapshot(voted_study).status == COMPUTING  # other options: their own results


def test_a_changed_prompt_category_regroups_the_votes(voted_study):
    options = ResultOptions()
    before = study_analysis(study=voted_study, options=options)["categories"]
    prompt = Prompt.objects.filter(study=voted_study, category="math").order_by("id").first()
    prompt.category = "logic"
    prompt.save()
    after = study_analysis(study=voted_study, options=options)["categories"]
    assert "logic" not in before and "logic" in after


def test_a_clone_has_its_own_results_and_leaves_the_source_current(big, voted_study):
    compute(voted_study)
    clone = study_clone(study=voted_study, name="Clone", slug="clone").study
    assert snapshot(clone).status == COMPUTING
    compute(clone)
    assert snapshot(clone).status == CURRENT
    assert snapshot(clone).votes == clone.votes.count()
    assert snapshot(voted_study).status == CURRENT


def test_a_lost_generation_counter_never_brings_back_an_earlier_state(voted_study):
    options = ResultOptions()
    cache.delete(_generation_key(voted_study.pk))
    seen = {results_state(study=voted_study, options=options)[0]}
    for _ in range(3):
        results_invalidate(study_id=voted_study.pk)
        seen.add(results_state(study=voted_study, options=options)[0])
    cache.delete(_generation_key(voted_study.pk))  # evicted, or the cache was flushed
    results_invalidate(study_id=voted_study.pk)
    assert results_state(study=voted_study, options=options)[0] not in seen


def test_an_option_analyze_refuses_is_a_400_once_computed(big, api, voted_study):
    url = f"/api/v1/studies/{voted_study.pk}/ranking/?category=nope"
    assert api.get(url).status_code == 202
    compute(voted_study, "ranking", ResultOptions(category="nope"))
    response = api.get(url)
    assert response.status_code == 400
    assert "nope" in response.json()["detail"]


def test_the_api_answers_202_then_the_same_bytes_as_a_request_computing_it(
    big, api, voted_study, settings
):
    base = f"/api/v1/studies/{voted_study.pk}/"
    for endpoint in ("ranking/", "pairwise/", "agreement/", "biases/"):
        response = api.get(base + endpoint)
        assert response.status_code == 202, endpoint
        assert response["Results-Status"] == COMPUTING
        assert int(response["Retry-After"]) > 0
    compute(voted_study, "ranking")
    compute(voted_study, "analysis")
    background = {e: api.get(base + e) for e in ("ranking/", "pairwise/", "agreement/", "biases/")}
    for endpoint, response in background.items():
        assert response.status_code == 200, endpoint
        assert response["Results-Status"] == CURRENT
        assert int(response["Results-Votes"]) == voted_study.votes.count()
    settings.RESULTS_INLINE_MAX_VOTES = 10**9
    cache.clear()
    for endpoint, response in background.items():
        assert api.get(base + endpoint).content == response.content, endpoint


def test_a_stale_api_result_says_so_in_its_headers(big, api, voted_study):
    compute(voted_study, "ranking")
    new_vote(voted_study)
    response = api.get(f"/api/v1/studies/{voted_study.pk}/ranking/")
    assert response.status_code == 200
    assert response["Results-Status"] == STALE
    assert int(response["Results-Votes"]) == voted_study.votes.count() - 1


def page(client, study: Study, query: str = "") -> str:
    response = client.get(reverse("admin:evaluations_study_results", args=[study.pk]) + query)
    assert response.status_code == 200
    return response.content.decode()


def test_the_page_shows_computing_then_the_result_then_stale(big, client, voted_study):
    client.force_login(voted_study.owner)
    html = page(client, voted_study)
    assert 'id="results-computing"' in html and 'http-equiv="refresh"' in html
    assert "results-ranking" not in html
    compute(voted_study)
    html = page(client, voted_study)
    votes = voted_study.votes.count()
    assert 'id="results-computed"' in html and f"from {votes} votes" in html
    assert "results-ranking" in html and 'http-equiv="refresh"' not in html
    new_vote(voted_study)
    html = page(client, voted_study)
    assert 'id="results-stale"' in html and f"from {votes} votes" in html
    assert "being recomputed" in html and "results-ranking" in html
    assert 'id="results-computed"' not in html


def test_the_page_of_a_small_study_is_computed_in_the_request(client, voted_study):
    client.force_login(voted_study.owner)
    html = page(client, voted_study, "?exclude_flagged=1")
    assert 'id="results-computed"' in html and "results-ranking" in html
