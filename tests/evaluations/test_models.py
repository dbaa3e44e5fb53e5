import pytest
from django.db import IntegrityError, transaction

from evaluations.models import IllegalTransition, Output, Pair, Study
from tests.factories import (
    CandidateFactory,
    OutputFactory,
    PairFactory,
    PromptFactory,
    RaterFactory,
    StudyFactory,
    VoteFactory,
)

pytestmark = pytest.mark.django_db


def test_second_output_for_same_prompt_and_candidate_is_rejected():
    output = OutputFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Output.objects.create(prompt=output.prompt, candidate=output.candidate)
    assert Output.objects.count() == 1


def test_second_vote_by_same_rater_on_same_pair_is_rejected():
    vote = VoteFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        VoteFactory(pair=vote.pair, rater=vote.rater, choice="b")
    assert vote.pair.votes.count() == 1


def test_two_raters_may_vote_on_the_same_pair():
    vote = VoteFactory()
    VoteFactory(pair=vote.pair, rater=RaterFactory())
    assert vote.pair.votes.count() == 2


def test_pair_of_an_output_with_itself_is_rejected():
    output = OutputFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Pair.objects.create(
            study=output.prompt.study, prompt=output.prompt, output_a=output, output_b=output
        )


def test_pair_public_ids_are_random_and_opaque():
    pairs = [PairFactory() for _ in range(5)]
    ids = {p.public_id for p in pairs}
    assert len(ids) == 5
    for pair in pairs:
        assert len(pair.public_id) == 16
        assert str(pair.pk) != pair.public_id
        assert pair.output_a.candidate.label not in pair.public_id


def test_prompt_ids_are_unique_within_a_study_only():
    prompt = PromptFactory(external_id="q1")
    PromptFactory(external_id="q1")  # another study
    with pytest.raises(IntegrityError), transaction.atomic():
        PromptFactory(study=prompt.study, external_id="q1")


def test_candidate_labels_are_unique_within_a_study():
    candidate = CandidateFactory(label="x")
    with pytest.raises(IntegrityError), transaction.atomic():
        CandidateFactory(study=candidate.study, label="x")


def test_study_follows_its_lifecycle():
    study = StudyFactory()
    for status in ["generating", "ready", "open", "closed", "open"]:
        study.transition_to(status)
        study.refresh_from_db()
        assert study.status == status


@pytest.mark.parametrize(
    ("start", "target"),
    [
        ("draft", "open"),
        ("draft", "closed"),
        ("generating", "open"),
        ("ready", "closed"),
        ("open", "draft"),
        ("closed", "generating"),
    ],
)
def test_illegal_transition_is_refused_and_changes_nothing(start, target):
    study = StudyFactory(status=start)
    with pytest.raises(IllegalTransition, match=f"from {start} to {target}"):
        study.transition_to(target)
    study.refresh_from_db()
    assert study.status == start


def test_transition_from_a_stale_status_is_refused():
    study = StudyFactory(status="ready")
    stale = Study.objects.get(pk=study.pk)
    study.transition_to("open")
    with pytest.raises(IllegalTransition, match="concurrently"):
        stale.transition_to("generating")
    study.refresh_from_db()
    assert study.status == "open"
