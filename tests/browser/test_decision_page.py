"""The demo's decision in Chromium: page and standalone report, screenshots for a person to
look at (artifacts/decision-*.png)."""

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from research.decision.demo import demo_decision_setup
from research.decision.selectors import decision_document
from tests.factories import UserFactory

PASSWORD = "a-long-test-password-1"


@pytest.mark.django_db(transaction=True)
def test_the_demo_decision_page_and_report_show_two_categories_and_a_routing_table(
    live_server, page, artifacts
):
    cache.clear()
    staff = UserFactory(username="researcher", is_staff=True, is_superuser=True)
    staff.set_password(PASSWORD)
    staff.save()
    study = demo_decision_setup(owner=staff)
    document = decision_document(study=study)
    assert len(document["categories"]) >= 2
    assert all(scope["recommended"] for scope in document["categories"])
    assert document["routing"]["monthly_cost_usd"] is not None

    url = f"/admin/evaluations/study/{study.pk}/decision/"
    page.goto(f"{live_server.url}/admin/login/?next={url}")
    page.get_by_label("Username").fill("researcher")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_server.url}{url}")
    page.screenshot(path=str(artifacts / "decision-page.png"), full_page=True)
    expect(page.get_by_role("heading", name=f"Decision: {study.name}")).to_be_visible()
    expect(page.get_by_role("heading", name="Routing table")).to_be_visible()
    for row in document["routing"]["rows"]:
        expect(page.locator("table.decision-table").nth(1)).to_contain_text(row["category"])
    expect(page.locator("figure svg").first).to_be_visible()
    page.screenshot(path=str(artifacts / "decision-page.png"), full_page=True)

    page.goto(f"{live_server.url}{url}report.html")
    expect(page.get_by_role("heading", name=f"Decision: {study.name}")).to_be_visible()
    routed = document["routing"]["monthly_cost_usd"]
    expect(page.locator("body")).to_contain_text(f"${routed}")
    page.screenshot(path=str(artifacts / "decision-report.png"), full_page=True)
    page.emulate_media(media="print")
    page.pdf(path=str(artifacts / "decision-report.pdf"))
