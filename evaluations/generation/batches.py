"""Generation through a provider's batch API: assigning outputs to batches, writing the request
file, uploading and creating the batch once, and cancelling. Polling with backoff is
generation/batch_polling.py; ingesting the answers through the same write as a live answer
(scrubbing, tokens, cost at the batch price) is generation/batch_ingest.py.

Crash safety. A batch's ``key`` is committed with its outputs before anything is uploaded and
is sent as the batch's metadata; submitting holds the batch row locked, so two workers never
submit one batch, and a worker restarted after the provider created the batch finds it by the
key instead of creating a second.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from celery import signature
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from evaluations.generation.errors import GenerationError
from evaluations.generation.provider_calls import ERROR_LIMIT
from evaluations.generation.requests import (
    candidate_deployments_authorized,
    candidate_request_params,
    output_messages,
)
from evaluations.generation.runner import generation_loop
from evaluations.generation.starting import BATCHABLE, BROKER_RETRY_POLICY
from evaluations.models import Candidate, Output, ProviderBatch, Study
from evaluations.providers import batch_api
from evaluations.providers.batch_support import batch_limits

BATCH_SUBMIT_TASK = "evaluations.tasks.batch_submit_task"
BATCHES_POLL_TASK = "evaluations.tasks.batches_poll_task"
STUDY_BATCHES_CANCEL_TASK = "evaluations.tasks.study_batches_cancel_task"

TERMINAL = {
    "completed": ProviderBatch.Status.COMPLETED,
    "failed": ProviderBatch.Status.FAILED,
    "expired": ProviderBatch.Status.EXPIRED,
    "cancelled": ProviderBatch.Status.CANCELLED,
}
# Provider states of a batch whose cancel was accepted: not asked to cancel again.
CANCELLING = ("cancelling", "cancelled")


def _on_loop(coroutine):
    """Run a provider call on the process's generation loop (LiteLLM keeps its clients and
    logging worker on one loop), waiting for it on this thread."""
    return asyncio.run_coroutine_threadsafe(coroutine, generation_loop()).result()


def _send(task: str, *args: object, countdown: float | None = None) -> None:
    signature(task).apply_async(
        args=list(args), countdown=countdown, retry_policy=BROKER_RETRY_POLICY
    )


# -- assigning ------------------------------------------------------------------------------


def outputs_batch_assign(*, output_ids: list[int]) -> list[int]:
    """Put the given pending, unbatched outputs of batch-mode candidates into new batches (one
    per candidate and size limit), keys stored now, before any upload. Returns the batch ids."""
    created: list[int] = []
    with transaction.atomic():
        rows = list(
            Output.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(
                pk__in=output_ids,
                status=Output.Status.PENDING,
                provider_batch__isnull=True,
                candidate__generation_mode=Candidate.GenerationMode.BATCH,
            )
            .filter(BATCHABLE)
            .order_by("candidate_id", "pk")
            .values_list("candidate_id", "pk", "prompt__study_id", "candidate__model")
        )
        by_candidate: dict[int, list[tuple]] = {}
        for row in rows:
            by_candidate.setdefault(row[0], []).append(row)
        for candidate_id, members in by_candidate.items():
            study_id, model = members[0][2], members[0][3]
            size = batch_limits(model).max_requests
            for start in range(0, len(members), size):
                ids = [pk for _, pk, _, _ in members[start : start + size]]
                created.append(_batch_new(study_id, candidate_id, ids))
        transaction.on_commit(lambda: [_send(BATCH_SUBMIT_TASK, pk) for pk in created])
    return created


def _batch_new(study_id: int, candidate_id: int, output_ids: list[int]) -> int:
    batch = ProviderBatch.objects.create(
        study_id=study_id,
        candidate_id=candidate_id,
        key=uuid.uuid4().hex,
        request_count=len(output_ids),
    )
    Output.objects.filter(pk__in=output_ids).update(provider_batch=batch)
    return batch.pk


# -- writing and submitting -----------------------------------------------------------------


def _candidate_context(candidate: Candidate) -> tuple:
    deployments = candidate_deployments_authorized(candidate, owner=candidate.study.owner)
    return deployments[0], candidate_request_params(candidate)


def batch_request_lines(batch: ProviderBatch) -> Iterator[tuple[int, bytes]]:
    """(output id, JSONL line) of each output in the batch: the body a live call would send,
    ``custom_id`` the output's id. Read from the database in chunks, never all at once."""
    candidate = batch.candidate
    _, params = _candidate_context(candidate)
    name = candidate.model.split("/", 1)[1] if "/" in candidate.model else candidate.model
    outputs = (
        Output.objects.filter(provider_batch=batch)
        .select_related("prompt")
        .order_by("pk")
        .only(
            "pk",
            "prompt__study_id",
            "prompt__text",
            "prompt__context",
            "prompt__messages",
            "prompt__turns",
        )
    )
    for output in outputs.iterator(chunk_size=2000):
        body = {
            **params,
            "model": name,
            "messages": output_messages(candidate=candidate, prompt=output.prompt),
        }
        line = {
            "custom_id": str(output.pk),
            "method": "POST",
            "url": batch_api.ENDPOINT,
            "body": body,
        }
        yield output.pk, json.dumps(line, separators=(",", ":")).encode() + b"\n"


