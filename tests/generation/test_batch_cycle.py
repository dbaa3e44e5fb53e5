"""Batch generation end to end through LiteLLM's Files and Batch APIs against the test server."""

import json
import time
from decimal import Decimal

import pytest

from evaluations.generation.batch_ingest import batch_ingest
from evaluations.generation.batch_polling import batches_poll
from evaluations.generation.batches import batch_submit, outputs_batch_assign
from evaluations.generation.runner import outputs_generate
from evaluations.generation.starting import generation_start
from evaluations.models import Output, ProviderBatch, Study
from evaluations.providers.batch_api import KEY_METADATA

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def quick_polls(settings):
    settings.BATCH_POLL_MIN_SECONDS = 0
    settings.BATCH_POLL_MAX_SECONDS = 0


def batch_candidate(study, stub_candidate, name="cheap", **fields):
    return stub_candidate(
        study,
        name,
        generation_mode="batch",
        input_price_per_mtok=Decimal(2),
        output_price_per_mtok=Decimal(8),
        **fields,
    )


def started(study) -> list[int]:
    generation_start(study=study)  # its queueing runs on commit, which a test never reaches
    return list(Output.objects.filter(prompt__study=study).values_list("pk", flat=True))


def run_to_end(rounds: int = 10) -> None:
    for _ in range(rounds):
        batches_poll()
        if not ProviderBatch.objects.exclude(status=ProviderBatch.Status.INGESTED).exists():
            return


def test_a_batch_candidate_answers_every_prompt_at_the_batch_price(
    study, prompts, stub_candidate, openai_stub, django_capture_on_commit_callbacks
):
    candidate = batch_candidate(study, stub_candidate, system_prompt="Be brief.", temperature=0.3)
    ids = started(study)
    [batch_id] = outputs_batch_assign(output_ids=ids)
    batch = ProviderBatch.objects.get(pk=batch_id)
    assert len(batch.key) == 32 and batch.request_count == 3
    assert batch_submit(batch_id=batch_id)

    [stub_batch] = openai_stub.batches.values()
    assert stub_batch.metadata == {KEY_METADATA: batch.key}
    lines = [
        json.loads(x) for x in openai_stub.files[stub_batch.input_file_id]["content"].splitlines()
    ]
    assert sorted(int(line["custom_id"]) for line in lines) == sorted(ids)
    assert all(line["url"] == "/v1/chat/completions" for line in lines)
    body = lines[0]["body"]
    assert body["model"] == "cheap" and body["temperature"] == 0.3
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert not openai_stub.requests_for("cheap")  # nothing yet: the batch has not run

    with django_capture_on_commit_callbacks(execute=True):
        run_to_end()
    batch.refresh_from_db()
    assert batch.status == ProviderBatch.Status.INGESTED
    assert (batch.provider_batch_id, batch.ingested_count) == (stub_batch.id, 3)
    for output in Output.objects.filter(candidate=candidate):
        assert output.status == Output.Status.DONE
        assert output.raw_text.startswith("Answer from cheap")
        assert output.latency_ms is None and output.ttft_ms is None  # not the batch's turnaround
        assert output.input_tokens > 0 and output.output_tokens > 0
        live = Decimal(output.input_tokens * 2 + output.output_tokens * 8) / 1_000_000
        assert output.cost_usd == (live / 2).quantize(Decimal("1e-8"))
        assert output.attempts == 1
    study.refresh_from_db()
    assert study.status == Study.Status.READY
    assert len(openai_stub.batches) == 1


def test_answers_are_scrubbed_as_live_ones_are(study, prompts, stub_candidate, openai_stub):
    openai_stub.reply = lambda request: "As Cheap, made by ExampleAI, I think it is blue."
    try:
        batch_candidate(study, stub_candidate)
        outputs_batch_assign(output_ids=started(study))
        run_to_end()
    finally:
        from tests.openai_stub import default_reply

        openai_stub.reply = default_reply
    output = Output.objects.filter(prompt__study=study).first()
    assert output.status == Output.Status.DONE
    assert output.identity_leak and "Cheap" not in output.text


