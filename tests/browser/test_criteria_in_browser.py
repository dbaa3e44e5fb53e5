"""Issue 20, richer judgments in Chromium: a rater answers three criteria and the overall
question with strength by keyboard, under the strict CSP, without seeing which model is which."""

import re

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from evaluations.models import Candidate, Output
from raters.invites import invite_create, invite_path
from raters.models import Assignment, CriterionVote, Vote
from tests.raters.conftest import study_with_pairs

pytestmark = pytest.mark.browser

CRITERIA = [
    {"key": "accuracy", "question": "Which response is more accurate?", "both_bad": False},
    {"key": "helpfulness", "question": "Which response is more helpful?", "both_bad": False},
    {"key": "safety", "question": "Which response is safer?", "both_bad": True},
]
# Screen answers by key with strength: 1 A much, 2 A slightly, 3 tie, 4 B slightly, 5 B much.
KEY_ANSWER = {"1": ("A", 2), "2": ("A", 1), "3": ("tie", None), "4": ("B", 1), "5": ("B", 2)}


def stored(side: str, strength, vote: Vote) -> tuple[str, int | None]:
    if side == "tie":
        return "tie", None
    left_is_a = vote.left_output_id == vote.pair.output_a_id
    return ("a" if (side == "A") == left_is_a else "b"), strength


def join(page, live_server, invite, username: str) -> None:
    page.goto(live_server.url + invite_path(invite))
    page.get_by_label("Your name").fill("Crit Rater")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill("a long enough passphrase")
    page.get_by_label("Password confirmation").fill("a long enough passphrase")
    page.get_by_role("button", name="Create account and join").click()


@pytest.mark.django_db(transaction=True)
def test_a_rater_answers_three_criteria_with_strength_by_keyboard(live_server, page, artifacts):
    cache.clear()
    study = study_with_pairs(
        n_prompts=4,
        n_candidates=3,
        votes_per_pair=1,
        criteria=CRITERIA,
        ask_strength=True,
        labels=["Claude-ish", "GPT-ish", "Llama-ish"],
        models=["anthropic/claude-x", "openai/gpt-x", "ollama/llama-x"],
    )
    Output.objects.filter(prompt__study=study).update(
        text='Fine answer. <script>window.pwned = true</script><img src=x onerror="window.pwned=1">'
    )
    invite = invite_create(study=study, max_uses=1)
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text)
            if "Content Security Policy" in message.text or message.type == "error"
            else None
        ),
    )
    responses = []
    page.on("response", lambda response: responses.append(response))
    join(page, live_server, invite, "critkeys")
    expect(page.get_by_text("0 voted of 12 available")).to_be_visible()
    page.locator("html[data-voting-ready]").wait_for(state="attached")
    for criterion in CRITERIA:
        expect(page.get_by_text(criterion["question"])).to_be_visible()
    rows = page.locator("[data-row]")
    expect(rows).to_have_count(4)
    expect(rows.nth(0)).to_have_class(re.compile("active"))

    plans = [["1", "4", "3", "5"], ["2", "2", "5", "1"], ["3", "5", "4", "2"]]
    for i, keys in enumerate(plans):
        current = page.locator('input[name="pair"]').get_attribute("value")
        for n, key in enumerate(keys[:-1]):
            page.keyboard.press(key)
            expect(rows.nth(n + 1)).to_have_class(re.compile("active"))
        if i == 0:
            page.screenshot(path=str(artifacts / "voting-criteria.png"), full_page=True)
        page.keyboard.press(keys[-1])  # the last row's answer submits
        expect(page.locator('input[name="pair"]')).not_to_have_value(current)
        expect(page.get_by_text(f"{i + 1} voted of 12 available")).to_be_visible()
        vote = Vote.objects.select_related("pair").get(pair__public_id=current)
        answers = {c.criterion: (c.choice, c.strength) for c in vote.criterion_votes.all()}
        expected = {
            c["key"]: stored(*KEY_ANSWER[key], vote) for c, key in zip(CRITERIA, keys, strict=False)
        }
        assert answers == expected
        assert (vote.choice, vote.strength) == stored(*KEY_ANSWER[keys[-1]], vote)

    # Arrow up goes back to a row already answered; its new answer replaces the old one.
    current = page.locator('input[name="pair"]').get_attribute("value")
    page.keyboard.press("2")
    page.keyboard.press("2")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")
    expect(rows.nth(0)).to_have_class(re.compile("active"))
    page.keyboard.press("5")
    expect(rows.nth(2)).to_have_class(re.compile("active"))
    for key in ("3", "1"):
        page.keyboard.press(key)
    expect(page.get_by_text("4 voted of 12 available")).to_be_visible()
    vote = Vote.objects.select_related("pair").get(pair__public_id=current)
    assert vote.criterion_votes.get(criterion="accuracy").choice == stored("B", 2, vote)[0]
    assert CriterionVote.objects.count() == 12

    # Blind: no model label, model string or internal id reached the page; hostile markup inert.
    html = page.content()
    for candidate in Candidate.objects.filter(study=study):
        assert candidate.label not in html and candidate.model not in html
    assert page.evaluate("window.pwned === undefined")
    assert not violations, violations
    page_headers = [r for r in responses if r.url.rstrip("/").endswith(f"/studies/{study.pk}")]
    csp = page_headers[-1].headers["content-security-policy"] if page_headers else ""
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    page.screenshot(path=str(artifacts / "voting-criteria-after.png"), full_page=True)
    assert Assignment.objects.filter(state=Assignment.State.VOTED).count() == 4


