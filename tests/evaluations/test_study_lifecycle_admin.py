"""The study's status follows its lifecycle buttons, never a (possibly stale) form."""

import pytest
from django.urls import reverse

from evaluations.models import Study
from tests.evaluations.test_admin import study_change_data
from tests.factories import PairFactory, StudyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged_in(client, staff_user):
    client.force_login(staff_user)
    return client


def test_a_stale_form_post_does_not_change_the_status(logged_in, staff_user):
    study = StudyFactory(status=Study.Status.GENERATING, owner=staff_user)
    url = reverse("admin:evaluations_study_change", args=[study.pk])
    stale = study_change_data(study, name="Renamed while generating")
    # Generation finishes while the form is open in the browser.
    Study.objects.filter(pk=study.pk).update(status=Study.Status.READY)
    response = logged_in.post(url, stale)
    assert response.status_code == 302
    study.refresh_from_db()
    assert study.name == "Renamed while generating"
    assert study.status == Study.Status.READY


def test_the_form_shows_the_status_read_only_with_a_button_per_allowed_move(logged_in, staff_user):
    study = StudyFactory(status=Study.Status.READY, owner=staff_user)
    page = logged_in.get(reverse("admin:evaluations_study_change", args=[study.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert 'name="status"' not in html
    assert reverse("admin:evaluations_study_transition", args=[study.pk, "open"]) in html
    assert reverse("admin:evaluations_study_transition", args=[study.pk, "closed"]) not in html


def test_the_open_button_opens_a_ready_study(logged_in, staff_user):
    study = StudyFactory(status=Study.Status.READY, owner=staff_user)
    PairFactory(study=study)  # nothing to pause for: two candidates, each with a paired output
    response = logged_in.post(
        reverse("admin:evaluations_study_transition", args=[study.pk, "open"])
    )
    assert response.status_code == 302
    study.refresh_from_db()
    assert study.status == Study.Status.OPEN


@pytest.mark.parametrize(
    ("start", "target"), [("draft", "open"), ("open", "draft"), ("ready", "generating")]
)
def test_a_button_for_a_move_the_lifecycle_forbids_changes_nothing(
    logged_in, staff_user, start, target
):
    study = StudyFactory(status=start, owner=staff_user)
    response = logged_in.post(
        reverse("admin:evaluations_study_transition", args=[study.pk, target]), follow=True
    )
    assert response.status_code == 200
    assert f"cannot go from {start} to {target}" in response.content.decode()
    study.refresh_from_db()
    assert study.status == start


def test_transition_refuses_get(logged_in, staff_user):
    study = StudyFactory(status=Study.Status.READY, owner=staff_user)
    url = reverse("admin:evaluations_study_transition", args=[study.pk, "open"])
    assert logged_in.get(url).status_code == 405
