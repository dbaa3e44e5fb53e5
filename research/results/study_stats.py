"""A study's progress and each candidate's cost and latency."""

from __future__ import annotations

from typing import Any

import numpy as np
from django.db.models import Count, Q

from evaluations.models import Candidate, Output, Pair, Prompt, Study
from raters.models import Membership, Vote

# --- per-candidate cost and latency -----------------------------------------------------------


def _percentile(values: np.ndarray, q: float) -> float | None:
    values = values[~np.isnan(values)]
    return float(np.percentile(values, q)) if len(values) else None


def candidates_stats(*, study: Study) -> list[dict[str, Any]]:
    """Cost, latency and tokens per candidate over its generated outputs."""
    rows = Output.objects.filter(prompt__study=study).values_list(
        "candidate_id",
        "status",
        "cost_usd",
        "latency_ms",
        "ttft_ms",
        "input_tokens",
        "output_tokens",
    )
    by_candidate: dict[int, list[tuple]] = {}
    for row in rows.iterator(chunk_size=5000):
        by_candidate.setdefault(row[0], []).append(row[1:])
    stats = []
    for candidate in Candidate.objects.filter(study=study).order_by("id"):
        outputs = by_candidate.get(candidate.pk, [])
        done = [o for o in outputs if o[0] == Output.Status.DONE]

        def column(k: int, values: list[tuple] = done) -> np.ndarray:
            # A non-finite value stored before imports refused them counts as not measured.
            array = np.array([np.nan if o[k] is None else float(o[k]) for o in values], dtype=float)
            array[~np.isfinite(array)] = np.nan
            return array

        cost = column(1)
        costed = cost[~np.isnan(cost)]
        total_cost = float(costed.sum()) if len(costed) else None
        input_tokens, output_tokens = column(4), column(5)
        stats.append(
            {
                "id": candidate.pk,
                "label": candidate.label,
                "model": candidate.model,
                "version": candidate.version,
                "outputs": len(outputs),
                "outputs_done": len(done),
                "outputs_failed": sum(o[0] == Output.Status.FAILED for o in outputs),
                "total_cost_usd": total_cost,
                "cost_per_1000_prompts_usd": (float(costed.mean()) * 1000 if len(costed) else None),
                "latency_ms_median": _percentile(column(2), 50),
                "latency_ms_p95": _percentile(column(2), 95),
                "ttft_ms_median": _percentile(column(3), 50),
                "ttft_ms_p95": _percentile(column(3), 95),
                "input_tokens_total": int(np.nansum(input_tokens)) if len(done) else 0,
                "output_tokens_total": int(np.nansum(output_tokens)) if len(done) else 0,
                "output_tokens_mean": (
                    float(np.nanmean(output_tokens)) if (~np.isnan(output_tokens)).any() else None
                ),
            }
        )
    return stats


# --- study progress ----------------------------------------------------------------------------


def study_progress(*, study: Study) -> dict[str, int]:
    outputs = Output.objects.filter(prompt__study=study).aggregate(
        total=Count("id"),
        done=Count("id", filter=Q(status=Output.Status.DONE)),
        failed=Count("id", filter=Q(status=Output.Status.FAILED)),
    )
    pairs = Pair.objects.filter(study=study).aggregate(
        total=Count("id"), gold=Count("id", filter=~Q(gold_answer=""))
    )
    votes = Vote.objects.filter(study=study).aggregate(
        total=Count("id"), raters=Count("rater_id", distinct=True)
    )
    return {
        "prompts": Prompt.objects.filter(study=study).count(),
        "candidates": Candidate.objects.filter(study=study).count(),
        "outputs": outputs["total"],
        "outputs_done": outputs["done"],
        "outputs_failed": outputs["failed"],
        "pairs": pairs["total"],
        "gold_pairs": pairs["gold"],
        "votes": votes["total"],
        "raters": Membership.objects.filter(study=study).count(),
        "raters_voted": votes["raters"],
        "raters_flagged": Membership.objects.filter(study=study, flagged=True).count(),
    }
