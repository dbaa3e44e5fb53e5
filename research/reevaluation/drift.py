"""Drift: whether a candidate still answers as it did when its outputs were made."""

from __future__ import annotations

import asyncio
import difflib
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db.models import Count, Q

from evaluations.generation.limits import limiter_for_current_settings
from evaluations.generation.provider_calls import (
    ProviderJob,
    call_cost,
    error_is_transient,
    provider_call,
    retry_after_seconds,
    retry_backoff,
)
from evaluations.generation.requests import (
    candidate_deployments_authorized,
    candidate_request_params,
    output_messages,
    request_hash,
    served_model_mismatch,
)
from evaluations.models import Candidate, Output, Study

# -- drift ----------------------------------------------------------------------------------


def candidates_drift(*, study: Study) -> list[dict[str, Any]]:
    """Per candidate: the pinned version, the models the provider reported serving, and how
    many outputs were served by a model other than the pinned one (recorded by generation)."""
    served: dict[int, Counter] = defaultdict(Counter)
    for candidate_id, name, n in (
        Output.objects.filter(prompt__study=study, status=Output.Status.DONE)
        .exclude(served_model="")
        .values_list("candidate_id", "served_model")
        .annotate(n=Count("id"))
        .order_by()
    ):
        served[candidate_id][name] += n
    counts = {
        row["candidate_id"]: row
        for row in Output.objects.filter(prompt__study=study)
        .values("candidate_id")
        .annotate(
            done=Count("id", filter=Q(status=Output.Status.DONE)),
            mismatched=Count("id", filter=Q(version_mismatch=True)),
        )
        .order_by()
    }
    rows = []
    for candidate in Candidate.objects.filter(study=study).order_by("id"):
        row = counts.get(candidate.pk, {"done": 0, "mismatched": 0})
        rows.append(
            {
                "id": candidate.pk,
                "label": candidate.label,
                "model": candidate.model,
                "pinned_version": candidate.version,
                "outputs_done": row["done"],
                "outputs_version_mismatch": row["mismatched"],
                "served_models": dict(served[candidate.pk].most_common()),
                "drift": row["mismatched"] > 0,
            }
        )
    return rows


@dataclass
class DriftFinding:
    candidate: str
    prompt: str
    pinned_version: str
    served_then: str
    served_now: str
    version_mismatch: bool
    changed: bool
    similarity: float | None
    error: str = ""
    cost_usd: Decimal | None = None


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def drift_check(
    *, study: Study, prompts: int = 3, labels: list[str] | None = None
) -> list[DriftFinding]:
    """Ask each pinned candidate again a few prompts it already answered, and compare.

    An answer has changed when its text differs (whitespace aside) from the stored one; the
    served model is checked against the pinned version. Nothing in the study is modified, and
    the cache is bypassed: the point is to hear the provider now. With a temperature above 0
    answers vary anyway, so a changed answer is a hint, a changed served model the evidence.
    """
    candidates = Candidate.objects.filter(study=study).exclude(version="").order_by("id")
    if labels:
        candidates = candidates.filter(label__in=labels)
    work = []
    for candidate in candidates:
        outputs = (
            Output.objects.filter(candidate=candidate, status=Output.Status.DONE, imported=False)
            # A scripted conversation is not one request to repeat; its turns are not checked.
            .filter(prompt__turns=[])
            .select_related("prompt")
            .order_by("prompt_id")[:prompts]
        )
        params = candidate_request_params(candidate)
        deployments = candidate_deployments_authorized(candidate, owner=study.owner)
        for output in outputs:
            messages = output_messages(candidate=candidate, prompt=output.prompt)
            job = ProviderJob(
                output_id=output.pk,
                study_id=study.pk,
                limiter_key=f"drift:{candidate.pk}",
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
                terms=(),
            )
            work.append((candidate, output, job))
    return async_to_sync(_drift_run)(work)


async def _drift_run(work: list) -> list[DriftFinding]:
    limiter = limiter_for_current_settings()

    async def one(candidate: Candidate, output: Output, job: ProviderJob) -> DriftFinding:
        finding = DriftFinding(
            candidate=candidate.label,
            prompt=output.prompt.external_id,
            pinned_version=candidate.version,
            served_then=output.served_model,
            served_now="",
            version_mismatch=False,
            changed=False,
            similarity=None,
        )
        async with limiter.slot(job.limiter_key, job.max_concurrency):
            for attempt in range(1, settings.GENERATION_MAX_ATTEMPTS + 1):
                try:
                    answer = await provider_call(
                        job, job.deployments[(attempt - 1) % len(job.deployments)]
                    )
                except Exception as exc:  # noqa: BLE001 - reported in the finding
                    finding.error = f"{type(exc).__name__}: {exc}"[:500]
                    if not error_is_transient(exc) or attempt == settings.GENERATION_MAX_ATTEMPTS:
                        return finding
                    await asyncio.sleep(retry_backoff(attempt, retry_after_seconds(exc)))
                    continue
                finding.error = ""
                break
        then, now = _normalise(output.raw_text), _normalise(answer.text)
        finding.served_now = answer.served_model
        finding.version_mismatch = served_model_mismatch(
            version=candidate.version, model=candidate.model, served=answer.served_model
        )
        finding.changed = then != now
        finding.similarity = round(difflib.SequenceMatcher(None, then, now).ratio(), 4)
        finding.cost_usd = call_cost(job, answer.input_tokens, answer.output_tokens)
        return finding

    try:
        return list(await asyncio.gather(*(one(*item) for item in work)))
    finally:
        await limiter.aclose()
