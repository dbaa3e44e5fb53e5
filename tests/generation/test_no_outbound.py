"""Generation talks to the candidate's own endpoint and to nothing else on the network."""

import socket

import pytest

from evaluations.generation.runner import outputs_generate
from evaluations.generation.starting import outputs_create
from evaluations.models import Output
from tests.factories import PromptFactory

pytestmark = pytest.mark.django_db

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@pytest.fixture
def outbound_refused(monkeypatch):
    """Refuse (and record) every DNS lookup and connection that leaves this machine."""
    attempts: list[str] = []
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect

    def getaddrinfo(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name not in LOOPBACK:
            attempts.append(f"DNS {name}")
            raise socket.gaierror(socket.EAI_NONAME, "outbound lookups are refused in this test")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(sock, address):
        if isinstance(address, tuple) and address[0] not in LOOPBACK:
            attempts.append(f"connect {address}")
            raise ConnectionRefusedError("outbound connections are refused in this test")
        return real_connect(sock, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    return attempts


def test_a_llama_3_model_is_generated_without_any_other_connection(
    study, stub_candidate, openai_stub, outbound_refused
):
    # A name LiteLLM maps to a Hugging Face tokenizer, which it would download.
    candidate = stub_candidate(study, "llama-3-8b-instruct")
    stub_candidate(study, "meta-llama/Meta-Llama-3.1-8B-Instruct")
    for i in range(3):
        PromptFactory(study=study, external_id=f"n{i}", text=f"Offline question {i}")
    outputs_create(study=study)
    outputs = Output.objects.filter(prompt__study=study)
    report = outputs_generate(output_ids=list(outputs.values_list("pk", flat=True)))
    assert report.done == 6, list(outputs.values_list("last_error", flat=True))
    assert outbound_refused == []
    assert openai_stub.requests_for("llama-3-8b-instruct")
    assert outputs.filter(candidate=candidate, status=Output.Status.DONE).count() == 3
