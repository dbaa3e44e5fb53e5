"""Batch generation with real Celery workers (beat embedded) killed at the dangerous moments:
between upload and batch creation, after creation before it is recorded, and between completion
and ingestion. Nothing is lost and nothing is paid for twice: one provider batch, every output
answered by it exactly once."""

from collections import Counter
from decimal import Decimal

import pytest

from evaluations.generation.starting import generation_start
from evaluations.models import Output, ProviderBatch, Study
from tests.factories import PromptFactory
from tests.generation.worker import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

WORKER_ENV = {
    "STUB_API_KEY": "sk-stub",
    "WORKER_BEAT": "1",
    "BATCH_POLL_EVERY_SECONDS": 0.5,
    "BATCH_POLL_MIN_SECONDS": 0.2,
    "BATCH_POLL_MAX_SECONDS": 1,
    "GENERATION_LEASE_SECONDS": 3,
}


@pytest.mark.parametrize("moment", ["before_create", "after_create", "content"])
def test_a_worker_killed_mid_batch_loses_nothing_and_pays_nothing_twice(
    moment, study, stub_candidate, openai_stub, start_worker, django_capture_on_commit_callbacks
):
    stub_candidate(
        study,
        "cheap",
        generation_mode="batch",
        input_price_per_mtok=Decimal(2),
        output_price_per_mtok=Decimal(8),
    )
    for i in range(12):
        PromptFactory(study=study, external_id=f"b{i}", text=f"Batch question {i}")
    outputs = Output.objects.filter(prompt__study=study)
    openai_stub.batch_hang = moment

    first = start_worker(**WORKER_ENV)
    with django_capture_on_commit_callbacks(execute=True):
        assert generation_start(study=study) == 12
    wait_for(lambda: openai_stub.batch_hung >= 1, timeout=90, what=moment, worker=first)
    first.kill()
    openai_stub.batch_hang = ""
    openai_stub.reset_hangs()
    created_before = len(openai_stub.batches)
    assert created_before == (0 if moment == "before_create" else 1)
    assert not outputs.filter(status=Output.Status.DONE).exists()

    second = start_worker(**WORKER_ENV)
    wait_for(
        lambda: Study.objects.get(pk=study.pk).status == Study.Status.READY,
        timeout=120,
        what="the study to be ready",
        worker=second,
    )
    assert len(openai_stub.batches) == 1, "a second batch was created for the same outputs"
    answered = Counter(r.last_user_text for r in openai_stub.requests if r.mode == "batch")
    assert sorted(answered.values()) == [1] * 12  # each output answered once, by the one batch
    final = list(outputs)
    assert {o.status for o in final} == {Output.Status.DONE}
    assert all(o.cost_usd and o.latency_ms is None and o.attempts == 1 for o in final)
    [batch] = ProviderBatch.objects.filter(study=study)
    assert batch.status == ProviderBatch.Status.INGESTED and batch.ingested_count == 12


def test_a_mixed_study_finishes_on_a_real_worker_with_pairs_built(
    study, stub_candidate, openai_stub, start_worker, django_capture_on_commit_callbacks
):
    live = stub_candidate(study, "live-one")
    batched = stub_candidate(
        study,
        "cheap",
        generation_mode="batch",
        input_price_per_mtok=Decimal(2),
        output_price_per_mtok=Decimal(8),
    )
    for i in range(6):
        PromptFactory(study=study, external_id=f"m{i}", text=f"Mixed question {i}")
    openai_stub.batch_delay = 2  # the live answers are in well before the batch

    worker = start_worker(**WORKER_ENV)
    with django_capture_on_commit_callbacks(execute=True):
        assert generation_start(study=study) == 12
    wait_for(
        lambda: Study.objects.get(pk=study.pk).status == Study.Status.READY,
        timeout=120,
        what="the mixed study to be ready",
        worker=worker,
    )
    live_outputs = list(Output.objects.filter(candidate=live))
    batch_outputs = list(Output.objects.filter(candidate=batched))
    assert {o.status for o in live_outputs + batch_outputs} == {Output.Status.DONE}
    assert all(o.latency_ms and o.provider_batch_id is None for o in live_outputs)
    assert all(o.latency_ms is None and o.provider_batch_id for o in batch_outputs)
    assert all(r.stream for r in openai_stub.requests_for("live-one"))
    assert len(openai_stub.requests_for("cheap")) == 6 and len(openai_stub.batches) == 1
    assert study.pairs.count() == 6  # one pair per prompt: live against batch
