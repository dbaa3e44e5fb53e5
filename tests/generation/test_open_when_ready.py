import pytest

from evaluations.generation import study_generation_settle
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
