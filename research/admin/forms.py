from django import forms

from evaluations.models import Study
from evaluations.studies.criteria import criteria_format, criteria_parse


class PromptImportForm(forms.Form):
    file = forms.FileField(
        help_text="CSV or JSONL with id, text and optionally category, context, reference; "
        "or JSONL with messages (a chat ending with the user's turn) or turns (scripted "
        "follow-ups), zipped with the images and documents it names."
    )


class CriteriaField(forms.CharField):
    """Study.criteria as lines "key: question [both bad]"."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 80})

    def prepare_value(self, value: object) -> object:
        return criteria_format(value) if isinstance(value, list) else value

    def to_python(self, value: object) -> list:
        return criteria_parse(str(value or ""))


class StudyAdminForm(forms.ModelForm):
    """The admin's study form. The status is not in it: the lifecycle buttons move it."""

    criteria = CriteriaField(required=False, help_text=Study._meta.get_field("criteria").help_text)

    class Meta:
        model = Study
        fields = "__all__"  # noqa: DJ007 - the admin's fieldsets choose what is shown
