"""A study's generation progress: counts, cost, tokens and timing per candidate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, Max, Min, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from evaluations.generation.starting import _last_sign_of_life_before, stalled_before
from evaluations.models import Output, Study

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
