import pytest

from evaluations.generation.starting import generation_start
from evaluations.models import Candidate, JudgeVote, Output, Pair, Prompt, Study
from raters.models import Assignment, Membership, Vote
from research.reevaluation.clones import CloneError, study_clone

pytestmark = pytest.mark.django_db


def counts(study) -> dict[str, int]:
    return {
        "prompts": Prompt.objects.filter(study=study).count(),
        "candidates": Candidate.objects.filter(study=study).count(),
        "outputs": Output.objects.filter(prompt__study=study, status="done").count(),
        "pairs": Pair.objects.filter(study=study).count(),
        "votes": Vote.objects.filter(study=study).count(),
        "judge_votes": JudgeVote.objects.filter(study=study).count(),
        "raters": Membership.objects.filter(study=study).count(),
        "assignments": Assignment.objects.filter(study=study).count(),
    }


def test_adding_a_candidate_reuses_every_row_and_generates_only_its_outputs(
    voted_study, reeval_stub, eager, django_capture_on_commit_callbacks
):
    before = counts(voted_study)
    report = study_clone(
        study=voted_study,
        name="With delta",
        slug="with-delta",
        add=[
            {
                "label": "delta",
                "model": "openai/delta",
                "version": "v1",
                "api_base": reeval_stub.base_url,
                "api_key_env": "STUB_API_KEY",
            }
        ],
    )
    clone = report.study
    assert counts(voted_study) == before
    assert counts(clone) == {**before, "candidates": 4}
    assert (report.outputs_reused, report.outputs_to_generate) == (9, 3)
    assert (report.pairs_reused, report.votes_reused, report.judge_votes_reused) == (9, 18, 18)
    assert clone.status == Study.Status.DRAFT and clone.cloned_from == voted_study
    reused = Pair.objects.filter(study=clone)
    assert not set(reused.values_list("public_id", flat=True)) & set(
        Pair.objects.filter(study=voted_study).values_list("public_id", flat=True)
    )

    with django_capture_on_commit_callbacks(execute=True):
        queued = generation_start(study=clone)
    clone.refresh_from_db()
    assert queued == 3
    assert [r.model for r in reeval_stub.requests] == ["delta"] * 3
    assert clone.status == Study.Status.READY
    after = counts(clone)
    assert after["outputs"] == 12
    assert after["pairs"] == 9 + 3 * 3  # only the pairs with delta are new
    assert after["votes"] == 18
    new_pairs = Pair.objects.filter(study=clone, votes__isnull=True).distinct()
    assert new_pairs.count() == 9
    assert all("delta" in (p.output_a.candidate.label, p.output_b.candidate.label)
               for p in new_pairs)  # fmt: skip


def test_removing_a_candidate_keeps_only_its_rivals_rows_and_is_ready_at_once(voted_study):
    report = study_clone(study=voted_study, name="No gamma", slug="no-gamma", remove=["gamma"])
    clone = report.study
    assert clone.status == Study.Status.READY
    assert counts(clone) == {
        "prompts": 3, "candidates": 2, "outputs": 6, "pairs": 3, "votes": 6,
        "judge_votes": 6, "raters": 2, "assignments": 6,
    }  # fmt: skip
    assert report.outputs_to_generate == 0
    labels = {
        label
        for pair in Pair.objects.filter(study=clone).select_related(
            "output_a__candidate", "output_b__candidate"
        )
        for label in (pair.output_a.candidate.label, pair.output_b.candidate.label)
    }
    assert labels == {"alpha", "beta"}
    for vote in Vote.objects.filter(study=clone).select_related(
        "pair__output_a", "pair__output_b", "left_output"
    ):
        assert vote.left_output == vote.pair.output_b  # the side shown is carried over
        assert vote.candidate_a_id == vote.pair.output_a.candidate_id
        assert vote.candidate_b_id == vote.pair.output_b.candidate_id
        assert vote.prompt_id == vote.pair.prompt_id


def test_repinning_a_candidate_regenerates_its_outputs_and_drops_its_votes(voted_study):
    report = study_clone(study=voted_study, name="Beta v2", slug="beta-v2", repin={"beta": "v2"})
    clone = report.study
    assert Candidate.objects.get(study=clone, label="beta").version == "v2"
    assert Candidate.objects.get(study=voted_study, label="beta").version == "v1"
    assert (report.outputs_reused, report.outputs_to_generate) == (6, 3)
    assert (report.pairs_reused, report.votes_reused) == (3, 6)
    assert report.repinned == ["beta"] and report.kept == ["alpha", "gamma"]
    assert clone.status == Study.Status.DRAFT


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"remove": ["omega"]}, "no candidate labelled 'omega'"),
        ({"repin": {"beta": "v1"}}, "already pinned"),
        ({"add": [{"label": "alpha", "model": "openai/x"}]}, "already in the study"),
        ({"remove": ["alpha", "beta"]}, "fewer than two"),
        ({"remove": ["beta"], "repin": {"beta": "v2"}}, "removed and re-pinned"),
    ],
)
def test_an_inconsistent_clone_is_refused_and_leaves_nothing_behind(voted_study, changes, message):
    with pytest.raises(CloneError, match=message):
        study_clone(study=voted_study, name="Bad", slug="bad", **changes)
    assert not Study.objects.filter(slug="bad").exists()


def test_a_clone_keeps_the_criteria_and_each_reused_votes_strength_and_answers(voted_study):
    from raters.models import CriterionVote

    voted_study.criteria = [{"key": "accuracy", "question": "More accurate?", "both_bad": False}]
    voted_study.ask_strength = True
    voted_study.save()
    for vote in Vote.objects.filter(study=voted_study):
        vote.strength = 2
        vote.save(update_fields=["strength"])
        CriterionVote.objects.create(vote=vote, criterion="accuracy", choice="tie")
    clone = study_clone(study=voted_study, name="No gamma", slug="no-gamma", remove=["gamma"]).study
    assert clone.criteria == voted_study.criteria and clone.ask_strength
    copies = Vote.objects.filter(study=clone)
    assert copies.count() == 6 and all(v.strength == 2 for v in copies)
    assert CriterionVote.objects.filter(vote__study=clone, choice="tie").count() == 6
