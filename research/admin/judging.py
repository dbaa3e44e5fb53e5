"""LLM judges and drift in the admin: judges inline on the study with the "Run judges"
action and a summary, drift on candidates, judge calls read-only. Mixins, so admin.py only
names them."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from evaluations.admin_base.scoping import StudyScopedAdminMixin
from evaluations.models import Candidate, Judge, JudgeVote, Study
from research.admin.connections import ProviderAccessInlineMixin
from research.admin.counts import candidates_drift_counts, sorted_columns
from research.judging.runner import judging_start
from research.judging.verdicts import JudgingError


class JudgeInline(StudyScopedAdminMixin, ProviderAccessInlineMixin, admin.TabularInline):
    model = Judge
    extra = 0
    fields = [
        "model", "connection", "api_base", "api_key_env", "temperature", "max_tokens",
        "input_price_per_mtok", "output_price_per_mtok", "max_concurrency", "requests_per_minute",
    ]  # fmt: skip


class JudgingAdminMixin:
    """For StudyAdmin: judge models inline, the judge prompt, a summary and "Run judges"."""

    def get_inlines(self, request: HttpRequest, obj: Study | None):
        # Judges are added once the study exists, like its prompts' import.
        inlines = list(super().get_inlines(request, obj))
        return [*inlines, JudgeInline] if obj else inlines

    def get_readonly_fields(self, request: HttpRequest, obj: Study | None = None):
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "judging_summary"] if obj else fields

    def get_fieldsets(self, request: HttpRequest, obj: Study | None = None):
        fields = ["judge_system_prompt", "judge_prompt_template"]
        if obj:
            fields.insert(0, "judging_summary")
        return [*super().get_fieldsets(request, obj), ("LLM judges", {"fields": fields})]

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        if self.has_change_permission(request):
            func = type(self).run_judges
            actions["run_judges"] = (func, "run_judges", func.short_description)
        return actions

    @admin.action(description="Run judges")
    def run_judges(self, request: HttpRequest, queryset: QuerySet[Study]) -> None:
        for study in queryset:
            try:
                queued = judging_start(study=study)
            except JudgingError as exc:
                self.message_user(request, f"{study}: {exc}", messages.ERROR)
                continue
            self.message_user(request, f"{study}: queued {queued} judge calls", messages.SUCCESS)

    @admin.display(description="judges")
    def judging_summary(self, obj: Study) -> str:
        if not obj.judges.exists():
            return "No judge models yet: add one below, save, then use the Run judges action."
        from research.judging.results import study_judge_results  # scipy: loaded on first use

        return mark_safe(  # noqa: S308 - our template, autoescaped
            render_to_string(
                "admin/evaluations/_judges.html",
                {"judging": study_judge_results(study=obj), "compact": True},
            )
        )


class CandidateDriftAdminMixin:
    """For CandidateAdmin: how many outputs the provider served with another model."""

    def get_queryset(self, request: HttpRequest) -> QuerySet[Candidate]:
        # Counted over every output only while the list is sorted by drift; otherwise for
        # the page's candidates (get_changelist_instance).
        queryset = super().get_queryset(request)
        if "drift" not in sorted_columns(self, request):
            return queryset
        return queryset.annotate(
            outputs_mismatched=Count("outputs", filter=Q(outputs__version_mismatch=True)),
            outputs_answered=Count("outputs", filter=Q(outputs__status="done")),
        )

    def get_changelist_instance(self, request: HttpRequest):
        changelist = super().get_changelist_instance(request)
        rows = list(changelist.result_list)
        drift = candidates_drift_counts([row.pk for row in rows])
        for row in rows:
            if not hasattr(row, "outputs_mismatched"):
                row.outputs_mismatched, row.outputs_answered = drift.get(row.pk, (0, 0))
        changelist.result_list = rows
        return changelist

    def get_list_display(self, request: HttpRequest):
        return [*super().get_list_display(request), "drift"]

    @admin.display(description="drift", ordering="outputs_mismatched")
    def drift(self, obj: Candidate) -> str:
        mismatched = getattr(obj, "outputs_mismatched", 0)
        if not mismatched:
            return "-"
        return (
            f"{mismatched} of {obj.outputs_answered} outputs served by another model than "
            f"{obj.version}"
        )


@admin.register(JudgeVote)
class JudgeVoteAdmin(StudyScopedAdminMixin, admin.ModelAdmin):
    list_display = [
        "pair", "judge", "order", "status", "verdict", "attempts", "latency_ms", "cost_usd",
        "cache_hit", "served_model",
    ]  # fmt: skip
    list_filter = ["status", "verdict", "order", "cache_hit", "study"]
    search_fields = ["pair__public_id", "judge__model", "raw_text", "last_error"]
    list_select_related = ["pair", "judge"]
    readonly_fields = [f.name for f in JudgeVote._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
