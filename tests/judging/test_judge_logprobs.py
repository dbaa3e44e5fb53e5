"""Judge calls ask for log-probabilities where the model takes them, through the real LiteLLM
client to the stub server, and store the judge's probability for model_a."""

import pytest

from evaluations.models import JudgeVote
from research.judging.runner import judge_votes_run, judging_start
from research.judging.verdicts import judge_logprob_params
from tests.factories import JudgeFactory
from tests.judging.conftest import scripted_judge
from tests.openai_stub import StubReply

pytestmark = pytest.mark.django_db


def unsure_judge(request):
    """The "fair" judge's answers, its final verdict letter at probability 0.8 (the other
    answer 0.15, a tie 0.05)."""
    text = scripted_judge(request)
    at = text.rindex("[[") + 2
    chosen = text[at]
    other = "B" if chosen == "A" else "A"
    return StubReply(text, {at: {chosen: 0.8, other: 0.15, "C": 0.05}})


def _run(study) -> None:
    judging_start(study=study)
    judge_votes_run(judge_vote_ids=list(JudgeVote.objects.values_list("id", flat=True)))


def test_the_judges_probability_for_its_verdict_is_stored_per_call(
    judged_study, stub_judge, judge_stub
):
    judge_stub.reply = unsure_judge
    judge = stub_judge(judged_study, "fair")
    _run(judged_study)
    votes = list(JudgeVote.objects.filter(judge=judge).select_related("pair__output_a__candidate"))
    assert len(votes) == 6
    for vote in votes:
        strong_is_a = vote.pair.output_a.candidate.label == "strong"
        # model_a's expected score: 0.8 + 0.05 / 2 when it is the strong one, else 0.15 + 0.025.
        assert vote.logprob_score == pytest.approx(0.825 if strong_is_a else 0.175)
    for request in judge_stub.requests_for("fair"):
        assert request.body["logprobs"] is True and request.body["top_logprobs"] == 5


def test_a_judge_can_opt_out_of_log_probabilities_and_is_scored_by_its_verdicts(
    judged_study, stub_judge, judge_stub
):
    judge_stub.reply = unsure_judge
    judge = stub_judge(judged_study, "fair", extra_params={"logprobs": False})
    _run(judged_study)
    assert set(JudgeVote.objects.filter(judge=judge).values_list("logprob_score", flat=True)) == {
        None
    }
    assert all("top_logprobs" not in r.body for r in judge_stub.requests_for("fair"))


def test_a_cached_answer_keeps_its_probability(judged_study, stub_judge, judge_stub):
    from research.reevaluation.clones import study_clone

    judge_stub.reply = unsure_judge
    stub_judge(judged_study, "fair")
    _run(judged_study)
    clone = study_clone(study=judged_study, name="Again", slug="again").study
    JudgeVote.objects.filter(study=clone).delete()  # judge the clone from scratch
    judging_start(study=clone)
    judge_votes_run(
        judge_vote_ids=list(JudgeVote.objects.filter(study=clone).values_list("id", flat=True))
    )
    assert len(judge_stub.requests) == 6
    original = dict(
        JudgeVote.objects.filter(study=judged_study).values_list("request_hash", "logprob_score")
    )
    for vote in JudgeVote.objects.filter(study=clone):
        assert vote.cache_hit
        assert vote.logprob_score == original[vote.request_hash]


def test_models_that_refuse_log_probabilities_are_not_asked_for_them():
    assert judge_logprob_params(JudgeFactory.build(model="openai/gpt-4.1-mini")) == {
        "logprobs": True,
        "top_logprobs": 5,
    }
    for model in ("openai/o3-mini", "anthropic/claude-3-5-sonnet-20240620"):
        assert judge_logprob_params(JudgeFactory.build(model=model)) == {}
