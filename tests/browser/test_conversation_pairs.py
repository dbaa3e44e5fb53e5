"""The rater's view of a multi-turn pair and of an image-and-document pair, in real Chromium:
blind, under the strict CSP, images loaded through the study's authenticated view."""

import pytest
from django.test import Client

from evaluations.models import Candidate, Output, Study
from evaluations.studies.importing import prompts_import
from tests.conversations.conftest import data_url, jsonl, png_bytes
from tests.factories import MembershipFactory, PairFactory, RaterFactory, StudyFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TURNS = ["Write a haiku about rain.", "Make it sadder.", "Now give it a title."]


def one_pair_study(row: dict, answers_a: list[str], answers_b: list[str]) -> Study:
    study = StudyFactory(status=Study.Status.OPEN, name="Conversation study")
    prompts_import(study=study, data=jsonl(row), filename="p.jsonl")
    prompt = study.prompts.get()
    outputs = []
    for label, answers in (("Alpha-Secret", answers_a), ("Beta-Secret", answers_b)):
        candidate = Candidate.objects.create(study=study, label=label, model=f"openai/{label}")
        outputs.append(
            Output.objects.create(
                prompt=prompt,
                candidate=candidate,
                status=Output.Status.DONE,
                text="\n\n".join(answers),
                turns=[{"text": a, "raw_text": a} for a in answers] if prompt.turns else [],
            )
        )
    PairFactory(study=study, prompt=prompt, output_a=outputs[0], output_b=outputs[1])
    return study


def open_as_rater(live_server, page, study: Study) -> list[str]:
    rater = MembershipFactory(study=study, rater=RaterFactory()).rater
    client = Client()
    client.force_login(rater.user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    violations: list[str] = []
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.goto(f"{live_server.url}/studies/{study.pk}/")
    return violations


def test_a_multi_turn_pair_shows_the_turns_side_by_side_blind(
    live_server, page, artifacts, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    study = one_pair_study(
        {"id": "q81", "system": "You write well.", "turns": TURNS},
        ["Rain on the roof", "Grey rain, no one home", "Title: Empty House"],
        ["Drops on leaves", "Cold drops, lost love", "Title: Goodbye"],
    )
    violations = open_as_rater(live_server, page, study)
    turns = page.locator("section.turn")
    assert turns.count() == 3
    for index, text in enumerate(TURNS):
        turn = turns.nth(index)
        assert text in turn.locator(".message-user").inner_text()
        answers = turn.locator(".answer")
        assert answers.count() == 2
    body = page.content()
    assert "You write well." in page.locator(".conversation-history").inner_text()
    for secret in ("Alpha-Secret", "Beta-Secret"):
        assert secret not in body
    pair_text = turns.nth(1).inner_text()
    assert ("Grey rain, no one home" in pair_text) and ("Cold drops, lost love" in pair_text)
    page.screenshot(path=str(artifacts / "conversation-multi-turn.png"), full_page=True)
    assert violations == []


def test_an_image_and_document_pair_loads_the_image_through_the_study_view(
    live_server, page, artifacts, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    image = png_bytes("teal", size=(320, 200))
    row = {
        "id": "v1",
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "text",
                        "text": "What colour is this image, and what does clause 2 say?",
                    },
                    {"type": "image_url", "image_url": {"url": data_url(image)}},
                    {
                        "type": "file",
                        "file": {
                            "filename": "contract.txt",
                            "file_data": data_url(
                                "\n".join(f"Clause {i}: terms {i}." for i in range(1, 80)).encode(),
                                "text/plain",
                            ),
                        },
                    },
                ],
            }
        ],
    }
    study = one_pair_study(row, ["It is teal. Clause 2: terms 2."], ["Blue-green; terms 2."])
    violations = open_as_rater(live_server, page, study)
    picture = page.locator(".prompt-image img")
    picture.wait_for()
    assert page.evaluate("document.querySelector('.prompt-image img').naturalWidth") == 320
    assert (
        page.locator(".prompt-image")
        .get_attribute("href")
        .startswith(f"/studies/{study.pk}/media/")
    )
    panel = page.locator(".document-text")
    assert "Clause 2: terms 2." in panel.inner_text()
    scrolls = page.evaluate(
        "(() => { const p = document.querySelector('.document-text');"
        " return p.scrollHeight > p.clientHeight; })()"
    )
    assert scrolls
    assert page.locator(".answer").count() == 2
    assert "Alpha-Secret" not in page.content()
    page.screenshot(path=str(artifacts / "conversation-image-document.png"), full_page=True)
    assert violations == []


