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
