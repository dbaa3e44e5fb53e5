"""Starting generation: creating outputs, taking over stalled ones, queueing batches, resuming
after a restart."""

from __future__ import annotations

from datetime import datetime, timedelta

from celery import signature
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerUnreachable

from evaluations.generation.conversation_requests import study_conversations_check
from evaluations.generation.errors import GenerationError
from evaluations.generation.pairing import pairs_build
from evaluations.generation.requests import (
    candidate_deployments_authorized,
    candidate_request_params,
)
from evaluations.models import Candidate, IllegalTransition, Output, Prompt, Study
from evaluations.studies.opening import study_open_when_ready

# Sending a task when the broker is down must fail within seconds, not hang the admin request.
BROKER_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5}


# -- starting -------------------------------------------------------------------------------


def outputs_create(*, study: Study) -> int:
    """Create the missing Output rows, one per (prompt, candidate). Returns how many."""
    prompt_ids = list(Prompt.objects.filter(study=study).values_list("id", flat=True))
    candidate_ids = list(
        Candidate.objects.filter(study=study, imported=False).values_list("id", flat=True)
    )
    existing = set(
        Output.objects.filter(prompt__study=study).values_list("prompt_id", "candidate_id")
    )
    missing = [
        Output(prompt_id=p, candidate_id=c)
        for p in prompt_ids
        for c in candidate_ids
        if (p, c) not in existing
    ]
    Output.objects.bulk_create(missing, batch_size=1000, ignore_conflicts=True)
    return len(missing)


def lease_expired_before(seconds: float | None = None) -> datetime:
    lease = settings.GENERATION_LEASE_SECONDS if seconds is None else seconds
    return timezone.now() - timedelta(seconds=lease)


def lease_recheck_countdown(leased_until: datetime | None) -> float:
    """Seconds from now until a claim seen held elsewhere can be taken over, plus one.

    Measured when the re-check is queued, not when the claim was seen: the batch that saw it
    may have run long since (the first batch of a worker imports LiteLLM, a provider is slow).
    """
    if leased_until is None:
        return 0.0
    return max(0.0, (leased_until - timezone.now()).total_seconds()) + 1


def _last_sign_of_life_before(moment: datetime) -> Q:
    """Running outputs whose holder last renewed its claim (or claimed it) before ``moment``."""
    return Q(status=Output.Status.RUNNING) & (
        Q(heartbeat_at__lt=moment) | Q(heartbeat_at__isnull=True, started_at__lt=moment)
    )


def _claimable() -> Q:
    return Q(status=Output.Status.PENDING) | _last_sign_of_life_before(lease_expired_before())


def _unsettled(study: Study) -> Q:
    return Q(prompt__study=study) & _claimable()


def stalled_before() -> datetime:
    """A holder that has missed two heartbeats is taken to have stopped."""
    return timezone.now() - timedelta(seconds=2 * settings.GENERATION_HEARTBEAT_SECONDS)


def outputs_take_over(*, study: Study) -> int:
    """Queue again, now, the outputs held by a worker that stopped renewing its claims
    (instead of waiting for their lease to expire). Returns how many."""
    with transaction.atomic():
        ids = list(
            Output.objects.filter(
                Q(prompt__study=study) & _last_sign_of_life_before(stalled_before())
            ).values_list("pk", flat=True)
        )
        Output.objects.filter(pk__in=ids).filter(
            _last_sign_of_life_before(stalled_before())
        ).update(status=Output.Status.PENDING, started_at=None, heartbeat_at=None)
        transaction.on_commit(lambda: outputs_enqueue(output_ids=ids))
    return len(ids)


