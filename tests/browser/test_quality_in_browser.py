"""Issue 20 in Chromium: the senior rater's adjudication queue, by keyboard, and the flagged
raters' evidence on the researcher's results page."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from evaluations.models import Output, Pair
from raters.assignment import assignment_next
from raters.models import Adjudication, Membership, Vote
from raters.voting import vote_record
from tests.factories import RaterFactory, UserFactory
from tests.raters.conftest import join, study_with_pairs

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery"  # the user factory's


def sign_in_rater(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.keyboard.press("Enter")


@pytest.mark.django_db(transaction=True)
def test_the_senior_rater_adjudicates_the_contested_pairs_by_keyboard(live_server, page, artifacts):
    cache.clear()
    study = study_with_pairs(
        n_prompts=2, n_candidates=3, votes_per_pair=3, adjudication_threshold=0.7
    )
    Output.objects.filter(prompt__study=study).update(
        text="Paris is the capital of **France**; it lies on the Seine."
    )
    pairs = list(Pair.objects.filter(study=study).order_by("id"))
    for pair, choices in zip(pairs, ["aab", "abt", "aaa"], strict=False):
        for choice in choices:
            vote = {"a": "a", "b": "b", "t": "tie"}[choice]
            Vote.objects.create(
                study=study, pair=pair, rater=join(study), choice=vote, left_output=pair.output_a
            )
    senior = RaterFactory(user=UserFactory(username="senior"))
    Membership.objects.create(rater=senior, study=study, senior=True)

    sign_in_rater(page, live_server, "senior")
    page.get_by_role("link", name="Adjudicate contested pairs").click()
    expect(page.locator("#panel-title")).to_have_text(f"{study.name}: adjudication")
    expect(page.get_by_text("2 contested pairs waiting for your verdict")).to_be_visible()
    page.locator("html[data-voting-ready]").wait_for(state="attached")
    for candidate in study.candidates.all():  # blind
        assert candidate.label not in page.content() and candidate.model not in page.content()
    page.screenshot(path=str(artifacts / "adjudication_queue.png"), full_page=True)

    first = page.locator('input[name="pair"]').get_attribute("value")
    assert first == pairs[1].public_id  # the most contested first (1 of 3 agree)
    page.keyboard.press("r")
    page.keyboard.type("Both say the same; B adds the river.")
    page.keyboard.press("Escape")
    page.keyboard.press("b")
    expect(page.get_by_text("Verdict recorded.")).to_be_visible()
    expect(page.get_by_text("1 contested pair waiting for your verdict")).to_be_visible()
    page.keyboard.press("t")
    expect(page.get_by_text("No contested pair is waiting")).to_be_visible()
    page.screenshot(path=str(artifacts / "adjudication_done.png"), full_page=True)

    verdicts = {a.pair_id: a for a in Adjudication.objects.all()}
    assert set(verdicts) == {pairs[0].pk, pairs[1].pk}
    assert verdicts[pairs[1].pk].rationale == "Both say the same; B adds the river."
    assert verdicts[pairs[0].pk].choice == "tie"
    assert Vote.objects.filter(rater=senior).count() == 0


@pytest.mark.django_db(transaction=True)
def test_the_researcher_sees_each_flagged_rater_with_the_evidence(live_server, page, artifacts):
    cache.clear()
    staff = UserFactory(username="researcher", is_staff=True, is_superuser=True)
    study = study_with_pairs(n_prompts=8, n_candidates=3, owner=staff)
    Output.objects.filter(prompt__study=study).update(text=" ".join(["word"] * 240))  # 40 s
    for name, seconds, sides in (
        ("Hasty", 6.0, "AB"),
        ("Lefty", 60.0, "A"),
        ("Careful", 60.0, "AB"),
    ):
        rater = join(study, RaterFactory(display_name=name))
        for i in range(12):
            assignment = assignment_next(rater=rater, study=study)
            vote_record(
                rater=rater,
                study=study,
                public_id=assignment.pair.public_id,
                side_choice=sides[i % len(sides)],
                time_spent_ms=int(seconds * 1000),
                now=assignment.shown_at + timedelta(seconds=seconds),
            )

    page.goto(f"{live_server.url}/admin/login/?next=/admin/evaluations/study/{study.pk}/results/")
    page.get_by_label("Username").fill("researcher")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    section = page.locator("#flagged-raters")
    section.scroll_into_view_if_needed()
    expect(section.get_by_text("2 raters flagged")).to_be_visible()
    rows = section.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("Hasty")
    expect(rows.nth(0)).to_contain_text("too fast: 12 of the latest 12 decisive votes")
    expect(rows.nth(0)).to_contain_text("threshold median 40.0 s")
    expect(rows.nth(1)).to_contain_text("Lefty")
    expect(rows.nth(1)).to_contain_text("straight-lining: 12 of 12 decisive votes for the left")
    expect(section).not_to_contain_text("Careful")
    section.screenshot(path=str(artifacts / "flagged_raters.png"))

    section.get_by_role("link", name="exclude them").click()
    expect(page.locator("#flagged-raters")).to_contain_text("Their votes are left out above.")
    rows.nth(1).get_by_role("link", name="Lefty").click()
    expect(page.locator("body")).to_contain_text("straight-lining")
    page.screenshot(path=str(artifacts / "flagged_rater_membership.png"), full_page=True)
