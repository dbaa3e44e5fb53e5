"""LLM judges beside the human raters: prompts, verdict parsing, judge runs and their results.

Every judge is asked about every regular (non-gold) pair twice, once in each order: "ab" shows
the pair's output_a as Assistant A, "ba" shows it as Assistant B. Each call is one JudgeVote,
its verdict stored relative to the pair's canonical order (as a human Vote is). Combining the
two orders follows MT-Bench (Zheng et al. 2023): the same verdict twice is that verdict; a
verdict that flips with the order is a tie. An answer without a verdict token is stored as
"unparseable" with its text, never guessed, and its pair has no combined verdict.

Judge votes never enter the human ranking (`evaluations.results` reads only raters' Votes);
they are reported beside it by `study_judge_results`.

Runs use the generation machinery (`evaluations.generation`): the same LiteLLM streaming call,
retry and backoff policy, Retry-After, rate limiter, cost computation, request cache, and the
same crash-safety: a judge vote is claimed with a conditional UPDATE and a lease, and written
only by the holder of the current claim, so a redelivered task never pays or writes twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from scipy import stats

from evaluations.analysis import VoteArrays, analyze, cohen_kappa
from evaluations.generation import (
    ERROR_LIMIT,
    RESERVED_PARAMS,
    BatchDatabase,
    Deployment,
    ProviderJob,
    batch_run,
    call_cost,
    error_is_transient,
    error_message,
    lease_expired_before,
    process_limiter,
    provider_call,
    retry_after_seconds,
    retry_backoff,
)
from evaluations.judging_ppi import judge_pair_scores, judge_ppi_ratings, judges_pair_scores
from evaluations.models import (
    JUDGE_PROMPT_TEMPLATE,
    JUDGE_SYSTEM_PROMPT,
    Candidate,
    Judge,
    JudgeVote,
    Pair,
    Study,
)
from evaluations.provider_access import ProviderAccessRefused, deployment_authorize
from evaluations.ratelimit import Limiter
from raters.models import Vote

PLACEHOLDERS = ("{question}", "{answer_a}", "{answer_b}")
LABELS = ("a", "tie", "b")  # ordinal codes 0, 1, 2 for the agreement tables

# "[[A]]", "[[ b ]]", "[[C]]", "[[Tie]]": MT-Bench's tokens, tolerant of case and spaces.
_DOUBLE = re.compile(r"\[\[\s*(A|B|C|TIE)\s*\]\]", re.IGNORECASE)
# A last line that is only a verdict: "[B]", "Verdict: A", "Final verdict: tie", "(C).", "B"
_LAST_LINE = re.compile(
    r"^\W*(?:(?:my\s+)?(?:final\s+)?verdict\s*(?:is)?\s*[:\-]?\s*)?[\[(\"'*]*\s*"
    r"(A|B|C|TIE)\s*[\])\"'*]*\s*\.?\W*$",
    re.IGNORECASE,
)
_TOKENS = {"a": "A", "b": "B", "c": "C", "tie": "C"}


class JudgingError(Exception):
    """Judging cannot start: the study or a judge is not set up for it."""


# -- prompts and verdicts -------------------------------------------------------------------


def verdict_parse(text: str) -> str | None:
    """The judge's verdict as "A", "B" or "C" (tie), or None when it gave none.

    The last MT-Bench token ([[A]], [[B]], [[C]]; [[Tie]] too) wins, so an explanation that
    quotes the format before concluding is read by its conclusion. Without such a token, a last
    line that is only a verdict ("[B]", "Verdict: tie") is accepted. Anything else is None.
    """
    tokens = _DOUBLE.findall(text or "")
    if tokens:
        return _TOKENS[tokens[-1].lower()]
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if lines:
        match = _LAST_LINE.match(lines[-1])
        if match:
            return _TOKENS[match.group(1).lower()]
    return None


def verdict_canonical(*, token: str | None, order: str) -> str:
    """A shown-order verdict token -> the stored verdict relative to the pair's A/B order."""
    if token is None:
        return JudgeVote.Verdict.UNPARSEABLE
    if token == "C":
        return JudgeVote.Verdict.TIE
    first_is_a = order == JudgeVote.Order.AB
    if token == "A":
        return JudgeVote.Verdict.A if first_is_a else JudgeVote.Verdict.B
    return JudgeVote.Verdict.B if first_is_a else JudgeVote.Verdict.A