def test_failed_and_malformed_lines_go_to_a_new_batch_and_nothing_is_answered_twice(
    study, prompts, stub_candidate, openai_stub, settings
):
    settings.BATCH_POLL_MAX_SECONDS = 3600  # no preparing batch is taken for abandoned here
    candidate = batch_candidate(study, stub_candidate)
    openai_stub.batch_fail_every = 2  # line 2 fails
    openai_stub.batch_malformed_every = 3  # line 3 comes back unreadable
    outputs_batch_assign(output_ids=started(study))
    batches_poll()  # the first batch is preparing: submitted by its task, here by hand
    for batch in ProviderBatch.objects.filter(status=ProviderBatch.Status.PREPARING):
        batch_submit(batch_id=batch.pk)
    batches_poll()
    first = ProviderBatch.objects.order_by("pk").first()
    assert first.status == ProviderBatch.Status.INGESTED and first.ingested_count == 1
    retry = Output.objects.filter(candidate=candidate, status=Output.Status.PENDING)
    assert retry.count() == 2
    assert all(o.attempts == 1 and o.provider_batch_id != first.pk for o in retry)
    assert any("server_error" in o.last_error for o in retry)

    openai_stub.batch_fail_every = openai_stub.batch_malformed_every = 0
    for batch in ProviderBatch.objects.filter(status=ProviderBatch.Status.PREPARING):
        batch_submit(batch_id=batch.pk)
    run_to_end()
    assert set(Output.objects.filter(candidate=candidate).values_list("status", flat=True)) == {
        Output.Status.DONE
    }
    assert len(openai_stub.batches) == 2
    second = openai_stub.files[list(openai_stub.batches.values())[1].input_file_id]["content"]
    assert second.count(b"\n") == 2  # only the two unanswered outputs were asked again


def test_an_expired_batch_falls_back_to_live_calls_when_chosen(
    study, prompts, stub_candidate, openai_stub
):
    candidate = batch_candidate(study, stub_candidate, batch_fallback="live")
    openai_stub.batch_expire = True
    [batch_id] = outputs_batch_assign(output_ids=started(study))
    batch_submit(batch_id=batch_id)
    run_to_end()
    batch = ProviderBatch.objects.get(pk=batch_id)
    assert batch.provider_status == "expired" and batch.ingested_count == 1
    rest = list(Output.objects.filter(candidate=candidate, status=Output.Status.PENDING))
    assert len(rest) == 2 and all(o.provider_batch_id is None for o in rest)
    assert all("batch_expired" in o.last_error for o in rest)
    assert ProviderBatch.objects.count() == 1  # not a new batch: live, as chosen

    outputs_generate(output_ids=[o.pk for o in rest])  # what the queued live task runs
    for output in rest:
        output.refresh_from_db()
        assert output.status == Output.Status.DONE and output.latency_ms > 0
    assert sum(r.stream for r in openai_stub.requests_for("cheap")) == 2


def test_a_worker_restarted_after_the_batch_was_created_finds_it_instead_of_a_second(
    study, prompts, stub_candidate, openai_stub
):
    batch_candidate(study, stub_candidate)
    [batch_id] = outputs_batch_assign(output_ids=started(study))
    batch = ProviderBatch.objects.get(pk=batch_id)
    # The first worker uploaded and created the batch, then died before recording it.
    assert batch_submit(batch_id=batch_id)
    created = ProviderBatch.objects.get(pk=batch_id).provider_batch_id
    ProviderBatch.objects.filter(pk=batch_id).update(
        status=ProviderBatch.Status.PREPARING, provider_batch_id="", input_file_id=""
    )
    assert batch_submit(batch_id=batch_id)
    batch.refresh_from_db()
    assert batch.provider_batch_id == created
    assert len(openai_stub.batches) == 1
    assert [f["purpose"] for f in openai_stub.files.values()].count("batch") == 1


