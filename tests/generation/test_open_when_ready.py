import pytest

from evaluations.generation.starting import study_generation_settle
from evaluations.models import Output, Study
from tests.factories import CandidateFactory, OutputFactory, PromptFactory, StudyFactory

pytestmark = pytest.mark.django_db


def settled_study(*, open_when_ready: bool, last_status: str = Output.Status.DONE) -> Study:
    study = StudyFactory(status=Study.Status.GENERATING, open_when_ready=open_when_ready)
    prompt = PromptFactory(study=study)
    OutputFactory(prompt=prompt, candidate=CandidateFactory(study=study))
    OutputFactory(prompt=prompt, candidate=CandidateFactory(study=study), status=last_status)
    return study


def test_settled_study_opens_for_voting_when_asked():
    study = settled_study(open_when_ready=True)
    assert study_generation_settle(study_id=study.pk)
    study.refresh_from_db()
    assert study.status == Study.Status.OPEN
    assert study.pairs.count() == 1


def test_settled_study_waits_at_ready_by_default():
    study = settled_study(open_when_ready=False)
    assert study_generation_settle(study_id=study.pk)
    study.refresh_from_db()
    assert study.status == Study.Status.READY


def test_study_without_any_pair_is_not_opened():
    study = settled_study(open_when_ready=True, last_status=Output.Status.FAILED)
    assert study_generation_settle(study_id=study.pk)
    study.refresh_from_db()
    assert study.status == Study.Status.READY
    assert study.pairs.count() == 0


def study_with_a_silent_candidate(*, open_when_ready: bool = True) -> Study:
    """Three candidates on two prompts; the third candidate's outputs all failed."""
    study = StudyFactory(status=Study.Status.GENERATING, open_when_ready=open_when_ready)
    working = [CandidateFactory(study=study, label=f"Working {i}") for i in range(2)]
    silent = CandidateFactory(study=study, label="Silent", model="openai/no-key")
    for _ in range(2):
        prompt = PromptFactory(study=study)
        for candidate in working:
            OutputFactory(prompt=prompt, candidate=candidate)
        OutputFactory(
            prompt=prompt,
            candidate=silent,
            status=Output.Status.FAILED,
            text="",
            last_error="AuthenticationError: no API key",
        )
    return study


def test_study_with_a_candidate_that_produced_nothing_is_not_opened_automatically():
    study = study_with_a_silent_candidate()
    assert study_generation_settle(study_id=study.pk)
    study.refresh_from_db()
    assert study.status == Study.Status.READY
    assert study.pairs.count() == 2


def test_study_with_outputs_left_for_review_is_not_opened_automatically():
    study = settled_study(open_when_ready=True)
    Output.objects.filter(prompt__study=study).update(identity_review=True)
    assert study_generation_settle(study_id=study.pk)
    study.refresh_from_db()
    assert study.status == Study.Status.READY


def test_concerns_name_the_candidate_missing_from_the_pairs_and_the_pair_count():
    from evaluations.studies.opening import study_opening_concerns

    study = study_with_a_silent_candidate()
    study_generation_settle(study_id=study.pk)
    messages = [c.message for c in study_opening_concerns(study=study)]
    assert any("Silent" in m and "no output" in m and "no API key" in m for m in messages)
    assert any("2 of the 6 pairs" in m for m in messages)


def test_a_study_with_concerns_opens_only_with_the_researchers_confirmation():
    from evaluations.studies.opening import (
        OpeningNeedsConfirmation,
        concerns_fingerprint,
        study_open,
        study_opening_concerns,
    )

    study = study_with_a_silent_candidate(open_when_ready=False)
    study_generation_settle(study_id=study.pk)
    study.refresh_from_db()
    with pytest.raises(OpeningNeedsConfirmation) as refused:
        study_open(study=study)
    assert "Silent" in str(refused.value)
    study.refresh_from_db()
    assert study.status == Study.Status.READY
    study_open(study=study, confirm=concerns_fingerprint(study_opening_concerns(study=study)))
    study.refresh_from_db()
    assert study.status == Study.Status.OPEN


def test_a_confirmation_of_other_concerns_does_not_open_the_study():
    from evaluations.studies.opening import OpeningNeedsConfirmation, study_open

    study = study_with_a_silent_candidate(open_when_ready=False)
    study_generation_settle(study_id=study.pk)
    study.refresh_from_db()
    with pytest.raises(OpeningNeedsConfirmation):
        study_open(study=study, confirm="an-old-fingerprint")
    study.refresh_from_db()
    assert study.status == Study.Status.READY


def test_a_study_without_concerns_opens_at_once():
    from evaluations.studies.opening import study_open, study_opening_concerns

    study = settled_study(open_when_ready=False)
    study_generation_settle(study_id=study.pk)
    study.refresh_from_db()
    assert study_opening_concerns(study=study) == []
    study_open(study=study)
    study.refresh_from_db()
    assert study.status == Study.Status.OPEN
