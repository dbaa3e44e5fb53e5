from django import forms

from evaluations.models import Study


class PromptImportForm(forms.Form):
    file = forms.FileField(
        help_text="CSV or JSONL with id, text and optionally category, context, reference; "
        "or JSONL with messages (a chat ending with the user's turn) or turns (scripted "
        "follow-ups), zipped with the images and documents it names."
    )


class StudyAdminForm(forms.ModelForm):
    """The admin's study form. The status is not in it: the lifecycle buttons move it."""

    class Meta:
        model = Study
        fields = "__all__"  # noqa: DJ007 - the admin's fieldsets choose what is shown
