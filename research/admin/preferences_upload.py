"""The admin's "Import votes" page: a battle-format file into a study, all or nothing."""

from __future__ import annotations

from django import forms
from django.http import HttpRequest, HttpResponse

from research.admin.file_upload import study_file_upload_view
from research.preferences.battle_import import votes_import


class VoteImportForm(forms.Form):
    file = forms.FileField(
        help_text="JSON or JSON Lines in the Chatbot Arena / MT-Bench battle format: model_a, "
        "model_b, winner, judge, question_id, and optionally turn, category, tstamp, "
        "conversation_a, conversation_b."
    )


def study_import_votes_view(request: HttpRequest, study_id: int, model_admin) -> HttpResponse:
    def run(study, data: bytes, filename: str, size: int) -> str:
        report = votes_import(study=study, data=data, filename=filename, size=size)
        return f"Imported into {study}: {report.summary()}."

    return study_file_upload_view(
        request,
        study_id,
        model_admin,
        form_class=VoteImportForm,
        run=run,
        title="Import votes",
        template="admin/evaluations/study/import_votes.html",
    )
