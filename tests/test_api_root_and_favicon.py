"""/api/v1/ answers with a JSON index of the API; /favicon.ico is served (issue 22)."""

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from tests.factories import RaterFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_api_root_lists_the_endpoints_for_a_researcher():
    user = UserFactory(is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_study"))
    client = APIClient()
    client.force_authenticate(user)
    response = client.get("/api/v1/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["schema"].endswith("/api/v1/schema/")
    assert body["docs"].endswith("/api/v1/docs/")
    assert body["studies"].endswith("/api/v1/studies/")
    assert any(
        url.endswith("/api/v1/studies/{study_id}/ranking/") for url in body["study"].values()
    )


def test_api_root_answers_json_401_anonymous_and_403_to_a_rater():
    anonymous = APIClient().get("/api/v1/")
    assert anonymous.status_code == 401
    assert anonymous.json()["detail"]
    rater_client = APIClient()
    rater_client.force_authenticate(RaterFactory().user)
    refused = rater_client.get("/api/v1/")
    assert refused.status_code == 403
    assert refused.json()["detail"]


def test_favicon_is_served(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] in ("image/x-icon", "image/vnd.microsoft.icon")
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert body[:4] == b"\x00\x00\x01\x00"
    assert "max-age" in response["Cache-Control"]