def generation_start(*, study: Study, retry_failed: bool = False) -> int:
    """Create missing outputs and queue every unsettled one. Returns how many were queued.

    Safe to call again at any time: finished outputs are never requested again, and an output
    already being generated is left to its worker.
    """
    candidates = list(Candidate.objects.filter(study=study))
    if not candidates:
        raise GenerationError("the study has no candidates")
    if not Prompt.objects.filter(study=study).exists():
        raise GenerationError("the study has no prompts")
    for candidate in candidates:
        candidate_deployments_authorized(candidate, owner=study.owner)
        candidate_request_params(candidate)
    study_conversations_check(study=study, candidates=candidates)
    with transaction.atomic():
        study = Study.objects.select_for_update().get(pk=study.pk)
        outputs_create(study=study)
        if retry_failed:
            Output.objects.filter(prompt__study=study, status=Output.Status.FAILED).update(
                status=Output.Status.PENDING, finished_at=None
            )
        ids = list(
            Output.objects.filter(_unsettled(study))
            .order_by("prompt_id", "candidate_id")
            .values_list("id", flat=True)
        )
        if ids and study.status != Study.Status.GENERATING:
            try:
                study.transition_to(Study.Status.GENERATING)
            except IllegalTransition as exc:
                raise GenerationError(str(exc)) from None
        transaction.on_commit(lambda: outputs_enqueue(output_ids=ids))
        if not ids:
            transaction.on_commit(lambda: study_generation_settle(study_id=study.pk))
    return len(ids)


def outputs_retry(*, output_ids: list[int]) -> int:
    """Queue the given failed outputs again. Returns how many."""
    with transaction.atomic():
        failed = Output.objects.filter(pk__in=output_ids, status=Output.Status.FAILED)
        studies = set(failed.values_list("prompt__study_id", flat=True))
        ids = list(failed.values_list("id", flat=True))
        Output.objects.filter(pk__in=ids).update(status=Output.Status.PENDING, finished_at=None)
        for study in Study.objects.select_for_update().filter(pk__in=studies):
            if study.status != Study.Status.GENERATING:
                try:
                    study.transition_to(Study.Status.GENERATING)
                except IllegalTransition as exc:
                    raise GenerationError(str(exc)) from None
        transaction.on_commit(lambda: outputs_enqueue(output_ids=ids))
    return len(ids)


# Services enqueue by task name and never import research.tasks (which imports them); the
# task registers under this name.
OUTPUTS_GENERATE_TASK = "evaluations.tasks.outputs_generate_task"
# Outputs of batch-mode candidates go to the provider's batch API (generation/batches.py),
# except scripted conversations: each turn needs the candidate's answer to the turn before,
# which a single batch cannot give, so they are answered live.
BATCHABLE = Q(prompt__turns=[])
OUTPUTS_BATCH_TASK = "evaluations.tasks.outputs_batch_task"


def outputs_enqueue(*, output_ids: list[int], countdown: float | None = None) -> None:
    batched = set(
        Output.objects.filter(
            pk__in=output_ids, candidate__generation_mode=Candidate.GenerationMode.BATCH
        )
        .filter(BATCHABLE)
        .values_list("pk", flat=True)
    )
    if batched:
        output_ids = [pk for pk in output_ids if pk not in batched]
        _send_or_refuse(OUTPUTS_BATCH_TASK, sorted(batched), countdown)
    size = settings.GENERATION_BATCH_SIZE
    for start in range(0, len(output_ids), size):
        _send_or_refuse(OUTPUTS_GENERATE_TASK, output_ids[start : start + size], countdown)


def _send_or_refuse(task: str, output_ids: list[int], countdown: float | None) -> None:
    try:
        signature(task).apply_async(
            args=[output_ids], countdown=countdown, retry_policy=BROKER_RETRY_POLICY
        )
    except BrokerUnreachable as exc:
        raise GenerationError(
            f"could not reach the Celery broker ({exc}); the outputs are saved as pending, "
            "start generation again once the broker is back"
        ) from None


def generation_resume() -> int:
    """Queue the unsettled outputs of every generating study (after a worker restart)."""
    ids = list(
        Output.objects.filter(
            prompt__study__status=Study.Status.GENERATING,
            status__in=[Output.Status.PENDING, Output.Status.RUNNING],
        )
        .order_by("prompt_id", "candidate_id")
        .values_list("id", flat=True)
    )
    outputs_enqueue(output_ids=ids)
    return len(ids)


def study_generation_settle(*, study_id: int) -> bool:
    """Move a generating study whose outputs are all done or failed to ready, with its pairs."""
    study = Study.objects.get(pk=study_id)
    if study.status != Study.Status.GENERATING:
        return False
    unsettled = Output.objects.filter(
        prompt__study=study, status__in=[Output.Status.PENDING, Output.Status.RUNNING]
    )
    if unsettled.exists():
        return False
    pairs_build(study=study)
    try:
        study.transition_to(Study.Status.READY)
    except IllegalTransition:
        return False  # another worker settled it first
    if study.open_when_ready:
        study_open_when_ready(study=study)
    return True