def judge_template_validate(template: str) -> None:
    missing = [p for p in PLACEHOLDERS if p not in template]
    if missing:
        raise JudgingError(f"the judge prompt template lacks {', '.join(missing)}")


def study_judge_prompts(study: Study) -> tuple[str, str]:
    """The study's judge instructions and message template; empty fields mean MT-Bench's."""
    system = study.judge_system_prompt if study.judge_system_prompt.strip() else JUDGE_SYSTEM_PROMPT
    template = study.judge_prompt_template
    return system, template if template.strip() else JUDGE_PROMPT_TEMPLATE


def judge_messages(
    *, study: Study, question: str, reference: str, answer_a: str, answer_b: str
) -> list[dict[str, str]]:
    """The judge's messages for one pair in one order (answer_a is shown as Assistant A).

    Placeholders are replaced literally, not with str.format, so braces in a prompt or an
    answer (code, JSON) are left alone.
    """
    system, template = study_judge_prompts(study)
    judge_template_validate(template)
    values = {"{question}": question, "{reference}": reference, "{answer_a}": answer_a,
              "{answer_b}": answer_b}  # fmt: skip
    pattern = re.compile("|".join(re.escape(k) for k in values))
    content = pattern.sub(lambda m: values[m.group(0)], template)
    return [{"role": "system", "content": system}, {"role": "user", "content": content}]


def judge_request_params(judge: Judge) -> dict:
    extra = judge.extra_params or {}
    if not isinstance(extra, dict):
        raise JudgingError(f"judge {judge.model}: extra_params must be an object")
    reserved = RESERVED_PARAMS & set(extra)
    if reserved:
        raise JudgingError(
            f"judge {judge.model}: extra_params may not set {', '.join(sorted(reserved))}"
        )
    params = dict(extra)
    if judge.temperature is not None:
        params["temperature"] = judge.temperature
    if judge.max_tokens is not None:
        params["max_tokens"] = judge.max_tokens
    return params


def judge_deployment_authorized(judge: Judge, *, owner: object) -> Deployment:
    """The judge's deployment as the operator's rules allow it (``provider_access``)."""
    deployment = Deployment(
        judge.api_base.strip(), judge.api_key_env.strip(), judge.connection.strip()
    )
    try:
        return deployment_authorize(deployment, owner=owner)
    except ProviderAccessRefused as exc:
        raise JudgingError(f"judge {judge.model}: {exc}") from None


def judge_request_hash(*, judge: Judge, params: dict, messages: list[dict]) -> str:
    identity = {"judge": judge.model, "api_base": judge.api_base, "params": params,
                "messages": messages}  # fmt: skip
    if judge.connection:
        identity["connection"] = judge.connection
    canonical = json.dumps(
        identity,
        sort_keys=True,
        separators=(",", ":"),
    )  # fmt: skip
    return hashlib.sha256(canonical.encode()).hexdigest()


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


