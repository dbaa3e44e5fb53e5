"""The rater's tools for a prompt's media, in real Chromium under the rater pages' strict CSP:
an image enlarges in a dialog (static script, no inline one), and a long document has a find box
that marks its matches and steps through them. Neither lets a key meant for them cast a vote."""

import pytest

from raters.models import Vote
from tests.browser.test_conversation_pairs import one_pair_study, open_as_rater
from tests.conversations.conftest import data_url, png_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HOSTILE_LINE = '<img src=x onerror="document.title=1"> <script>document.title=2</script>'
DOCUMENT = "\n".join(f"Clause {i}: terms {i}." for i in range(1, 80)) + "\n" + HOSTILE_LINE


def media_study(image: bytes):
    row = {
        "id": "v1",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What does the chart show, and clause 7?"},
                    {"type": "image_url", "image_url": {"url": data_url(image)}},
                    {
                        "type": "file",
                        "file": {
                            "filename": "contract.txt",
                            "file_data": data_url(DOCUMENT.encode(), "text/plain"),
                        },
                    },
                ],
            }
        ],
    }
    return one_pair_study(row, ["Clause 7: terms 7."], ["It says terms 7."])


def test_a_prompt_image_enlarges_in_a_dialog_and_keys_there_cast_no_vote(
    live_server, page, artifacts, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    study = media_study(png_bytes("purple", size=(1600, 1000)))
    violations = open_as_rater(live_server, page, study)
    page.wait_for_function("document.documentElement.dataset.mediaReady === 'true'")
    page.wait_for_function("document.documentElement.dataset.votingReady === 'true'")
    inline_width = page.locator(".prompt-image img").bounding_box()["width"]

    page.locator(".prompt-image").click()
    dialog = page.locator("dialog.image-zoom")
    dialog.wait_for(state="visible")
    zoomed = dialog.locator("img")
    page.wait_for_function("document.querySelector('dialog.image-zoom img').complete")
    fitted_width = zoomed.bounding_box()["width"]
    assert fitted_width > inline_width * 1.3
    assert fitted_width <= 1280  # fitted to the window
    page.screenshot(path=str(artifacts / "prompt-image-zoomed.png"))

    page.keyboard.press("a")  # a vote's shortcut: not while the image is open
    zoomed.click()
    assert zoomed.bounding_box()["width"] == 1600  # its full size
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    assert page.url.endswith(f"/studies/{study.pk}/")  # the link did not navigate away
    assert not Vote.objects.exists()
    assert violations == []


def test_a_document_is_searchable_matches_marked_and_stepped_through(
    live_server, page, artifacts, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    study = media_study(png_bytes("teal", size=(320, 200)))
    violations = open_as_rater(live_server, page, study)
    page.wait_for_function("document.documentElement.dataset.mediaReady === 'true'")
    finder = page.get_by_label("Find in document")
    finder.fill("TERMS 7")  # case does not matter
    marks = page.locator(".document-text mark")
    assert marks.count() == 11  # terms 7 and terms 70 to 79
    assert page.locator(".find-count").inner_text() == "1 of 11"
    assert page.locator(".document-text mark.current").inner_text() == "terms 7"
    finder.press("Enter")
    finder.press("Enter")
    assert page.locator(".find-count").inner_text() == "3 of 11"
    assert page.locator(".document-text mark.current").inner_text() == "terms 7"  # of "terms 71"
    assert page.evaluate("document.querySelector('.document-text').scrollTop") > 0
    current_visible = page.evaluate(
        "(() => { const p = document.querySelector('.document-text').getBoundingClientRect();"
        " const m = document.querySelector('mark.current').getBoundingClientRect();"
        " return m.top >= p.top && m.bottom <= p.bottom; })()"
    )
    assert current_visible
    finder.press("Shift+Enter")
    assert page.locator(".find-count").inner_text() == "2 of 11"
    page.screenshot(path=str(artifacts / "prompt-document-find.png"), full_page=True)

    # A document is text: searching its markup marks text and builds no element from it.
    finder.fill("onerror")
    assert marks.count() == 1
    assert page.locator(".document-text img, .document-text script").count() == 0
    assert page.title() not in ("1", "2")
    finder.fill("no such words")
    assert page.locator(".find-count").inner_text() == "No match"
    finder.fill("")
    assert marks.count() == 0
    assert page.locator(".document-text").inner_text().startswith("Clause 1: terms 1.")
    assert not Vote.objects.exists()  # the letters typed cast no vote

    # A small image is scaled up to the window when enlarged.
    page.locator(".prompt-image").click()
    page.locator("dialog.image-zoom").wait_for(state="visible")
    shown = page.evaluate(
        "(() => { const i = document.querySelector('dialog.image-zoom img');"
        " const r = i.getBoundingClientRect();"
        " return Math.min(r.width / i.naturalWidth, r.height / i.naturalHeight) * i.naturalWidth;"
        " })()"
    )
    assert shown > 320 * 2
    page.screenshot(path=str(artifacts / "prompt-small-image-zoomed.png"))
    assert violations == []
