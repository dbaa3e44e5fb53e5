"""The results page's preference download and the admin's vote upload, in Chromium."""

import json
import zipfile

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from raters.models import Vote
from tests.factories import StudyFactory, UserFactory
from tests.preferences.study_data import known_study

PASSWORD = "correct horse battery staple"


def _sign_in(page, live_server, next_url: str) -> None:
    page.goto(f"{live_server.url}/admin/login/?next={next_url}")
    page.get_by_label("Username").fill("researcher")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


@pytest.fixture
def staff(transactional_db):
    cache.clear()
    user = UserFactory(username="researcher", is_staff=True, is_superuser=True)
    user.set_password(PASSWORD)
    user.save()
    return user


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_results_page_downloads_preference_records_and_the_dataset(
    live_server, page, artifacts, staff, tmp_path
):
    study = StudyFactory(owner=staff)
    known_study(study)
    _sign_in(page, live_server, f"/admin/evaluations/study/{study.pk}/results/")
    form = page.locator("form.preferences-download")
    expect(form).to_be_visible()
    page.screenshot(path=str(artifacts / "results_preferences.png"), full_page=False)
    form.get_by_label("Preference data for training:").select_option("openai-dpo")
    with page.expect_download() as download:
        form.get_by_role("button", name="Download JSON Lines").click()
    path = tmp_path / "records.jsonl"
    download.value.save_as(path)
    records = [json.loads(line) for line in path.read_text().split("\n") if line]
    assert len(records) == 2 and records[0]["preferred_output"][0]["content"] == "alpha answers 0"
    with page.expect_download() as download:
        form.get_by_role("button", name="Download dataset (Parquet, zip)").click()
    archive = tmp_path / "dataset.zip"
    download.value.save_as(archive)
    assert "README.md" in zipfile.ZipFile(archive).namelist()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_admin_upload_shows_each_bad_line_then_imports(
    live_server, page, artifacts, staff, tmp_path
):
    study = StudyFactory(owner=staff, name="Imported arena votes")
    _sign_in(page, live_server, f"/admin/evaluations/study/{study.pk}/change/")
    page.get_by_role("link", name="Import votes").click()
    battle = {"question_id": 1, "judge": "j1", "model_a": "x", "model_b": "y"}
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps({**battle, "winner": "model_a"})
        + "\n"
        + json.dumps({**battle, "winner": "<script>alert(1)</script>"})
        + "\n{oops\n"
    )
    page.get_by_label("File").set_input_files(str(bad))
    page.get_by_role("button", name="Import").click()
    errors = page.locator(".errornote li")
    expect(errors).to_have_count(2)
    expect(errors.first).to_contain_text("line 2: winner '<script>alert(1)</script>'")
    expect(errors.nth(1)).to_contain_text("line 3: not valid JSON")
    page.screenshot(path=str(artifacts / "import_votes_errors.png"), full_page=True)
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({**battle, "winner": "model_b"}) + "\n")
    page.get_by_label("File").set_input_files(str(good))
    page.get_by_role("button", name="Import").click()
    expect(page.locator(".messagelist")).to_contain_text("1 vote by 1 new judge on 1 new pair")
    page.screenshot(path=str(artifacts / "import_votes_done.png"), full_page=False)
    assert Vote.objects.filter(study=study).count() == 1
