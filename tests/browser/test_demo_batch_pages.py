"""The demo study of `make run` (offline) generates one candidate through the demo provider's
batch API: its study page shows the batch in progress, then done, and the results page the
saving against live prices."""

import pytest
from django.core.cache import cache
from django.core.management import call_command
from playwright.sync_api import expect

from evaluations.generation.batch_polling import batches_poll
from evaluations.models import ProviderBatch, Study
from evaluations.studies.demo import DEMO_ADMIN_PASSWORD, DEMO_ADMIN_USERNAME, DEMO_STUDY_SLUG

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def eager(request):
    from config.celery import app

    app.conf.task_always_eager = True
    request.addfinalizer(lambda: setattr(app.conf, "task_always_eager", False))


def test_the_demo_shows_its_batch_in_progress_then_the_saving(
    live_server, page, artifacts, settings, tmp_path, eager
):
    cache.clear()
    settings.DATA_DIR = tmp_path
    settings.DEMO_BATCH_SECONDS = 3600  # the demo provider has not run the batch yet
    settings.BATCH_POLL_MIN_SECONDS = settings.BATCH_POLL_MAX_SECONDS = 0
    call_command("demo_setup", stdout=open("/dev/null", "w"))  # noqa: SIM115
    study = Study.objects.get(slug=DEMO_STUDY_SLUG)
    [batch] = ProviderBatch.objects.filter(study=study)
    assert batch.provider_batch_id.startswith("batch_demo")

    page.goto(f"{live_server.url}/admin/login/?next=/admin/evaluations/study/{study.pk}/change/")
    page.get_by_label("Username").fill(DEMO_ADMIN_USERNAME)
    page.get_by_label("Password").fill(DEMO_ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    panel = page.locator(".provider-batches")
    expect(panel).to_contain_text("0 submitting, 1 in progress, 0 completed")
    expect(panel).to_contain_text(batch.provider_batch_id)
    expect(panel).to_contain_text("Thorough (demo)")
    page.screenshot(
        path=str(artifacts / "demo_batch_in_progress.png"),
        clip={"x": 0, "y": 0, "width": 1280, "height": 640},
    )

    settings.DEMO_BATCH_SECONDS = 0
    batches_poll()
    batches_poll()
    study.refresh_from_db()
    assert study.status == Study.Status.OPEN  # the demo opens itself once generated

    page.reload()
    expect(panel).to_contain_text("0 in progress, 1 completed")
    expect(panel).to_contain_text("on 11 outputs so far (50%)")
    panel.screenshot(path=str(artifacts / "demo_batch_done.png"))

    page.goto(f"{live_server.url}/admin/evaluations/study/{study.pk}/results/")
    saving = page.locator(".batch-saving")
    expect(saving).to_contain_text("11 outputs generated through providers' batch APIs")
    expect(saving).to_contain_text("(50%) less than the same tokens at live prices")
    page.screenshot(path=str(artifacts / "demo_batch_results.png"), full_page=True)
