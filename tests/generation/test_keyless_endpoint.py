"""A keyless OpenAI-compatible endpoint (a local vLLM, Ollama, llama.cpp server) must just work,
and a candidate whose provider key is missing must fail at once, saying which variable.

Found on a fresh-clone walk through the README: a candidate with an ``api_base`` and no key
variable failed every output after five attempts with "InternalServerError (HTTP 500): Missing
credentials", because LiteLLM's OpenAI client refuses to send a request without some key.
"""

import pytest

from evaluations.generation.runner import outputs_generate
from evaluations.generation.starting import outputs_create
from evaluations.models import Output
from tests.factories import PromptFactory

pytestmark = pytest.mark.django_db


def generate(study):
    outputs_create(study=study)
    outputs_generate(
        output_ids=list(Output.objects.filter(prompt__study=study).values_list("id", flat=True))
    )
    return list(Output.objects.filter(prompt__study=study))


def test_an_endpoint_without_a_key_answers(study, stub_candidate, openai_stub, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    PromptFactory(study=study, text="Why is the sky blue?")
    stub_candidate(study, "local-model", api_key_env="")
    [output] = generate(study)
    assert output.status == Output.Status.DONE, output.last_error
    assert output.attempts == 1
    # No server key goes to an endpoint that was not given one.
    [request] = openai_stub.requests
    assert request.headers.get("authorization") == "Bearer tastetest-no-key"


def test_a_server_key_in_the_environment_is_not_sent_to_a_custom_endpoint(
    study, stub_candidate, openai_stub, monkeypatch
):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-server-secret")
    PromptFactory(study=study, text="Why is the sky blue?")
    stub_candidate(study, "local-model", api_key_env="")
    [output] = generate(study)
    assert output.status == Output.Status.DONE, output.last_error
    assert all("sk-server-secret" not in str(r.headers) for r in openai_stub.requests)


def test_a_missing_provider_key_fails_at_once_naming_the_variable(study, monkeypatch):
    from tests.factories import CandidateFactory

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    PromptFactory(study=study, text="Why is the sky blue?")
    CandidateFactory(study=study, model="openai/gpt-4o-mini", api_base="", api_key_env="")
    [output] = generate(study)
    assert output.status == Output.Status.FAILED
    assert output.attempts == 1
    assert "OPENAI_API_KEY" in output.last_error
    assert "500" not in output.last_error