def batch_file_write(batch: ProviderBatch, directory: Path) -> Path:
    """Write the request file; outputs beyond the provider's file size limit move to a new
    batch (created, key stored, queued) instead of making the file too large."""
    limit = batch_limits(batch.candidate.model).max_file_bytes
    path = directory / f"tastetest-{batch.key}.jsonl"
    written, overflow = 0, []
    with path.open("wb") as file:
        for output_id, line in batch_request_lines(batch):
            if overflow or written + len(line) > limit:
                overflow.append(output_id)
                continue
            file.write(line)
            written += len(line)
    if overflow:
        new = _batch_new(batch.study_id, batch.candidate_id, overflow)
        ProviderBatch.objects.filter(pk=batch.pk).update(
            request_count=F("request_count") - len(overflow)
        )
        transaction.on_commit(lambda: _send(BATCH_SUBMIT_TASK, new))
    return path


def batch_submit(*, batch_id: int) -> bool:
    """Upload the batch's requests and create it at the provider, once. True if submitted now."""
    with transaction.atomic():
        batch = (
            ProviderBatch.objects.select_for_update(skip_locked=True)
            .select_related("candidate__study__owner")
            .filter(pk=batch_id, status=ProviderBatch.Status.PREPARING)
            .first()
        )
        if batch is None:
            return False  # submitted already, or another worker is submitting it
        if batch.candidate.study.status != Study.Status.GENERATING:
            return False  # stopped meanwhile: the poll cancels it (study_batches_cancel)
        candidate = batch.candidate
        model = candidate.model
        try:
            deployment, _ = _candidate_context(candidate)
            found = _on_loop(batch_api.batch_find(deployment, model, key=batch.key))
            if found is None:
                with tempfile.TemporaryDirectory(prefix="tastetest-batch-") as directory:
                    path = batch_file_write(batch, Path(directory))
                    input_file_id = _on_loop(batch_api.batch_file_upload(deployment, model, path))
                found = _on_loop(
                    batch_api.batch_create(
                        deployment, model, input_file_id=input_file_id, key=batch.key
                    )
                )
                batch.input_file_id = input_file_id
        except (batch_api.BatchApiError, GenerationError) as exc:
            batch.last_error = str(exc)[:ERROR_LIMIT]
            batch.next_poll_at = timezone.now() + timedelta(seconds=settings.BATCH_POLL_MAX_SECONDS)
            batch.save(update_fields=["last_error", "next_poll_at"])
            return False
        _state_record(batch, found)
        batch.submitted_at = timezone.now()
        batch.save()
    return True


def _state_record(batch: ProviderBatch, state: batch_api.BatchState) -> None:
    batch.provider_batch_id = state.id
    batch.provider_status = state.status
    batch.output_file_id = state.output_file_id
    batch.error_file_id = state.error_file_id
    batch.completed_count, batch.failed_count = state.completed, state.failed
    batch.status = TERMINAL.get(state.status, ProviderBatch.Status.IN_PROGRESS)
    batch.last_error = ""
    if batch.status == ProviderBatch.Status.IN_PROGRESS:
        # Backoff: first look soon, then ever less often, up to the maximum.
        interval = max(settings.BATCH_POLL_MIN_SECONDS, batch.poll_interval_seconds * 2)
        batch.poll_interval_seconds = min(settings.BATCH_POLL_MAX_SECONDS, interval)
        batch.next_poll_at = timezone.now() + timedelta(seconds=batch.poll_interval_seconds)
    else:
        batch.next_poll_at = timezone.now()
        batch.finished_at = timezone.now()


# -- cancelling -----------------------------------------------------------------------------


def study_batches_cancel(*, study_id: int) -> int:
    """Cancel the open batches of a study that is no longer generating (moved back to draft or
    marked ready by the researcher). Returns how many were cancelled now.

    A batch not yet submitted is never submitted; its outputs are left pending and unbatched.
    A submitted one is cancelled at the provider and polled to its end: what the provider
    finished before the cancel is paid for and is ingested (as a live answer finished before the
    stop is kept); the rest is left pending, not retried (batch_ingest: _rest_fall_back).
    """
    if Study.objects.filter(pk=study_id, status=Study.Status.GENERATING).exists():
        return 0  # generating again: its batches are wanted
    ids = ProviderBatch.objects.filter(study_id=study_id, status__in=ProviderBatch.OPEN)
    return sum(batch_cancel(batch_id=pk) for pk in ids.values_list("pk", flat=True))


def batch_cancel(*, batch_id: int) -> bool:
    with transaction.atomic():
        # Not skip_locked: a worker submitting this batch holds it; cancel what it submitted.
        batch = (
            ProviderBatch.objects.select_for_update(of=("self",))
            .select_related("candidate__study__owner")
            .filter(pk=batch_id, status__in=ProviderBatch.OPEN)
            .exclude(provider_status__in=CANCELLING)
            .first()
        )
        if batch is None:
            return False
        if not batch.provider_batch_id:
            Output.objects.filter(provider_batch=batch, status=Output.Status.PENDING).update(
                provider_batch=None
            )
            batch.status = ProviderBatch.Status.CANCELLED
            batch.provider_status = "cancelled"
            batch.finished_at = batch.next_poll_at = timezone.now()
            batch.save()
            return True
        try:
            deployment, _ = _candidate_context(batch.candidate)
            state = _on_loop(
                batch_api.batch_cancel(deployment, batch.candidate.model, batch.provider_batch_id)
            )
        except (batch_api.BatchApiError, GenerationError) as exc:
            batch.last_error = f"cancelling: {exc}"[:ERROR_LIMIT]
            batch.save(update_fields=["last_error"])
            return False  # the next poll round tries again
        _state_record(batch, state)
        batch.next_poll_at = timezone.now()  # "cancelling" ends soon: look again at once
        batch.save()
    return True
