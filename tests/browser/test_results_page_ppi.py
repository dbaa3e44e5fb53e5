"""The results page shows the prediction-powered ratings: per judge and from every judge."""

import random

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from evaluations.models import JudgeVote, Pair
from raters.models import Vote
from tests.browser.test_results_page import PASSWORD, normal_study
from tests.factories import JudgeFactory, UserFactory

pytestmark = pytest.mark.browser


@pytest.mark.django_db(transaction=True)
def test_results_page_shows_judge_assisted_ratings(live_server, page, artifacts):
    cache.clear()
    staff = UserFactory(username="researcher", is_staff=True, is_superuser=True)
    staff.set_password(PASSWORD)
    staff.save()
    study = normal_study(staff, raters=1)
    rng = random.Random(7)
    humans = dict(Vote.objects.filter(study=study).values_list("pair_id", "choice"))
    judges = [JudgeFactory(study=study, model=m) for m in ("openai/gpt-4o", "openai/coin-flip")]
    rows = []
    for pair in Pair.objects.filter(study=study):
        truth = humans[pair.pk] if humans[pair.pk] in ("a", "b") else rng.choice("ab")
        for order in ("ab", "ba"):
            wrong = "b" if truth == "a" else "a"
            rows.append((judges[0], pair, order, truth if rng.random() < 0.85 else wrong))
            rows.append((judges[1], pair, order, rng.choice("ab")))
    # The first judge's provider returned log-probabilities: its probability for model_a.
    JudgeVote.objects.bulk_create(
        JudgeVote(
            study=study, judge=j, pair=p, order=o, verdict=v, status="done",
            logprob_score=(0.9 if v == "a" else 0.1) if j == judges[0] else None,
        )
        for j, p, o, v in rows
    )  # fmt: skip
    # Humans voted on a third of the pairs; the judges on all of them.
    Vote.objects.filter(
        study=study, pair__prompt__external_id__in=[f"q{p}" for p in range(6, 18)]
    ).delete()

    page.goto(f"{live_server.url}/admin/login/?next=/admin/evaluations/study/{study.pk}/results/")
    page.get_by_label("Username").fill("researcher")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    section = page.locator("section.judges")
    expect(
        section.get_by_role("heading", name="Human votes with every judge's help")
    ).to_be_visible()
    expect(section.get_by_text("are worth").first).to_be_visible()
    expect(section.get_by_text("openai/coin-flip (#").last).to_be_visible()
    calls = 2 * Pair.objects.filter(study=study).count()
    expect(
        section.get_by_text(f"{calls} with the judge's probability for its verdict")
    ).to_be_visible()
    expect(section.get_by_text("recalibrated to predict the human vote").first).to_be_visible()
    assert section.locator("h4 + p + table").count() == 3
    section.screenshot(path=str(artifacts / "results_page_ppi.png"))
