from decimal import Decimal

import pytest

from evaluations.generation.errors import GenerationError
from evaluations.generation.progress import generation_progress
from evaluations.generation.runner import outputs_generate
from evaluations.generation.starting import generation_start, outputs_create
from evaluations.models import Output, Study
from tests.factories import CandidateFactory, PromptFactory, StudyFactory

pytestmark = pytest.mark.django_db


def generate_all(study) -> None:
    outputs_create(study=study)
    ids = list(Output.objects.filter(prompt__study=study).values_list("id", flat=True))
    outputs_generate(output_ids=ids)


def test_every_candidate_answers_every_prompt_with_measurements(
    study, prompts, stub_candidate, openai_stub
):
    stub_candidate(
        study, "alpha", input_price_per_mtok=Decimal(2), output_price_per_mtok=Decimal(10)
    )
    stub_candidate(study, "beta", input_price_per_mtok=Decimal(1), output_price_per_mtok=Decimal(1))
    generate_all(study)
    outputs = list(Output.objects.filter(prompt__study=study))
    assert len(outputs) == 6
    assert {o.status for o in outputs} == {Output.Status.DONE}
    for output in outputs:
        assert output.raw_text.startswith(f"Answer from {output.candidate.model.split('/')[1]}")
        assert output.attempts == 1
        assert output.latency_ms > 0
        assert 0 < output.ttft_ms <= output.latency_ms
        assert output.input_tokens == 2 and output.output_tokens == len(output.raw_text.split())
        price_in, price_out = (
            output.candidate.input_price_per_mtok,
            output.candidate.output_price_per_mtok,
        )
        expected = (2 * price_in + output.output_tokens * price_out) / Decimal(1_000_000)
        assert output.cost_usd == expected.quantize(Decimal("1e-8"))
        assert output.deployment == openai_stub.base_url
    assert all(r.stream for r in openai_stub.requests)
    assert len(openai_stub.requests) == 6


def one_output(study, candidate):
    prompt = PromptFactory(study=study, text="Why is the sky blue?")
    outputs_create(study=study)
    return Output.objects.get(prompt=prompt, candidate=candidate)


def generate_one(output) -> Output:
    outputs_generate(output_ids=[output.pk])
    output.refresh_from_db()
    return output


def test_rate_limit_is_retried_after_the_servers_retry_after(study, stub_candidate, openai_stub):
    output = one_output(study, stub_candidate(study, "busy"))
    openai_stub.plan("busy", ["429"])
    generate_one(output)
    first, second = openai_stub.requests_for("busy")
    assert output.status == Output.Status.DONE
    assert output.attempts == 2
    assert second.received_at - first.received_at >= openai_stub.retry_after
    assert output.last_error == ""


def test_server_errors_garbage_and_timeouts_are_retried_until_an_answer(
    study, stub_candidate, openai_stub, settings
):
    # Long enough that the answering attempt never times out on a loaded CI machine.
    settings.GENERATION_TIMEOUT_SECONDS = 2.0
    output = one_output(study, stub_candidate(study, "flaky"))
    openai_stub.plan("flaky", ["500", "garbage", "hang"])
    generate_one(output)
    assert [r.mode for r in openai_stub.requests_for("flaky")] == ["500", "garbage", "hang", "ok"]
    assert output.status == Output.Status.DONE
    assert output.attempts == 4


def test_output_fails_after_the_configured_number_of_attempts(study, stub_candidate, openai_stub):
    output = one_output(study, stub_candidate(study, "down"))
    openai_stub.always("down", "503")
    generate_one(output)
    assert output.status == Output.Status.FAILED
    assert output.attempts == 4
    assert len(openai_stub.requests_for("down")) == 4
    assert "HTTP 503" in output.last_error and "attempt 4" in output.last_error


@pytest.mark.parametrize("mode", ["400", "401"])
def test_client_errors_fail_fast_without_retrying(study, stub_candidate, openai_stub, mode):
    output = one_output(study, stub_candidate(study, f"bad{mode}"))
    openai_stub.plan(f"bad{mode}", [mode])
    generate_one(output)
    assert output.status == Output.Status.FAILED
    assert output.attempts == 1
    assert f"HTTP {mode}" in output.last_error
    assert len(openai_stub.requests_for(f"bad{mode}")) == 1


