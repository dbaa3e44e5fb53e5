"""Latency and time to first token are the provider's, not the client's stalls before sending."""

import time

import litellm
import pytest
from litellm.integrations.custom_logger import CustomLogger

from evaluations.generation.runner import outputs_generate
from evaluations.generation.starting import outputs_create
from evaluations.models import Output
from tests.factories import PromptFactory

pytestmark = pytest.mark.django_db

PROVIDER_SECONDS = 0.3
CLIENT_STALL_SECONDS = 0.6


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
    provider_ms = PROVIDER_SECONDS * 1000
    assert provider_ms <= output.latency_ms < provider_ms + 250, output.latency_ms
    assert provider_ms <= output.ttft_ms <= output.latency_ms
