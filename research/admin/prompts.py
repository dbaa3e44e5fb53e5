"""The study page's prompts: a link to their own paginated list, never an inline of them all.

A study's prompts may number 100,000; inlined, the page rendered a form row per prompt (17 s and
11 MB at 5,007). The add page keeps the inline: a new study has none, and a few may be typed in.
"""

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from evaluations.models import Prompt, Study


class StudyPromptsAdminMixin:
    """For StudyAdmin: on an existing study, its prompt count with links instead of the inline."""

    def get_inlines(self, request: HttpRequest, obj: Study | None):
        inlines = list(super().get_inlines(request, obj))
        if obj is None:
            return inlines
        return [inline for inline in inlines if inline.model is not Prompt]

    def get_readonly_fields(self, request: HttpRequest, obj: Study | None = None):
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "prompts_summary"] if obj else fields

    def get_fieldsets(self, request: HttpRequest, obj: Study | None = None):
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj:
            fieldsets.insert(1, ("Prompts", {"fields": ["prompts_summary"]}))
        return fieldsets

    @admin.display(description="prompts")
    def prompts_summary(self, obj: Study) -> str:
        count = Prompt.objects.filter(study=obj).count()
        listing = reverse("admin:evaluations_prompt_changelist") + f"?study__id__exact={obj.pk}"
        return format_html(
            '<a href="{}">{} prompt{}</a> &middot; <a href="{}">Import prompts</a>'
            ' &middot; <a href="{}">Add a prompt</a>',
            listing,
            f"{count:,}",
            "" if count == 1 else "s",
            reverse("admin:evaluations_study_import_prompts", args=[obj.pk]),
            reverse("admin:evaluations_prompt_add") + f"?study={obj.pk}",
        )