def test_missing_key_variable_fails_fast_with_its_name(study, stub_candidate, openai_stub):
    output = one_output(study, stub_candidate(study, "nokey", api_key_env="NO_SUCH_KEY_VAR"))
    generate_one(output)
    assert output.status == Output.Status.FAILED
    assert "NO_SUCH_KEY_VAR" in output.last_error
    assert openai_stub.requests_for("nokey") == []


def test_fallback_goes_to_another_deployment_of_the_same_model(study, stub_candidate, openai_stub):
    candidate = stub_candidate(
        study,
        "mirrored",
        fallback_deployments=[{"api_base": openai_stub.base_url, "api_key_env": "STUB_API_KEY"}],
    )
    candidate.api_base = "http://127.0.0.1:9/v1"  # the discard port: connection refused
    candidate.save()
    output = generate_one(one_output(study, candidate))
    assert output.status == Output.Status.DONE
    assert output.deployment == openai_stub.base_url
    assert output.attempts == 2
    assert [r.model for r in openai_stub.requests] == ["mirrored"]


def test_a_fallback_to_a_different_model_is_refused(study, stub_candidate, openai_stub):
    stub_candidate(study, "pinned", fallback_deployments=[{"model": "openai/cheaper"}])
    PromptFactory(study=study)
    with pytest.raises(GenerationError, match="never another model"):
        generation_start(study=study)
    assert openai_stub.requests == []


def test_served_model_other_than_the_pinned_version_is_flagged(study, stub_candidate, openai_stub):
    exact = stub_candidate(study, "exact", version="exact-2025-01")
    swapped = stub_candidate(study, "swapped", version="swapped-2025-01")
    openai_stub.served_as["exact"] = "exact-2025-01"
    openai_stub.served_as["swapped"] = "swapped-2024-06"
    prompt = PromptFactory(study=study)
    outputs_create(study=study)
    outputs_generate(output_ids=list(Output.objects.values_list("id", flat=True)))
    exact_output = Output.objects.get(prompt=prompt, candidate=exact)
    swapped_output = Output.objects.get(prompt=prompt, candidate=swapped)
    assert exact_output.served_model == "exact-2025-01"
    assert not exact_output.version_mismatch
    assert swapped_output.served_model == "swapped-2024-06"
    assert swapped_output.version_mismatch


def test_identical_request_in_another_study_is_served_from_the_cache(
    study, stub_candidate, openai_stub
):
    generate_one(one_output(study, stub_candidate(study, "cached", output_price_per_mtok=5)))
    other = StudyFactory(owner=study.owner)
    output = generate_one(
        one_output(other, stub_candidate(other, "cached", output_price_per_mtok=5))
    )
    assert len(openai_stub.requests_for("cached")) == 1
    assert output.status == Output.Status.DONE
    assert output.cache_hit
    assert output.cost_usd == 0
    assert output.raw_text.startswith("Answer from cached")


def test_a_study_with_caching_off_pays_for_its_own_answers(study, stub_candidate, openai_stub):
    generate_one(one_output(study, stub_candidate(study, "fresh")))
    other = StudyFactory(owner=study.owner, cache_enabled=False)
    output = generate_one(one_output(other, stub_candidate(other, "fresh")))
    assert len(openai_stub.requests_for("fresh")) == 2
    assert not output.cache_hit


def test_generating_twice_neither_duplicates_nor_pays_again(
    study, prompts, stub_candidate, openai_stub
):
    stub_candidate(study, "once")
    generate_all(study)
    generate_all(study)
    assert Output.objects.filter(prompt__study=study).count() == 3
    assert len(openai_stub.requests_for("once")) == 3


