"""Celery tasks: thin; the work and its invariants are in evaluations.generation.runner and
research.judging.runner. Tasks import services; services enqueue by the task names they
define (OUTPUTS_GENERATE_TASK, JUDGE_VOTES_RUN_TASK), so they never import this module."""

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings

from evaluations.generation.batch_polling import batches_poll
from evaluations.generation.batches import (
    BATCH_SUBMIT_TASK,
    BATCHES_POLL_TASK,
    STUDY_BATCHES_CANCEL_TASK,
    batch_submit,
    outputs_batch_assign,
    study_batches_cancel,
)
from evaluations.generation.runner import outputs_generate
from evaluations.generation.starting import (
    OUTPUTS_BATCH_TASK,
    OUTPUTS_GENERATE_TASK,
    generation_resume,
    lease_recheck_countdown,
    outputs_enqueue,
)
from research.judging.runner import (
    JUDGE_VOTES_RUN_TASK,
    judge_votes_enqueue,
    judge_votes_run,
    judging_resume,
)
from research.results.snapshots import RESULTS_COMPUTE_TASK, results_compute


@shared_task(
    name=OUTPUTS_GENERATE_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def outputs_generate_task(output_ids: list[int]) -> None:
    report = outputs_generate(output_ids=output_ids)
    if report.leased:
        # Held by another worker: check again once its lease ends, in case that worker died.
        outputs_enqueue(
            output_ids=report.leased, countdown=lease_recheck_countdown(report.leased_until)
        )
    if report.retry_later:
        # A claimed output is only claimable again once its lease expires.
        outputs_enqueue(
            output_ids=report.retry_later, countdown=settings.GENERATION_LEASE_SECONDS + 1
        )


@shared_task(name=OUTPUTS_BATCH_TASK, acks_late=True, ignore_result=True)
def outputs_batch_task(output_ids: list[int]) -> None:
    outputs_batch_assign(output_ids=output_ids)


@shared_task(name=BATCH_SUBMIT_TASK, acks_late=True, ignore_result=True)
def batch_submit_task(batch_id: int) -> None:
    batch_submit(batch_id=batch_id)


@shared_task(name=STUDY_BATCHES_CANCEL_TASK, acks_late=True, ignore_result=True)
def study_batches_cancel_task(study_id: int) -> None:
    study_batches_cancel(study_id=study_id)


@shared_task(name=BATCHES_POLL_TASK, ignore_result=True)
def batches_poll_task() -> None:
    batches_poll()


# Named as before the tasks moved to research/, so that messages queued then still find them.
@shared_task(name="evaluations.tasks.generation_resume_task", acks_late=True, ignore_result=True)
def generation_resume_task() -> None:
    generation_resume()


@worker_ready.connect
def _resume_on_worker_start(**kwargs: object) -> None:
    # A worker killed mid-batch leaves outputs running; the starting worker picks them up.
    generation_resume_task.delay()


@shared_task(
    name=JUDGE_VOTES_RUN_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def judge_votes_run_task(judge_vote_ids: list[int]) -> None:
    report = judge_votes_run(judge_vote_ids=judge_vote_ids)
    if report.leased:
        judge_votes_enqueue(
            judge_vote_ids=report.leased, countdown=lease_recheck_countdown(report.leased_until)
        )


@shared_task(name="evaluations.tasks.judging_resume_task", acks_late=True, ignore_result=True)
def judging_resume_task() -> None:
    judging_resume()


@worker_ready.connect
def _resume_judging_on_worker_start(**kwargs: object) -> None:
    judging_resume_task.delay()


@shared_task(name=RESULTS_COMPUTE_TASK, ignore_result=True)
def results_compute_task(study_id: int, kind: str, options_values: dict) -> None:
    results_compute(study_id=study_id, kind=kind, options_values=options_values)
