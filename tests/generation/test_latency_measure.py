"""Latency and time to first token are the provider's, not the client's stalls before sending
or its late reading of the answer."""

import asyncio
import contextlib
import time

import litellm
import pytest
from litellm.integrations.custom_logger import CustomLogger

from evaluations.generation.runner import generation_loop, outputs_generate
from evaluations.generation.starting import outputs_create
from evaluations.models import Output
from tests.factories import PromptFactory
from tests.openai_stub import default_reply

pytestmark = pytest.mark.django_db

PROVIDER_SECONDS = 0.3
CLIENT_STALL_SECONDS = 0.6
KERNEL_TICK_MS = 4  # the coarsest usual (250 Hz)


class StallBeforeSending(CustomLogger):
    """LiteLLM's work before the request is written (a tokenizer download, a busy loop)."""

    def log_pre_api_call(self, model, messages, kwargs):
        time.sleep(CLIENT_STALL_SECONDS)


def test_a_stall_before_the_request_is_sent_is_not_counted(
    study, stub_candidate, openai_stub, monkeypatch
):
    openai_stub.latency = PROVIDER_SECONDS
    candidate = stub_candidate(study, "timed")
    warm_up, measured = PromptFactory(study=study), PromptFactory(study=study)
    outputs_create(study=study)
    # LiteLLM's first call in a process sets itself up after sending; not what is measured here.
    outputs_generate(output_ids=[Output.objects.get(prompt=warm_up).pk])
    monkeypatch.setattr(litellm, "callbacks", [*litellm.callbacks, StallBeforeSending()])
    output = Output.objects.get(prompt=measured, candidate=candidate)
    outputs_generate(output_ids=[output.pk])
    output.refresh_from_db()
    assert output.status == Output.Status.DONE, output.last_error
    # Not below the provider's delay, but for the kernel's tick (times from TCP_INFO).
    provider_ms = PROVIDER_SECONDS * 1000 - KERNEL_TICK_MS
    assert provider_ms <= output.latency_ms < provider_ms + 250, output.latency_ms
    assert provider_ms <= output.ttft_ms <= output.latency_ms


# Measured against the stub's own service time of the answer: the kernel's times are to its
# tick (up to 4 ms), and the stub's thread waits about a GIL switch (5 ms) to write.
TOLERANCE_MS = 25
BUSY_SLICE_SECONDS = 0.04


async def loop_busy() -> None:
    """Other calls' work on the generation loop: every turn of the loop takes 40 ms more."""
    while True:
        time.sleep(BUSY_SLICE_SECONDS)  # blocks the loop, not the stub's thread (no GIL held)
        await asyncio.sleep(0)


@contextlib.contextmanager
def generation_loop_busy():
    busy = asyncio.run_coroutine_threadsafe(loop_busy(), generation_loop())
    try:
        yield
    finally:
        busy.cancel()


def generate_one_after_warm_up(study, candidate) -> Output:
    warm_up, measured = PromptFactory(study=study), PromptFactory(study=study)
    outputs_create(study=study)
    outputs_generate(output_ids=[Output.objects.get(prompt=warm_up, candidate=candidate).pk])
    output = Output.objects.get(prompt=measured, candidate=candidate)
    with generation_loop_busy():
        outputs_generate(output_ids=[output.pk])
    output.refresh_from_db()
    assert output.status == Output.Status.DONE, output.last_error
    return output


def test_a_busy_event_loop_reading_the_answer_late_is_not_counted(
    study, stub_candidate, openai_stub
):
    openai_stub.latency = PROVIDER_SECONDS
    output = generate_one_after_warm_up(study, stub_candidate(study, "busy"))
    service_ms = openai_stub.service_seconds[-1] * 1000
    # The whole answer is written at once: its first token and last byte arrive together.
    assert abs(output.latency_ms - service_ms) < TOLERANCE_MS, (output.latency_ms, service_ms)
    assert abs(output.ttft_ms - service_ms) < TOLERANCE_MS, (output.ttft_ms, service_ms)


def test_time_to_first_token_is_when_it_arrived_not_when_it_was_read(
    study, stub_candidate, openai_stub
):
    openai_stub.latency = PROVIDER_SECONDS
    openai_stub.chunk_delay = 0.1  # after each of the answer's pieces of 8 words
    openai_stub.reply = lambda request: " ".join(f"word{i}" for i in range(24))  # 3 pieces
    try:
        output = generate_one_after_warm_up(study, stub_candidate(study, "streamed"))
    finally:
        openai_stub.chunk_delay = 0.0
        openai_stub.reply = default_reply
    service_ms = openai_stub.service_seconds[-1] * 1000
    assert abs(output.latency_ms - service_ms) < TOLERANCE_MS, (output.latency_ms, service_ms)
    # The first piece was written after the delay, the last 200 ms later (then one more 100).
    provider_ms = PROVIDER_SECONDS * 1000
    assert provider_ms - KERNEL_TICK_MS <= output.ttft_ms < provider_ms + TOLERANCE_MS


def test_time_to_first_token_is_the_first_tokens_not_the_streams_opening(
    study, stub_candidate, openai_stub
):
    openai_stub.latency = PROVIDER_SECONDS
    openai_stub.opens_early = True  # headers and a role-only event at once, the token later
    output = generate_one_after_warm_up(study, stub_candidate(study, "opens-early"))
    provider_ms = PROVIDER_SECONDS * 1000
    assert provider_ms - KERNEL_TICK_MS <= output.ttft_ms < provider_ms + TOLERANCE_MS
    service_ms = openai_stub.service_seconds[-1] * 1000
    assert abs(output.latency_ms - service_ms) < TOLERANCE_MS, (output.latency_ms, service_ms)


def test_a_stall_between_handing_over_the_request_and_writing_it_is_not_counted(
    study, stub_candidate, openai_stub, monkeypatch
):
    """On a new connection, while the request waits to be written (aiohttp writes the body in a
    task of its own), other work holds the loop: the time starts when the bytes go out."""
    import aiohttp

    from evaluations.generation import request_timing

    openai_stub.latency = PROVIDER_SECONDS
    candidate = stub_candidate(study, "fresh")
    prompt = PromptFactory(study=study)
    outputs_create(study=study)
    write_bytes = aiohttp.ClientRequest.write_bytes

    async def stalled_write_bytes(self, *args, **kwargs):
        time.sleep(CLIENT_STALL_SECONDS)  # the loop held by other work before the body is written
        return await write_bytes(self, *args, **kwargs)

    monkeypatch.setattr(aiohttp.ClientRequest, "write_bytes", stalled_write_bytes)
    # A session of its own, so that the request goes out on a new connection.
    monkeypatch.setattr(request_timing, "_sessions", {})
    output = Output.objects.get(prompt=prompt, candidate=candidate)
    outputs_generate(output_ids=[output.pk])
    output.refresh_from_db()
    assert output.status == Output.Status.DONE, output.last_error
    provider_ms = PROVIDER_SECONDS * 1000 - KERNEL_TICK_MS
    assert provider_ms <= output.latency_ms < provider_ms + 250, output.latency_ms
