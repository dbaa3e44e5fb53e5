"""Every candidate answers every prompt: LiteLLM calls -> Output rows.

How a batch runs (``outputs_generate``): one Celery task takes a list of output ids and keeps
all of them in flight at once, within each candidate's concurrency cap and requests-per-minute
limit (``evaluations.ratelimit``, shared across workers through Redis) and the process's own
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
import email.utils
import hashlib
import json
import logging
import os
import random
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import TypeVar

import litellm
from asgiref.current_thread_executor import CurrentThreadExecutor
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Max, Min, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerUnreachable

from evaluations.anonymizing import study_scrub_terms, text_scrub
from evaluations.demo_provider import demo_provider_register
from evaluations.models import Candidate, IllegalTransition, Output, Prompt, Study
from evaluations.opening import study_open_when_ready
from evaluations.outbound import OutboundRefused, OutboundUnresolved
from evaluations.pairing import pairs_build
from evaluations.provider_access import (
    Deployment,
    ProviderAccessRefused,
    deployment_authorize,
    deployment_call_kwargs,
)
from evaluations.provider_errors import transport_error
from evaluations.ratelimit import Limiter, LocalLimiter, RedisLimiter
from evaluations.request_timing import RequestMarks, request_marks, timed_session

logger = logging.getLogger(__name__)
T = TypeVar("T")

litellm.suppress_debug_info = True
# The app calls nothing but a candidate's own endpoint: LiteLLM would otherwise download a
# Hugging Face tokenizer for some model names ("llama-3"), retrying for seconds per call
# without internet (settings also set LITELLM_OFFLINE_MODE and LITELLM_LOCAL_MODEL_COST_MAP).
litellm.disable_hf_tokenizer_download = True
demo_provider_register()

RESERVED_PARAMS = {
    "model",
    "messages",
    "stream",
    "stream_options",
    "api_base",
    "base_url",
    "api_key",
    "fallbacks",
    "num_retries",
    "max_retries",
    "timeout",
    "n",
    "mock_response",
    "input_cost_per_token",  # from the candidate's price fields
    "output_cost_per_token",
    # Where a request goes and with which credentials is the operator's (provider_access):
    # LiteLLM builds some providers' host names from these, or takes credentials from them.
    "model_list",
    "azure_endpoint",
    "azure_ad_token",
    "aws_bedrock_runtime_endpoint",
    "aws_sts_endpoint",
    "aws_region_name",
    "aws_role_name",
    "aws_web_identity_token",
    "vertex_location",
    "vertex_ai_location",
    "vertex_project",
    "vertex_ai_project",
    "vertex_credentials",
    "vertex_ai_credentials",
}
DEPLOYMENT_KEYS = {"api_base", "api_key_env", "connection", "model"}
# Sending a task when the broker is down must fail within seconds, not hang the admin request.
BROKER_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5}
ERROR_LIMIT = 2000


class GenerationError(Exception):
    """Generation cannot start: the study or a candidate is not set up for it."""


class EmptyAnswer(Exception):
    """The provider answered 200 but with no text (a truncated stream, a proxy's error page)."""


class MissingKey(Exception):
    """The candidate names an environment variable for its key that is not set."""


def candidate_deployments(candidate: Candidate) -> list[Deployment]:
    """The primary deployment and its fallbacks, all serving the candidate's one model."""
    deployments = [
        Deployment(
            candidate.api_base.strip(), candidate.api_key_env.strip(), candidate.connection.strip()
        )
    ]
    fallbacks = candidate.fallback_deployments or []
    if not isinstance(fallbacks, list):
        raise GenerationError(f"{candidate.label}: fallback_deployments must be a list of objects")
    for index, entry in enumerate(fallbacks, start=1):
        if not isinstance(entry, dict):
            raise GenerationError(f"{candidate.label}: fallback {index} is not an object")
        unknown = set(entry) - DEPLOYMENT_KEYS
        if unknown:
            raise GenerationError(
                f"{candidate.label}: fallback {index} has unknown keys {sorted(unknown)}; "
                f"allowed: connection, or api_base and api_key_env"
            )
        if entry.get("model", candidate.model) != candidate.model:
            raise GenerationError(
                f"{candidate.label}: fallback {index} names model {entry['model']!r}; a fallback "
                f"may only be another deployment of {candidate.model!r}, never another model"
            )
        deployment = Deployment(
            str(entry.get("api_base") or "").strip(),
            str(entry.get("api_key_env") or "").strip(),
            str(entry.get("connection") or "").strip(),
        )
        if deployment in deployments:
            raise GenerationError(f"{candidate.label}: fallback {index} repeats a deployment")
        deployments.append(deployment)
    return deployments


def candidate_deployments_authorized(candidate: Candidate, *, owner: object) -> list[Deployment]:
    """The candidate's deployments as the operator's rules allow them for the study's owner
    (``provider_access``); GenerationError naming the rule otherwise."""
    try:
        return [deployment_authorize(d, owner=owner) for d in candidate_deployments(candidate)]
    except ProviderAccessRefused as exc:
        raise GenerationError(f"{candidate.label}: {exc}") from None


def candidate_request_params(candidate: Candidate) -> dict:
    extra = candidate.extra_params or {}
    if not isinstance(extra, dict):
        raise GenerationError(f"{candidate.label}: extra_params must be an object")
    reserved = RESERVED_PARAMS & set(extra)
    if reserved:
        raise GenerationError(
            f"{candidate.label}: extra_params may not set {', '.join(sorted(reserved))}"
        )
    params = dict(extra)
    if candidate.temperature is not None:
        params["temperature"] = candidate.temperature
    if candidate.max_tokens is not None:
        params["max_tokens"] = candidate.max_tokens
    return params


def output_messages(*, candidate: Candidate, prompt: Prompt) -> list[dict[str, str]]:
    messages = []
    if candidate.system_prompt.strip():
        messages.append({"role": "system", "content": candidate.system_prompt})
    content = f"{prompt.context}\n\n{prompt.text}" if prompt.context.strip() else prompt.text
    messages.append({"role": "user", "content": content})
    return messages


def request_hash(*, candidate: Candidate, params: dict, messages: list[dict]) -> str:
    """Identity of a request for the cache: model, pinned version, deployment, params, messages."""
    identity = {
        "model": candidate.model,
        "version": candidate.version,
        "api_base": candidate.api_base,
        "params": params,
        "messages": messages,
    }
    if candidate.connection:
        identity["connection"] = candidate.connection
    canonical = json.dumps(
        identity,
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def served_model_mismatch(*, version: str, model: str, served: str) -> bool:
    """True when the provider reports serving a model other than the pinned version.

    A provider that echoes the requested model name tells us nothing, so that is not flagged.
    """
    if not version.strip() or not served.strip():
        return False

    def norm(value: str) -> str:
        return value.strip().lower().rsplit("/", 1)[-1]

    return norm(served) not in {norm(version), norm(model)}


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


def outputs_enqueue(*, output_ids: list[int], countdown: float | None = None) -> None:
    from evaluations.tasks import outputs_generate_task

    size = settings.GENERATION_BATCH_SIZE
    for start in range(0, len(output_ids), size):
        try:
            outputs_generate_task.apply_async(
                args=[output_ids[start : start + size]],
                countdown=countdown,
                retry_policy=BROKER_RETRY_POLICY,
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


# -- running --------------------------------------------------------------------------------


@dataclass
class ProviderJob:
    output_id: int
    study_id: int
    limiter_key: str
    model: str
    version: str
    deployments: list[Deployment]
    params: dict
    messages: list[dict]
    request_hash: str
    max_concurrency: int
    requests_per_minute: int | None
    price_in: Decimal | None
    price_out: Decimal | None
    terms: tuple[str, ...]
    cached_from: int | None = None


@dataclass
class ProviderAnswer:
    text: str
    served_model: str
    latency_ms: float
    ttft_ms: float | None
    input_tokens: int | None
    output_tokens: int | None


@dataclass
class BatchReport:
    done: int = 0
    failed: int = 0
    cached: int = 0
    skipped: int = 0
    leased: list[int] = field(default_factory=list)  # held by another live worker
    retry_later: list[int] = field(default_factory=list)  # hit an infrastructure error
    lease_ends_in: float = 0.0


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
            ends_in = (last_sign_of_life - lease_start).total_seconds()
            report.lease_ends_in = max(report.lease_ends_in, ends_in)
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
                request_hash=request_hash(candidate=candidate, params=params, messages=messages),
                max_concurrency=max(1, candidate.max_concurrency),
                requests_per_minute=candidate.requests_per_minute,
                price_in=candidate.input_price_per_mtok,
                price_out=candidate.output_price_per_mtok,
                terms=terms_by_study[study_id],
            )
        )
    cache_enabled = {o.pk: o.prompt.study.cache_enabled for o in outputs}
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
                return "failed", partial(_output_fail, job, claimed_at, message)
            await db.write(partial(_output_note_error, job, claimed_at, message))
            await asyncio.sleep(retry_backoff(attempt, retry_after_seconds(exc)))
            continue
        return "done", FinishWrite(job, claimed_at, answer, deployment)


async def provider_call(job: ProviderJob, deployment: Deployment) -> ProviderAnswer:
    kwargs = {
        **job.params,
        "model": job.model,
        "messages": job.messages,
        "stream": True,
        "stream_options": {"include_usage": True},
        "timeout": settings.GENERATION_TIMEOUT_SECONDS,
        # Retries are ours (counted, backed off, Retry-After honoured); none underneath.
        "num_retries": 0,
        "max_retries": 0,
    }
    if job.price_in is not None or job.price_out is not None:
        # LiteLLM prices every response itself; given the price, it skips its search for a
        # model it does not know (about 1.5 ms of CPU per call) and logs the right cost.
        kwargs["input_cost_per_token"] = float(job.price_in or 0) / 1_000_000
        kwargs["output_cost_per_token"] = float(job.price_out or 0) / 1_000_000
    # Checked again here, whatever the rows said when saved: where the request may go, and
    # which key may go with it.
    kwargs.update(await deployment_call_kwargs(deployment, model=job.model))
    if deployment.api_key_env:
        key = os.environ.get(deployment.api_key_env)
        if not key:
            raise MissingKey(f"environment variable {deployment.api_key_env} is not set")
        kwargs["api_key"] = key
    parts: list[str] = []
    served = ""
    usage = None
    ttft: float | None = None
    marks = RequestMarks()
    request_marks.set(marks)
    kwargs["shared_session"] = timed_session()
    start = time.perf_counter()
    async with asyncio.timeout(settings.GENERATION_TIMEOUT_SECONDS):
        stream = await litellm.acompletion(**kwargs)
        async for chunk in stream:
            # LiteLLM reports the requested name in chunk.model; what the provider said it
            # served is kept in the hidden params.
            hidden = getattr(chunk, "_hidden_params", None) or {}
            served = hidden.get("provider_response_model") or served or (chunk.model or "")
            for choice in chunk.choices or ():
                content = choice.delta.content if choice.delta else None
                if content:
                    if ttft is None:
                        ttft = (time.perf_counter() - (marks.sent or start)) * 1000
                    parts.append(content)
            chunk_usage = getattr(chunk, "usage", None)
            if chunk_usage:
                usage = chunk_usage
    # From the request written when the call went through our session (a custom provider,
    # like the demo's, sends nothing: from the call).
    latency = (time.perf_counter() - (marks.sent or start)) * 1000
    text = "".join(parts)
    if not text.strip():
        raise EmptyAnswer("the provider returned no text")
    return ProviderAnswer(
        text=text,
        served_model=served,
        latency_ms=latency,
        ttft_ms=ttft,
        input_tokens=getattr(usage, "prompt_tokens", None) if usage else None,
        output_tokens=getattr(usage, "completion_tokens", None) if usage else None,
    )


def error_is_transient(exc: BaseException) -> bool:
    if isinstance(exc, TimeoutError | EmptyAnswer | OutboundUnresolved):
        return True
    if isinstance(exc, MissingKey | ProviderAccessRefused | OutboundRefused):
        return False
    transient_types = (
        litellm.RateLimitError,
        litellm.Timeout,
        litellm.APIConnectionError,
        litellm.InternalServerError,
        litellm.ServiceUnavailableError,
        litellm.BadGatewayError,
    )
    if isinstance(exc, transient_types):
        return True
    status = getattr(exc, "status_code", None)
    return isinstance(status, int) and (status in (408, 409, 425, 429) or status >= 500)


def retry_after_seconds(exc: BaseException) -> float | None:
    candidates = [
        getattr(getattr(exc, "response", None), "headers", None),
        getattr(exc, "headers", None),
        getattr(exc, "litellm_response_headers", None),
    ]
    for headers in candidates:
        if not headers:
            continue
        try:
            millis = headers.get("retry-after-ms")
            if millis:
                return float(millis) / 1000
            value = headers.get("retry-after")
        except AttributeError:
            continue
        if not value:
            continue
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                continue
            return max(0.0, (when - timezone.now()).total_seconds())
    return None


def retry_backoff(attempt: int, retry_after: float | None) -> float:
    """Exponential backoff with equal jitter, never sooner than the server's Retry-After."""
    ceiling = min(
        settings.GENERATION_RETRY_MAX_SECONDS,
        settings.GENERATION_RETRY_BASE_SECONDS * 2 ** (attempt - 1),
    )
    delay = ceiling / 2 + random.uniform(0, ceiling / 2)
    if retry_after is not None:
        delay = max(delay, min(retry_after, max(settings.GENERATION_RETRY_MAX_SECONDS, 300)))
    return delay


def error_message(exc: BaseException, deployment: Deployment, attempt: int) -> str:
    transport = transport_error(exc)
    if transport is not None:
        # No server answered: LiteLLM's "HTTP 500" would blame one.
        return f"attempt {attempt} on {deployment.label}: {transport}"[:ERROR_LIMIT]
    status = getattr(exc, "status_code", None)
    text = str(exc).replace("litellm.", "").strip() or type(exc).__name__
    prefix = f"attempt {attempt} on {deployment.label}: {type(exc).__name__}"
    if isinstance(status, int):
        prefix += f" (HTTP {status})"
    return f"{prefix}: {text}"[:ERROR_LIMIT]


def call_cost(
    job: ProviderJob, input_tokens: int | None, output_tokens: int | None
) -> Decimal | None:
    if input_tokens is None and output_tokens is None:
        return None
    tokens_in, tokens_out = input_tokens or 0, output_tokens or 0
    if job.price_in is not None or job.price_out is not None:
        return (
            Decimal(tokens_in) * (job.price_in or Decimal(0))
            + Decimal(tokens_out) * (job.price_out or Decimal(0))
        ) / Decimal(1_000_000)
    try:
        prompt_cost, completion_cost = litellm.cost_per_token(
            model=job.model, prompt_tokens=tokens_in, completion_tokens=tokens_out
        )
    except Exception:  # noqa: BLE001 - LiteLLM raises several types for an unknown model
        return None
    return Decimal(str(prompt_cost + completion_cost)).quantize(Decimal("1e-8"))


# -- database steps (run on the task's thread) ----------------------------------------------


class Coalescer:
    """Runs a database function over many items at once, from an event loop.

    Items submitted while a call is running go together in the next call, so under load one
    thread hop, one round trip and one commit serve many outputs, and under light load an item
    goes alone at once. ``flush`` takes a list of items and returns one result per item.
    """

    def __init__(self, flush: Callable[[list], Awaitable[list]]) -> None:
        self._flush = flush
        self._queue: list[tuple[object, asyncio.Future]] = []
        self._drainer: asyncio.Task | None = None

    async def submit(self, item: object) -> object:
        future = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._drainer is None:
            self._drainer = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                try:
                    results = await self._flush([item for item, _ in batch])
                except Exception as exc:  # noqa: BLE001 - handed to every waiter
                    results = [exc] * len(batch)
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():  # its waiter was cancelled
                        continue
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self._drainer = None


def _outputs_claim(output_ids: list[int]) -> list[datetime | None]:
    """Claim the outputs that are pending or whose lease expired; the claim time of each, or
    None for those another worker holds or that are settled."""
    now = timezone.now()
    with transaction.atomic():
        Output.objects.filter(pk__in=output_ids).filter(_claimable()).update(
            status=Output.Status.RUNNING, started_at=now, heartbeat_at=now, finished_at=None
        )
        held = set(
            Output.objects.filter(
                pk__in=output_ids, status=Output.Status.RUNNING, started_at=now
            ).values_list("pk", flat=True)
        )
    return [now if pk in held else None for pk in output_ids]


def _writes_run(writes: list[Callable[[], bool]]) -> list[bool | BaseException]:
    """Run result writes in one transaction; if it fails, one by one, so that a write the
    database refuses fails alone instead of taking the others with it."""
    if len(writes) > 1:
        try:
            with transaction.atomic():
                return _writes_together(writes)
        except Exception:  # noqa: BLE001 - retried one by one below
            logger.warning("a batch of %d writes failed; writing them one by one", len(writes))
    results: list[bool | BaseException] = []
    for write in writes:
        try:
            results.append(write())
        except Exception as exc:  # noqa: BLE001 - goes to that output's waiter
            results.append(exc)
    return results


def _writes_together(writes: list[Callable[[], bool]]) -> list[bool]:
    finishes = [w for w in writes if isinstance(w, FinishWrite)]
    if len(finishes) < 2 or connection.vendor != "postgresql":
        return [write() for write in writes]
    finished = dict(zip(map(id, finishes), _outputs_finish_together(finishes), strict=True))
    return [finished[id(w)] if isinstance(w, FinishWrite) else w() for w in writes]


class BatchDatabase:
    """A batch's database work, run by its task's thread (``executor``); claims and result
    writes are each coalesced across the batch's outputs."""

    def __init__(self, executor: CurrentThreadExecutor) -> None:
        self._executor = executor
        self._claims = Coalescer(partial(self.run, _outputs_claim))
        self._writes = Coalescer(partial(self.run, _writes_run))
        self.held: dict[int, datetime] = {}  # output id -> claim time, renewed by heartbeat

    async def run(self, function: Callable, *args: object) -> object:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    async def claim(self, output_id: int) -> datetime | None:
        claimed_at = await self._claims.submit(output_id)
        if claimed_at is not None:
            self.held[output_id] = claimed_at
        return claimed_at

    async def heartbeat(self, stop: asyncio.Event) -> None:
        """Renew this batch's claims until ``stop``, so that no other worker takes them over."""
        while True:
            try:
                await asyncio.wait_for(stop.wait(), settings.GENERATION_HEARTBEAT_SECONDS)
                return
            except TimeoutError:
                pass
            if self.held:
                try:
                    await self.run(_outputs_heartbeat, dict(self.held))
                except Exception:  # noqa: BLE001 - the next beat tries again
                    logger.warning("renewing %d claims failed", len(self.held), exc_info=True)

    async def write(self, write: Callable[[], bool]) -> bool:
        """Run a write; True if it changed the output (its claim still held)."""
        return await self._writes.submit(write)


def _outputs_heartbeat(held: dict[int, datetime]) -> None:
    by_claim: dict[datetime, list[int]] = {}
    for output_id, claimed_at in held.items():
        by_claim.setdefault(claimed_at, []).append(output_id)
    now = timezone.now()
    for claimed_at, ids in by_claim.items():
        Output.objects.filter(
            pk__in=ids, status=Output.Status.RUNNING, started_at=claimed_at
        ).update(heartbeat_at=now)


def _held(job: ProviderJob, claimed_at: datetime):
    return Output.objects.filter(
        pk=job.output_id, status=Output.Status.RUNNING, started_at=claimed_at
    )


@dataclass(frozen=True)
class FinishWrite:
    """The write of a finished output; alone (``write()``) or with others in one statement."""

    job: ProviderJob
    claimed_at: datetime
    answer: ProviderAnswer
    deployment: Deployment

    def values(self) -> dict:
        job, answer = self.job, self.answer
        scrubbed = text_scrub(answer.text, terms=job.terms)
        return {
            "text": scrubbed.text,
            "raw_text": answer.text,
            **scrubbed.output_fields(),
            "latency_ms": answer.latency_ms,
            "ttft_ms": answer.ttft_ms,
            "input_tokens": answer.input_tokens,
            "output_tokens": answer.output_tokens,
            "cost_usd": call_cost(job, answer.input_tokens, answer.output_tokens),
            "served_model": answer.served_model[:200],
            "deployment": self.deployment.label[:500],
            "version_mismatch": served_model_mismatch(
                version=job.version, model=job.model, served=answer.served_model
            ),
            "request_hash": job.request_hash,
            "finished_at": timezone.now(),
        }

    def __call__(self) -> bool:
        return bool(
            _held(self.job, self.claimed_at).update(
                **self.values(),
                status=Output.Status.DONE,
                attempts=F("attempts") + 1,
                last_error="",
                cache_hit=False,
                imported=False,
            )
        )


def _outputs_finish_together(finishes: list[FinishWrite]) -> list[bool]:
    """The finish writes as one UPDATE ... FROM (VALUES ...) on PostgreSQL: the same
    conditional update as ``FinishWrite()``, without building an ORM query per output."""
    meta = Output._meta
    pk, started_at = meta.pk, meta.get_field("started_at")
    rows = [(finish, finish.values()) for finish in finishes]
    fields = [meta.get_field(name) for name in rows[0][1]]
    quote = connection.ops.quote_name
    row = ", ".join(f"%s::{field.db_type(connection)}" for field in [pk, started_at, *fields])
    params: list[object] = [Output.Status.DONE]
    for finish, values in rows:
        params += [finish.job.output_id, started_at.get_db_prep_save(finish.claimed_at, connection)]
        params += [field.get_db_prep_save(values[field.name], connection) for field in fields]
    params.append(Output.Status.RUNNING)
    columns = ", ".join(quote(field.column) for field in fields)
    assignments = ", ".join(f"{quote(field.column)} = v.{quote(field.column)}" for field in fields)
    sql = (
        f"UPDATE {quote(meta.db_table)} AS o SET status = %s, attempts = o.attempts + 1, "
        f"last_error = '', cache_hit = false, imported = false, {assignments} "
        f"FROM (VALUES {', '.join(f'({row})' for _ in rows)}) "
        f"AS v({quote(pk.column)}, claimed_at, {columns}) "
        f"WHERE o.{quote(pk.column)} = v.{quote(pk.column)} AND o.status = %s "
        f"AND o.started_at = v.claimed_at RETURNING o.{quote(pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        updated = {output_id for (output_id,) in cursor.fetchall()}
    return [finish.job.output_id in updated for finish in finishes]


def _output_finish_from_cache(job: ProviderJob, claimed_at: datetime) -> bool:
    source = Output.objects.filter(pk=job.cached_from, status=Output.Status.DONE).first()
    if source is None:
        return False
    scrubbed = text_scrub(source.raw_text, terms=job.terms)
    _held(job, claimed_at).update(
        status=Output.Status.DONE,
        text=scrubbed.text,
        raw_text=source.raw_text,
        **scrubbed.output_fields(),
        last_error="",
        latency_ms=source.latency_ms,
        ttft_ms=source.ttft_ms,
        input_tokens=source.input_tokens,
        output_tokens=source.output_tokens,
        cost_usd=Decimal(0),  # reused, not paid for again
        served_model=source.served_model,
        deployment=source.deployment,
        version_mismatch=served_model_mismatch(
            version=job.version, model=job.model, served=source.served_model
        ),
        request_hash=job.request_hash,
        cache_hit=True,
        finished_at=timezone.now(),
    )
    return True


def _output_note_error(job: ProviderJob, claimed_at: datetime, message: str) -> bool:
    return bool(_held(job, claimed_at).update(attempts=F("attempts") + 1, last_error=message))


def _output_fail(job: ProviderJob, claimed_at: datetime, message: str) -> bool:
    return (
        _held(job, claimed_at).update(
            status=Output.Status.FAILED,
            attempts=F("attempts") + 1,
            last_error=message,
            request_hash=job.request_hash,
            finished_at=timezone.now(),
        )
        > 0
    )


def _output_fail_unclaimed(output_id: int, message: str) -> None:
    Output.objects.filter(
        pk=output_id, status__in=[Output.Status.PENDING, Output.Status.RUNNING]
    ).update(
        status=Output.Status.FAILED, last_error=message[:ERROR_LIMIT], finished_at=timezone.now()
    )


# -- progress -------------------------------------------------------------------------------


@dataclass(frozen=True)
class GenerationProgress:
    status: str
    total: int
    done: int
    failed: int
    running: int
    pending: int
    cache_hits: int
    flagged: int
    cost_usd: Decimal
    eta_seconds: float | None
    stalled: int = 0  # running, but their worker stopped renewing the claim
    takeover_in_seconds: float | None = None  # when a running worker may take them over

    @property
    def settled(self) -> int:
        return self.done + self.failed

    @property
    def is_active(self) -> bool:
        return self.status == Study.Status.GENERATING

    def percent(self, count: int) -> float:
        return round(100 * count / self.total, 1) if self.total else 0.0

    @property
    def done_percent(self) -> float:
        return self.percent(self.done)

    @property
    def failed_percent(self) -> float:
        return self.percent(self.failed)

    @property
    def running_percent(self) -> float:
        return self.percent(self.running)


def generation_progress(*, study: Study) -> GenerationProgress:
    outputs = Output.objects.filter(prompt__study=study)
    counts = dict(outputs.values_list("status").annotate(n=Count("pk")).order_by())
    totals = outputs.aggregate(
        cost=Sum("cost_usd"),
        cache_hits=Count("pk", filter=Q(cache_hit=True)),
        flagged=Count("pk", filter=Q(identity_leak=True)),
    )
    done = counts.get(Output.Status.DONE, 0)
    failed = counts.get(Output.Status.FAILED, 0)
    running = counts.get(Output.Status.RUNNING, 0)
    pending = counts.get(Output.Status.PENDING, 0)
    eta = None
    remaining = running + pending
    if remaining and study.status == Study.Status.GENERATING:
        # Rate over the last two minutes of finished outputs: a window, so that a retry run
        # days after the first one is not averaged with it.
        since = timezone.now() - timedelta(minutes=2)
        recent = outputs.filter(finished_at__gte=since).aggregate(
            n=Count("pk"), first=Min("started_at")
        )
        if recent["n"] and recent["first"]:
            elapsed = max(1.0, (timezone.now() - recent["first"]).total_seconds())
            eta = remaining / (recent["n"] / elapsed)
    stalled = outputs.filter(_last_sign_of_life_before(stalled_before())).aggregate(
        n=Count("pk"), last=Max(Coalesce("heartbeat_at", "started_at"))
    )
    takeover_in = None
    if stalled["n"]:
        expires = stalled["last"] + timedelta(seconds=settings.GENERATION_LEASE_SECONDS)
        takeover_in = max(0.0, (expires - timezone.now()).total_seconds())
    return GenerationProgress(
        stalled=stalled["n"],
        takeover_in_seconds=takeover_in,
        status=study.status,
        total=sum(counts.values()),
        done=done,
        failed=failed,
        running=running,
        pending=pending,
        cache_hits=totals["cache_hits"],
        flagged=totals["flagged"],
        cost_usd=totals["cost"] or Decimal(0),
        eta_seconds=eta,
    )
