"""LLM judges beside the human raters: judge runs (prompts and verdict parsing are in
verdicts.py, what the judges found in results.py).

Every judge is asked about every regular (non-gold) pair twice, once in each order: "ab" shows
the pair's output_a as Assistant A, "ba" shows it as Assistant B. Each call is one JudgeVote,
its verdict stored relative to the pair's canonical order (as a human Vote is). Combining the
two orders follows MT-Bench (Zheng et al. 2023): the same verdict twice is that verdict; a
verdict that flips with the order is a tie. An answer without a verdict token is stored as
"unparseable" with its text, never guessed, and its pair has no combined verdict.

Judge votes never enter the human ranking (`research.results.aggregation` reads only
raters' Votes); they are reported beside it by `study_judge_results`.

Runs use the generation machinery (`evaluations.generation.runner`): the same LiteLLM
streaming call, retry and backoff policy, Retry-After, rate limiter, cost computation, request
cache, and the same crash-safety: a judge vote is claimed with a conditional UPDATE and a lease,
and written only by the holder of the current claim, so a redelivered task never pays or writes
twice.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from celery import signature
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from evaluations.generation.batch_database import BatchDatabase
from evaluations.generation.errors import GenerationError
from evaluations.generation.limits import Limiter
from evaluations.generation.provider_calls import (
    ERROR_LIMIT,
    ProviderJob,
    call_cost,
    error_is_transient,
    error_message,
    provider_call,
    retry_after_seconds,
    retry_backoff,
)
from evaluations.generation.runner import batch_run, process_limiter
from evaluations.generation.starting import lease_expired_before
from evaluations.models import (
    Judge,
    JudgeVote,
    Pair,
    Study,
)
from evaluations.providers.access import Deployment
from research.judging.conversation_prompts import judge_conversation_messages
from research.judging.verdicts import (
    JudgingError,
    judge_deployment_authorized,
    judge_logprob_params,
    judge_messages,
    judge_request_hash,
    judge_request_params,
    judge_template_validate,
    study_judge_prompts,
    verdict_canonical,
    verdict_parse,
    verdict_probability,
)

# -- starting -------------------------------------------------------------------------------


def judge_votes_create(*, study: Study, judges: list[Judge]) -> int:
    """Create the missing JudgeVote rows: every judge x regular pair x both orders."""
    pair_ids = list(
        Pair.objects.filter(study=study, gold_answer="").order_by("id").values_list("id", flat=True)
    )
    existing = set(
        JudgeVote.objects.filter(study=study, judge__in=judges).values_list(
            "judge_id", "pair_id", "order"
        )
    )
    missing = [
        JudgeVote(study=study, judge=judge, pair_id=pair_id, order=order)
        for judge in judges
        for pair_id in pair_ids
        for order in JudgeVote.Order.values
        if (judge.pk, pair_id, order) not in existing
    ]
    JudgeVote.objects.bulk_create(missing, batch_size=1000, ignore_conflicts=True)
    return len(missing)


def _unsettled() -> Q:
    return Q(status=JudgeVote.Status.PENDING) | Q(
        status=JudgeVote.Status.RUNNING,
        started_at__lt=lease_expired_before(settings.JUDGING_LEASE_SECONDS),
    )


def judging_start(
    *, study: Study, judge_ids: list[int] | None = None, retry_failed: bool = False
) -> int:
    """Ask the study's judges (or the given ones) about every pair not judged yet.

    Returns how many judge calls were queued. Safe to call again at any time, e.g. after more
    pairs were built: finished calls are never made again and running ones are left alone.
    """
    judges = Judge.objects.filter(study=study).order_by("id")
    if judge_ids is not None:
        judges = judges.filter(pk__in=judge_ids)
    judges = list(judges)
    if not judges:
        raise JudgingError("the study has no judge models")
    judge_template_validate(study_judge_prompts(study)[1])
    for judge in judges:
        judge_deployment_authorized(judge, owner=study.owner)
        judge_request_params(judge)
    if not Pair.objects.filter(study=study, gold_answer="").exists():
        raise JudgingError("the study has no pairs to judge yet: generate its outputs first")
    with transaction.atomic():
        judge_votes_create(study=study, judges=judges)
        votes = JudgeVote.objects.filter(study=study, judge__in=judges)
        if retry_failed:
            votes.filter(status=JudgeVote.Status.FAILED).update(
                status=JudgeVote.Status.PENDING, finished_at=None
            )
        ids = list(votes.filter(_unsettled()).order_by("pair_id", "judge_id", "order")
                   .values_list("id", flat=True))  # fmt: skip
        transaction.on_commit(lambda: judge_votes_enqueue(judge_vote_ids=ids))
    return len(ids)


# Enqueued by name: research.tasks imports this module, never the other way round.
JUDGE_VOTES_RUN_TASK = "evaluations.tasks.judge_votes_run_task"


def judge_votes_enqueue(*, judge_vote_ids: list[int], countdown: float | None = None) -> None:
    size = settings.GENERATION_BATCH_SIZE
    for start in range(0, len(judge_vote_ids), size):
        signature(JUDGE_VOTES_RUN_TASK).apply_async(
            args=[judge_vote_ids[start : start + size]], countdown=countdown
        )


def judging_resume() -> int:
    """Queue every pending judge call and every one whose worker died (after a restart)."""
    ids = list(
        JudgeVote.objects.filter(status__in=[JudgeVote.Status.PENDING, JudgeVote.Status.RUNNING])
        .order_by("id")
        .values_list("id", flat=True)
    )
    judge_votes_enqueue(judge_vote_ids=ids)
    return len(ids)


# -- running --------------------------------------------------------------------------------


@dataclass
class _JudgeJob:
    vote_id: int
    order: str
    call: ProviderJob  # what generation's LiteLLM call needs: model, params, messages, prices
    deployment: Deployment
    cached_from: int | None = None


@dataclass
class JudgeBatchReport:
    done: int = 0
    unparseable: int = 0
    failed: int = 0
    cached: int = 0
    skipped: int = 0
    leased: list[int] = field(default_factory=list)
    leased_until: datetime | None = None  # when the last of the ``leased`` claims expires


def judge_votes_run(*, judge_vote_ids: list[int]) -> JudgeBatchReport:
    """Make the given judge calls, all in flight at once within each judge's limits."""
    return batch_run(partial(_judge_votes_run, list(judge_vote_ids)))


