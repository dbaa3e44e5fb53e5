"""Scripted follow-ups (MT-Bench's design): each candidate answers turn 1, then turn 2 given its
*own* earlier answers, and so on; never another candidate's.

Each finished turn is saved on the output before the next is asked, so a worker that stops
resumes at the first unanswered turn. The output's text is every answer in order, scrubbed as
one (the identity review sees them all); each turn keeps its own text and measurements.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from functools import partial

from django.db.models import F
from django.utils import timezone

from evaluations.anonymity.scrubbing import text_scrub
from evaluations.generation.batch_database import BatchDatabase, _held
from evaluations.generation.provider_calls import ProviderAnswer, ProviderJob, call_cost
from evaluations.generation.requests import served_model_mismatch
from evaluations.models import Output
from evaluations.providers.access import Deployment

TURN_SEPARATOR = "\n\n"

# One turn's request until it is answered, or the write of the output's failure.
AttemptsRun = Callable[
    [ProviderJob, datetime], Awaitable[tuple[ProviderAnswer, Deployment] | Callable[[], bool]]
]


def scripted_messages(base: list[dict], turns: list[str], answers: list[str]) -> list[dict]:
    """The request for turn ``len(answers) + 1``: the prompt's system messages, then each user
    turn followed by this candidate's own answer to it, then the next user turn."""
    messages = list(base)
    for index, turn in enumerate(turns[: len(answers) + 1]):
        messages.append({"role": "user", "content": turn})
        if index < len(answers):
            messages.append({"role": "assistant", "content": answers[index]})
    return messages


def turn_record(job: ProviderJob, answer: ProviderAnswer, deployment: Deployment) -> dict:
    cost = call_cost(job, answer.input_tokens, answer.output_tokens)
    return {
        "text": text_scrub(answer.text, terms=job.terms).text,
        "raw_text": answer.text,
        "latency_ms": answer.latency_ms,
        "ttft_ms": answer.ttft_ms,
        "input_tokens": answer.input_tokens,
        "output_tokens": answer.output_tokens,
        "cost_usd": None if cost is None else str(cost),
        "served_model": answer.served_model[:200],
        "deployment": deployment.label[:500],
    }


def _turns_save(job: ProviderJob, claimed_at: datetime, turns: list[dict]) -> bool:
    return bool(_held(job, claimed_at).update(turns=turns, heartbeat_at=timezone.now()))


def _total(turns: list[dict], key: str) -> float | int | None:
    values = [t[key] for t in turns if t[key] is not None]
    return sum(values) if values else None


@dataclass(frozen=True)
class ScriptedFinishWrite:
    job: ProviderJob
    claimed_at: datetime
    turns: list[dict]

    def __call__(self) -> bool:
        job, turns = self.job, self.turns
        raw = TURN_SEPARATOR.join(t["raw_text"] for t in turns)
        scrubbed = text_scrub(raw, terms=job.terms)
        costs = [Decimal(t["cost_usd"]) for t in turns if t["cost_usd"] is not None]
        served = turns[-1]["served_model"]
        return bool(
            _held(job, self.claimed_at).update(
                turns=turns,
                text=scrubbed.text,
                raw_text=raw,
                **scrubbed.output_fields(),
                latency_ms=_total(turns, "latency_ms"),
                ttft_ms=turns[0]["ttft_ms"],
                input_tokens=_total(turns, "input_tokens"),
                output_tokens=_total(turns, "output_tokens"),
                cost_usd=sum(costs) if costs else None,
                served_model=served,
                deployment=turns[-1]["deployment"],
                version_mismatch=any(
                    served_model_mismatch(version=job.version, model=job.model, served=s)
                    for s in {t["served_model"] for t in turns}
                ),
                request_hash=job.request_hash,
                finished_at=timezone.now(),
                status=Output.Status.DONE,
                attempts=F("attempts") + 1,
                last_error="",
                cache_hit=False,
                imported=False,
            )
        )


async def scripted_job_call(
    job: ProviderJob, claimed_at: datetime, db: BatchDatabase, attempts_run: AttemptsRun
) -> tuple[str, Callable[[], bool]]:
    turns = list(job.answered)
    while len(turns) < len(job.scripted_turns):
        answers = [t["raw_text"] for t in turns]
        request = replace(
            job, messages=scripted_messages(job.messages, job.scripted_turns, answers)
        )
        outcome = await attempts_run(request, claimed_at)
        if not isinstance(outcome, tuple):
            return "failed", outcome
        turns.append(turn_record(job, *outcome))
        # Saved before the next turn is asked: a restart resumes here, not at turn 1.
        more = len(turns) < len(job.scripted_turns)
        if more and not await db.write(partial(_turns_save, job, claimed_at, list(turns))):
            return "skipped", lambda: False
    return "done", ScriptedFinishWrite(job, claimed_at, turns)
