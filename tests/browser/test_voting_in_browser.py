import re

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from raters.invites import invite_create, invite_path
from raters.models import Vote
from tests.raters.conftest import study_with_pairs

pytestmark = pytest.mark.browser

ANSWER_MARKDOWN = (
    "## Steps\n\n1. Check the **bank statement**.\n2. Contact support with the order number.\n\n"
    "| Option | Time |\n|---|---|\n| Refund | 3 days |\n\n"
    "```python\ndef is_palindrome(s: str) -> bool:\n    return s == s[::-1]\n```\n\n"
    '<script>window.pwned = true</script> <img src=x onerror="window.pwned = true">'
)


def pair_id(page) -> str:
    return page.locator('input[name="pair"]').get_attribute("value")


@pytest.mark.django_db(transaction=True)
def test_a_rater_joins_votes_on_ten_pairs_by_keyboard_and_undoes_one(live_server, page, artifacts):
    cache.clear()
    study = study_with_pairs(n_prompts=6, n_candidates=3, votes_per_pair=1)
    from evaluations.models import Output

    Output.objects.filter(prompt__study=study).update(text=ANSWER_MARKDOWN)
    invite = invite_create(study=study, max_uses=1)

    page.goto(live_server.url + invite_path(invite))
    page.get_by_label("Your name").fill("Dr. Keyboard")
    page.get_by_label("Username").fill("keyboard")
    page.get_by_label("Password", exact=True).fill("a long enough passphrase")
    page.get_by_label("Password confirmation").fill("a long enough passphrase")
    page.keyboard.press("Enter")
    expect(page.locator("#panel-title")).to_have_text(study.name)
    expect(page.get_by_text("0 voted of 18 available")).to_be_visible()
    # The script is deferred: a key pressed before it runs would be lost.
    page.locator("html[data-voting-ready]").wait_for(state="attached")

    voted = []
    for i, key in enumerate(["a", "b", "t", "x", "a", "b", "a", "b", "t", "a"]):
        current = pair_id(page)
        voted.append(current)
        page.keyboard.press(key)
        expect(page.locator('input[name="pair"]')).not_to_have_value(current)
        expect(page.get_by_text(f"{i + 1} voted of 18 available")).to_be_visible()
    assert Vote.objects.filter(rater__user__username="keyboard").count() == 10

    page.keyboard.press("u")
    expect(page.locator('input[name="pair"]')).to_have_value(voted[-1])
    expect(page.get_by_text("9 voted of 18 available")).to_be_visible()
    expect(page.get_by_text("Your last vote was taken back")).to_be_visible()
    assert Vote.objects.filter(rater__user__username="keyboard").count() == 9

    # The reason box takes typing without triggering shortcuts; Esc leaves it.
    page.keyboard.press("r")
    page.keyboard.type("bat and tab")
    page.keyboard.press("Escape")
    page.keyboard.press("b")
    expect(page.get_by_text("10 voted of 18 available")).to_be_visible()
    last = Vote.objects.filter(rater__user__username="keyboard").latest("created_at")
    assert last.rationale == "bat and tab"
    assert all(v.time_spent_ms is not None for v in Vote.objects.all())

    # Hostile markup in answers stayed text; the table and code block rendered.
    assert page.evaluate("window.pwned === undefined")
    expect(page.locator(".answer table").first).to_be_visible()
    expect(page.locator(".answer pre code").first).to_contain_text("is_palindrome")
    page.screenshot(path=str(artifacts / "voting-page.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(artifacts / "voting-page-narrow.png"), full_page=True)


@pytest.mark.django_db(transaction=True)
def test_voting_still_works_with_javascript_off(live_server, browser, artifacts):
    cache.clear()
    study = study_with_pairs(n_prompts=2, n_candidates=2, votes_per_pair=1)
    invite = invite_create(study=study, max_uses=1)
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(live_server.url + invite_path(invite))
        page.get_by_label("Your name").fill("No Script")
        page.get_by_label("Username").fill("noscript")
        page.get_by_label("Password", exact=True).fill("a long enough passphrase")
        page.get_by_label("Password confirmation").fill("a long enough passphrase")
        page.get_by_role("button", name="Create account and join").click()
        page.get_by_role("button", name=re.compile("^A is better")).click()
        expect(page.get_by_text("1 voted of 2 available")).to_be_visible()
        expect(page.get_by_text("Vote recorded.")).to_be_visible()
    finally:
        context.close()
    assert Vote.objects.filter(rater__user__username="noscript").count() == 1
