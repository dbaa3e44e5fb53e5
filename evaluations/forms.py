from django import forms


class PromptImportForm(forms.Form):
    file = forms.FileField(
        help_text="CSV or JSONL with columns id, text and optionally category, context, reference."
    )
