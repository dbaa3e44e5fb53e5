"""Opening a study for voting from the admin, and the review of outputs flagged by the scrubber.

A mixin for StudyAdmin. The Open page and action list
evaluations.studies.opening's concerns and open only
when the researcher confirms those very concerns; the review page lists outputs awaiting review
with each name marked in its passage, to keep as written or scrub.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from evaluations.anonymity.identity_review import (
    output_review_excerpts,
    outputs_mark_reviewed,
    outputs_scrub_after_review,
    study_outputs_rescrub,
)
from evaluations.models import IllegalTransition, Output, Study
from evaluations.studies.opening import (
    OpeningNeedsConfirmation,
    concerns_fingerprint,
    study_open,
    study_opening_concerns,
)

REVIEW_PAGE_SIZE = 50


class OpeningAdminMixin:
    def get_urls(self):
        def view(name: str, func) -> object:
            return path(
                f"<int:study_id>/{name.replace('_', '-')}/",
                self.admin_site.admin_view(func),
                name=f"evaluations_study_{name}",
            )

        extra = [view("open", self.open_view), view("review_identity", self.review_identity_view)]
        return extra + super().get_urls()

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        if self.has_change_permission(request):
            for name in ("open_for_voting", "scrub_outputs_again"):
                func = getattr(type(self), name)
                actions[name] = (func, name, func.short_description)
        return actions

    @admin.action(description="Scrub outputs again (with the current list of names)")
    def scrub_outputs_again(self, request: HttpRequest, queryset: QuerySet[Study]) -> None:
        for study in queryset:
            changed = study_outputs_rescrub(study=study)
            self.message_user(
                request, f"{study}: {changed} outputs changed by scrubbing again.", messages.SUCCESS
            )

    def _study_to_change(self, request: HttpRequest, study_id: int) -> Study:
        study = get_object_or_404(self.get_queryset(request), pk=study_id)
        if not self.has_change_permission(request, study):
            raise PermissionDenied
        return study

    def _context(self, request: HttpRequest, **extra) -> dict:
        return {**self.admin_site.each_context(request), "opts": self.model._meta, **extra}

    def open_view(self, request: HttpRequest, study_id: int) -> HttpResponse:
        study = self._study_to_change(request, study_id)
        change_url = reverse("admin:evaluations_study_change", args=[study.pk])
        error = ""
        if request.method == "POST":
            try:
                study_open(study=study, confirm=request.POST.get("confirm") or None)
            except OpeningNeedsConfirmation:
                error = "Nothing was opened: please confirm the points below as they are now."
            except IllegalTransition as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return HttpResponseRedirect(change_url)
            else:
                self.message_user(request, f"{study} is open for voting.", messages.SUCCESS)
                return HttpResponseRedirect(change_url)
        concerns = study_opening_concerns(study=study)
        return TemplateResponse(
            request,
            "admin/evaluations/study/open.html",
            self._context(
                request,
                title=f"Open {study} for voting",
                study=study,
                concerns=concerns,
                fingerprint=concerns_fingerprint(concerns),
                can_open=study.can_transition_to(Study.Status.OPEN),
                review_url=reverse("admin:evaluations_study_review_identity", args=[study.pk]),
                change_url=change_url,
                error=error,
            ),
        )

    @admin.action(description="Open for voting (asks first if anything needs checking)")
    def open_for_voting(self, request: HttpRequest, queryset: QuerySet[Study]):
        studies = [s for s in queryset if s.can_transition_to(Study.Status.OPEN)]
        for study in queryset:
            if study not in studies:
                self.message_user(
                    request,
                    f"{study} is {study.get_status_display().lower()}: only a ready or "
                    "closed study can be opened.",
                    messages.WARNING,
                )
        concerns = {study.pk: study_opening_concerns(study=study) for study in studies}
        confirmed = request.POST.get("confirmed") == "yes"
        if not confirmed and any(concerns.values()):
            # Ask about all of them at once; nothing is opened before the answer.
            return self._open_selected_page(request, studies, concerns)
        waiting = []
        for study in studies:
            try:
                study_open(study=study, confirm=request.POST.get(f"confirm_{study.pk}"))
            except OpeningNeedsConfirmation:
                waiting.append(study)
            except IllegalTransition as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(request, f"{study} is open for voting.", messages.SUCCESS)
        if waiting:
            self.message_user(
                request,
                "What needs checking changed since you confirmed; confirm again.",
                messages.WARNING,
            )
            fresh = {study.pk: study_opening_concerns(study=study) for study in waiting}
            return self._open_selected_page(request, waiting, fresh)
        return None

    def _open_selected_page(
        self, request: HttpRequest, studies: list[Study], concerns: dict
    ) -> TemplateResponse:
        return TemplateResponse(
            request,
            "admin/evaluations/study/open_selected.html",
            self._context(
                request,
                title="Open these studies for voting?",
                rows=[(study, concerns[study.pk]) for study in studies],
                fingerprints={pk: concerns_fingerprint(c) for pk, c in concerns.items()},
                action_checkbox_name=helpers.ACTION_CHECKBOX_NAME,
            ),
        )

    def review_identity_view(self, request: HttpRequest, study_id: int) -> HttpResponse:
        study = self._study_to_change(request, study_id)
        url = reverse("admin:evaluations_study_review_identity", args=[study.pk])
        if request.method == "POST":
            ids = [int(pk) for pk in request.POST.getlist("output") if pk.isdigit()]
            if not ids:
                self.message_user(request, "Select outputs first.", messages.WARNING)
            elif "scrub" in request.POST:
                n = outputs_scrub_after_review(study=study, output_ids=ids, user=request.user)
                self.message_user(
                    request, f"Scrubbed and marked {n} outputs reviewed.", messages.SUCCESS
                )
            else:
                n = outputs_mark_reviewed(study=study, output_ids=ids, user=request.user)
                self.message_user(
                    request, f"Marked {n} outputs reviewed; their text is kept.", messages.SUCCESS
                )
            return HttpResponseRedirect(url + ("?all=1" if request.GET.get("all") else ""))
        show_all = bool(request.GET.get("all"))
        outputs = (
            Output.objects.filter(
                prompt__study=study, status=Output.Status.DONE, identity_review=True
            )
            .select_related("prompt", "candidate", "identity_reviewed_by")
            .order_by("identity_reviewed_at", "prompt_id", "candidate_id")
        )
        awaiting = outputs.filter(identity_reviewed_at__isnull=True).count()
        if not show_all:
            outputs = outputs.filter(identity_reviewed_at__isnull=True)
        page = Paginator(outputs, REVIEW_PAGE_SIZE).get_page(request.GET.get("page"))
        return TemplateResponse(
            request,
            "admin/evaluations/study/review_identity.html",
            self._context(
                request,
                title=f"Outputs with a name left for review: {study}",
                study=study,
                page=page,
                rows=[(output, output_review_excerpts(output)) for output in page],
                awaiting=awaiting,
                show_all=show_all,
                change_url=reverse("admin:evaluations_study_change", args=[study.pk]),
                open_url=reverse("admin:evaluations_study_open", args=[study.pk]),
            ),
        )
