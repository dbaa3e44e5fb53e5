"""The admin and the API docs under their Content-Security-Policy, in a real Chromium: every page
renders and works, and the console shows no violation."""

from pathlib import Path

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from evaluations.models import Study
from tests.browser.test_results_page import PASSWORD, normal_study
from tests.factories import UserFactory

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/shots-secmisc")
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


def watch(page) -> list[str]:
    problems: list[str] = []
    page.add_init_script(RECORD_VIOLATIONS)
    page.on(
        "console",
        lambda message: problems.append(message.text) if message.type == "error" else None,
    )
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "response",
        lambda response: (
            problems.append(f"{response.status} {response.url}")
            if response.status >= 400 and not response.url.endswith("/favicon.ico")
            else None
        ),
    )
    return problems


def violations(page) -> list[str]:
    return page.evaluate("window.__cspViolations || []")


def visit(page, url: str, shot: str) -> None:
    response = page.goto(url)
    assert response is not None and response.status == 200, url
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_load_state("networkidle")
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{shot}.png"), full_page=True)
    assert violations(page) == [], (url, violations(page))


@pytest.mark.django_db(transaction=True)
def test_admin_pages_and_api_docs_work_under_the_policy(live_server, page):
    cache.clear()
    problems = watch(page)
    staff = UserFactory(username="researcher", is_staff=True, is_superuser=True)
    staff.set_password(PASSWORD)
    staff.save()
    study = normal_study(staff, prompts=9, raters=3)
    Study.objects.filter(pk=study.pk).update(status=Study.Status.GENERATING)
    base = live_server.url

    page.goto(f"{base}/admin/login/")
    page.get_by_label("Username").fill("researcher")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(
        page.get_by_role("heading", name="Studies, candidates, prompts and votes")
    ).to_be_visible()
    assert violations(page) == []

    visit(page, f"{base}/admin/", "admin_index")
    visit(page, f"{base}/admin/evaluations/study/", "study_list")

    # The study page: its progress bar refreshes itself (progress.js, a static file now).
    with page.expect_request(lambda request: "/progress/" in request.url, timeout=10_000):
        visit(page, f"{base}/admin/evaluations/study/{study.pk}/change/", "study_change")
    expect(page.locator("#generation-progress [role=progressbar]")).to_be_visible()

    visit(page, f"{base}/admin/evaluations/study/{study.pk}/results/", "results")
    expect(page.locator("figure.results-chart svg")).to_have_count(4)
    # The category tabs work without script or inline style: each label shows its panel.
    panels = page.locator(".tabs .panel")
    expect(panels.nth(0)).to_be_visible()
    expect(panels.nth(1)).to_be_hidden()
    page.locator(".tabs label").nth(1).click()
    expect(panels.nth(1)).to_be_visible()
    expect(panels.nth(0)).to_be_hidden()
    page.screenshot(path=str(SHOTS / "results_second_tab.png"), full_page=True)

    visit(page, f"{base}/admin/evaluations/study/{study.pk}/import-prompts/", "import_prompts")
    visit(page, f"{base}/admin/evaluations/candidate/add/", "candidate_add")
    visit(page, f"{base}/admin/evaluations/output/", "output_list")
    visit(page, f"{base}/admin/raters/vote/", "vote_list")

    visit(page, f"{base}/api/v1/docs/", "api_docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("tastetest API")
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    visit(page, f"{base}/api/v1/studies/", "api_browsable")
    expect(page.get_by_role("heading", name="Study List Api")).to_be_visible()

    assert [p for p in problems if "Content Security Policy" in p] == []
    # Failed loads are listed by URL above; the console's own line names none (the browsable
    # API has no favicon, which is no fault).
    assert [p for p in problems if not p.startswith("Failed to load resource")] == []
