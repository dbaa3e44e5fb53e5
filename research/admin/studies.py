from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import path

from evaluations.admin_base.paginator import CappedCountPaginator
from evaluations.admin_base.scoping import StudyOwnershipAdminMixin, StudyScopedAdminMixin
from evaluations.admin_base.search import RelatedIdSearchAdminMixin
from evaluations.models import Candidate, Output, Pair, Prompt, Study
from evaluations.studies.importing import prompts_import
from research.admin.connections import ProviderAccessAdminMixin, ProviderAccessInlineMixin
from research.admin.counts import sorted_columns, studies_counts, study_count_expressions
from research.admin.decision import DecisionAdminMixin
from research.admin.file_upload import study_file_upload_view
from research.admin.forms import PromptImportForm, StudyAdminForm
from research.admin.generation import GenerationAdminMixin, OutputGenerationAdminMixin
from research.admin.judging import CandidateDriftAdminMixin, JudgingAdminMixin
from research.admin.lifecycle import LifecycleAdminMixin
from research.admin.opening import OpeningAdminMixin
from research.admin.outputs import OutputEvidenceAdminMixin
from research.admin.prompts import StudyPromptsAdminMixin
from research.admin.tokens import TokenByUserIdAdmin  # noqa: F401 - registers it


class CandidateInline(StudyScopedAdminMixin, ProviderAccessInlineMixin, admin.StackedInline):
    model = Candidate
    extra = 0
    fieldsets = [
        (None, {"fields": [("label", "model", "version")]}),
        (
            "Deployment",
            {"fields": ["connection", ("api_base", "api_key_env"), "fallback_deployments"]},
        ),
        (
            "Generation",
            {"fields": [("temperature", "max_tokens"), "system_prompt", "extra_params"]},
        ),
        (
            "Prices and limits",
            {
                "fields": [
                    ("input_price_per_mtok", "output_price_per_mtok"),
                    ("max_concurrency", "requests_per_minute"),
                ]
            },
        ),
    ]


class PromptInline(StudyScopedAdminMixin, admin.TabularInline):
    model = Prompt
    extra = 0
    fields = ["external_id", "category", "text", "context", "reference"]
    show_change_link = True


STUDY_COUNT_ANNOTATIONS = {
    "prompt_count": "n_prompts",
    "candidate_count": "n_candidates",
    "outputs_done": "n_done",
    "outputs_failed": "n_failed",
    "pair_count": "n_pairs",
    "vote_count": "n_votes",
}
STUDY_COUNT_KEYS = {
    "n_prompts": "prompts",
    "n_candidates": "candidates",
    "n_done": Output.Status.DONE,
    "n_failed": Output.Status.FAILED,
    "n_pairs": "pairs",
    "n_votes": "votes",
}


