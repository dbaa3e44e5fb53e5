"""A call that never reached a provider says what went wrong and where, not "HTTP 500"."""

import socket

import pytest

from evaluations.generation.runner import outputs_generate
from evaluations.generation.starting import outputs_create
from evaluations.models import Output
from tests.factories import CandidateFactory, PromptFactory

pytestmark = pytest.mark.django_db


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def generate_against(study, settings, api_base: str) -> Output:
    settings.GENERATION_MAX_ATTEMPTS = 2
    candidate = CandidateFactory(
        study=study, model="openai/nowhere", api_base=api_base, api_key_env="STUB_API_KEY"
    )
    PromptFactory(study=study)
    outputs_create(study=study)
    output = Output.objects.get(candidate=candidate)
    outputs_generate(output_ids=[output.pk])
    output.refresh_from_db()
    return output


def test_a_refused_connection_is_named_with_its_endpoint(study, settings, monkeypatch):
    monkeypatch.setenv("STUB_API_KEY", "sk-stub")
    api_base = f"http://127.0.0.1:{closed_port()}/v1"
    output = generate_against(study, settings, api_base)
    assert output.status == Output.Status.FAILED
    assert output.attempts == 2  # a connection error is transient: retried
    assert "connection refused" in output.last_error
    assert api_base in output.last_error
    assert "500" not in output.last_error
    assert "InternalServerError" not in output.last_error


def test_an_unresolvable_host_is_named_a_dns_failure(study, settings, monkeypatch):
    monkeypatch.setenv("STUB_API_KEY", "sk-stub")
    api_base = "http://no-such-host.invalid/v1"
    output = generate_against(study, settings, api_base)
    assert output.status == Output.Status.FAILED
    assert "DNS" in output.last_error and "no-such-host.invalid" in output.last_error
    assert "500" not in output.last_error
    assert "InternalServerError" not in output.last_error
