"""The admin refuses a candidate or judge that would send a server secret, or a key to a host
the operator did not approve; provider connections are the superuser's to manage."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from evaluations.models import Candidate, ProviderConnection, Study
from tests.factories import StudyFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def researcher(db):
    user = UserFactory(is_staff=True, is_superuser=False)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="evaluations"))
    return user


def inline_management(prefix: str, total: int) -> dict:
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def study_with_candidate(owner, **candidate: str) -> dict:
    return {
        "name": "Exfiltration",
        "slug": "exfiltration",
        "owner": owner.pk,
        "status": "draft",
        "question": "Which response better answers the prompt?",
        "votes_per_pair": "3",
        "seed": "42",
        "pairing_mode": "all",
        "gold_rate": "0",
        "gold_min_accuracy": "0.7",
        "training_pairs": "0",
        **inline_management("candidates", 1),
        "candidates-0-label": "Leak",
        "candidates-0-model": "openai/gpt-4o",
        "candidates-0-fallback_deployments": "[]",
        "candidates-0-extra_params": "{}",
        "candidates-0-max_concurrency": "8",
        **{f"candidates-0-{name}": value for name, value in candidate.items()},
        **inline_management("prompts", 0),
    }


@pytest.mark.parametrize(
    ("fields", "rule"),
    [
        ({"api_key_env": "SECRET_KEY"}, "PROVIDER_KEY_ENV_ALLOWLIST"),
        ({"api_key_env": "DATABASE_URL"}, "PROVIDER_KEY_ENV_ALLOWLIST"),
        ({"api_base": "https://attacker.example/v1"}, "ALLOW_CUSTOM_API_BASE"),
    ],
)
def test_a_researcher_cannot_save_a_candidate_that_would_leak(client, researcher, fields, rule):
    client.force_login(researcher)
    response = client.post(
        reverse("admin:evaluations_study_add"), study_with_candidate(researcher, **fields)
    )
    assert response.status_code == 200
    assert rule in response.content.decode()
    assert not Study.objects.filter(slug="exfiltration").exists()
    assert not Candidate.objects.exists()


def test_a_researcher_may_pick_a_connection_granted_to_them_and_no_other(client, researcher):
    granted = ProviderConnection.objects.create(name="team-a", api_key_env="OPENAI_API_KEY")
    granted.users.add(researcher)
    ProviderConnection.objects.create(name="team-b", api_key_env="OPENAI_API_KEY")
    client.force_login(researcher)
    page = client.get(reverse("admin:evaluations_study_add")).content.decode()
    assert 'value="team-a"' in page
    assert 'value="team-b"' not in page
    response = client.post(
        reverse("admin:evaluations_study_add"),
        study_with_candidate(researcher, connection="team-a"),
    )
    assert response.status_code == 302
    assert Candidate.objects.get().connection == "team-a"


def test_a_researcher_cannot_post_a_connection_not_granted_to_them(client, researcher):
    ProviderConnection.objects.create(name="team-b", api_key_env="OPENAI_API_KEY")
    client.force_login(researcher)
    response = client.post(
        reverse("admin:evaluations_study_add"),
        study_with_candidate(researcher, connection="team-b"),
    )
    assert response.status_code == 200
    assert "not available to" in response.content.decode()
    assert not Candidate.objects.exists()


def test_a_superuser_cannot_give_a_researchers_study_a_free_api_base_with_a_key(
    client, staff_user, researcher
):
    study = StudyFactory(owner=researcher)
    client.force_login(staff_user)
    data = {
        "study": study.pk,
        "label": "Leak",
        "model": "openai/gpt-4o",
        "api_base": "https://attacker.example/v1",
        "api_key_env": "OPENAI_API_KEY",
        "fallback_deployments": "[]",
        "extra_params": "{}",
        "max_concurrency": "8",
    }
    response = client.post(reverse("admin:evaluations_candidate_add"), data)
    assert response.status_code == 200
    assert "ALLOW_CUSTOM_API_BASE" in response.content.decode()
    assert not Candidate.objects.exists()


def test_provider_connections_are_managed_by_superusers_only(client, researcher, staff_user):
    url = reverse("admin:evaluations_providerconnection_changelist")
    client.force_login(researcher)
    assert client.get(url).status_code == 403
    client.force_login(staff_user)
    assert client.get(url).status_code == 200
    response = client.post(
        reverse("admin:evaluations_providerconnection_add"),
        {"name": "leaky", "api_base": "https://example.org/v1", "api_key_env": "SECRET_KEY"},
    )
    assert response.status_code == 200
    assert "PROVIDER_KEY_ENV_ALLOWLIST" in response.content.decode()
    assert not ProviderConnection.objects.exists()
