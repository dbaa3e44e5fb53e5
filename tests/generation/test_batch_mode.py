"""Batch mode is chosen per candidate and refused at save for a provider without batch support."""

import pytest
from django.core.exceptions import ValidationError

from evaluations.models import Candidate


@pytest.mark.parametrize(
    "model", ["anthropic/claude-sonnet-4-6", "ollama/llama3", "groq/llama-3.1-8b", "mistral-large"]
)
def test_batch_mode_for_a_provider_without_batch_support_is_refused_at_save(study, model):
    candidate = Candidate(study=study, label="X", model=model, generation_mode="batch")
    with pytest.raises(ValidationError) as refused:
        candidate.full_clean()
    assert "no batch API" in " ".join(refused.value.message_dict["generation_mode"])


@pytest.mark.parametrize("model", ["openai/gpt-4.1-mini", "gpt-4o", "demo/concise"])
def test_batch_mode_is_accepted_for_providers_with_batch_support(study, model):
    Candidate(study=study, label="X", model=model, generation_mode="batch").full_clean()


def test_live_mode_is_accepted_for_any_provider(study):
    Candidate(study=study, label="X", model="ollama/llama3", generation_mode="live").full_clean()


def test_the_candidate_form_in_the_admin_refuses_batch_mode_without_support(client, study):
    client.force_login(study.owner)
    response = client.post(
        "/admin/evaluations/candidate/add/",
        {
            "study": study.pk,
            "label": "Local",
            "model": "ollama/llama3",
            "generation_mode": "batch",
            "batch_discount": "0.5",
            "batch_fallback": "batch",
            "fallback_deployments": "[]",
            "extra_params": "{}",
            "max_concurrency": "4",
        },
    )
    assert response.status_code == 200  # the form again, with the error
    assert "no batch API" in response.content.decode()
    assert not Candidate.objects.filter(label="Local").exists()


@pytest.mark.django_db(transaction=True)
def test_a_scripted_conversation_of_a_batch_candidate_is_answered_live(study, monkeypatch):
    """Each scripted turn needs the candidate's own answer to the turn before, which one
    provider batch cannot give; those outputs go live, the rest of the candidate's to a batch."""
    from evaluations.generation import starting
    from evaluations.generation.batches import outputs_batch_assign
    from evaluations.models import Output
    from tests.factories import CandidateFactory, OutputFactory, PromptFactory

    candidate = CandidateFactory(study=study, model="demo/thorough", generation_mode="batch")
    single = OutputFactory(
        prompt=PromptFactory(study=study, text="One question"),
        candidate=candidate,
        status=Output.Status.PENDING,
    )
    scripted = OutputFactory(
        prompt=PromptFactory(study=study, text="Turn one", turns=["Turn one", "Turn two"]),
        candidate=candidate,
        status=Output.Status.PENDING,
    )
    sent: list[tuple[str, list[int]]] = []
    monkeypatch.setattr(
        starting, "_send_or_refuse", lambda task, ids, countdown: sent.append((task, ids))
    )
    starting.outputs_enqueue(output_ids=[single.pk, scripted.pk])
    assert sorted(sent) == [
        (starting.OUTPUTS_BATCH_TASK, [single.pk]),
        (starting.OUTPUTS_GENERATE_TASK, [scripted.pk]),
    ]
    outputs_batch_assign(output_ids=[single.pk, scripted.pk])
    assert Output.objects.get(pk=scripted.pk).provider_batch_id is None
    assert Output.objects.get(pk=single.pk).provider_batch_id is not None
