"""The staff results page of a study, in the admin: tables, SVG charts, plain-words readings."""

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from evaluations.generation.batch_progress import batch_saving
from evaluations.models import Study
from evaluations.results import plots
from evaluations.results.aggregation import ResultOptions, pairwise_matrix, study_analysis
from evaluations.results.study_stats import candidates_stats, study_progress
from evaluations.studies.access import study_for_user_or_404

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


def study_results_view(request: HttpRequest, study_id: int, model_admin: Any) -> HttpResponse:
    study = study_for_user_or_404(request.user, study_id)
    if not model_admin.has_view_permission(request, study):
        raise PermissionDenied
    options = ResultOptions(exclude_flagged=request.GET.get("exclude_flagged") == "1")
    document = study_analysis(study=study, options=options)
    progress = study_progress(study=study)
    stats = candidates_stats(study=study)
    rows = _ranking_rows(document, stats)
    categories = []
    for name, block in (document.get("categories") or {}).items():
        categories.append(
            {
                "name": name,
                "votes": block["votes"],
                "rows": _ranking_rows(block, stats),
                "warnings": block["warnings"],
            }
        )
    charts: dict[str, Any] = {}
    if rows:
        charts["ratings"] = plots.ratings_chart(document["models"])
    if len(rows) >= 2:
        charts["heatmap"] = plots.heatmap_chart(pairwise_matrix(document))
        charts.update(_tradeoffs(rows))
    agreement = document.get("agreement", {})
    fleiss = (agreement.get("fleiss_kappa") or {}).get("kappa")
    api = f"/api/v1/studies/{study.pk}/"
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": Study._meta,
        "study": study,
        "title": f"Results: {study}",
        "progress": progress,
        "no_votes": progress["votes"] == 0,
        "document": document,
        "rows": rows,
        "unrated": [s for s in stats if s["label"] not in {r["model"] for r in rows}],
        "categories": categories,
        "charts": charts,
        "agreement": agreement,
        "agreement_reading": kappa_reading(fleiss) if "fleiss_kappa" in agreement else None,
        "gold": document.get("gold", {}),
        "bias": document.get("bias", {}),
        "exclude_flagged": options.exclude_flagged,
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
