from django import forms

from evaluations.models import Study


class PromptImportForm(forms.Form):
    file = forms.FileField(
        help_text="CSV or JSONL with columns id, text and optionally category, context, reference."
    )


class StudyAdminForm(forms.ModelForm):
    """The admin's study form. The status is not in it: the lifecycle buttons move it."""

    class Meta:
        model = Study
        fields = "__all__"  # noqa: DJ007 - the admin's fieldsets choose what is shown