def test_an_output_held_under_a_live_lease_is_left_to_its_holder(
    study, stub_candidate, openai_stub
):
    from django.utils import timezone

    output = one_output(study, stub_candidate(study, "leased"))
    Output.objects.filter(pk=output.pk).update(
        status=Output.Status.RUNNING, started_at=timezone.now()
    )
    report = outputs_generate(output_ids=[output.pk])
    assert report.leased == [output.pk]
    assert openai_stub.requests == []


def test_an_output_whose_lease_expired_is_taken_over(study, stub_candidate, openai_stub):
    import datetime

    from django.utils import timezone

    output = one_output(study, stub_candidate(study, "orphan"))
    abandoned = timezone.now() - datetime.timedelta(seconds=61)
    Output.objects.filter(pk=output.pk).update(status=Output.Status.RUNNING, started_at=abandoned)
    output = generate_one(output)
    assert output.status == Output.Status.DONE
    assert len(openai_stub.requests_for("orphan")) == 1


def test_concurrency_cap_bounds_requests_in_flight(study, stub_candidate, openai_stub):
    openai_stub.latency = 0.2
    capped = stub_candidate(study, "capped", max_concurrency=2)
    for i in range(6):
        PromptFactory(study=study, text=f"Capped question {i}")
    outputs_create(study=study)
    outputs_generate(
        output_ids=list(Output.objects.filter(candidate=capped).values_list("id", flat=True))
    )
    assert openai_stub.peak_in_flight == 2
    assert Output.objects.filter(candidate=capped, status=Output.Status.DONE).count() == 6


def test_a_batch_keeps_every_output_in_flight_at_once(study, stub_candidate, openai_stub):
    # Long enough that all 40 are claimed and sent before the first answer, even on a busy CI.
    openai_stub.latency = 2.0
    wide = stub_candidate(study, "wide", max_concurrency=100)
    for i in range(40):
        PromptFactory(study=study, text=f"Wide question {i}")
    outputs_create(study=study)
    outputs_generate(
        output_ids=list(Output.objects.filter(candidate=wide).values_list("id", flat=True))
    )
    assert openai_stub.peak_in_flight == 40


def test_generation_start_runs_to_ready_with_pairs_and_progress(
    study, prompts, stub_candidate, openai_stub, request, django_capture_on_commit_callbacks
):
    from config.celery import app

    app.conf.task_always_eager = True
    request.addfinalizer(lambda: setattr(app.conf, "task_always_eager", False))
    stub_candidate(study, "left")
    stub_candidate(study, "right")
    with django_capture_on_commit_callbacks(execute=True):
        queued = generation_start(study=study)
    study.refresh_from_db()
    assert queued == 6
    assert study.status == Study.Status.READY
    assert study.pairs.count() == 3
    progress = generation_progress(study=study)
    assert (progress.total, progress.done, progress.failed, progress.pending) == (6, 6, 0, 0)
    assert progress.cost_usd == 0 or progress.cost_usd is not None


def test_generation_start_refuses_a_study_without_candidates(study, prompts):
    with pytest.raises(GenerationError, match="no candidates"):
        generation_start(study=study)


def test_generation_start_refuses_an_open_study(study, prompts):
    CandidateFactory(study=study)
    Study.objects.filter(pk=study.pk).update(status=Study.Status.OPEN)
    study.refresh_from_db()
    with pytest.raises(GenerationError):
        generation_start(study=study)


@pytest.mark.django_db(transaction=True)
def test_batches_of_one_process_share_its_concurrency(settings, study, stub_candidate, openai_stub):
    # Two batches at once, as a threads pool runs them: they run on the process's one event
    # loop and queue for the same places, so the process never exceeds its share.
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    settings.GENERATION_PROCESS_CONCURRENCY = 3
    openai_stub.latency = 0.2
    shared = stub_candidate(study, "shared", max_concurrency=100)
    for i in range(12):
        PromptFactory(study=study, text=f"Shared question {i}")
    outputs_create(study=study)
    ids = list(Output.objects.filter(candidate=shared).values_list("id", flat=True))

    def batch(output_ids):
        try:
            return outputs_generate(output_ids=output_ids)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        reports = list(pool.map(batch, [ids[:6], ids[6:]]))
    assert openai_stub.peak_in_flight == 3
    assert sum(report.done for report in reports) == 12
    assert Output.objects.filter(candidate=shared, status=Output.Status.DONE).count() == 12


