"""A big study's results computed by a real Celery worker, as the page asks for them."""

import pytest
from django.core.cache import cache
from django.urls import reverse

from tests.api.conftest import build_study
from tests.factories import RaterFactory, UserFactory, VoteFactory
from tests.generation.worker import Worker, wait_for


@pytest.mark.django_db(transaction=True)
def test_the_worker_computes_what_the_page_asked_for_and_again_after_a_vote(
    settings, client, tmp_path
):
    from config.celery import app

    settings.RESULTS_INLINE_MAX_VOTES = 0
    cache.clear()
    app.control.purge()
    owner = UserFactory(is_staff=True, is_superuser=True)
    study = build_study(owner, prompts=6, raters=3)
    client.force_login(owner)
    url = reverse("admin:evaluations_study_results", args=[study.pk])
    assert 'id="results-computing"' in client.get(url).content.decode()
    worker = Worker(tmp_path, {})
    try:
        votes = study.votes.count()
        wait_for(
            lambda: (
                f"from {votes} votes: the votes as they are now" in client.get(url).content.decode()
            ),
            timeout=120,
            what="the worker's result",
            worker=worker,
        )
        pair = study.pairs.order_by("id").first()
        VoteFactory(pair=pair, rater=RaterFactory(), choice="b", left_output=pair.output_b)
        html = client.get(url).content.decode()
        assert 'id="results-stale"' in html and f"from {votes} votes" in html
        wait_for(
            lambda: (
                f"from {votes + 1} votes: the votes as they are now"
                in client.get(url).content.decode()
            ),
            timeout=120,
            what="the recomputed result",
            worker=worker,
        )
    finally:
        worker.stop()
