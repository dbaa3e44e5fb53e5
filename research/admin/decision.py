"""The decision in the admin: the page (constraints form, decision, routing, what-ifs, recorded
decisions), and the standalone report as HTML (printable, charts inline) and Markdown."""

from __future__ import annotations

import base64
import hashlib
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils import timezone

from evaluations.models import Candidate, Study
from evaluations.studies.access import study_for_user_or_404
from research.decision.constraints import (
    PRICE_SOURCES,
    ConstraintsError,
    constraints_from_json,
)
from research.decision.records import decision_record
from research.decision.report import decision_charts, decision_markdown
from research.decision.selectors import decision_document, study_decision_constraints
from research.results.aggregation import ResultOptions, study_ranking

REPORT_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
table { border-collapse: collapse; margin: 0.6em 0 1.2em; width: 100%; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
.muted { color: #666; } .warn { color: #a33; } svg { max-width: 100%; height: auto; }
@media print { body { margin: 0; font-size: 11px; } a { color: inherit; text-decoration: none; } }
""".strip()


def _what_if(request: HttpRequest) -> dict[str, Any]:
    """The page's what-if parameters from the query: a price table and a volume multiplier.
    Anything not understood is ignored (the saved constraints apply), never an error page."""
    source = request.GET.get("price_source")
    try:
        scale = Decimal(request.GET.get("volume_scale", "1"))
    except (InvalidOperation, ValueError):
        scale = Decimal(1)
    if not scale.is_finite() or not 0 <= scale <= 100_000:
        scale = Decimal(1)
    return {
        "price_source": source if source in PRICE_SOURCES else None,
        "volume_scale": scale,
    }


def _form_constraints(post: Any, categories: list[str], labels: list[str]) -> dict[str, Any]:
    data: dict[str, Any] = {
        key: post.get(key, "").strip()
        for key in (
            "margin_kind",
            "margin",
            "ttft_p95_ms",
            "latency_p95_ms",
            "budget_usd",
            "price_source",
            "self_hosting_usd_per_hour",
            "hours_per_month",
        )
    }
    data["volumes"] = {
        c: post.get(f"volume:{c}", "").strip()
        for c in categories
        if post.get(f"volume:{c}", "").strip()
    }
    data["typed_prices"] = {
        label: {
            "input_per_mtok": post.get(f"price_in:{label}", "").strip(),
            "output_per_mtok": post.get(f"price_out:{label}", "").strip(),
        }
        for label in labels
        if post.get(f"price_in:{label}", "").strip() or post.get(f"price_out:{label}", "").strip()
    }
    return data


def _study_categories(study: Study) -> list[str]:
    return sorted(
        set(study.prompts.exclude(category="").values_list("category", flat=True).distinct())
    )


def study_decision_view(request: HttpRequest, study_id: int, model_admin: Any) -> HttpResponse:
    study = study_for_user_or_404(request.user, study_id)
    if not model_admin.has_view_permission(request, study):
        raise PermissionDenied
    page = reverse("admin:evaluations_study_decision", args=[study.pk])
    categories = _study_categories(study)
    labels = list(Candidate.objects.filter(study=study).values_list("label", flat=True))
    errors: dict[str, str] = {}
    if request.method == "POST":
        if not model_admin.has_change_permission(request, study):
            raise PermissionDenied
        if request.POST.get("action") == "record":
            document = decision_document(study=study)
            decision_record(
                study=study, user=request.user, document=document, note=request.POST.get("note", "")
            )
            messages.success(request, "Decision recorded with the study.")
            return HttpResponseRedirect(page)
        data = _form_constraints(request.POST, categories, labels)
        previous = study.decision_constraints or {}
        if data["typed_prices"] != previous.get("typed_prices"):
            data["typed_prices_date"] = timezone.now().date().isoformat()
        else:
            data["typed_prices_date"] = previous.get("typed_prices_date", "")
        try:
            constraints = constraints_from_json(data)
        except ConstraintsError as exc:
            errors = exc.errors
        else:
            Study.objects.filter(pk=study.pk).update(decision_constraints=constraints.as_json())
            messages.success(request, "Constraints saved.")
            return HttpResponseRedirect(page)
    try:
        saved = study_decision_constraints(study=study)
    except ConstraintsError as exc:
        errors = errors or exc.errors
        saved = constraints_from_json({})
    what_if = _what_if(request)
    try:
        document = decision_document(study=study, **what_if)
    except ConstraintsError:
        document = None
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": Study._meta,
        "study": study,
        "title": f"Decision: {study}",
        "document": document,
        "charts": decision_charts(document) if document else {},
        "constraints": saved.as_json(),
        "categories": [(c, saved.volumes.get(c, "")) for c in categories],
        "prices": [(label, saved.typed_prices.get(label)) for label in labels],
        "price_sources": PRICE_SOURCES,
        "errors": errors,
        "what_if": what_if,
        "query": request.GET.urlencode(),
        "can_change": model_admin.has_change_permission(request, study),
        "change_url": reverse("admin:evaluations_study_change", args=[study.pk]),
        "api_url": f"/api/v1/studies/{study.pk}/decision/",
    }
    return render(request, "admin/evaluations/decision.html", context)


def study_decision_report_view(
    request: HttpRequest, study_id: int, model_admin: Any, *, fmt: str
) -> HttpResponse:
    study = study_for_user_or_404(request.user, study_id)
    if not model_admin.has_view_permission(request, study):
        raise PermissionDenied
    try:
        document = decision_document(study=study, **_what_if(request))
    except ConstraintsError as exc:
        return HttpResponse(f"The saved constraints are invalid: {exc}", status=400)
    name = f"decision-{study.slug}"
    if fmt == "md":
        response = HttpResponse(decision_markdown(document), content_type="text/markdown")
        response["Content-Disposition"] = f'inline; filename="{name}.md"'
        return response
    html = render_to_string(
        "evaluations/decision_report.html",
        {
            "document": document,
            "charts": decision_charts(document),
            "style": REPORT_STYLE,
            "generated_at": timezone.now(),
            "ranking": study_ranking(study=study, options=ResultOptions()),
        },
    )
    response = HttpResponse(html)
    digest = base64.b64encode(hashlib.sha256(REPORT_STYLE.encode()).digest()).decode()
    # Standalone: its one style sheet is inline, allowed by hash; nothing else may load.
    response["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'sha256-{digest}'; style-src-attr 'unsafe-inline'; "
        "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    response["Content-Disposition"] = f'inline; filename="{name}.html"'
    return response


class DecisionAdminMixin:
    """For StudyAdmin: the decision page and its reports."""

    def get_urls(self):
        site = self.admin_site
        extra = [
            path(
                "<int:study_id>/decision/",
                site.admin_view(self.decision_view),
                name="evaluations_study_decision",
            ),
            path(
                "<int:study_id>/decision/report.html",
                site.admin_view(self.decision_report_html_view),
                name="evaluations_study_decision_report_html",
            ),
            path(
                "<int:study_id>/decision/report.md",
                site.admin_view(self.decision_report_md_view),
                name="evaluations_study_decision_report_md",
            ),
        ]
        return extra + super().get_urls()

    def decision_view(self, request: HttpRequest, study_id: int) -> HttpResponse:
        return study_decision_view(request, study_id, self)

    def decision_report_html_view(self, request: HttpRequest, study_id: int) -> HttpResponse:
        return study_decision_report_view(request, study_id, self, fmt="html")

    def decision_report_md_view(self, request: HttpRequest, study_id: int) -> HttpResponse:
        return study_decision_report_view(request, study_id, self, fmt="md")


__all__ = ["DecisionAdminMixin", "admin"]
