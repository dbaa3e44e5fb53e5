"""After `make run`'s seeding and generation, a demo rater sees a multi-turn pair and an image
pair, in real Chromium, blind and under the strict CSP."""

import pytest

from evaluations.models import Pair
from tests.browser.test_conversation_pairs import open_as_rater
from tests.demo.conftest import demo_generated

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SECRETS = ("Concise (demo)", "Thorough (demo)", "Friendly (demo)", "demo/", "demo-concise")


@pytest.fixture
def demo(settings, tmp_path, request):
    from config.celery import app

    settings.MEDIA_ROOT = tmp_path / "media"
    # demo_setup queues the generation on commit: run it here, as the worker would.
    app.conf.task_always_eager = True
    request.addfinalizer(lambda: setattr(app.conf, "task_always_eager", False))
    return demo_generated()


def only_pairs_of(study, external_id: str) -> None:
    # The rater is given pairs in a random order: leave the one kind this test looks at.
    Pair.objects.filter(study=study).exclude(prompt__external_id=external_id).delete()


@pytest.mark.parametrize(
    ("external_id", "shot"), [("multi-turn-1", "demo-multi-turn"), ("image-1", "demo-image")]
)
def test_a_demo_rater_sees_the_demos_conversation_pairs(
    demo, live_server, page, artifacts, external_id, shot
):
    only_pairs_of(demo, external_id)
    violations = open_as_rater(live_server, page, demo)
    if external_id == "multi-turn-1":
        turns = page.locator("section.turn")
        assert turns.count() == 3
        assert "parcel arrived a week late" in turns.nth(0).inner_text()
        assert "subject line" in turns.nth(2).locator(".message-user").inner_text()
        for index in range(3):
            assert turns.nth(index).locator(".answer").count() == 2
        assert (
            "support team of an online shop" in page.locator(".conversation-history").inner_text()
        )
    else:
        page.locator(".prompt-image img").wait_for()
        assert page.evaluate("document.querySelector('.prompt-image img').naturalWidth") == 480
        assert page.locator(".answer").count() == 2
        assert page.locator(".answer").nth(0).inner_text().count("480x300 pixels") == 1
    body = page.content()
    for secret in SECRETS:
        assert secret not in body
    page.screenshot(path=str(artifacts / f"{shot}.png"), full_page=True)
    assert violations == []
