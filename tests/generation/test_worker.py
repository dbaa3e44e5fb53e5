"""Real Celery workers: crash safety under SIGKILL, and the demo generating as on `make run`."""

from collections import Counter

import pytest
from django.core.management import call_command

from evaluations.generation.batch_progress import batch_saving
from evaluations.generation.starting import generation_start
from evaluations.models import Output, ProviderBatch, Study
from tests.factories import PromptFactory
from tests.generation.worker import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

WORKER_ENV = {
    "STUB_API_KEY": "sk-stub",
    "GENERATION_LEASE_SECONDS": 3,
    "GENERATION_SLOT_TTL_SECONDS": 3,
    "GENERATION_RETRY_BASE_SECONDS": 0.05,
    "GENERATION_TIMEOUT_SECONDS": 10,
}


def test_a_worker_killed_mid_generation_loses_nothing_and_pays_nothing_twice(
    study, stub_candidate, openai_stub, start_worker, django_capture_on_commit_callbacks
):
    openai_stub.latency = 0.4
    for name in ("north", "south"):
        stub_candidate(study, name, max_concurrency=4)
    for i in range(20):
        PromptFactory(study=study, external_id=f"k{i}", text=f"Crash question {i}")
    outputs = Output.objects.filter(prompt__study=study)

    first = start_worker(**WORKER_ENV)
    with django_capture_on_commit_callbacks(execute=True):
        assert generation_start(study=study) == 40
    wait_for(
        lambda: outputs.filter(status=Output.Status.DONE).count() >= 8,
        timeout=60,
        what="the first outputs",
        worker=first,
    )
    first.kill()
    done_before_kill = set(outputs.filter(status=Output.Status.DONE).values_list("id", flat=True))
    assert 8 <= len(done_before_kill) < 40, "the kill must land mid-generation"

    second = start_worker(**WORKER_ENV)
    wait_for(
        lambda: Study.objects.get(pk=study.pk).status == Study.Status.READY,
        timeout=90,
        what="the study to be ready",
        worker=second,
    )

    served = Counter((r.model, r.last_user_text) for r in openai_stub.requests)
    final = list(outputs.select_related("prompt", "candidate"))
    assert {o.status for o in final} == {Output.Status.DONE}
    for output in final:
        times = served[(output.candidate.model.split("/", 1)[1], output.prompt.text)]
        if output.pk in done_before_kill:
            assert times == 1, f"{output} was finished before the kill but requested again"
        else:
            # At most once more than once: the request in flight when the worker died.
            assert 1 <= times <= 2
    assert sum(served.values()) <= 40 + 8  # at most the two caps' worth was in flight
    assert study.pairs.count() == 20


def test_the_demo_study_generates_through_a_real_worker_as_on_make_run(
    start_worker, settings, tmp_path
):
    # The demo's chart is stored where the worker reads it.
    settings.MEDIA_ROOT = tmp_path / "media"
    call_command("demo_setup", stdout=open("/dev/null", "w"))  # noqa: SIM115
    study = Study.objects.get(slug="demo-support-answers")
    worker = start_worker(
        **WORKER_ENV,
        MEDIA_ROOT=str(settings.MEDIA_ROOT),
        WORKER_BEAT="1",  # as `make run` runs it: the beat polls the demo's provider batch
        BATCH_POLL_EVERY_SECONDS=0.5,
        BATCH_POLL_MIN_SECONDS=0.5,
        BATCH_POLL_MAX_SECONDS=1,
        DEMO_BATCH_SECONDS=2,
        TASTETEST_DATA_DIR=tmp_path,
    )
    wait_for(
        # The demo opens for voting by itself once its pairs are built.
        lambda: Study.objects.get(pk=study.pk).status == Study.Status.OPEN,
        timeout=90,
        what="the demo study to be generated and opened",
        worker=worker,
    )
    outputs = Output.objects.filter(prompt__study=study)
    assert outputs.count() == 36  # 12 prompts, one of them 3 turns and one with an image
    assert set(outputs.values_list("status", flat=True)) == {Output.Status.DONE}
    live = outputs.exclude(candidate__model="demo/thorough")
    assert all(o.ttft_ms and o.latency_ms >= o.ttft_ms for o in live)
    # The thorough candidate went through the demo provider's batch API, at half its price.
    # Its scripted conversation is answered live: each turn needs its answer to the one before.
    batched = list(
        outputs.filter(candidate__model="demo/thorough").exclude(prompt__external_id="multi-turn-1")
    )
    assert len(batched) == 11 and all(o.latency_ms is None and o.cost_usd > 0 for o in batched)
    [batch] = ProviderBatch.objects.filter(study=study)
    assert batch.status == ProviderBatch.Status.INGESTED and batch.ingested_count == 11
    assert batch.provider_batch_id.startswith("batch_demo")
    saving = batch_saving(study=study)
    assert saving.outputs == 11 and round(saving.percent) == 50
    assert outputs.filter(identity_leak=True).exists()
    assert not outputs.filter(text__contains="demo/friendly").exists()
    assert study.pairs.count() == 36
    assert all(len(o.turns) == 3 for o in outputs.filter(prompt__external_id="multi-turn-1"))
    assert all("480x300" in o.text for o in outputs.filter(prompt__external_id="image-1"))
