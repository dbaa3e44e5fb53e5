"""The admin's "Import votes" page: a battle-format file into a study, all or nothing."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse

from evaluations.studies.access import study_for_user_or_404
from evaluations.studies.import_rows import ImportFailed
from research.preferences.battle_import import votes_import


class VoteImportForm(forms.Form):
    file = forms.FileField(
        help_text="JSON or JSON Lines in the Chatbot Arena / MT-Bench battle format: model_a, "
        "model_b, winner, judge, question_id, and optionally turn, category, tstamp, "
        "conversation_a, conversation_b."
    )


def study_import_votes_view(request: HttpRequest, study_id: int, model_admin) -> HttpResponse:
    study = study_for_user_or_404(request.user, study_id)
    if not model_admin.has_change_permission(request, study):
        raise PermissionDenied
    errors: list[str] = []
    if request.method == "POST":
        form = VoteImportForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                # Refuse an oversized upload before reading it into memory.
                data = upload.read(settings.MAX_IMPORT_BYTES + 1)
                report = votes_import(
                    study=study, data=data, filename=upload.name, size=upload.size
                )
            except ImportFailed as exc:
                errors = exc.errors
            else:
                model_admin.message_user(
                    request, f"Imported into {study}: {report.summary()}.", messages.SUCCESS
                )
                return HttpResponseRedirect(
                    reverse("admin:evaluations_study_change", args=[study.pk])
                )
    else:
        form = VoteImportForm()
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "study": study,
        "form": form,
        "errors": errors,
        "title": f"Import votes into {study}",
    }
    return render(request, "admin/evaluations/study/import_votes.html", context)