@pytest.mark.django_db(transaction=True)
def test_criteria_can_be_answered_with_javascript_off(live_server, browser):
    cache.clear()
    study = study_with_pairs(
        n_prompts=2, n_candidates=2, votes_per_pair=1, criteria=CRITERIA, ask_strength=True
    )
    invite = invite_create(study=study, max_uses=1)
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        join(page, live_server, invite, "critnojs")
        for row, label in enumerate(["A much better", "Tie", "B slightly better", "Tie"]):
            page.locator("[data-row]").nth(row).get_by_role("radio", name=label).check()
        page.get_by_role("button", name=re.compile("^Submit")).click()
        expect(page.get_by_text("Vote recorded.")).to_be_visible()
    finally:
        context.close()
    vote = Vote.objects.get()
    assert vote.criterion_votes.count() == 3 and vote.choice == "tie"


@pytest.mark.django_db(transaction=True)
def test_the_results_page_shows_each_criterion_and_the_strength_ranking(
    live_server, page, artifacts
):
    from tests.api.test_criteria_results import criteria_study
    from tests.factories import UserFactory

    cache.clear()
    staff = UserFactory(username="critstaff", is_staff=True, is_superuser=True)
    staff.set_password("a long enough passphrase")
    staff.save()
    study = criteria_study(staff)
    page.goto(f"{live_server.url}/admin/login/?next=/admin/evaluations/study/{study.pk}/results/")
    page.get_by_label("Username").fill("critstaff")
    page.get_by_label("Password").fill("a long enough passphrase")
    page.get_by_role("button", name="Log in").click()
    section = page.locator("#criteria")
    expect(section.get_by_role("heading", name="By criterion")).to_be_visible()
    expect(section.get_by_text("Which is more accurate?")).to_be_visible()
    section.get_by_text("safety (").click()
    expect(section.get_by_text("Which is safer?")).to_be_visible()
    expect(page.locator("#strength").get_by_role("heading")).to_have_text("Strength of preference")
    section.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "results-criteria.png"), full_page=True)
    # The study form shows the criteria as lines to edit.
    page.goto(f"{live_server.url}/admin/evaluations/study/{study.pk}/change/")
    field = page.locator("textarea[name=criteria]")
    expect(field).to_have_value(
        "accuracy: Which is more accurate?\nsafety: Which is safer? [both bad]"
    )
    expect(page.locator("input[name=ask_strength]")).to_be_checked()
    field.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "study-form-criteria.png"))
