"""The study's status in the admin: shown read-only, moved by one button per allowed step.

A stale change form (opened while generating, saved after generation finished) must never
write the status back, so the status is not a form field at all.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from evaluations.generation.stopping import study_status_move
from evaluations.models import IllegalTransition, Study
from evaluations.studies.lifecycle import study_status_moves
from evaluations.studies.opening import OpeningNeedsConfirmation


class LifecycleAdminMixin:
    def get_readonly_fields(self, request: HttpRequest, obj: Study | None = None):
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "status", "lifecycle"]

    def get_fieldsets(self, request: HttpRequest, obj: Study | None = None):
        fieldsets = []
        for name, options in super().get_fieldsets(request, obj):
            fields = options.get("fields", [])
            if obj and "status" in fields:
                fields = ["lifecycle" if field == "status" else field for field in fields]
                options = {**options, "fields": fields}
            fieldsets.append((name, options))
        return fieldsets

    @admin.display(description="status")
    def lifecycle(self, obj: Study) -> str:
        moves = [
            (label, reverse("admin:evaluations_study_transition", args=[obj.pk, status]))
            for status, label in study_status_moves(obj)
        ]
        return mark_safe(  # noqa: S308 - our template, autoescaped
            render_to_string(
                "admin/evaluations/study/lifecycle.html", {"study": obj, "moves": moves}
            )
        )

    def get_urls(self):
        extra = [
            path(
                "<int:study_id>/transition/<slug:status>/",
                self.admin_site.admin_view(require_POST(self.transition_view)),
                name="evaluations_study_transition",
            )
        ]
        return extra + super().get_urls()

    def transition_view(self, request: HttpRequest, study_id: int, status: str) -> HttpResponse:
        study = get_object_or_404(self.get_queryset(request), pk=study_id)
        if not self.has_change_permission(request, study):
            raise PermissionDenied
        try:
            study_status_move(study=study, status=status)
        except OpeningNeedsConfirmation:
            # The open page lists what to check and asks the researcher to confirm it.
            return HttpResponseRedirect(reverse("admin:evaluations_study_open", args=[study.pk]))
        except IllegalTransition as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.message_user(
                request, f"{study} is now {study.get_status_display().lower()}.", messages.SUCCESS
            )
        return HttpResponseRedirect(reverse("admin:evaluations_study_change", args=[study.pk]))
