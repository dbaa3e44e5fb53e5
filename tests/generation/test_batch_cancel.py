"""A study stopped while generating (back to draft, marked ready) cancels its provider batches:
through LiteLLM's cancel against the test server, nothing ingested from the cancelled batch,
nothing asked again until the researcher generates again, nothing paid twice."""

import time
from collections import Counter
from decimal import Decimal

import pytest

from evaluations.generation.batch_polling import batches_poll
from evaluations.generation.batches import batch_submit, outputs_batch_assign
from evaluations.generation.starting import generation_start
from evaluations.models import Output, ProviderBatch, Study
from evaluations.studies.lifecycle import study_status_change

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def quick_polls(settings):
    settings.BATCH_POLL_MIN_SECONDS = 0
    settings.BATCH_POLL_MAX_SECONDS = 3600  # no preparing batch is taken for abandoned here


@pytest.fixture
def eager(request):
    from config.celery import app

    app.conf.task_always_eager = True
    request.addfinalizer(lambda: setattr(app.conf, "task_always_eager", False))


def batch_candidate(study, stub_candidate):
    return stub_candidate(
        study,
        "cheap",
        generation_mode="batch",
        input_price_per_mtok=Decimal(2),
        output_price_per_mtok=Decimal(8),
    )


def submitted_batch(study) -> ProviderBatch:
    generation_start(study=study)
    ids = list(Output.objects.filter(prompt__study=study).values_list("pk", flat=True))
    [batch_id] = outputs_batch_assign(output_ids=ids)
    assert batch_submit(batch_id=batch_id)
    return ProviderBatch.objects.get(pk=batch_id)


def poll_rounds(n: int = 4) -> None:
    for _ in range(n):
        batches_poll()


@pytest.mark.parametrize("target", [Study.Status.DRAFT, Study.Status.READY])
def test_stopping_a_generating_study_in_the_admin_cancels_its_batch_at_the_provider(
    target,
    client,
    study,
    prompts,
    stub_candidate,
    openai_stub,
    eager,
    django_capture_on_commit_callbacks,
):
    candidate = batch_candidate(study, stub_candidate)
    openai_stub.batch_delay = 0.5  # it would have answered by the time it is polled below
    batch = submitted_batch(study)
    client.force_login(study.owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/admin/evaluations/study/{study.pk}/transition/{target}/")
    assert response.status_code == 302
    assert openai_stub.batch_cancels == [batch.provider_batch_id]
    time.sleep(0.6)
    with django_capture_on_commit_callbacks(execute=True):
        poll_rounds()

    assert openai_stub.batches[batch.provider_batch_id].status == "cancelled"
    assert openai_stub.batch_cancels == [batch.provider_batch_id]  # asked once
    batch.refresh_from_db()
    assert (batch.provider_status, batch.ingested_count) == ("cancelled", 0)
    assert batch.status == ProviderBatch.Status.INGESTED
    outputs = list(Output.objects.filter(candidate=candidate))
    assert {(o.status, o.provider_batch_id, o.attempts) for o in outputs} == {
        (Output.Status.PENDING, None, 0)
    }
    assert len(openai_stub.batches) == 1 and not openai_stub.requests  # asked nothing again
    study.refresh_from_db()
    assert study.status == target


def test_generating_again_after_a_cancel_answers_each_output_once(
    study, prompts, stub_candidate, openai_stub, django_capture_on_commit_callbacks
):
    candidate = batch_candidate(study, stub_candidate)
    openai_stub.batch_delay = 3600
    first = submitted_batch(study)
    study_status_change(study=study, status=Study.Status.DRAFT)  # the cancel task lost
    poll_rounds()  # the poll cancels the batches of a study no longer generating
    assert openai_stub.batch_cancels == [first.provider_batch_id]

    openai_stub.batch_delay = 0
    second = submitted_batch(study)
    with django_capture_on_commit_callbacks(execute=True):
        poll_rounds()
    assert second.pk != first.pk
    assert set(Output.objects.filter(candidate=candidate).values_list("status", flat=True)) == {
        Output.Status.DONE
    }
    answered = Counter(r.last_user_text for r in openai_stub.requests if r.mode == "batch")
    assert sorted(answered.values()) == [1, 1, 1]  # by the second batch only: paid once
    study.refresh_from_db()
    assert study.status == Study.Status.READY


def test_a_batch_not_yet_submitted_when_the_study_stops_is_never_submitted(
    study, prompts, stub_candidate, openai_stub
):
    candidate = batch_candidate(study, stub_candidate)
    generation_start(study=study)
    ids = list(Output.objects.filter(prompt__study=study).values_list("pk", flat=True))
    [batch_id] = outputs_batch_assign(output_ids=ids)
    study_status_change(study=study, status=Study.Status.DRAFT)
    assert not batch_submit(batch_id=batch_id)  # its submit task, arriving after the stop
    poll_rounds()
    assert not batch_submit(batch_id=batch_id)  # or after the poll cancelled it
    assert not openai_stub.files and not openai_stub.batches
    assert ProviderBatch.objects.get().provider_status == "cancelled"
    assert set(
        Output.objects.filter(candidate=candidate).values_list("status", "provider_batch_id")
    ) == {(Output.Status.PENDING, None)}
