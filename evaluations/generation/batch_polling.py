"""Polling the open provider batches with backoff, and the periodic task's round: submit,
poll, ingest."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from evaluations.generation.batch_ingest import batch_ingest
from evaluations.generation.batches import (
    CANCELLING,
    TERMINAL,
    _candidate_context,
    _on_loop,
    _state_record,
    batch_submit,
    study_batches_cancel,
)
from evaluations.generation.errors import GenerationError
from evaluations.generation.provider_calls import ERROR_LIMIT
from evaluations.models import ProviderBatch, Study
from evaluations.providers import batch_api


def batches_poll() -> dict[str, int]:
    """The periodic task's work: cancel the batches of studies no longer generating, submit
    batches left preparing by a stopped worker, poll the open batches that are due, ingest the
    finished ones not yet ingested."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.BATCH_POLL_MAX_SECONDS)
    report = {"cancelled": 0, "submitted": 0, "polled": 0, "ingested": 0}
    # A study stopped while its batches ran (its cancel task lost, or the provider unreachable).
    for study_id in (
        ProviderBatch.objects.filter(status__in=ProviderBatch.OPEN)
        .exclude(study__status=Study.Status.GENERATING)
        .exclude(provider_status__in=CANCELLING)
        .order_by()
        .values_list("study_id", flat=True)
        .distinct()
    ):
        report["cancelled"] += study_batches_cancel(study_id=study_id)
    for pk in ProviderBatch.objects.filter(
        status=ProviderBatch.Status.PREPARING, created_at__lt=stale
    ).values_list("pk", flat=True):
        report["submitted"] += batch_submit(batch_id=pk)
    due = ProviderBatch.objects.filter(
        status__in=[ProviderBatch.Status.SUBMITTED, ProviderBatch.Status.IN_PROGRESS],
        next_poll_at__lte=now,
    )
    for pk in due.values_list("pk", flat=True):
        report["polled"] += batch_poll(batch_id=pk)
    for pk in ProviderBatch.objects.filter(status__in=TERMINAL.values()).values_list(
        "pk", flat=True
    ):
        report["ingested"] += batch_ingest(batch_id=pk)
    return report


def batch_poll(*, batch_id: int) -> bool:
    with transaction.atomic():
        batch = (
            ProviderBatch.objects.select_for_update(skip_locked=True)
            .select_related("candidate__study__owner")
            .filter(pk=batch_id, status__in=ProviderBatch.OPEN)
            .exclude(provider_batch_id="")
            .first()
        )
        if batch is None:
            return False
        try:
            deployment, _ = _candidate_context(batch.candidate)
            state = _on_loop(
                batch_api.batch_retrieve(deployment, batch.candidate.model, batch.provider_batch_id)
            )
        except (batch_api.BatchApiError, GenerationError) as exc:
            batch.last_error = str(exc)[:ERROR_LIMIT]
            interval = max(settings.BATCH_POLL_MIN_SECONDS, batch.poll_interval_seconds * 2)
            batch.poll_interval_seconds = min(settings.BATCH_POLL_MAX_SECONDS, interval)
            batch.next_poll_at = timezone.now() + timedelta(seconds=batch.poll_interval_seconds)
            batch.save()
            return False
        _state_record(batch, state)
        batch.save()
    return True
