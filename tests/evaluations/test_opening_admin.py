"""The study admin's open gate: concerns shown on the study page and progress view, the Open
button and action that ask for confirmation, and the review list of flagged outputs."""

import pytest
from django.urls import reverse

from evaluations.models import Output, Study
from tests.factories import CandidateFactory, OutputFactory, PairFactory, PromptFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client, staff_user):
    client.force_login(staff_user)
    return client


def ready_study(owner, *, silent: bool = False, review: bool = False) -> Study:
    from tests.factories import StudyFactory

    study = StudyFactory(status=Study.Status.READY, owner=owner)
    a = CandidateFactory(study=study, label="Alpha", model="ollama/phi")
    b = CandidateFactory(study=study, label="Beta")
    prompt = PromptFactory(study=study)
    text = "The golden ratio phi is 1.618."
    out_a = OutputFactory(
        prompt=prompt,
        candidate=a,
        text=text,
        raw_text=text,
        identity_review=review,
        identity_findings=[{"name": "phi", "action": "review"}] if review else [],
    )
    out_b = OutputFactory(prompt=prompt, candidate=b)
    PairFactory(study=study, prompt=prompt, output_a=out_a, output_b=out_b)
    if silent:
        c = CandidateFactory(study=study, label="Silent")
        OutputFactory(prompt=prompt, candidate=c, status="failed", text="", last_error="boom")
    return study


def test_study_page_and_progress_view_list_what_to_check_before_opening(signed_in, staff_user):
    study = ready_study(staff_user, silent=True, review=True)
    for url in [
        reverse("admin:evaluations_study_change", args=[study.pk]),
        reverse("admin:evaluations_study_progress", args=[study.pk]),
    ]:
        page = signed_in.get(url).content.decode()
        assert "Before opening for voting" in page
        assert "Silent" in page and "produced no output" in page
        assert "1 output has a name left for review" in page


def test_study_page_says_why_a_study_set_to_open_when_ready_was_not_opened(signed_in, staff_user):
    study = ready_study(staff_user, silent=True)
    Study.objects.filter(pk=study.pk).update(open_when_ready=True)
    page = signed_in.get(reverse("admin:evaluations_study_change", args=[study.pk]))
    assert "was not opened automatically" in page.content.decode()


def test_open_button_asks_for_confirmation_when_there_are_concerns(signed_in, staff_user):
    study = ready_study(staff_user, silent=True)
    url = reverse("admin:evaluations_study_open", args=[study.pk])
    page = signed_in.get(url)
    assert page.status_code == 200
    assert "Silent" in page.content.decode() and "Open anyway" in page.content.decode()
    refused = signed_in.post(url, {})
    assert refused.status_code == 200
    study.refresh_from_db()
    assert study.status == Study.Status.READY
    signed_in.post(url, {"confirm": page.context["fingerprint"]})
    study.refresh_from_db()
    assert study.status == Study.Status.OPEN


def test_open_button_opens_a_study_without_concerns_in_one_step(signed_in, staff_user):
    study = ready_study(staff_user)
    response = signed_in.post(reverse("admin:evaluations_study_open", args=[study.pk]), {})
    assert response.status_code == 302
    study.refresh_from_db()
    assert study.status == Study.Status.OPEN


def test_the_open_button_sends_a_study_with_concerns_to_the_open_page(signed_in, staff_user):
    study = ready_study(staff_user, silent=True)
    url = reverse("admin:evaluations_study_transition", args=[study.pk, "open"])
    response = signed_in.post(url)
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:evaluations_study_open", args=[study.pk])
    study.refresh_from_db()
    assert study.status == Study.Status.READY


def test_open_action_asks_before_opening_studies_with_concerns(signed_in, staff_user):
    calm = ready_study(staff_user)
    worrying = ready_study(staff_user, silent=True)
    url = reverse("admin:evaluations_study_changelist")
    data = {"action": "open_for_voting", "_selected_action": [calm.pk, worrying.pk]}
    page = signed_in.post(url, data)
    assert page.status_code == 200
    assert "Silent" in page.content.decode()
    calm.refresh_from_db()
    worrying.refresh_from_db()
    assert calm.status == worrying.status == Study.Status.READY
    confirm = {f"confirm_{pk}": fp for pk, fp in page.context["fingerprints"].items()}
    signed_in.post(url, {**data, "confirmed": "yes", **confirm})
    calm.refresh_from_db()
    worrying.refresh_from_db()
    assert calm.status == worrying.status == Study.Status.OPEN


def test_review_list_marks_flagged_outputs_reviewed_or_scrubs_them(signed_in, staff_user):
    study = ready_study(staff_user, review=True)
    flagged = Output.objects.get(identity_review=True)
    url = reverse("admin:evaluations_study_review_identity", args=[study.pk])
    page = signed_in.get(url).content.decode()
    assert "<mark>phi</mark>" in page
    signed_in.post(url, {"output": [flagged.pk], "scrub": "1"})
    flagged.refresh_from_db()
    assert flagged.text == "The golden ratio [model] is 1.618."
    assert flagged.identity_reviewed_at and flagged.identity_reviewed_by == staff_user
    from evaluations.studies.opening import study_opening_concerns

    assert study_opening_concerns(study=study) == []


def test_marking_reviewed_keeps_the_text(signed_in, staff_user):
    study = ready_study(staff_user, review=True)
    flagged = Output.objects.get(identity_review=True)
    url = reverse("admin:evaluations_study_review_identity", args=[study.pk])
    signed_in.post(url, {"output": [flagged.pk], "mark_reviewed": "1"})
    flagged.refresh_from_db()
    assert flagged.text == "The golden ratio phi is 1.618."
    assert flagged.identity_reviewed_at is not None


def test_outputs_scrubbed_before_the_current_name_list_can_be_scrubbed_again(signed_in, staff_user):
    from tests.factories import StudyFactory

    study = StudyFactory(status=Study.Status.READY, owner=staff_user)
    candidate = CandidateFactory(study=study, label="Reasoner", model="openai/o3")
    raw = "Answer from o3 to: reset the router."
    old = OutputFactory(prompt=PromptFactory(study=study), candidate=candidate, text=raw)
    url = reverse("admin:evaluations_study_changelist")
    signed_in.post(url, {"action": "scrub_outputs_again", "_selected_action": [study.pk]})
    old.refresh_from_db()
    assert old.text == "Answer from [model] to: reset the router."
    assert old.raw_text == raw and old.identity_leak
