"""The study page shows its provider batches and the saving; the results page the saving."""

from decimal import Decimal

from django.core.cache import cache
from playwright.sync_api import expect

from evaluations.models import Output, ProviderBatch
from tests.factories import (
    CandidateFactory,
    OutputFactory,
    PromptFactory,
    StudyFactory,
    UserFactory,
)

PASSWORD = "batch-pass-123"


def test_the_study_page_shows_batches_by_state_and_the_saving(live_server, page, artifacts):
    cache.clear()
    staff = UserFactory(username="researcher", is_staff=True, is_superuser=True)
    staff.set_password(PASSWORD)
    staff.save()
    study = StudyFactory(owner=staff, name="Support answers", status="generating")
    candidate = CandidateFactory(
        study=study,
        label="Cheap",
        model="openai/cheap",
        generation_mode="batch",
        input_price_per_mtok=Decimal(2),
        output_price_per_mtok=Decimal(8),
    )
    done = ProviderBatch.objects.create(
        study=study,
        candidate=candidate,
        key="k1",
        status="ingested",
        provider_status="completed",
        provider_batch_id="batch_abc123",
        request_count=4,
        completed_count=4,
        ingested_count=4,
    )
    ProviderBatch.objects.create(
        study=study,
        candidate=candidate,
        key="k2",
        status="in_progress",
        provider_status="in_progress",
        provider_batch_id="batch_def456",
        request_count=4,
    )
    for i in range(8):
        prompt = PromptFactory(study=study, external_id=f"p{i}", text=f"Question {i}?")
        if i < 4:
            # Batch price: half of 100 * 2 + 50 * 8 per million tokens.
            OutputFactory(
                prompt=prompt,
                candidate=candidate,
                provider_batch=done,
                input_tokens=100,
                output_tokens=50,
                cost_usd=Decimal("0.0003"),
                latency_ms=None,
            )
        else:
            OutputFactory(prompt=prompt, candidate=candidate, status=Output.Status.PENDING, text="")

    page.goto(f"{live_server.url}/admin/login/?next=/admin/evaluations/study/{study.pk}/change/")
    page.get_by_label("Username").fill("researcher")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    panel = page.locator(".provider-batches")
    expect(panel).to_contain_text("1 in progress, 1 completed, 0 failed, 0 expired")
    expect(panel).to_contain_text("batch_abc123")
    expect(panel).to_contain_text("batch_def456")
    # Live: 4 * (100 * 2 + 50 * 8) / 1e6 = $0.0024; paid $0.0012; projected for 8: $0.0024.
    expect(panel).to_contain_text("Saving against live prices: $0.0012 on 4 outputs so far (50%)")
    expect(panel).to_contain_text("projected for all 8: $0.0024")
    panel.screenshot(path=str(artifacts / "batch_progress.png"))
    page.screenshot(path=str(artifacts / "batch_study_page.png"), full_page=True)

    page.goto(f"{live_server.url}/admin/evaluations/study/{study.pk}/results/")
    saving = page.locator(".batch-saving")
    expect(saving).to_contain_text("4 outputs generated through providers' batch APIs for $0.0012")
    expect(saving).to_contain_text("$0.0012 (50%) less than the same tokens at live prices")
    page.screenshot(path=str(artifacts / "batch_results_page.png"), full_page=True)
