"""The database steps of a generation batch, run on the task's thread: claims, heartbeats,
coalesced writes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import partial

from asgiref.current_thread_executor import CurrentThreadExecutor
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from evaluations.anonymity.scrubbing import text_scrub
from evaluations.generation.provider_calls import (
    ERROR_LIMIT,
    ProviderAnswer,
    ProviderJob,
    call_cost,
)
from evaluations.generation.requests import served_model_mismatch
from evaluations.generation.starting import _claimable
from evaluations.models import Output
from evaluations.providers.access import (
    Deployment,
)

# -- database steps (run on the task's thread) ----------------------------------------------

logger = logging.getLogger(__name__)


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
