import pytest
from django.urls import reverse

from evaluations.models import Candidate, Prompt, Study
from tests.factories import OutputFactory, PairFactory, VoteFactory

pytestmark = pytest.mark.django_db


def inline_management(prefix: str, total: int) -> dict:
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def test_staff_creates_a_study_with_candidates_and_prompts_through_the_admin(client, staff_user):
    client.force_login(staff_user)
    url = reverse("admin:evaluations_study_add")
    page = client.get(url)
    assert page.status_code == 200
    data = {
        "name": "Legal answers",
        "slug": "legal-answers",
        "owner": staff_user.pk,
        "status": "draft",
        "question": "Which response better answers the prompt?",
        "instructions": "Accuracy first.",
        "allow_tie": "on",
        "allow_both_bad": "on",
        "votes_per_pair": "3",
        "seed": "42",
        "pairing_mode": "all",
        "gold_rate": "0",
        "gold_min_accuracy": "0.7",
        "training_pairs": "0",
        "cache_enabled": "on",
        **inline_management("candidates", 2),
        "candidates-0-label": "Mini",
        "candidates-0-model": "openai/gpt-4.1-mini",
        "candidates-0-version": "gpt-4.1-mini-2025-04-14",
        "candidates-0-temperature": "0.2",
        "candidates-0-max_tokens": "512",
        "candidates-0-fallback_deployments": "[]",
        "candidates-0-extra_params": "{}",
        "candidates-0-max_concurrency": "8",
        "candidates-1-label": "Local",
        "candidates-1-model": "openai/llama3",
        "candidates-1-api_base": "http://127.0.0.1:11434/v1",
        "candidates-1-fallback_deployments": "[]",
        "candidates-1-extra_params": "{}",
        "candidates-1-max_concurrency": "4",
        "candidates-1-input_price_per_mtok": "0.10",
        "candidates-1-output_price_per_mtok": "0.40",
        **inline_management("prompts", 2),
        "prompts-0-external_id": "p1",
        "prompts-0-category": "contracts",
        "prompts-0-text": "Is a verbal contract binding?",
        "prompts-1-external_id": "p2",
        "prompts-1-category": "torts",
        "prompts-1-text": "What is negligence?",
    }
    response = client.post(url, data)
    assert response.status_code == 302, (
        response.context["adminform"].form.errors
        if hasattr(response, "context") and response.context
        else response.content[:3000]
    )
    study = Study.objects.get(slug="legal-answers")
    assert study.owner == staff_user
    assert list(study.candidates.values_list("label", flat=True)) == ["Mini", "Local"]
    assert Candidate.objects.get(label="Local").api_base == "http://127.0.0.1:11434/v1"
    assert Prompt.objects.filter(study=study).count() == 2


def test_study_changelist_shows_counts(client, staff_user):
    pair = PairFactory()
    OutputFactory(prompt=pair.prompt, status="failed", text="")
    VoteFactory(pair=pair)
    VoteFactory(pair=pair)
    client.force_login(staff_user)
    response = client.get(reverse("admin:evaluations_study_changelist"))
    assert response.status_code == 200
    # The counts are set on the page's rows (a list), not annotated on a fresh query.
    row = next(s for s in response.context["cl"].result_list if s.pk == pair.study.pk)
    assert (row.n_prompts, row.n_done, row.n_failed, row.n_pairs, row.n_votes) == (1, 2, 1, 1, 2)


@pytest.mark.parametrize(
    "name",
    [
        "evaluations_study",
        "evaluations_candidate",
        "evaluations_prompt",
        "evaluations_output",
        "evaluations_pair",
        "raters_rater",
        "raters_invite",
        "raters_vote",
        "raters_membership",
    ],
)
def test_admin_pages_render(client, staff_user, name):
    VoteFactory()
    client.force_login(staff_user)
    assert client.get(reverse(f"admin:{name}_changelist")).status_code == 200
    # Votes and outputs are evidence: nobody adds one by hand (tests/raters/test_vote_removal.py,
    # tests/evaluations/test_output_admin_evidence.py).
    expected_add = 403 if name in ("raters_vote", "evaluations_output") else 200
    assert client.get(reverse(f"admin:{name}_add")).status_code == expected_add


def study_change_data(study, **changes) -> dict:
    from django.forms.models import model_to_dict

    data = {k: v for k, v in model_to_dict(study).items() if v is not None}
    data.update(changes)
    for prefix in ("candidates", "prompts", "judges"):
        data.update(inline_management(prefix, 0))
    return data