async def _judge_votes_run(ids: list[int], db: BatchDatabase) -> JudgeBatchReport:
    # On the generation loop of the process, sharing its limiter's queues (generation.py).
    report = JudgeBatchReport()
    jobs, failed_setup = await db.run(_jobs_load, ids, report)
    for vote_id, message in failed_setup:
        await db.run(_vote_fail_unclaimed, vote_id, message)
        report.failed += 1
    limiter = process_limiter()
    outcomes = await asyncio.gather(*(_job_run(job, limiter, db) for job in jobs))
    for outcome in outcomes:
        setattr(report, outcome, getattr(report, outcome) + 1)
    return report


def _limiter_key(judge: Judge) -> str:
    return f"{connection.settings_dict['NAME']}:judge:{judge.pk}:{judge.created_at.timestamp()}"


def _jobs_load(ids: list[int], report: JudgeBatchReport) -> tuple[list[_JudgeJob], list]:
    votes = list(
        JudgeVote.objects.filter(pk__in=ids)
        .select_related("study__owner", "judge", "pair__prompt", "pair__output_a", "pair__output_b")
        .order_by("id")
    )
    lease_start = lease_expired_before(settings.JUDGING_LEASE_SECONDS)
    jobs: list[_JudgeJob] = []
    failed_setup: list[tuple[int, str]] = []
    deployment_of: dict[int, Deployment] = {}
    logprob_params: dict[int, dict] = {}
    for vote in votes:
        if vote.status in (JudgeVote.Status.DONE, JudgeVote.Status.FAILED):
            report.skipped += 1
            continue
        if (
            vote.status == JudgeVote.Status.RUNNING
            and vote.started_at
            and vote.started_at >= lease_start
        ):
            report.leased.append(vote.pk)
            ends_at = vote.started_at + timedelta(seconds=settings.JUDGING_LEASE_SECONDS)
            report.leased_until = max(report.leased_until or ends_at, ends_at)
            continue
        judge, pair, study = vote.judge, vote.pair, vote.study
        first, second = pair.output_a, pair.output_b
        if vote.order == JudgeVote.Order.BA:
            first, second = second, first
        prompt = pair.prompt
        question = f"{prompt.context}\n\n{prompt.text}" if prompt.context.strip() else prompt.text
        try:
            if judge.pk not in deployment_of:  # once per judge and batch
                deployment_of[judge.pk] = judge_deployment_authorized(judge, owner=study.owner)
            deployment = deployment_of[judge.pk]
            if judge.pk not in logprob_params:
                logprob_params[judge.pk] = judge_logprob_params(judge)
            params = {**logprob_params[judge.pk], **judge_request_params(judge)}
            if prompt.is_conversation:
                messages = judge_conversation_messages(
                    study=study, judge=judge, prompt=prompt, first=first, second=second
                )
            else:
                messages = judge_messages(
                    study=study,
                    question=question,
                    reference=prompt.reference,
                    answer_a=first.text,
                    answer_b=second.text,
                )
        except (JudgingError, GenerationError) as exc:
            failed_setup.append((vote.pk, str(exc)))
            continue
        call = ProviderJob(
            output_id=vote.pk,
            study_id=study.pk,
            limiter_key=_limiter_key(judge),
            model=judge.model,
            version="",
            deployments=[deployment],
            params=params,
            messages=messages,
            request_hash=judge_request_hash(judge=judge, params=params, messages=messages),
            max_concurrency=max(1, judge.max_concurrency),
            requests_per_minute=judge.requests_per_minute,
            price_in=judge.input_price_per_mtok,
            price_out=judge.output_price_per_mtok,
            terms=(),
        )
        jobs.append(_JudgeJob(vote.pk, vote.order, call, call.deployments[0]))
    cache_on = {vote.pk: vote.study.cache_enabled for vote in votes}
    cacheable = {job.call.request_hash for job in jobs if cache_on[job.vote_id]}
    if cacheable:
        sources = dict(
            JudgeVote.objects.filter(
                request_hash__in=cacheable, status=JudgeVote.Status.DONE, cache_hit=False
            )
            .exclude(pk__in=[job.vote_id for job in jobs])
            .order_by("finished_at")
            .values_list("request_hash", "pk")
        )
        for job in jobs:
            if cache_on[job.vote_id]:
                job.cached_from = sources.get(job.call.request_hash)
    return jobs, failed_setup