def test_a_conversation_voted_turn_by_turn_walks_the_turns_by_keyboard(
    live_server, page, artifacts, settings, tmp_path
):
    """Issue 16: voting each turn. The page shows turns 1..k only, the turn voted on stands out,
    A / B / T move to the next turn of the same pair, and every vote records its turn."""
    from playwright.sync_api import expect

    from raters.models import Vote

    settings.MEDIA_ROOT = tmp_path
    study = one_pair_study(
        {"id": "q81", "system": "You write well.", "turns": TURNS},
        ["Rain on the roof", "Grey rain, no one home", "Title: Empty House"],
        ["Drops on leaves", "Cold drops, lost love", "Title: Goodbye"],
    )
    Study.objects.filter(pk=study.pk).update(vote_each_turn=True)
    violations = open_as_rater(live_server, page, study)
    page.locator("html[data-voting-ready]").wait_for(state="attached")
    expect(page.locator(".choices legend")).to_contain_text("Turn 1 of 3:")
    assert page.locator("section.turn").count() == 1
    assert TURNS[1] not in page.content(), "turn 2 is not shown before turn 1 is voted"
    page.screenshot(path=str(artifacts / "conversation-turn-1-of-3.png"), full_page=True)
    for turn, key in ((1, "a"), (2, "b")):
        page.keyboard.press(key)
        expect(page.locator(".choices legend")).to_contain_text(f"Turn {turn + 1} of 3:")
        expect(page.locator("section.turn")).to_have_count(turn + 1)
        expect(page.locator("section.turn-current")).to_contain_text(TURNS[turn])
    current = page.locator("section.turn-current")
    assert "Title: Empty House" in current.inner_text() and "Title: Goodbye" in current.inner_text()
    body = page.content()
    for secret in ("Alpha-Secret", "Beta-Secret"):
        assert secret not in body
    page.screenshot(path=str(artifacts / "conversation-turn-3-of-3.png"), full_page=True)
    page.keyboard.press("t")
    expect(page.get_by_text("All done")).to_be_visible()
    assert sorted(Vote.objects.values_list("turn", "choice")) == [
        (1, Vote.objects.get(turn=1).choice),
        (2, Vote.objects.get(turn=2).choice),
        (3, "tie"),
    ]
    assert Vote.objects.get(turn=1).choice != Vote.objects.get(turn=2).choice  # A then B
    assert violations == []


def test_the_researcher_chooses_votes_per_turn_on_the_study_form(live_server, page, artifacts):
    """Issue 16: the setting sits with what raters see, and saving the form keeps it."""
    from playwright.sync_api import expect

    from tests.browser.test_results_page import PASSWORD
    from tests.factories import UserFactory

    staff = UserFactory(username="researcher", is_staff=True, is_superuser=True)
    staff.set_password(PASSWORD)
    staff.save()
    study = StudyFactory(owner=staff, name="Conversation study")
    page.goto(f"{live_server.url}/admin/login/?next=/admin/evaluations/study/{study.pk}/change/")
    page.get_by_label("Username").fill("researcher")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    box = page.get_by_label("Vote on each turn")
    expect(box).not_to_be_checked()
    box.check()
    box.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "study-form-vote-each-turn.png"))
    page.locator('input[name="_continue"]').click()
    expect(page.get_by_label("Vote on each turn")).to_be_checked()
    study.refresh_from_db()
    assert study.vote_each_turn