def test_finish_writes_together_are_conditional_like_one_by_one(study, stub_candidate):
    # On PostgreSQL several finish writes go as one UPDATE ... FROM (VALUES ...); an output
    # whose claim passed to someone else must still be left alone, and the rest written fully.
    from evaluations.generation.batch_database import FinishWrite, _outputs_claim, _writes_run
    from evaluations.generation.provider_calls import ProviderAnswer
    from evaluations.generation.runner import BatchReport, _jobs_load

    candidate = stub_candidate(
        study, "gpt-x", input_price_per_mtok=Decimal(2), output_price_per_mtok=Decimal(10)
    )
    for i in range(3):
        PromptFactory(study=study, text=f"Together question {i}")
    outputs_create(study=study)
    ids = sorted(Output.objects.filter(candidate=candidate).values_list("id", flat=True))
    jobs, _ = _jobs_load(ids, BatchReport())
    claims = dict(zip(ids, _outputs_claim(ids), strict=True))
    import datetime

    Output.objects.filter(pk=ids[1]).update(
        started_at=claims[ids[1]] + datetime.timedelta(seconds=1)  # taken over meanwhile
    )
    writes = [
        FinishWrite(
            job,
            claims[job.output_id],
            ProviderAnswer(
                text=f"I am gpt-x, answer {n}",
                served_model="gpt-x-2026",
                latency_ms=12.5,
                ttft_ms=3.25,
                input_tokens=7,
                output_tokens=5,
            ),
            job.deployments[0],
        )
        for n, job in enumerate(jobs)
    ]
    assert _writes_run(writes) == [True, False, True]
    first, second = Output.objects.get(pk=ids[0]), Output.objects.get(pk=ids[1])
    assert first.status == Output.Status.DONE and first.attempts == 1
    assert first.raw_text == "I am gpt-x, answer 0" and "gpt-x" not in first.text
    assert first.identity_leak is True
    assert (first.latency_ms, first.ttft_ms) == (12.5, 3.25)
    assert (first.input_tokens, first.output_tokens) == (7, 5)
    assert first.cost_usd == Decimal("0.00006400")
    assert first.served_model == "gpt-x-2026" and first.finished_at is not None
    assert first.request_hash == jobs[0].request_hash and first.last_error == ""
    assert second.status == Output.Status.RUNNING and second.attempts == 0


def test_the_generation_loop_keeps_litellms_worker_threads(study, stub_candidate, openai_stub):
    # LiteLLM hands part of every streamed call to anyio's worker threads. anyio keeps them for
    # the task its loop was started with; without one it stopped them with each request's
    # task, and every call paid for starting a thread on the busy event loop.
    import threading
    import time

    candidate = stub_candidate(study, "threads")
    for i in range(8):
        PromptFactory(study=study, text=f"Thread question {i}")
    outputs_create(study=study)
    outputs_generate(
        output_ids=list(Output.objects.filter(candidate=candidate).values_list("id", flat=True))
    )
    time.sleep(0.5)  # a stopped worker thread exits at once
    assert Output.objects.filter(candidate=candidate, status=Output.Status.DONE).count() == 8
    assert any(t.name == "AnyIO worker thread" for t in threading.enumerate())


def test_the_pinned_version_is_compared_not_sent_and_its_help_says_so(
    study, stub_candidate, openai_stub
):
    from evaluations.models import Candidate

    help_text = Candidate._meta.get_field("version").help_text
    assert "Not sent" in help_text and "model string" in help_text
    output = one_output(study, stub_candidate(study, "dated", version="dated-2025-01-01"))
    output = generate_one(output)
    (request,) = openai_stub.requests_for("dated")
    assert request.body["model"] == "dated"
    assert "dated-2025-01-01" not in str(request.body)
    assert output.status == Output.Status.DONE