async def _job_run(job: _JudgeJob, limiter: Limiter, db: BatchDatabase) -> str:
    claimed_at: datetime | None = None
    if job.cached_from is not None:
        claimed_at = await db.run(_vote_claim, job.vote_id)
        if claimed_at is None:
            return "skipped"
        if await db.run(_vote_finish_from_cache, job, claimed_at):
            return "cached"
        # The source vanished between lookup and copy: a real call, holding the claim.
    async with limiter.slot(
        job.call.limiter_key, job.call.max_concurrency, settings.GENERATION_PROCESS_CONCURRENCY
    ):
        if claimed_at is None:
            claimed_at = await db.run(_vote_claim, job.vote_id)
            if claimed_at is None:
                return "skipped"
        return await _job_call(job, limiter, claimed_at, db)


async def _job_call(
    job: _JudgeJob, limiter: Limiter, claimed_at: datetime, db: BatchDatabase
) -> str:
    attempt = 0
    while True:
        if job.call.requests_per_minute:
            await limiter.rate_wait(job.call.limiter_key, job.call.requests_per_minute)
        attempt += 1
        try:
            answer = await provider_call(job.call, job.deployment)
        except Exception as exc:  # noqa: BLE001 - every failure is recorded on the judge vote
            message = error_message(exc, job.deployment, attempt)
            if not error_is_transient(exc) or attempt >= settings.GENERATION_MAX_ATTEMPTS:
                await db.run(_vote_fail, job, claimed_at, message)
                return "failed"
            await db.run(_vote_note_error, job, claimed_at, message)
            await asyncio.sleep(retry_backoff(attempt, retry_after_seconds(exc)))
            continue
        verdict = verdict_canonical(token=verdict_parse(answer.text), order=job.order)
        score = verdict_probability(
            text=answer.text, token_logprobs=answer.token_logprobs, order=job.order
        )
        await db.run(_vote_finish, job, claimed_at, answer, verdict, score)
        return "unparseable" if verdict == JudgeVote.Verdict.UNPARSEABLE else "done"


