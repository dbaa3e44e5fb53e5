"""A finished provider batch's result files -> its outputs, written as a live answer is
(scrubbing, tokens, cost at the batch price); the outputs it did not answer fall back.

Ingestion is one transaction that settles only outputs still pending in that batch, so a
worker killed mid-ingestion leaves it to be redone whole, and an answer is never written twice.
The result files are streamed to a temporary file and read a line at a time.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from evaluations.anonymity.scrubbing import study_scrub_terms
from evaluations.generation.batch_database import FinishWrite, _outputs_finish_together
from evaluations.generation.batches import (
    TERMINAL,
    _candidate_context,
    _on_loop,
    _send,
    outputs_batch_assign,
)
from evaluations.generation.provider_calls import ERROR_LIMIT, ProviderAnswer, ProviderJob
from evaluations.generation.requests import output_messages, request_hash
from evaluations.generation.starting import OUTPUTS_GENERATE_TASK, study_generation_settle
from evaluations.models import Candidate, Output, ProviderBatch, Study
from evaluations.providers import batch_api

INGEST_CHUNK = 500


def _batch_job(
    candidate: Candidate, output: Output, deployment, params, prices, terms
) -> ProviderJob:
    messages = output_messages(candidate=candidate, prompt=output.prompt)
    return ProviderJob(
        output_id=output.pk,
        study_id=output.prompt.study_id,
        limiter_key="",
        model=candidate.model,
        version=candidate.version,
        deployments=[deployment],
        params=params,
        messages=messages,
        request_hash=request_hash(candidate=candidate, params=params, messages=messages),
        max_concurrency=1,
        requests_per_minute=None,
        price_in=prices[0],
        price_out=prices[1],
        terms=terms,
    )


def _answer_of(line: dict) -> ProviderAnswer | None:
    response = line.get("response") or {}
    if line.get("error") or response.get("status_code") != 200:
        return None
    body = response.get("body") or {}
    choices = body.get("choices") or []
    text = ((choices[0] or {}).get("message") or {}).get("content") if choices else None
    if not isinstance(text, str) or not text.strip():
        return None
    usage = body.get("usage") or {}
    return ProviderAnswer(
        text=text,
        served_model=str(body.get("model") or ""),
        latency_ms=None,  # a batch's turnaround is not the model's latency
        ttft_ms=None,
        input_tokens=usage.get("prompt_tokens"),
        output_tokens=usage.get("completion_tokens"),
    )


def _lines(path: Path) -> Iterator[tuple[int | None, dict | None, str]]:
    """(output id, parsed line, problem) of each line, read from disk one line at a time; a
    malformed line gives its problem."""
    with path.open("rb") as file:
        for number, raw in enumerate(file, start=1):
            if not raw.strip():
                continue
            try:
                line = json.loads(raw)
                output_id = int(line["custom_id"])
            except (ValueError, KeyError, TypeError):
                yield None, None, f"line {number} of the result file is malformed"
                continue
            yield output_id, line, ""


def batch_ingest(*, batch_id: int) -> bool:
    """Settle the outputs of a finished batch from its result files; the rest fall back.

    The files are streamed to disk and read a line at a time; answers and errors are written
    INGEST_CHUNK at a time, so memory does not grow with the size of the batch."""
    with transaction.atomic():
        batch = (
            ProviderBatch.objects.select_for_update(skip_locked=True)
            .select_related("candidate__study__owner")
            .filter(pk=batch_id, status__in=TERMINAL.values())
            .first()
        )
        if batch is None:
            return False
        candidate = batch.candidate
        deployment, params = _candidate_context(candidate)
        prices = batch_api.batch_prices(
            candidate.model,
            price_in=candidate.input_price_per_mtok,
            price_out=candidate.output_price_per_mtok,
            discount=candidate.batch_discount,
        )
        terms = study_scrub_terms(batch.study_id)
        write = partial(_answers_write, batch, candidate, deployment, params, prices, terms)
        prefix = _error_prefix(batch)
        errors: dict[int, str] = {}
        answers: dict[int, ProviderAnswer] = {}
        settled = 0
        with tempfile.TemporaryDirectory(prefix="tastetest-batch-") as directory:
            for file_id in (batch.output_file_id, batch.error_file_id):
                if not file_id:
                    continue
                path = Path(directory) / "results.jsonl"
                _on_loop(batch_api.batch_file_download(deployment, candidate.model, file_id, path))
                for output_id, line, _problem in _lines(path):
                    if output_id is None:
                        continue
                    answer = _answer_of(line)
                    if answer is None:
                        error = line.get("error") or (line.get("response") or {}).get("body") or {}
                        errors[output_id] = f"{prefix} {json.dumps(error)[:500]}"
                        if len(errors) >= INGEST_CHUNK:
                            _errors_write(batch, errors)
                            errors = {}
                        continue
                    answers[output_id] = answer
                    if len(answers) >= INGEST_CHUNK:
                        settled += write(answers)
                        answers = {}
                path.unlink()
        settled += write(answers)
        _errors_write(batch, errors)
        _rest_fall_back(batch, candidate)
        batch.ingested_count = settled
        batch.status = ProviderBatch.Status.INGESTED
        batch.save(update_fields=["ingested_count", "status"])
        study_id = batch.study_id
        transaction.on_commit(lambda: study_generation_settle(study_id=study_id))
    return True


def _error_prefix(batch: ProviderBatch) -> str:
    return f"batch {batch.provider_batch_id}:"


def _errors_write(batch: ProviderBatch, errors: dict[int, str]) -> None:
    """Each failed line's error on its output (still pending), for _rest_fall_back."""
    if not errors:
        return
    outputs = list(
        Output.objects.filter(
            pk__in=list(errors), provider_batch=batch, status=Output.Status.PENDING
        ).only("pk")
    )
    for output in outputs:
        output.last_error = errors[output.pk][:ERROR_LIMIT]
    Output.objects.bulk_update(outputs, ["last_error"], batch_size=INGEST_CHUNK)


