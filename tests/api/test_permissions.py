import pytest
from django.contrib.auth.models import Permission
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import RaterFactory, StudyFactory, UserFactory

ENDPOINTS = [
    "studies/{id}/",
    "studies/{id}/candidates/",
    "studies/{id}/ranking/",
    "studies/{id}/pairwise/",
    "studies/{id}/agreement/",
    "studies/{id}/biases/",
    "studies/{id}/votes/",
    "studies/{id}/outputs/",
    "studies/{id}/votes.csv",
    "studies/{id}/votes.jsonl",
    "studies/{id}/votes.json",
    "studies/{id}/outputs.csv",
    "studies/{id}/outputs.jsonl",
]


def url(template: str, study) -> str:
    return "/api/v1/" + template.format(id=study.pk)


@pytest.fixture
def own_study(researcher):
    return StudyFactory(owner=researcher)


@pytest.mark.django_db
@pytest.mark.parametrize("template", ENDPOINTS)
def test_anonymous_requests_are_refused_with_401(template, own_study):
    response = APIClient().get(url(template, own_study))
    assert response.status_code == 401
    assert response.json()["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize("template", ENDPOINTS)
def test_raters_are_refused_with_403(template, own_study):
    rater = RaterFactory()
    client = APIClient()
    client.force_login(rater.user)
    response = client.get(url(template, own_study))
    assert response.status_code == 403
    assert "Researchers only" in response.json()["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize("template", ENDPOINTS)
def test_researcher_reads_their_own_study(template, api, own_study):
    assert api.get(url(template, own_study)).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("template", ENDPOINTS)
def test_another_researchers_study_does_not_exist_for_you(template, api):
    other = StudyFactory(owner=UserFactory(is_staff=True))
    response = api.get(url(template, other))
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"


@pytest.mark.django_db
@pytest.mark.parametrize("template", ENDPOINTS)
def test_superuser_reads_every_study(template, own_study):
    client = APIClient()
    client.force_authenticate(UserFactory(is_staff=True, is_superuser=True))
    assert client.get(url(template, own_study)).status_code == 200


@pytest.mark.django_db
def test_staff_without_permission_to_view_studies_is_refused(own_study):
    client = APIClient()
    client.force_authenticate(UserFactory(is_staff=True))
    assert client.get(url("studies/{id}/ranking/", own_study)).status_code == 403
    assert client.get("/api/v1/studies/").status_code == 403


@pytest.mark.django_db
def test_study_list_holds_only_your_studies(api, own_study):
    StudyFactory(owner=UserFactory(is_staff=True))
    body = api.get("/api/v1/studies/").json()
    assert body["count"] == 1
    assert [s["id"] for s in body["results"]] == [own_study.pk]


@pytest.mark.django_db
def test_token_authenticates_a_researcher(researcher, own_study):
    token = Token.objects.create(user=researcher)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get(url("studies/{id}/", own_study)).status_code == 200
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert client.get(url("studies/{id}/", own_study)).status_code == 401


@pytest.mark.django_db
def test_session_login_lets_staff_use_the_api_in_the_browser(researcher, own_study):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(researcher)
    assert client.get(url("studies/{id}/ranking/", own_study)).json()["models"] == []
    response = client.get(url("studies/{id}/", own_study), HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert b"<html" in response.content.lower()


@pytest.mark.django_db
def test_schema_and_docs_are_for_researchers_only(api):
    assert APIClient().get("/api/v1/schema/").status_code == 401
    assert api.get("/api/v1/schema/").status_code == 200
    docs = api.get("/api/v1/docs/")
    assert docs.status_code == 200
    assert b"cdn" not in docs.content.lower()


@pytest.mark.django_db
def test_rater_pages_never_link_to_the_api(client):
    rater = RaterFactory()
    client.force_login(rater.user)
    for path in ("/", "/login/"):
        response = client.get(path, follow=True)
        assert b"/api/" not in response.content


def test_view_permission_exists(db):
    assert Permission.objects.filter(codename="view_study").exists()
