"""Generation in the study admin: actions, buttons and a live progress bar.

A mixin for StudyAdmin, so that admin.py only names it. The buttons sit inside the change
form, which cannot nest forms: they submit the change form to these views with ``formaction``.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from evaluations.generation.batch_progress import batch_progress
from evaluations.generation.errors import GenerationError
from evaluations.generation.pairing import pairs_build
from evaluations.generation.progress import generation_progress
from evaluations.generation.starting import generation_start, outputs_retry, outputs_take_over
from evaluations.models import Output, Study
from evaluations.studies.access import study_for_user_or_404


def _progress_html(study: Study) -> str:
    return render_to_string(
        "admin/evaluations/study/progress.html",
        {
            "study": study,
            "progress": generation_progress(study=study),
            "batches": batch_progress(study=study),
            "take_over_url": reverse("admin:evaluations_study_take_over", args=[study.pk]),
        },
    )


class GenerationAdminMixin:
    actions = ["generate_outputs", "retry_failed_outputs", "build_pairs", "take_over_stalled"]

    def get_readonly_fields(self, request: HttpRequest, obj: Study | None = None):
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "generation_panel"] if obj else fields

    def get_fieldsets(self, request: HttpRequest, obj: Study | None = None):
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj:
            fieldsets.insert(1, ("Generation", {"fields": ["generation_panel"]}))
        return fieldsets

    @admin.display(description="progress")
    def generation_panel(self, obj: Study) -> str:
        return mark_safe(  # noqa: S308 - our template, autoescaped
            render_to_string(
                "admin/evaluations/study/progress_panel.html",
                {
                    "study": obj,
                    "progress_html": mark_safe(_progress_html(obj)),  # noqa: S308
                    "progress_url": reverse("admin:evaluations_study_progress", args=[obj.pk]),
                    "generate_url": reverse("admin:evaluations_study_generate", args=[obj.pk]),
                    "retry_url": reverse("admin:evaluations_study_retry_failed", args=[obj.pk]),
                    "pairs_url": reverse("admin:evaluations_study_build_pairs", args=[obj.pk]),
                },
            )
        )

    def get_urls(self):
        def view(name: str, func) -> object:
            return path(
                f"<int:study_id>/{name.replace('_', '-')}/",
                self.admin_site.admin_view(func),
                name=f"evaluations_study_{name}",
            )

        extra = [
            view("progress", self.progress_view),
            view("generate", require_POST(self.generate_view)),
            view("retry_failed", require_POST(self.retry_failed_view)),
            view("build_pairs", require_POST(self.build_pairs_view)),
            view("take_over", require_POST(self.take_over_view)),
        ]
        return extra + super().get_urls()

    def _study_for_change(self, request: HttpRequest, study_id: int) -> Study:
        study = study_for_user_or_404(request.user, study_id)
        if not self.has_change_permission(request, study):
            raise PermissionDenied
        return study

    def _back(self, study: Study) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:evaluations_study_change", args=[study.pk]))

    def progress_view(self, request: HttpRequest, study_id: int) -> HttpResponse:
        study = study_for_user_or_404(request.user, study_id)
        if not self.has_view_permission(request, study):
            raise PermissionDenied
        return HttpResponse(_progress_html(study))

    def generate_view(self, request: HttpRequest, study_id: int) -> HttpResponse:
        study = self._study_for_change(request, study_id)
        self._generate(request, Study.objects.filter(pk=study.pk), retry_failed=False)
        return self._back(study)

    def retry_failed_view(self, request: HttpRequest, study_id: int) -> HttpResponse:
        study = self._study_for_change(request, study_id)
        self._generate(request, Study.objects.filter(pk=study.pk), retry_failed=True)
        return self._back(study)

    def build_pairs_view(self, request: HttpRequest, study_id: int) -> HttpResponse:
        study = self._study_for_change(request, study_id)
        self.build_pairs(request, Study.objects.filter(pk=study.pk))
        return self._back(study)

    def take_over_view(self, request: HttpRequest, study_id: int) -> HttpResponse:
        study = self._study_for_change(request, study_id)
        self.take_over_stalled(request, Study.objects.filter(pk=study.pk))
        return self._back(study)

    @admin.action(description="Take over outputs of a stopped worker now", permissions=["change"])
    def take_over_stalled(self, request: HttpRequest, queryset: QuerySet) -> None:
        for study in queryset:
            try:
                taken = outputs_take_over(study=study)
            except GenerationError as exc:
                self.message_user(request, f"{study}: {exc}", messages.ERROR)
                continue
            self.message_user(
                request,
                f"{study}: took over {taken} output{'s' if taken != 1 else ''} held by a "
                "stopped worker; they are queued again.",
                messages.SUCCESS if taken else messages.INFO,
            )

    def _generate(self, request: HttpRequest, queryset: QuerySet, *, retry_failed: bool) -> None:
        for study in queryset:
            try:
                queued = generation_start(study=study, retry_failed=retry_failed)
            except GenerationError as exc:
                self.message_user(request, f"{study}: {exc}", messages.ERROR)
                continue
            if queued:
                self.message_user(
                    request, f"{study}: queued {queued} outputs for generation.", messages.SUCCESS
                )
            else:
                self.message_user(request, f"{study}: nothing left to generate.", messages.INFO)

    @admin.action(description="Generate outputs", permissions=["change"])
    def generate_outputs(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._generate(request, queryset, retry_failed=False)

    @admin.action(description="Retry failed outputs", permissions=["change"])
    def retry_failed_outputs(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._generate(request, queryset, retry_failed=True)

    @admin.action(description="Build pairs", permissions=["change"])
    def build_pairs(self, request: HttpRequest, queryset: QuerySet) -> None:
        for study in queryset:
            created = pairs_build(study=study)
            self.message_user(
                request,
                f"{study}: built {created} new pairs ({study.pairs.count()} in all).",
                messages.SUCCESS,
            )


class OutputGenerationAdminMixin:
    actions = ["retry_selected_failed"]

    @admin.display(description="last error")
    def short_error(self, obj: Output) -> str:
        return obj.last_error[:120]

    @admin.action(description="Retry selected failed outputs", permissions=["change"])
    def retry_selected_failed(self, request: HttpRequest, queryset: QuerySet) -> None:
        ids = list(queryset.filter(status=Output.Status.FAILED).values_list("pk", flat=True))
        try:
            queued = outputs_retry(output_ids=ids)
        except GenerationError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(request, f"Queued {queued} failed outputs again.", messages.SUCCESS)
