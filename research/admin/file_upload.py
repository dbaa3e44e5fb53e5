"""A study's file-upload page in the admin (prompts, votes): all or nothing, errors listed with
their line numbers, the study page again on success."""

from __future__ import annotations

from collections.abc import Callable

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse

from evaluations.models import Study
from evaluations.studies.access import study_for_user_or_404
from evaluations.studies.import_rows import ImportFailed


def study_file_upload_view(
    request: HttpRequest,
    study_id: int,
    model_admin,
    *,
    form_class: type[forms.Form],
    run: Callable[[Study, bytes, str, int], str],
    title: str,
    template: str,
) -> HttpResponse:
    """``run(study, data, filename, size)`` imports the file and says what it did, or raises
    ImportFailed."""
    study = study_for_user_or_404(request.user, study_id)
    if not model_admin.has_change_permission(request, study):
        raise PermissionDenied
    errors: list[str] = []
    if request.method == "POST":
        form = form_class(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                # Refuse an oversized upload before reading it into memory.
                data = upload.read(settings.MAX_IMPORT_BYTES + 1)
                done = run(study, data, upload.name, upload.size)
            except ImportFailed as exc:
                errors = exc.errors
            else:
                model_admin.message_user(request, done, messages.SUCCESS)
                return HttpResponseRedirect(
                    reverse("admin:evaluations_study_change", args=[study.pk])
                )
    else:
        form = form_class()
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "study": study,
        "form": form,
        "errors": errors,
        "title": f"{title} into {study}",
    }
    return render(request, template, context)
