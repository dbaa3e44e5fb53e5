from decimal import Decimal

import pytest

from evaluations.models import JudgeVote, Pair
from research.judging.runner import judge_votes_run, judging_start
from research.judging.verdicts import JudgingError
from tests.factories import JudgeFactory, StudyFactory

pytestmark = pytest.mark.django_db


def run_all(study) -> None:
    ids = list(JudgeVote.objects.filter(study=study).values_list("id", flat=True))
    judge_votes_run(judge_vote_ids=ids)


@pytest.fixture
def eager(request):
    from config.celery import app

    app.conf.task_always_eager = True
    request.addfinalizer(lambda: setattr(app.conf, "task_always_eager", False))


def test_every_pair_is_judged_in_both_orders_with_cost_and_latency(
    judged_study, stub_judge, judge_stub, eager, django_capture_on_commit_callbacks
):
    judge = stub_judge(
        judged_study, "fair", input_price_per_mtok=Decimal(3), output_price_per_mtok=Decimal(15)
    )
    with django_capture_on_commit_callbacks(execute=True):
        queued = judging_start(study=judged_study)
    assert queued == 6
    votes = list(JudgeVote.objects.filter(judge=judge).select_related("pair__output_a__candidate"))
    assert len(votes) == 6
    assert {(v.status, v.attempts) for v in votes} == {(JudgeVote.Status.DONE, 1)}
    for vote in votes:
        strong_is_a = vote.pair.output_a.candidate.label == "strong"
        assert vote.verdict == ("a" if strong_is_a else "b")
        assert vote.raw_text.endswith("]]")
        assert vote.latency_ms > 0
        assert vote.input_tokens > 0 and vote.output_tokens > 0
        expected = (vote.input_tokens * 3 + vote.output_tokens * 15) / Decimal(1_000_000)
        assert vote.cost_usd == expected.quantize(Decimal("1e-8"))
        assert vote.served_model == "fair"
    requests = judge_stub.requests_for("fair")
    assert len(requests) == 6
    # Each pair is shown once with output_a first and once with output_b first.
    for pair in Pair.objects.filter(study=judged_study):
        shown_first = sorted(
            r.last_user_text.split("[The Start of Assistant A's Answer]\n")[1].split("\n")[0]
            for r in requests
            if pair.output_a.text in r.last_user_text
        )
        assert shown_first == sorted([pair.output_a.text, pair.output_b.text])


def test_order_flipping_and_unparseable_answers_are_recorded_as_such(
    judged_study, stub_judge, judge_stub
):
    biased = stub_judge(judged_study, "biased")
    mumbler = stub_judge(judged_study, "mumbler")
    judging_start(study=judged_study)
    run_all(judged_study)
    for pair in Pair.objects.filter(study=judged_study):
        verdicts = dict(
            JudgeVote.objects.filter(judge=biased, pair=pair).values_list("order", "verdict")
        )
        assert verdicts == {"ab": "a", "ba": "b"}  # always the first shown: it flips
    mumbled = JudgeVote.objects.filter(judge=mumbler)
    assert set(mumbled.values_list("status", "verdict")) == {("done", "unparseable")}
    assert all("cannot decide" in v.raw_text for v in mumbled)


def test_judging_again_makes_no_new_calls_and_new_pairs_only_their_own(
    judged_study, stub_judge, judge_stub
):
    judge = stub_judge(judged_study, "fair")
    judging_start(study=judged_study)
    run_all(judged_study)
    assert len(judge_stub.requests) == 6
    run_all(judged_study)
    assert judging_start(study=judged_study) == 0
    assert len(judge_stub.requests) == 6
    assert JudgeVote.objects.filter(judge=judge).count() == 6