@admin.register(Study)
class StudyAdmin(
    StudyScopedAdminMixin,
    StudyOwnershipAdminMixin,
    StudyPromptsAdminMixin,
    LifecycleAdminMixin,
    OpeningAdminMixin,
    JudgingAdminMixin,
    GenerationAdminMixin,
    DecisionAdminMixin,
    admin.ModelAdmin,
):
    form = StudyAdminForm
    list_display = [
        "name",
        "status",
        "owner",
        "prompt_count",
        "candidate_count",
        "outputs_done",
        "outputs_failed",
        "pair_count",
        "vote_count",
        "created_at",
    ]
    list_filter = ["status", "owner", "created_at"]
    search_fields = ["name", "slug", "question"]
    prepopulated_fields = {"slug": ["name"]}
    # By id: a select of every account (raters' included) took most of the add page's second.
    raw_id_fields = ["owner"]
    readonly_fields = ["created_at", "updated_at"]
    inlines = [CandidateInline, PromptInline]
    fieldsets = [
        (None, {"fields": ["name", "slug", "owner", "status"]}),
        (
            "What raters see",
            {
                "fields": [
                    "question",
                    "instructions",
                    "allow_tie",
                    "allow_both_bad",
                    "criteria",
                    "ask_strength",
                    "vote_each_turn",
                ]
            },
        ),
        (
            "Design",
            {
                "fields": [
                    "votes_per_pair",
                    "seed",
                    "pairing_mode",
                    "pairs_per_prompt",
                    "gold_rate",
                    "gold_min_accuracy",
                    "training_pairs",
                    "min_seconds_per_vote",
                    "adjudication_threshold",
                    "adaptive_assignment",
                    "cache_enabled",
                    "open_when_ready",
                ]
            },
        ),
        ("Timestamps", {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
    ]

    def get_queryset(self, request: HttpRequest):
        queryset = super().get_queryset(request).select_related("owner")
        sorted_by = sorted_columns(self, request)
        return queryset.annotate(
            **{
                STUDY_COUNT_ANNOTATIONS[column]: expression
                for column, expression in study_count_expressions().items()
                if column in sorted_by
            }
        )

    def get_changelist_instance(self, request: HttpRequest):
        changelist = super().get_changelist_instance(request)
        rows = list(changelist.result_list)
        counts = studies_counts([row.pk for row in rows])
        for row in rows:
            for name, key in STUDY_COUNT_KEYS.items():
                if not hasattr(row, name):
                    setattr(row, name, counts[row.pk][key])
        changelist.result_list = rows
        return changelist

    @admin.display(description="prompts", ordering="n_prompts")
    def prompt_count(self, obj: Study) -> int:
        return obj.n_prompts

    @admin.display(description="candidates", ordering="n_candidates")
    def candidate_count(self, obj: Study) -> int:
        return obj.n_candidates

    @admin.display(description="outputs done", ordering="n_done")
    def outputs_done(self, obj: Study) -> int:
        return obj.n_done

    @admin.display(description="failed", ordering="n_failed")
    def outputs_failed(self, obj: Study) -> int:
        return obj.n_failed

    @admin.display(description="pairs", ordering="n_pairs")
    def pair_count(self, obj: Study) -> int:
        return obj.n_pairs

    @admin.display(description="votes", ordering="n_votes")
    def vote_count(self, obj: Study) -> int:
        return obj.n_votes

    def get_urls(self):
        urls = super().get_urls()
        extra = [
            path(
                "<int:study_id>/import-prompts/",
                self.admin_site.admin_view(self.import_prompts_view),
                name="evaluations_study_import_prompts",
            ),
            path(
                "<int:study_id>/import-votes/",
                self.admin_site.admin_view(self.import_votes_view),
                name="evaluations_study_import_votes",
            ),
            path(
                "<int:study_id>/results/",
                self.admin_site.admin_view(self.results_view),
                name="evaluations_study_results",
            ),
        ]
        return extra + urls

    def results_view(self, request: HttpRequest, study_id: int) -> HttpResponse:
        from research.results.views import study_results_view

        return study_results_view(request, study_id, self)

    def import_votes_view(self, request: HttpRequest, study_id: int) -> HttpResponse:
        from research.admin.preferences_upload import study_import_votes_view

        return study_import_votes_view(request, study_id, self)

    def import_prompts_view(self, request: HttpRequest, study_id: int) -> HttpResponse:
        def run(study: Study, data: bytes, filename: str, size: int) -> str:
            created = prompts_import(study=study, data=data, filename=filename, size=size)
            return f"Imported {created} prompts into {study}."

        return study_file_upload_view(
            request,
            study_id,
            self,
            form_class=PromptImportForm,
            run=run,
            title="Import prompts",
            template="admin/evaluations/study/import_prompts.html",
        )


@admin.register(Candidate)
class CandidateAdmin(
    StudyScopedAdminMixin, ProviderAccessAdminMixin, CandidateDriftAdminMixin, admin.ModelAdmin
):
    list_display = ["label", "model", "version", "study", "demo_model", "imported"]
    list_filter = ["study"]
    search_fields = ["label", "model", "version"]

    @admin.display(boolean=True, description="demo model (offline)")
    def demo_model(self, obj: Candidate) -> bool:
        return obj.is_demo


@admin.register(Prompt)
class PromptAdmin(StudyScopedAdminMixin, RelatedIdSearchAdminMixin, admin.ModelAdmin):
    list_display = ["external_id", "study", "category", "short_text"]
    list_filter = ["study", "category"]
    search_fields = ["external_id", "text", "category"]
    list_select_related = ["study"]
    raw_id_fields = ["study"]
    paginator = CappedCountPaginator
    show_full_result_count = False
    # By the column, not the model's ("study", "id"), which joins and sorts every study's prompts.
    ordering = ["study_id", "id"]

    @admin.display(description="text")
    def short_text(self, obj: Prompt) -> str:
        return obj.text[:80]


@admin.register(Output)
class OutputAdmin(
    StudyScopedAdminMixin,
    RelatedIdSearchAdminMixin,
    OutputEvidenceAdminMixin,
    OutputGenerationAdminMixin,
    admin.ModelAdmin,
):
    list_display = [
        "prompt",
        "candidate",
        "status",
        "attempts",
        "latency",
        "ttft",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "identity_leak",
        "version_mismatch",
        "cache_hit",
        "imported",
        "short_error",
    ]
    list_filter = [
        "status",
        "identity_leak",
        "version_mismatch",
        "cache_hit",
        "imported",
        "candidate__study",
    ]
    search_fields = ["prompt__external_id", "candidate__label", "text", "last_error"]
    list_select_related = ["prompt", "candidate"]
    readonly_fields = ["created_at", "started_at", "finished_at", "provider_batch"]
    paginator = CappedCountPaginator
    show_full_result_count = False
    # The unique (prompt, candidate) index, not the model's ordering through Prompt and Study.
    ordering = ["prompt_id", "candidate_id"]


@admin.register(Pair)
class PairAdmin(StudyScopedAdminMixin, RelatedIdSearchAdminMixin, admin.ModelAdmin):
    list_display = ["public_id", "study", "prompt", "output_a", "output_b", "gold_answer"]
    list_filter = ["study", ("gold_answer", admin.EmptyFieldListFilter)]
    search_fields = ["public_id", "prompt__external_id"]
    list_select_related = ["prompt", "output_a__candidate", "output_b__candidate", "study"]
    raw_id_fields = ["prompt", "output_a", "output_b"]
    paginator = CappedCountPaginator
    show_full_result_count = False
    ordering = ["-id"]  # the model's ("study", "id") joins Study and sorts every pair