def _vote_claim(vote_id: int) -> datetime | None:
    now = timezone.now()
    claimed = (
        JudgeVote.objects.filter(pk=vote_id)
        .filter(_unsettled())
        .update(status=JudgeVote.Status.RUNNING, started_at=now, finished_at=None)
    )
    return now if claimed else None


def _held(job: _JudgeJob, claimed_at: datetime) -> QuerySet[JudgeVote]:
    return JudgeVote.objects.filter(
        pk=job.vote_id, status=JudgeVote.Status.RUNNING, started_at=claimed_at
    )


def _vote_finish(
    job: _JudgeJob, claimed_at: datetime, answer: Any, verdict: str, score: float | None
) -> None:
    _held(job, claimed_at).update(
        status=JudgeVote.Status.DONE,
        verdict=verdict,
        raw_text=answer.text,
        logprob_score=score,
        attempts=F("attempts") + 1,
        last_error="",
        latency_ms=answer.latency_ms,
        input_tokens=answer.input_tokens,
        output_tokens=answer.output_tokens,
        cost_usd=call_cost(job.call, answer.input_tokens, answer.output_tokens),
        served_model=answer.served_model[:200],
        request_hash=job.call.request_hash,
        cache_hit=False,
        finished_at=timezone.now(),
    )


def _vote_finish_from_cache(job: _JudgeJob, claimed_at: datetime) -> bool:
    source = JudgeVote.objects.filter(pk=job.cached_from, status=JudgeVote.Status.DONE).first()
    if source is None:
        return False
    # The cached request had the same messages, so the same order: reparse rather than copy,
    # in case the parser improved since.
    verdict = verdict_canonical(token=verdict_parse(source.raw_text), order=job.order)
    _held(job, claimed_at).update(
        status=JudgeVote.Status.DONE,
        verdict=verdict,
        raw_text=source.raw_text,
        # Same messages, same order: the source's probabilities are this call's.
        logprob_score=source.logprob_score,
        last_error="",
        latency_ms=source.latency_ms,
        input_tokens=source.input_tokens,
        output_tokens=source.output_tokens,
        cost_usd=Decimal(0),  # reused, not paid for again
        served_model=source.served_model,
        request_hash=job.call.request_hash,
        cache_hit=True,
        finished_at=timezone.now(),
    )
    return True


def _vote_note_error(job: _JudgeJob, claimed_at: datetime, message: str) -> None:
    _held(job, claimed_at).update(attempts=F("attempts") + 1, last_error=message)


def _vote_fail(job: _JudgeJob, claimed_at: datetime, message: str) -> None:
    _held(job, claimed_at).update(
        status=JudgeVote.Status.FAILED,
        attempts=F("attempts") + 1,
        last_error=message,
        request_hash=job.call.request_hash,
        finished_at=timezone.now(),
    )


def _vote_fail_unclaimed(vote_id: int, message: str) -> None:
    JudgeVote.objects.filter(
        pk=vote_id, status__in=[JudgeVote.Status.PENDING, JudgeVote.Status.RUNNING]
    ).update(
        status=JudgeVote.Status.FAILED,
        last_error=message[:ERROR_LIMIT],
        finished_at=timezone.now(),
    )