def test_a_worker_stopped_between_upload_and_creation_creates_exactly_one_batch(
    study, prompts, stub_candidate, openai_stub, settings
):
    batch_candidate(study, stub_candidate)
    [batch_id] = outputs_batch_assign(output_ids=started(study))
    # A preparing batch older than the poll interval is one whose worker stopped.
    settings.BATCH_POLL_MAX_SECONDS = 0
    openai_stub.files["file-orphan"] = {"content": b"{}\n", "purpose": "batch", "filename": "x"}
    time.sleep(0.01)
    run_to_end()
    assert len(openai_stub.batches) == 1
    assert ProviderBatch.objects.get(pk=batch_id).status == ProviderBatch.Status.INGESTED
    assert not Output.objects.filter(prompt__study=study).exclude(status=Output.Status.DONE)


def test_ingesting_twice_pays_and_writes_nothing_twice(study, prompts, stub_candidate, openai_stub):
    batch_candidate(study, stub_candidate)
    [batch_id] = outputs_batch_assign(output_ids=started(study))
    batch_submit(batch_id=batch_id)
    batches_poll()
    before = list(
        Output.objects.filter(prompt__study=study).values_list("pk", "cost_usd", "finished_at")
    )
    # A worker killed after completion and before ingestion finished: the batch is ingested again.
    ProviderBatch.objects.filter(pk=batch_id).update(status=ProviderBatch.Status.COMPLETED)
    assert batch_ingest(batch_id=batch_id)
    after = list(
        Output.objects.filter(prompt__study=study).values_list("pk", "cost_usd", "finished_at")
    )
    assert sorted(before) == sorted(after)
    assert len(openai_stub.batches) == 1


def test_a_mixed_study_generates_one_candidate_live_and_one_in_a_batch(
    study, prompts, stub_candidate, openai_stub, django_capture_on_commit_callbacks, request
):
    from config.celery import app

    app.conf.task_always_eager = True
    request.addfinalizer(lambda: setattr(app.conf, "task_always_eager", False))
    live = stub_candidate(study, "live-one")
    batched = batch_candidate(study, stub_candidate)
    with django_capture_on_commit_callbacks(execute=True):
        generation_start(study=study)
    # The live outputs were answered by live calls; the batch ones wait for their batch.
    assert set(Output.objects.filter(candidate=live).values_list("status", flat=True)) == {"done"}
    assert set(Output.objects.filter(candidate=batched).values_list("status", flat=True)) == {
        "pending"
    }
    assert ProviderBatch.objects.get().status == ProviderBatch.Status.IN_PROGRESS
    with django_capture_on_commit_callbacks(execute=True):
        run_to_end()
    assert set(Output.objects.filter(prompt__study=study).values_list("status", flat=True)) == {
        "done"
    }
    assert all(r.stream for r in openai_stub.requests_for("live-one"))
    assert not any(r.stream for r in openai_stub.requests_for("cheap"))
    study.refresh_from_db()
    assert study.status == Study.Status.READY


def test_the_offline_demo_provider_runs_batches(
    study, prompts, settings, tmp_path, django_capture_on_commit_callbacks
):
    from tests.factories import CandidateFactory

    settings.DATA_DIR = tmp_path
    settings.DEMO_BATCH_SECONDS = 0
    candidate = CandidateFactory(
        study=study,
        model="demo/thorough",
        generation_mode="batch",
        input_price_per_mtok=Decimal(1),
        output_price_per_mtok=Decimal(3),
    )
    candidate.full_clean()
    outputs_batch_assign(output_ids=started(study))
    with django_capture_on_commit_callbacks(execute=True):
        for batch in ProviderBatch.objects.filter(status=ProviderBatch.Status.PREPARING):
            batch_submit(batch_id=batch.pk)
        run_to_end()
    from evaluations.providers.demo_provider import demo_answer

    for output in Output.objects.filter(candidate=candidate).select_related("prompt"):
        assert output.status == Output.Status.DONE and output.latency_ms is None
        expected = demo_answer("thorough", [{"role": "user", "content": output.prompt.text}])
        assert output.raw_text == expected
        assert output.cost_usd > 0
    study.refresh_from_db()
    assert study.status == Study.Status.READY
