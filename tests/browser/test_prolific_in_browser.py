"""Issue 20: the whole Prolific flow in Chromium, with the ids a real Prolific redirect carries.

Prolific opens the study URL with PROLIFIC_PID, STUDY_ID and SESSION_ID (24 hex digits each) and
takes the participant back at https://app.prolific.com/submissions/complete?cc=CODE. Nothing
leaves the machine: Chromium's request to Prolific is answered here, and only recorded.
"""

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from raters.models import Panel, PanelParticipant, Vote
from raters.panels import panel_entry_url
from tests.raters.conftest import study_with_pairs

pytestmark = pytest.mark.browser

PROLIFIC = {
    "PROLIFIC_PID": "60d5ec49f1c2a3b4c5d6e7f8",
    "STUDY_ID": "6523a1b2c3d4e5f60718293a",
    "SESSION_ID": "6523b9f8e7d6c5b4a3928170",
}


@pytest.mark.django_db(transaction=True)
def test_a_prolific_participant_votes_their_quota_and_returns_with_the_completion_code(
    live_server, page, artifacts
):
    cache.clear()
    study = study_with_pairs(n_prompts=4, n_candidates=3, votes_per_pair=1)
    panel = Panel.objects.create(
        study=study,
        platform=Panel.Platform.PROLIFIC,
        external_study_id=PROLIFIC["STUDY_ID"],
        completion_url="https://app.prolific.com/submissions/complete",
        completion_code="C7QX2B1M",
        screenout_code="SCRN0UT1",
        max_pairs=3,
    )
    reached: list[str] = []

    def prolific(route):
        reached.append(route.request.url)
        route.fulfill(
            status=200, content_type="text/html", body="<h1>Prolific: submission complete</h1>"
        )

    page.route("https://app.prolific.com/**", prolific)
    # What Prolific substitutes into the study URL it was given (the admin shows that URL).
    url = live_server.url + panel_entry_url(panel)
    for name, value in PROLIFIC.items():
        url = url.replace(f"{{{{%{name}%}}}}", value)
    page.goto(url)
    page.screenshot(path=str(artifacts / "prolific_1_start.png"), full_page=True)
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#panel-title")).to_have_text(study.name)
    # Not wait_for_function: its polling evaluates a string, which the rater pages' CSP refuses.
    page.locator("html[data-voting-ready]").wait_for(state="attached")
    page.screenshot(path=str(artifacts / "prolific_2_voting.png"), full_page=True)
    for n, key in enumerate(("a", "b", "a"), start=1):
        before = page.locator('input[name="pair"]').get_attribute("value")
        page.keyboard.press(key)
        if n < panel.max_pairs:  # the last vote of the quota brings no further pair
            expect(page.locator('input[name="pair"]')).not_to_have_value(before)
    expect(page.get_by_role("heading", name="You have done your share")).to_be_visible()
    page.screenshot(path=str(artifacts / "prolific_3_quota.png"), full_page=True)
    assert Vote.objects.count() == 3
    page.get_by_role("link", name="Finish").click()
    page.screenshot(path=str(artifacts / "prolific_4_finish.png"), full_page=True)
    page.get_by_role("button", name="Finish and return to Prolific").click()
    expect(page.get_by_role("heading", name="Prolific: submission complete")).to_be_visible()
    assert reached == ["https://app.prolific.com/submissions/complete?cc=C7QX2B1M"]
    participant = PanelParticipant.objects.get()
    assert participant.state == PanelParticipant.State.COMPLETED
    assert PROLIFIC["PROLIFIC_PID"] not in participant.rater.user.username

    # The same link opened again: no more pairs, the code again.
    page.goto(url)
    page.get_by_role("button", name="Start").click()
    expect(page.locator("[data-completion-code]")).to_have_text("C7QX2B1M")
    page.screenshot(path=str(artifacts / "prolific_5_replay.png"), full_page=True)


@pytest.mark.django_db(transaction=True)
def test_a_participant_trains_with_feedback_then_votes_for_real(live_server, page, artifacts):
    from evaluations.models import Pair

    cache.clear()
    study = study_with_pairs(n_prompts=4, n_candidates=3, training_pairs=1, gold_min_accuracy=1.0)
    gold = Pair.objects.filter(study=study).order_by("id").first()
    gold.gold_answer = "a"
    gold.gold_explanation = "Response with the **refund steps** answers the question."
    gold.save()
    panel = Panel.objects.create(study=study, completion_code="C7QX2B1M", max_pairs=2)
    url = live_server.url + panel_entry_url(panel)
    for name, value in PROLIFIC.items():
        url = url.replace(f"{{{{%{name}%}}}}", value)
    page.goto(url)
    page.get_by_role("button", name="Start").click()
    expect(page.get_by_text("Practice pair 1 of 1")).to_be_visible()
    page.screenshot(path=str(artifacts / "training_1_pair.png"), full_page=True)
    left_is_a = page.locator("#answer-a-title + .md").inner_text() == gold.output_a.text
    page.get_by_role("button", name="A is better" if left_is_a else "B is better").click()
    expect(page.get_by_role("heading", name="Right!")).to_be_visible()
    expect(page.locator("[data-feedback] strong", has_text="refund steps")).to_be_visible()
    page.screenshot(path=str(artifacts / "training_2_feedback.png"), full_page=True)
    page.get_by_role("link", name="Start voting").click()
    expect(page.locator('input[name="pair"]')).to_have_count(1)
    assert not Vote.objects.exists()
