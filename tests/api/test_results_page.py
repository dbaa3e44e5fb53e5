import pytest

from tests.api.conftest import build_study
from tests.factories import CandidateFactory, StudyFactory, UserFactory


def results_url(study) -> str:
    return f"/admin/evaluations/study/{study.pk}/results/"


@pytest.fixture
def admin_client_for(client):
    def login(user):
        client.force_login(user)
        return client

    return login


@pytest.mark.django_db
def test_results_page_renders_for_an_empty_study(admin_client_for, staff_user):
    study = StudyFactory(owner=staff_user)
    CandidateFactory(study=study, label="lonely")
    response = admin_client_for(staff_user).get(results_url(study))
    assert response.status_code == 200
    assert b"No votes to rank yet" in response.content
    assert b"lonely" in response.content


@pytest.mark.django_db
def test_results_page_renders_for_a_study_with_one_model(admin_client_for, staff_user):
    study = build_study(staff_user, models=("solo",), prompts=2, raters=1)
    response = admin_client_for(staff_user).get(results_url(study))
    assert response.status_code == 200
    assert b"solo" in response.content


@pytest.mark.django_db
def test_results_page_shows_ranking_charts_agreement_and_downloads(admin_client_for, staff_user):
    study = build_study(staff_user, prompts=8, raters=3)
    response = admin_client_for(staff_user).get(results_url(study))
    body = response.content.decode()
    assert response.status_code == 200
    assert body.index(">gamma<") < body.index(">alpha<")  # strongest first
    for chart in ("ratings", "heatmap", "cost", "latency"):
        assert f'<figure class="results-chart" id="chart-{chart}"><figcaption>' in body
    assert body.count("<svg") >= 4
    assert "Pareto-efficient" in body
    assert "Fleiss&#x27; kappa" in body or "Fleiss' kappa" in body
    assert f"/api/v1/studies/{study.pk}/votes.csv" in body
    assert "By category" in body and "math" in body
    assert "Votes needed" in body


@pytest.mark.django_db
def test_results_page_hides_another_researchers_study(admin_client_for, researcher):
    other = StudyFactory(owner=UserFactory(is_staff=True))
    assert admin_client_for(researcher).get(results_url(other)).status_code == 404


@pytest.mark.django_db
def test_study_change_page_links_to_results(admin_client_for, staff_user, study):
    response = admin_client_for(staff_user).get(f"/admin/evaluations/study/{study.pk}/change/")
    assert results_url(study).encode() in response.content
