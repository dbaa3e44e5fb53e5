"""Every candidate answers every prompt: LiteLLM calls -> Output rows.

How a batch runs (``outputs_generate``): one Celery task takes a list of output ids and keeps
all of them in flight at once, within each candidate's concurrency cap and requests-per-minute
limit (``evaluations.generation.limits``, shared across workers through Redis) and the process's own
share of the cap (``GENERATION_PROCESS_CONCURRENCY``). Every batch of a worker process runs on
one event loop in a thread of its own (``generation_loop``), so that with a threads pool the
next batch's requests queue behind the current one's and fill the slots it frees while it
drains, instead of the process idling at every batch boundary. Database work runs on the
task's own thread: the task waits by running it (asgiref's ``CurrentThreadExecutor``, as
``async_to_sync`` does), so it uses the task's connection and transaction.

Why it is crash-safe and never pays twice for a finished output:

- an output is claimed with a conditional UPDATE (pending -> running, ``started_at`` = now);
  the batch holding it renews the claim (``heartbeat_at``) every ``GENERATION_HEARTBEAT_SECONDS``
  while it runs, and a running output whose claim was not renewed for
  ``GENERATION_LEASE_SECONDS`` may be claimed again, so outputs held by a worker that was
  killed are taken over within about a minute, never lost;
- the result is written with a conditional UPDATE on (running, the claim's ``started_at``), so
  of two holders only the current one writes, and a done or failed output is never touched;
- tasks are acks_late and rejected on worker loss (settings), and a starting worker re-enqueues
  the unsettled outputs of generating studies (``generation_resume``).

No silent substitution: a call only ever goes to the candidate's model string; fallbacks are
other deployments (api_base, key) of that same model. The model the provider reports serving
is recorded and flagged when it differs from the pinned version.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import TypeVar

from asgiref.current_thread_executor import CurrentThreadExecutor
from django.conf import settings
from django.db import connection

from evaluations.anonymity.scrubbing import study_scrub_terms
from evaluations.generation.batch_database import (
    BatchDatabase,
    FinishWrite,
    _output_fail,
    _output_fail_unclaimed,
    _output_finish_from_cache,
    _output_note_error,
)
from evaluations.generation.limits import Limiter, LocalLimiter, RedisLimiter
from evaluations.generation.provider_calls import (
    ProviderAnswer,
    ProviderJob,
    error_is_transient,
    error_message,
    provider_call,
    retry_after_seconds,
    retry_backoff,
)
from evaluations.generation.requests import (
    candidate_deployments_authorized,
    candidate_request_params,
    output_messages,
    request_hash,
)
from evaluations.generation.scripted_turns import scripted_job_call
from evaluations.generation.starting import (
    GenerationError,
    lease_expired_before,
    study_generation_settle,
)
from evaluations.models import Candidate, Output
from evaluations.providers.access import (
    Deployment,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class BatchReport:
    done: int = 0
    failed: int = 0
    cached: int = 0
    skipped: int = 0
    leased: list[int] = field(default_factory=list)  # held by another live worker
    retry_later: list[int] = field(default_factory=list)  # hit an infrastructure error
    leased_until: datetime | None = None  # when the last of the ``leased`` claims expires


class _GenerationLoop:
    """This process's event loop for generation, its thread and its limiters."""

    lock = threading.Lock()
    loop: asyncio.AbstractEventLoop | None = None
    pid: int | None = None
    limiters: dict[str, Limiter] = {}


async def _loop_root() -> None:
    # The loop runs this forever through run_until_complete, not run_forever: anyio (under
    # LiteLLM's streaming) keeps its worker threads for the task started that way. Without
    # one it ties them to each request's task, starting and stopping a thread per call.
    await asyncio.Event().wait()


def generation_loop() -> asyncio.AbstractEventLoop:
    """The event loop every generation batch of this process runs on (started on first use,
    and again in a forked child, which does not inherit the thread)."""
    with _GenerationLoop.lock:
        if _GenerationLoop.loop is None or _GenerationLoop.pid != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(
                target=loop.run_until_complete,
                args=(_loop_root(),),
                name="generation-loop",
                daemon=True,
            ).start()
            _GenerationLoop.loop, _GenerationLoop.pid = loop, os.getpid()
            _GenerationLoop.limiters = {}
        return _GenerationLoop.loop