def _answers_write(batch, candidate, deployment, params, prices, terms, answers) -> int:
    now = timezone.now()
    settled = 0
    ids = list(answers)
    for start in range(0, len(ids), INGEST_CHUNK):
        chunk = ids[start : start + INGEST_CHUNK]
        # Claimed as a live worker claims, so that the write is the live one, conditional on it.
        Output.objects.filter(
            pk__in=chunk, provider_batch=batch, status=Output.Status.PENDING
        ).update(status=Output.Status.RUNNING, started_at=now, heartbeat_at=now)
        outputs = Output.objects.filter(
            pk__in=chunk, provider_batch=batch, status=Output.Status.RUNNING, started_at=now
        ).select_related("prompt")
        finishes = [
            FinishWrite(
                _batch_job(candidate, o, deployment, params, prices, terms),
                now,
                answers[o.pk],
                deployment,
            )
            for o in outputs
        ]
        if len(finishes) > 1 and connection.vendor == "postgresql":
            settled += sum(_outputs_finish_together(finishes))
        else:
            settled += sum(finish() for finish in finishes)
    return settled


def _rest_fall_back(batch: ProviderBatch, candidate: Candidate) -> None:
    """Outputs of the batch it did not answer: failed for good after the attempts allowed,
    else to a new batch or to live calls, as the researcher chose. A line's own error is on
    its output already (_errors_write); the others were left out by the provider."""
    waiting = Output.objects.filter(provider_batch=batch, status=Output.Status.PENDING)
    if not Study.objects.filter(pk=batch.study_id, status=Study.Status.GENERATING).exists():
        # The study was stopped (its batches cancelled): nothing is asked again, and a cancel
        # is not an attempt; the next "Generate" takes them.
        waiting.update(provider_batch=None)
        return
    default = f"batch {batch.provider_batch_id} ended {batch.provider_status} without an answer"
    waiting.exclude(last_error__startswith=_error_prefix(batch)).update(last_error=default)
    waiting.filter(attempts__gte=settings.GENERATION_MAX_ATTEMPTS - 1).update(
        status=Output.Status.FAILED, attempts=F("attempts") + 1, finished_at=timezone.now()
    )
    again = list(waiting.order_by("pk").values_list("pk", flat=True))
    waiting.update(attempts=F("attempts") + 1, provider_batch=None)
    if not again:
        return
    if candidate.batch_fallback == Candidate.BatchFallback.LIVE:
        transaction.on_commit(lambda: _send(OUTPUTS_GENERATE_TASK, again))
    else:
        outputs_batch_assign(output_ids=again)