def judge_votes_enqueue(*, judge_vote_ids: list[int], countdown: float | None = None) -> None:
    from evaluations.tasks import judge_votes_run_task

    size = settings.GENERATION_BATCH_SIZE
    for start in range(0, len(judge_vote_ids), size):
        judge_votes_run_task.apply_async(
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
    lease_ends_in: float = 0.0


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
            report.lease_ends_in = max(
                report.lease_ends_in, (vote.started_at - lease_start).total_seconds()
            )
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
            params = judge_request_params(judge)
            messages = judge_messages(
                study=study,
                question=question,
                reference=prompt.reference,
                answer_a=first.text,
                answer_b=second.text,
            )
        except JudgingError as exc:
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
        await db.run(_vote_finish, job, claimed_at, answer, verdict)
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


def _vote_finish(job: _JudgeJob, claimed_at: datetime, answer: Any, verdict: str) -> None:
    _held(job, claimed_at).update(
        status=JudgeVote.Status.DONE,
        verdict=verdict,
        raw_text=answer.text,
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


# -- results --------------------------------------------------------------------------------


def combined_verdict(first: str | None, second: str | None) -> str | None:
    """MT-Bench's rule for the two orders: agreeing verdicts stand, a flip is a tie.

    None when either order has no usable verdict (not done, failed or unparseable).
    """
    usable = {JudgeVote.Verdict.A, JudgeVote.Verdict.B, JudgeVote.Verdict.TIE}
    if first not in usable or second not in usable:
        return None
    return first if first == second else JudgeVote.Verdict.TIE


def human_majority(labels: Counter) -> str:
    """The most frequent human label on a pair; a tie between top labels counts as a tie."""
    top = max(labels.values())
    leaders = [label for label, n in labels.items() if n == top]
    return leaders[0] if len(leaders) == 1 else "tie"


def judge_human_agreement(*, judge: dict[int, str], humans: dict[int, Counter]) -> dict[str, Any]:
    """Agreement of one judge's combined verdicts with the human votes, on shared pairs.

    Percent agreement is MT-Bench's: every (judge verdict, human vote) pair on the same pair of
    outputs counts once; "without ties" keeps those where neither is a tie. Cohen's kappa is
    over the 3 x 3 table of judge verdict against the human majority (a, tie, b; a human "both
    bad" counts as a tie, as in the default ranking), with the Fleiss-Cohen-Everitt SE.
    """
    shared = sorted(set(judge) & set(humans))
    agree = total = agree_nt = total_nt = 0
    table = np.zeros((3, 3))
    code = {label: k for k, label in enumerate(LABELS)}
    for pair_id in shared:
        verdict, votes = judge[pair_id], humans[pair_id]
        for label, n in votes.items():
            total += n
            agree += n * (label == verdict)
            if label != "tie" and verdict != "tie":
                total_nt += n
                agree_nt += n * (label == verdict)
        table[code[verdict], code[human_majority(votes)]] += 1

    def share(a: int, t: int) -> float | None:
        return a / t if t else None

    kappa: dict[str, Any] = {"pairs": len(shared)}
    if shared:
        result = cohen_kappa(table)
        kappa.update({k: (v if np.isfinite(v) else None) for k, v in result.items() if k != "n"})
        if kappa.get("kappa") is None:
            kappa["message"] = "judge and humans each used one label only: kappa is undefined"
    else:
        kappa["kappa"] = None
        kappa["message"] = "no pair has both a combined judge verdict and human votes"
    return {
        "pairs": len(shared),
        "percent_agreement": {
            "with_ties": share(agree, total),
            "vote_pairs_with_ties": total,
            "without_ties": share(agree_nt, total_nt),
            "vote_pairs_without_ties": total_nt,
        },
        "cohen_kappa_vs_majority": kappa,
        "majority_table": {"labels": list(LABELS), "rows_judge_columns_humans": table.tolist()},
    }


def study_human_labels(*, study: Study) -> dict[int, Counter]:
    """Human votes per regular pair as counts of a / tie / b ("both bad" as a tie)."""
    labels: dict[int, Counter] = defaultdict(Counter)
    rows = (
        Vote.objects.filter(study=study, pair__gold_answer="")
        .values_list("pair_id", "choice")
        .order_by()
    )
    for pair_id, choice in rows.iterator(chunk_size=5000):
        labels[pair_id]["tie" if choice in ("tie", "both_bad") else choice] += 1
    return labels


def _percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def _judge_block(
    judge: Judge,
    pairs: dict[int, tuple[int, int, str]],
    humans: dict[int, Counter],
    labels: dict[int, str],
    human_models: dict[str, dict],
) -> dict[str, Any]:
    rows = JudgeVote.objects.filter(judge=judge).values_list(
        "pair_id", "order", "status", "verdict", "cost_usd", "latency_ms", "input_tokens",
        "output_tokens", "cache_hit",
    )  # fmt: skip
    status_counts: Counter = Counter()
    by_pair: dict[int, dict[str, str]] = defaultdict(dict)
    cost = Decimal(0)
    costed = False
    latencies: list[float] = []
    tokens_in = tokens_out = cache_hits = unparseable = 0
    first_shown_wins = decisive = 0
    for pair_id, order, status, verdict, cost_usd, latency, t_in, t_out, cache_hit in rows:
        status_counts[status] += 1
        if status != JudgeVote.Status.DONE:
            continue
        by_pair[pair_id][order] = verdict
        unparseable += verdict == JudgeVote.Verdict.UNPARSEABLE
        cache_hits += cache_hit
        if cost_usd is not None:
            cost += cost_usd
            costed = True
        if latency is not None and not cache_hit:
            latencies.append(latency)
        tokens_in += t_in or 0
        tokens_out += t_out or 0
        if verdict in (JudgeVote.Verdict.A, JudgeVote.Verdict.B):
            decisive += 1
            first = JudgeVote.Verdict.A if order == JudgeVote.Order.AB else JudgeVote.Verdict.B
            first_shown_wins += verdict == first
    combined: dict[int, str] = {}
    both_parsed = consistent = 0
    for pair_id, verdicts in by_pair.items():
        verdict = combined_verdict(verdicts.get("ab"), verdicts.get("ba"))
        if verdict is None or pair_id not in pairs:
            continue
        both_parsed += 1
        consistent += verdicts["ab"] == verdicts["ba"]
        combined[pair_id] = verdict
    calls = sum(status_counts.values())
    done = status_counts[JudgeVote.Status.DONE]
    ranking = _judge_ranking(combined, pairs, labels, judge.model)
    side_by_side = []
    for row in ranking["models"]:
        human = human_models.get(row["model"], {})
        side_by_side.append({
            "model": row["model"],
            "judge_rating": row["rating"], "judge_ci_low": row["ci_low"],
            "judge_ci_high": row["ci_high"], "judge_rank": row["rank"],
            "human_rating": human.get("rating"), "human_ci_low": human.get("ci_low"),
            "human_ci_high": human.get("ci_high"), "human_rank": human.get("rank"),
        })  # fmt: skip
    return {
        "id": judge.pk,
        "model": judge.model,
        "progress": {
            "calls": calls,
            "done": done,
            "failed": status_counts[JudgeVote.Status.FAILED],
            "pending": status_counts[JudgeVote.Status.PENDING],
            "running": status_counts[JudgeVote.Status.RUNNING],
            "unparseable": unparseable,
            "cache_hits": cache_hits,
            "pairs_with_verdict": len(combined),
        },
        "position_consistency": {
            "pairs_both_orders": both_parsed,
            "consistent_pairs": consistent,
            "share": consistent / both_parsed if both_parsed else None,
            # Of the decisive single-order verdicts, the share for whichever answer came first:
            # 0.5 is no position bias.
            "first_position_win_share": first_shown_wins / decisive if decisive else None,
        },
        "ranking": ranking,
        "beside_humans": {
            "models": side_by_side,
            "spearman_rho": _spearman(side_by_side),
        },
        "agreement_with_humans": judge_human_agreement(judge=combined, humans=humans),
        "ppi": judge_ppi_ratings(
            scores=[judge_pair_scores(by_pair)],
            judge_names=[judge.model],
            pairs=pairs,
            humans=humans,
            labels=labels,
        ),
        "cost": {
            "total_usd": float(cost) if costed else None,
            "per_pair_usd": float(cost) / len(combined) if costed and combined else None,
            "input_tokens": tokens_in,
            "output_tokens": tokens_out,
            "latency_ms_median": _percentile(latencies, 50),
            "latency_ms_p95": _percentile(latencies, 95),
        },
    }


def _judge_ranking(
    combined: dict[int, str], pairs: dict[int, tuple[int, int, str]], labels: dict[int, str],
    judge_name: str,
) -> dict[str, Any]:  # fmt: skip
    rows = [
        {
            "model_a": labels[pairs[pair_id][0]],
            "model_b": labels[pairs[pair_id][1]],
            "winner": verdict,
            "rater": judge_name,
            "item": pair_id,
            "category": pairs[pair_id][2],
        }
        for pair_id, verdict in sorted(combined.items())
    ]
    document = analyze(VoteArrays.from_rows(rows))
    return {
        "summary": document["summary"],
        "interval": document["interval"],
        "models": document["models"],
        "pairwise": document["pairwise"],
        "warnings": document["warnings"],
    }


def _spearman(rows: list[dict[str, Any]]) -> dict[str, Any]:
    both = [r for r in rows if r["judge_rating"] is not None and r["human_rating"] is not None]
    if len(both) < 3:
        return {"rho": None, "models": len(both), "message": "needs three models rated by both"}
    rho = stats.spearmanr([r["judge_rating"] for r in both], [r["human_rating"] for r in both])
    value = float(rho.statistic)
    return {"rho": value if np.isfinite(value) else None, "models": len(both)}


def _all_judges_ppi(
    judges: list[Judge], pairs: dict[int, tuple[int, int, str]], humans: dict[int, Counter],
    labels: dict[int, str],
) -> dict[str, Any]:  # fmt: skip
    if len(judges) < 2:
        return {"message": "one judge or none: its own block carries the prediction-powered "
                "ratings"}  # fmt: skip
    scores = judges_pair_scores(judges=judges)
    return judge_ppi_ratings(
        scores=[scores[j.pk] for j in judges],
        judge_names=[f"{j.model} (#{j.pk})" for j in judges],
        pairs=pairs, humans=humans, labels=labels,
    )  # fmt: skip


def study_judge_results(*, study: Study) -> dict[str, Any]:
    """Each judge's ranking beside the human one, agreement with the humans, position
    consistency, progress and cost. The human ranking itself is untouched by judge votes."""
    from evaluations.results import ResultOptions, study_ranking

    pairs = {
        pk: (a, b, category)
        for pk, a, b, category in Pair.objects.filter(study=study, gold_answer="").values_list(
            "id", "output_a__candidate_id", "output_b__candidate_id", "prompt__category"
        )
    }
    labels = dict(Candidate.objects.filter(study=study).values_list("id", "label"))
    humans = study_human_labels(study=study)
    human_document = study_ranking(study=study, options=ResultOptions())
    human_models = {row["model"]: row for row in human_document["models"]}
    judges = list(Judge.objects.filter(study=study).order_by("id"))
    return {
        "study": study.pk,
        "human_votes_only_in_ranking": True,
        "human_ranking": {
            "models": human_document["models"],
            "warnings": human_document["warnings"],
        },
        "judges": [_judge_block(j, pairs, humans, labels, human_models) for j in judges],
        "ppi_all_judges": _all_judges_ppi(judges, pairs, humans, labels),
        "verdict_rule": "each pair is judged in both orders; a verdict that flips with the "
        "order counts as a tie (MT-Bench); pairs with an unparseable or failed call are left "
        "out of the judge's ranking and agreement; the prediction-powered ratings (ppi) "
        "score a pair by the mean over the orders with a verdict (a 1, tie 1/2, b 0)",
    }