def test_server_errors_are_retried_and_a_persistent_failure_is_recorded(
    judged_study, stub_judge, judge_stub
):
    stub_judge(judged_study, "fair")
    judge_stub.plan("fair", ["500", "429"])
    judge_stub.retry_after = 0
    judging_start(study=judged_study)
    run_all(judged_study)
    votes = JudgeVote.objects.filter(study=judged_study)
    assert set(votes.values_list("status", flat=True)) == {"done"}
    assert sum(v.attempts for v in votes) == 8

    broken = stub_judge(judged_study, "broken")
    judge_stub.always("broken", "401")
    judging_start(study=judged_study)
    run_all(judged_study)
    failed = JudgeVote.objects.filter(judge=broken)
    assert set(failed.values_list("status", "verdict")) == {("failed", "")}
    assert all("401" in v.last_error for v in failed)
    assert len(judge_stub.requests_for("broken")) == 6  # a client error is not retried


def test_an_identical_judge_request_in_another_study_is_answered_from_the_cache(
    judged_study, stub_judge, judge_stub, staff_user
):
    stub_judge(judged_study, "fair")
    judging_start(study=judged_study)
    run_all(judged_study)
    from research.reevaluation.clones import study_clone

    clone = study_clone(study=judged_study, name="Again", slug="again").study
    JudgeVote.objects.filter(study=clone).delete()  # judge the clone from scratch
    judging_start(study=clone)
    run_all(clone)
    assert len(judge_stub.requests) == 6
    cached = JudgeVote.objects.filter(study=clone)
    assert cached.count() == 6
    assert set(cached.values_list("cache_hit", "cost_usd")) == {(True, Decimal(0))}


def test_a_running_call_held_by_a_live_worker_is_left_to_it(judged_study, stub_judge, judge_stub):
    from django.utils import timezone

    stub_judge(judged_study, "fair")
    judging_start(study=judged_study)
    held = JudgeVote.objects.filter(study=judged_study).first()
    JudgeVote.objects.filter(pk=held.pk).update(status="running", started_at=timezone.now())
    ids = list(JudgeVote.objects.filter(study=judged_study).values_list("id", flat=True))
    report = judge_votes_run(judge_vote_ids=ids)
    assert report.leased == [held.pk] and report.done == 5
    assert len(judge_stub.requests) == 5


def test_judging_refuses_a_study_without_judges_or_pairs(study, judged_study):
    with pytest.raises(JudgingError, match="no judge"):
        judging_start(study=judged_study)
    empty = StudyFactory(owner=study.owner)
    JudgeFactory(study=empty)
    with pytest.raises(JudgingError, match="no pairs"):
        judging_start(study=empty)


def test_a_template_without_its_placeholders_is_refused(judged_study, stub_judge):
    stub_judge(judged_study, "fair")
    judged_study.judge_prompt_template = "Which is better?"
    with pytest.raises(JudgingError, match="answer_a"):
        judging_start(study=judged_study)


def test_a_held_call_is_rechecked_when_its_lease_ends_however_long_the_batch_ran(
    judged_study, stub_judge, judge_stub, monkeypatch, settings
):
    """The countdown to the re-check is taken when the batch ends, not when it began (issue 22)."""
    import datetime

    from django.utils import timezone

    from research import tasks

    settings.JUDGING_LEASE_SECONDS = 60
    judge_stub.latency = 3.0
    stub_judge(judged_study, "slowjudge")
    judging_start(study=judged_study)
    held = JudgeVote.objects.filter(study=judged_study).first()
    claimed = timezone.now() - datetime.timedelta(seconds=10)
    JudgeVote.objects.filter(pk=held.pk).update(status="running", started_at=claimed)
    enqueued = []
    monkeypatch.setattr(
        tasks,
        "judge_votes_enqueue",
        lambda *, judge_vote_ids, countdown=None: enqueued.append((judge_vote_ids, countdown)),
    )
    ids = list(JudgeVote.objects.filter(study=judged_study).values_list("id", flat=True))
    tasks.judge_votes_run_task(ids)
    lease_left = (claimed + datetime.timedelta(seconds=60) - timezone.now()).total_seconds()
    [(requeued, countdown)] = enqueued
    assert requeued == [held.pk]
    assert lease_left + 0.5 <= countdown <= lease_left + 1.5, (countdown, lease_left)
