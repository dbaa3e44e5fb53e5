"""A study's provider batches for the progress bar and the results page: how many in each
state, each with the provider's id and counts, and the saving against live prices."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Sum

from evaluations.models import Candidate, Output, ProviderBatch, Study
from evaluations.providers.batch_api import live_prices

SHOWN = 20


@dataclass(frozen=True)
class BatchSaving:
    outputs: int  # answered by a batch so far
    outputs_planned: int  # every output of the study's batch-mode candidates
    cost_usd: Decimal  # what those answers cost at the batch price
    live_cost_usd: Decimal | None  # what the same tokens would have cost live

    @property
    def actual_usd(self) -> Decimal | None:
        if self.live_cost_usd is None:
            return None
        return self.live_cost_usd - self.cost_usd

    @property
    def projected_usd(self) -> Decimal | None:
        """The saving over every batch-mode output, at the rate of those answered so far."""
        actual = self.actual_usd
        if actual is None or not self.outputs:
            return None
        return actual * self.outputs_planned / self.outputs

    @property
    def percent(self) -> float | None:
        if not self.live_cost_usd:
            return None
        return float(100 * (self.live_cost_usd - self.cost_usd) / self.live_cost_usd)


@dataclass(frozen=True)
class BatchProgress:
    by_status: dict[str, int]
    ingested_as: dict[str, int]  # ingested batches by how the provider ended them
    batches: list[ProviderBatch]  # the most recent, up to SHOWN
    saving: BatchSaving

    def _count(self, *statuses: str) -> int:
        return sum(self.by_status.get(status, 0) for status in statuses)

    @property
    def submitting(self) -> int:
        return self._count(ProviderBatch.Status.PREPARING)

    @property
    def in_progress(self) -> int:
        return self._count(ProviderBatch.Status.SUBMITTED, ProviderBatch.Status.IN_PROGRESS)

    @property
    def completed(self) -> int:
        # Ingested batches whose provider said completed, and completed ones being ingested.
        return self._count(ProviderBatch.Status.COMPLETED) + self.ingested_as.get("completed", 0)

    @property
    def failed(self) -> int:
        return self._count(ProviderBatch.Status.FAILED) + self.ingested_as.get("failed", 0)

    @property
    def expired(self) -> int:
        return self._count(ProviderBatch.Status.EXPIRED) + self.ingested_as.get("expired", 0)

    @property
    def cancelled(self) -> int:
        return self._count(ProviderBatch.Status.CANCELLED) + self.ingested_as.get("cancelled", 0)

    @property
    def any(self) -> bool:
        return bool(self.by_status) or bool(self.saving.outputs_planned)


def batch_saving(*, study: Study) -> BatchSaving:
    candidates = Candidate.objects.filter(
        study=study, generation_mode=Candidate.GenerationMode.BATCH
    )
    planned = Output.objects.filter(candidate__in=candidates).count()
    # Answered by a batch: done, no latency (live answers have one), neither cached nor imported.
    answered = Output.objects.filter(
        candidate__in=candidates,
        status=Output.Status.DONE,
        latency_ms__isnull=True,
        cache_hit=False,
        imported=False,
    )
    outputs, cost = 0, Decimal(0)
    live: Decimal | None = Decimal(0)
    rows = answered.values("candidate_id").annotate(
        n=Count("pk"),
        cost=Sum("cost_usd"),
        tokens_in=Sum("input_tokens"),
        tokens_out=Sum("output_tokens"),
    )
    by_id = {c.pk: c for c in candidates}
    for row in rows:
        candidate = by_id[row["candidate_id"]]
        outputs += row["n"]
        cost += row["cost"] or Decimal(0)
        price_in, price_out = live_prices(
            candidate.model,
            price_in=candidate.input_price_per_mtok,
            price_out=candidate.output_price_per_mtok,
        )
        if live is None or (price_in is None and price_out is None):
            live = None
            continue
        live += (
            Decimal(row["tokens_in"] or 0) * (price_in or 0)
            + Decimal(row["tokens_out"] or 0) * (price_out or 0)
        ) / Decimal(1_000_000)
    return BatchSaving(outputs=outputs, outputs_planned=planned, cost_usd=cost, live_cost_usd=live)


def batch_progress(*, study: Study) -> BatchProgress:
    batches = ProviderBatch.objects.filter(study=study)
    by_status = dict(batches.values_list("status").annotate(n=Count("pk")).order_by())
    ingested_as = dict(
        batches.filter(status=ProviderBatch.Status.INGESTED)
        .values_list("provider_status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    recent = list(batches.select_related("candidate").order_by("-pk")[:SHOWN])
    return BatchProgress(
        by_status=by_status,
        ingested_as=ingested_as,
        batches=recent,
        saving=batch_saving(study=study),
    )
