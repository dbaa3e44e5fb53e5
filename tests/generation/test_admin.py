import pytest
from django.urls import reverse

from evaluations.models import Output, Study
from tests.factories import CandidateFactory, OutputFactory, PromptFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_for(client, staff_user):
    client.force_login(staff_user)
    return client


def test_study_page_shows_the_progress_bar_with_counts_and_buttons(admin_client_for, study):
    prompt = PromptFactory(study=study)
    OutputFactory(prompt=prompt, status=Output.Status.DONE, cost_usd="0.0125")
    OutputFactory(prompt=prompt, status=Output.Status.FAILED, last_error="HTTP 503")
    OutputFactory(prompt=prompt, status=Output.Status.PENDING)
    page = admin_client_for.get(reverse("admin:evaluations_study_change", args=[study.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert 'role="progressbar"' in html
    assert "<strong>1</strong> done" in html and "<strong>1</strong> failed" in html
    assert "$0.0125" in html
    assert reverse("admin:evaluations_study_generate", args=[study.pk]) in html
    assert reverse("admin:evaluations_study_progress", args=[study.pk]) in html


def test_progress_fragment_refreshes_and_marks_a_generating_study_active(admin_client_for, study):
    Study.objects.filter(pk=study.pk).update(status=Study.Status.GENERATING)
    OutputFactory(prompt=PromptFactory(study=study), status=Output.Status.RUNNING)
    fragment = admin_client_for.get(reverse("admin:evaluations_study_progress", args=[study.pk]))
    assert fragment.status_code == 200
    assert 'data-active="true"' in fragment.content.decode()
    assert "<strong>1</strong> running" in fragment.content.decode()


def test_generate_button_queues_outputs_and_moves_the_study_to_generating(
    admin_client_for, study, django_capture_on_commit_callbacks, monkeypatch
):
    queued: list[list[int]] = []
    monkeypatch.setattr(
        "evaluations.generation.starting.outputs_enqueue",
        lambda *, output_ids, countdown=None: queued.append(output_ids),
    )
    CandidateFactory(study=study)
    PromptFactory(study=study)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_for.post(
            reverse("admin:evaluations_study_generate", args=[study.pk])
        )
    assert response.status_code == 302
    study.refresh_from_db()
    assert study.status == Study.Status.GENERATING
    assert queued == [list(Output.objects.filter(prompt__study=study).values_list("id", flat=True))]


def test_generate_refuses_get_requests(admin_client_for, study):
    response = admin_client_for.get(reverse("admin:evaluations_study_generate", args=[study.pk]))
    assert response.status_code == 405


def test_build_pairs_action_builds_pairs_from_finished_outputs(admin_client_for, study):
    prompt = PromptFactory(study=study)
    OutputFactory(prompt=prompt, candidate=CandidateFactory(study=study))
    OutputFactory(prompt=prompt, candidate=CandidateFactory(study=study))
    response = admin_client_for.post(
        reverse("admin:evaluations_study_changelist"),
        {"action": "build_pairs", "_selected_action": [study.pk]},
        follow=True,
    )
    assert "built 1 new pairs" in response.content.decode()
    assert study.pairs.count() == 1


def test_failed_outputs_list_shows_the_error_and_can_be_retried(
    admin_client_for, study, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr("evaluations.generation.starting.outputs_enqueue", lambda **kwargs: None)
    Study.objects.filter(pk=study.pk).update(status=Study.Status.READY)
    failed = OutputFactory(
        prompt=PromptFactory(study=study), status=Output.Status.FAILED, last_error="HTTP 503: down"
    )
    listing = admin_client_for.get(
        reverse("admin:evaluations_output_changelist") + "?status__exact=failed"
    )
    assert "HTTP 503: down" in listing.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        admin_client_for.post(
            reverse("admin:evaluations_output_changelist"),
            {"action": "retry_selected_failed", "_selected_action": [failed.pk]},
        )
    failed.refresh_from_db()
    assert failed.status == Output.Status.PENDING
    study.refresh_from_db()
    assert study.status == Study.Status.GENERATING