def process_limiter() -> Limiter:
    """The process's limiter for the configured broker; only used on the generation loop, so
    that its local queues are shared by every batch of the process."""
    broker = settings.CELERY_BROKER_URL
    limiter = _GenerationLoop.limiters.get(broker)
    if limiter is None:
        if broker.startswith(("redis://", "rediss://")):
            limiter = RedisLimiter(broker)
        else:
            limiter = LocalLimiter()
        _GenerationLoop.limiters[broker] = limiter
    return limiter


def batch_run(batch: Callable[[BatchDatabase], Awaitable[T]]) -> T:
    """Run ``batch(db)`` on the process's generation loop; its database work (``db``) runs on
    this thread, which waits for the batch by running it."""
    database = CurrentThreadExecutor(None)
    future = asyncio.run_coroutine_threadsafe(batch(BatchDatabase(database)), generation_loop())
    database.run_until_future(future)
    return future.result()


def outputs_generate(*, output_ids: list[int]) -> BatchReport:
    """Generate the given outputs, all in flight at once; see the module docstring."""
    return batch_run(partial(_outputs_generate, list(output_ids)))


async def _outputs_generate(output_ids: list[int], db: BatchDatabase) -> BatchReport:
    report = BatchReport()
    jobs, failed_setup = await db.run(_jobs_load, output_ids, report)
    for output_id, message in failed_setup:
        await db.run(_output_fail_unclaimed, output_id, message)
        report.failed += 1
    limiter = process_limiter()
    stop_heartbeat = asyncio.Event()
    heartbeat = asyncio.create_task(db.heartbeat(stop_heartbeat))
    try:
        outcomes = await asyncio.gather(
            *(_job_run(job, limiter, db) for job in jobs), return_exceptions=True
        )
    finally:
        stop_heartbeat.set()
        await heartbeat
    for job, outcome in zip(jobs, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            # Infrastructure trouble (Redis, database), not the model's: the output stays
            # unsettled and is tried again later, its lease protecting it meanwhile.
            logger.error("output %s: %r", job.output_id, outcome, exc_info=outcome)
            report.retry_later.append(job.output_id)
        else:
            setattr(report, outcome, getattr(report, outcome) + 1)
    studies = await db.run(_studies_of, output_ids)
    for study_id in sorted({job.study_id for job in jobs} | studies):
        await db.run(partial(study_generation_settle, study_id=study_id))
    return report


def _studies_of(output_ids: list[int]) -> set[int]:
    return set(Output.objects.filter(pk__in=output_ids).values_list("prompt__study_id", flat=True))


def _limiter_key(candidate: Candidate) -> str:
    # Candidate ids repeat across databases (tests, staging); the creation time does not.
    return f"{connection.settings_dict['NAME']}:{candidate.pk}:{candidate.created_at.timestamp()}"


def _jobs_load(output_ids: list[int], report: BatchReport) -> tuple[list[ProviderJob], list]:
    outputs = list(
        Output.objects.filter(pk__in=output_ids)
        .select_related("prompt__study__owner", "candidate")
        .order_by("prompt_id", "candidate_id")
    )
    lease_start = lease_expired_before()
    jobs: list[ProviderJob] = []
    failed_setup: list[tuple[int, str]] = []
    terms_by_study: dict[int, tuple[str, ...]] = {}
    deployments_of: dict[int, list[Deployment]] = {}
    for output in outputs:
        if output.status in (Output.Status.DONE, Output.Status.FAILED):
            report.skipped += 1
            continue
        last_sign_of_life = output.heartbeat_at or output.started_at
        if (
            output.status == Output.Status.RUNNING
            and last_sign_of_life
            and (last_sign_of_life >= lease_start)
        ):
            report.leased.append(output.pk)
            ends_at = last_sign_of_life + timedelta(seconds=settings.GENERATION_LEASE_SECONDS)
            report.leased_until = max(report.leased_until or ends_at, ends_at)
            continue
        candidate, prompt = output.candidate, output.prompt
        try:
            if candidate.pk not in deployments_of:
                # Once per candidate and batch: a connection is looked up in the database.
                deployments_of[candidate.pk] = candidate_deployments_authorized(
                    candidate, owner=prompt.study.owner
                )
            deployments = deployments_of[candidate.pk]
            params = candidate_request_params(candidate)
        except GenerationError as exc:
            failed_setup.append((output.pk, str(exc)))
            continue
        study_id = prompt.study_id
        if study_id not in terms_by_study:
            terms_by_study[study_id] = study_scrub_terms(study_id)
        messages = output_messages(candidate=candidate, prompt=prompt)
        hashed = [*messages, {"turns": prompt.turns}] if prompt.turns else messages
        jobs.append(
            ProviderJob(
                output_id=output.pk,
                study_id=study_id,
                limiter_key=_limiter_key(candidate),
                model=candidate.model,
                version=candidate.version,
                deployments=deployments,
                params=params,
                messages=messages,
                request_hash=request_hash(candidate=candidate, params=params, messages=hashed),
                max_concurrency=max(1, candidate.max_concurrency),
                requests_per_minute=candidate.requests_per_minute,
                price_in=candidate.input_price_per_mtok,
                price_out=candidate.output_price_per_mtok,
                terms=terms_by_study[study_id],
                scripted_turns=list(prompt.turns),
                answered=list(output.turns) if prompt.turns else [],
            )
        )
    cache_enabled = {o.pk: o.prompt.study.cache_enabled for o in outputs}
    # A scripted conversation is never copied from another: its turns are its own.
    cache_enabled.update({job.output_id: False for job in jobs if job.scripted_turns})
    cacheable = {job.request_hash for job in jobs if cache_enabled[job.output_id]}
    if cacheable:
        sources = dict(
            Output.objects.filter(
                request_hash__in=cacheable,
                status=Output.Status.DONE,
                cache_hit=False,
                imported=False,
            )
            .exclude(pk__in=[job.output_id for job in jobs])
            .order_by("finished_at")
            .values_list("request_hash", "pk")
        )
        for job in jobs:
            if cache_enabled[job.output_id]:
                job.cached_from = sources.get(job.request_hash)
    return jobs, failed_setup


async def _job_run(job: ProviderJob, limiter: Limiter, db: BatchDatabase) -> str:
    claimed_at: datetime | None = None
    if job.cached_from is not None:
        claimed_at = await db.claim(job.output_id)
        if claimed_at is None:
            return "skipped"
        if await db.write(partial(_output_finish_from_cache, job, claimed_at)):
            db.held.pop(job.output_id, None)
            return "cached"
        # The source vanished between lookup and copy: a real call, holding the claim.
    async with limiter.slot(
        job.limiter_key, job.max_concurrency, settings.GENERATION_PROCESS_CONCURRENCY
    ):
        if claimed_at is None:
            claimed_at = await db.claim(job.output_id)
            if claimed_at is None:
                return "skipped"
        outcome, write = await _job_call(job, limiter, claimed_at, db)
    # Written after the slot is given back: the slot bounds requests to the provider only.
    written = await db.write(write)
    db.held.pop(job.output_id, None)
    return outcome if written else "skipped"


async def _job_call(
    job: ProviderJob, limiter: Limiter, claimed_at: datetime, db: BatchDatabase
) -> tuple[str, Callable[[], bool]]:
    """Call the provider until it answers or the attempts run out; returns the final write."""
    if job.scripted_turns:
        return await scripted_job_call(
            job, claimed_at, db, partial(_attempts_run, limiter=limiter, db=db)
        )
    outcome = await _attempts_run(job, claimed_at, limiter=limiter, db=db)
    if isinstance(outcome, tuple):
        answer, deployment = outcome
        return "done", FinishWrite(job, claimed_at, answer, deployment)
    return "failed", outcome


async def _attempts_run(
    job: ProviderJob, claimed_at: datetime, *, limiter: Limiter, db: BatchDatabase
) -> tuple[ProviderAnswer, Deployment] | Callable[[], bool]:
    """The provider's answer and the deployment that gave it, or the write of the failure."""
    attempt = 0
    while True:
        deployment = job.deployments[attempt % len(job.deployments)]
        if job.requests_per_minute:
            await limiter.rate_wait(job.limiter_key, job.requests_per_minute)
        attempt += 1
        try:
            answer = await provider_call(job, deployment)
        except Exception as exc:  # noqa: BLE001 - every failure is recorded on the output
            message = error_message(exc, deployment, attempt)
            if not error_is_transient(exc) or attempt >= settings.GENERATION_MAX_ATTEMPTS:
                return partial(_output_fail, job, claimed_at, message)
            await db.write(partial(_output_note_error, job, claimed_at, message))
            await asyncio.sleep(retry_backoff(attempt, retry_after_seconds(exc)))
            continue
        return answer, deployment
