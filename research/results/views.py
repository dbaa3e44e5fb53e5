"""The staff results page of a study, in the admin: tables, SVG charts, plain-words readings."""

import hashlib
import json
from typing import Any

from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from evaluations.generation.batch_progress import batch_saving
from evaluations.models import Study
from evaluations.studies.access import study_for_user_or_404
from research.results import plots
from research.results.aggregation import ResultOptions, pairwise_matrix
from research.results.criteria import criteria_rows
from research.results.flagged_raters import study_flagged_raters
from research.results.snapshots import results_snapshot

CHARTS_TIMEOUT = 7 * 24 * 3600

# Landis & Koch (1977) bands for kappa.
KAPPA_WORDS = [
    (0.0, "agree no better than chance"),
    (0.2, "agree slightly"),
    (0.4, "agree fairly"),
    (0.6, "agree moderately"),
    (0.8, "agree substantially"),
    (1.01, "agree almost perfectly"),
]


def kappa_reading(kappa: float | None) -> str:
    if kappa is None:
        return "Too few items judged by two or more raters to measure agreement."
    words = next(text for bound, text in KAPPA_WORDS if kappa < bound)
    return f"Raters {words}, Fleiss' kappa {kappa:.2f}."


def dollars_text(value: float | None) -> str:
    """Dollars with three significant digits below $100 ($0.00123, $4.56), whole above."""
    if value is None:
        return "–"
    if value == 0:
        return "$0"
    if abs(value) >= 100:
        return f"${value:,.0f}"
    return f"${float(f'{value:.3g}'):,.10f}".rstrip("0").rstrip(".")


def _ranking_rows(document: dict[str, Any], stats: list[dict[str, Any]]) -> list[dict]:
    by_label = {s["label"]: s for s in stats}
    rows = [{**row, "stats": by_label.get(row["model"], {})} for row in document["models"]]
    for row in rows:
        row["cost_text"] = dollars_text(row["stats"].get("cost_per_1000_prompts_usd"))
    return rows


def _sub_rankings(blocks: dict | None, stats: list[dict[str, Any]], name: str) -> list[dict]:
    """The document's per-category or per-turn rankings, as the page's tabs."""
    return [
        {
            "name": name.format(key) if key else "",
            "votes": block["votes"],
            "rows": _ranking_rows(block, stats),
            "warnings": block["warnings"],
        }
        for key, block in (blocks or {}).items()
    ]


def _tradeoffs(rows: list[dict[str, Any]]) -> dict[str, str]:
    charts = {}
    for key, label, log_x in (
        ("cost_per_1000_prompts_usd", "cost per 1,000 prompts (USD)", True),
        ("latency_ms_median", "median latency (ms)", False),
    ):
        points = [
            {
                "model": r["model"],
                "rating": r["rating"],
                "ci_low": r["ci_low"],
                "ci_high": r["ci_high"],
                "x": r["stats"][key],
            }
            for r in rows
            if r["stats"].get(key) is not None
        ]
        missing = [r["model"] for r in rows if r["stats"].get(key) is None]
        if len(points) >= 2:
            charts[key] = plots.tradeoff_chart(
                points,
                x_label=label,
                log_x=log_x,
                missing=missing,
                missing_reason="no price" if key.startswith("cost") else "no latency recorded",
            )
    return charts


def results_page_charts(document: dict[str, Any], stats: list[dict[str, Any]]) -> dict[str, str]:
    """The page's SVG charts, drawn once per result: matplotlib took most of a request's time.

    Cached under a digest of what they are drawn from; the task that computes a big study's
    result draws them too (results.snapshots), so that its first page view does not."""
    drawn_from = json.dumps([document.get("models"), document.get("pairwise"), stats], default=str)
    key = f"results:charts:{hashlib.sha256(drawn_from.encode()).hexdigest()}"
    charts = cache.get(key)
    if charts is not None:
        return charts
    rows = _ranking_rows(document, stats)
    charts = {}
    if rows:
        charts["ratings"] = plots.ratings_chart(document["models"])
    if len(rows) >= 2:
        charts["heatmap"] = plots.heatmap_chart(pairwise_matrix(document))
        charts.update(_tradeoffs(rows))
    cache.set(key, charts, timeout=CHARTS_TIMEOUT)
    return charts


def study_results_view(request: HttpRequest, study_id: int, model_admin: Any) -> HttpResponse:
    study = study_for_user_or_404(request.user, study_id)
    if not model_admin.has_view_permission(request, study):
        raise PermissionDenied
    options = ResultOptions(exclude_flagged=request.GET.get("exclude_flagged") == "1")
    snapshot = results_snapshot(study=study, kind="analysis", options=options)
    # Nothing computed yet (a big study's first request): the page says it is computing.
    document = snapshot.document or {"models": []}
    # Progress, cost and latency read every vote and output: a big study's come with a result
    # too (computed at the same time), and only the vote count is read now.
    figures_snapshot = results_snapshot(study=study, kind="figures", options=ResultOptions())
    figures = figures_snapshot.document
    progress = figures["progress"] if figures else {}
    stats = figures["candidates"] if figures else []
    rows = _ranking_rows(document, stats)
    categories = _sub_rankings(document.get("categories"), stats, "{}")
    turns = _sub_rankings(document.get("turns"), stats, "Turn {}")
    questions = {c["key"]: c["question"] for c in study.criteria or []}
    charts = results_page_charts(document, stats)
    agreement = document.get("agreement", {})
    fleiss = (agreement.get("fleiss_kappa") or {}).get("kappa")
    api = f"/api/v1/studies/{study.pk}/"
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": Study._meta,
        "study": study,
        "title": f"Results: {study}",
        "progress": progress,
        "no_votes": progress.get("votes", snapshot.votes) == 0,
        "figures_snapshot": figures_snapshot,
        "document": document,
        "snapshot": snapshot,
        "rows": rows,
        "unrated": [s for s in stats if s["label"] not in {r["model"] for r in rows}],
        "categories": categories,
        "criteria": criteria_rows(document, questions),
        "turns": turns,
        "charts": charts,
        "agreement": agreement,
        "agreement_reading": kappa_reading(fleiss) if "fleiss_kappa" in agreement else None,
        "gold": document.get("gold", {}),
        "bias": document.get("bias", {}),
        "exclude_flagged": options.exclude_flagged,
        "flagged_raters": study_flagged_raters(study=study),
        "downloads": [
            ("Votes (CSV)", f"{api}votes.csv"),
            ("Votes (JSON Lines)", f"{api}votes.jsonl"),
            ("Votes (JSON)", f"{api}votes.json"),
            ("Outputs (CSV)", f"{api}outputs.csv"),
            ("Ranking (JSON)", f"{api}ranking/"),
        ],
        "change_url": reverse("admin:evaluations_study_change", args=[study.pk]),
        "batch_saving": batch_saving(study=study),
    }
    return render(request, "admin/evaluations/results.html", context)
