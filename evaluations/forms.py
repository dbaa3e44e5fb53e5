from django import forms

from evaluations.models import Study


class PromptImportForm(forms.Form):
    file = forms.FileField(
        help_text="CSV or JSONL with columns id, text and optionally category, context, reference."
    )


class StudyAdminForm(forms.ModelForm):
    """The admin's study form: the status may only follow the study's lifecycle."""

    class Meta:
        model = Study
        fields = "__all__"  # noqa: DJ007 - the admin's fieldsets choose what is shown

    def clean_status(self) -> str:
        status = self.cleaned_data["status"]
        if self.instance.pk is None:
            if status not in (Study.Status.DRAFT, Study.Status.READY):
                raise forms.ValidationError("A new study starts as a draft.")
            return status
        current = Study.objects.values_list("status", flat=True).get(pk=self.instance.pk)
        if status != current and status not in Study.TRANSITIONS.get(current, set()):
            allowed = ", ".join(sorted(Study.TRANSITIONS.get(current, ()))) or "none"
            raise forms.ValidationError(
                f"A study cannot go from {current} to {status}; allowed: {allowed}."
            )
        if status == Study.Status.OPEN and current != Study.Status.OPEN:
            from evaluations.opening import study_opening_concerns

            concerns = study_opening_concerns(study=self.instance)
            if concerns:
                raise forms.ValidationError(
                    "Check these first, then use “Open for voting” above, which asks you to "
                    "confirm: " + " ".join(c.message for c in concerns)
                )
        return status
