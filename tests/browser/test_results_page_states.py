"""The results page of a big study in Chromium: computing (reloading itself), ready, stale."""

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from raters.models import Rater, Vote
from research.results.aggregation import ResultOptions
from research.results.snapshots import options_data, results_compute
from tests.browser.test_results_page import PASSWORD, normal_study
from tests.factories import UserFactory

pytestmark = pytest.mark.browser


@pytest.mark.django_db(transaction=True)
def test_a_big_study_page_says_computing_then_shows_the_result_then_says_stale(
    live_server, page, artifacts, settings
):
    settings.RESULTS_INLINE_MAX_VOTES = 0
    cache.clear()
    staff = UserFactory(username="researcher", is_staff=True, is_superuser=True)
    staff.set_password(PASSWORD)
    staff.save()
    study = normal_study(staff)
    votes = study.votes.count()

    page.goto(f"{live_server.url}/admin/login/?next=/admin/evaluations/study/{study.pk}/results/")
    page.get_by_label("Username").fill("researcher")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    computing = page.locator("#results-computing")
    expect(computing).to_contain_text("Computing the results from the study's votes")
    expect(computing).to_contain_text("reloads itself every 5 seconds")
    expect(page.locator("table.results-ranking")).to_have_count(0)
    page.screenshot(path=str(artifacts / "results_page_computing.png"), full_page=True)

    # What the Celery task does; the page then reloads itself into the result.
    for kind in ("analysis", "figures"):
        results_compute(study_id=study.pk, kind=kind, options_values=options_data(ResultOptions()))
    expect(page.locator("#results-computed")).to_contain_text(
        f"from {votes} votes: the votes as they are now", timeout=20_000
    )
    expect(page.locator("table.results-ranking")).to_be_visible()
    expect(page.locator("figure.results-chart svg")).to_have_count(4)
    page.screenshot(path=str(artifacts / "results_page_ready.png"), full_page=True)

    pair = study.pairs.order_by("id").first()
    rater = Rater.objects.exclude(votes__pair=pair).first() or Rater.objects.create(
        user=UserFactory(), display_name="late"
    )
    Vote.objects.create(
        study=study, pair=pair, rater=rater, choice="a", left_output_id=pair.output_a_id
    )
    page.reload()
    stale = page.locator("#results-stale")
    expect(stale).to_contain_text(f"from {votes} votes; the votes have changed since")
    expect(stale).to_contain_text("being recomputed")
    expect(page.locator(".results > p").first).to_contain_text(
        "When the figures on this page were computed"
    )
    expect(page.locator("table.results-ranking")).to_be_visible()
    page.screenshot(path=str(artifacts / "results_page_stale.png"), full_page=False)
