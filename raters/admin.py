from django.conf import settings
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html

from evaluations.admin_base.paginator import CappedCountPaginator
from evaluations.admin_base.scoping import StudyScopedAdminMixin
from evaluations.admin_base.search import RelatedIdSearchAdminMixin
from raters.adjudication import adjudications_to_gold
from raters.gold import GoldAccuracy, memberships_gold_accuracy, rater_gold_accuracy
from raters.invites import DEFAULT_VALIDITY, invite_path
from raters.models import (
    Adjudication,
    Assignment,
    Invite,
    Membership,
    Panel,
    PanelParticipant,
    Rater,
    Vote,
)
from raters.panels import panel_entry_url
from raters.voting import votes_delete


class MembershipInline(StudyScopedAdminMixin, admin.TabularInline):
    model = Membership
    extra = 0
    fields = ["study", "flagged", "flag_reason", "senior", "joined_at"]
    readonly_fields = ["flag_reason", "joined_at"]


@admin.register(Rater)
class RaterAdmin(StudyScopedAdminMixin, RelatedIdSearchAdminMixin, admin.ModelAdmin):
    list_display = ["display_name", "user", "expertise", "created_at"]
    search_fields = ["display_name", "user__username", "expertise"]
    inlines = [MembershipInline]
    raw_id_fields = ["user"]
    list_select_related = ["user"]
    paginator = CappedCountPaginator
    show_full_result_count = False


@admin.register(Membership)
class MembershipAdmin(StudyScopedAdminMixin, admin.ModelAdmin):
    list_display = [
        "rater", "study", "gold_accuracy", "flagged", "flag_reason", "senior", "joined_at",
    ]  # fmt: skip
    list_filter = ["study", "flagged", "senior"]
    list_select_related = ["rater", "study"]
    readonly_fields = ["flag_reason"]
    raw_id_fields = ["rater"]
    paginator = CappedCountPaginator
    show_full_result_count = False

    def get_changelist_instance(self, request: HttpRequest):
        # The page's gold accuracies in one query, not two per row.
        changelist = super().get_changelist_instance(request)
        rows = list(changelist.result_list)
        accuracies = memberships_gold_accuracy(rows)
        for row in rows:
            row.gold = accuracies.get((row.rater_id, row.study_id), GoldAccuracy(0, 0))
        changelist.result_list = rows
        return changelist

    @admin.display(description="gold accuracy")
    def gold_accuracy(self, obj: Membership) -> str:
        accuracy = getattr(obj, "gold", None) or rater_gold_accuracy(
            rater=obj.rater, study=obj.study
        )
        if not accuracy.total:
            return "–"
        return f"{accuracy.accuracy:.0%} of {accuracy.total}"


@admin.register(Invite)
class InviteAdmin(StudyScopedAdminMixin, admin.ModelAdmin):
    list_display = [
        "study", "note", "uses", "max_uses", "expires_at", "revoked", "link", "created_at",
    ]  # fmt: skip
    list_filter = ["study", "revoked"]
    readonly_fields = ["uses", "link", "created_by", "created_at"]
    fields = ["study", "note", "max_uses", "expires_at", "revoked", "link", "uses", "created_by"]

    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        return {
            "expires_at": timezone.now() + DEFAULT_VALIDITY,
            **super().get_changeform_initial_data(request),
        }

    def save_model(self, request: HttpRequest, obj: Invite, form, change: bool) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.display(description="invite link")
    def link(self, obj: Invite) -> str:
        if not obj.pk:
            return "Shown after saving."
        url = settings.SITE_URL.rstrip("/") + invite_path(obj)
        return format_html('<input type="text" readonly size="60" value="{}">', url)


@admin.register(Vote)
class VoteAdmin(StudyScopedAdminMixin, RelatedIdSearchAdminMixin, admin.ModelAdmin):
    list_display = ["pair", "rater", "choice", "strength", "time_spent_ms", "created_at"]
    list_filter = ["study", "choice"]
    search_fields = ["pair__public_id", "rater__display_name"]
    list_select_related = ["pair", "rater"]
    raw_id_fields = ["pair", "rater", "left_output"]
    readonly_fields = ["strength", "criteria_answers"]
    paginator = CappedCountPaginator
    show_full_result_count = False

    @admin.display(description="criteria (relative to the pair's output a / b)")
    def criteria_answers(self, obj: Vote) -> str:
        answers = [
            f"{c.criterion}: {c.choice}" + (f" ({c.get_strength_display()})" if c.strength else "")
            for c in obj.criterion_votes.order_by("criterion")
        ]
        return "; ".join(answers) or "-"

    # Votes are evidence: researchers may discard them (a careless rater), never add or edit.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Vote | None = None) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: Vote) -> None:
        votes_delete(Vote.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Vote]) -> None:
        votes_delete(queryset)


@admin.register(Assignment)
class AssignmentAdmin(StudyScopedAdminMixin, admin.ModelAdmin):
    list_display = ["pair", "rater", "state", "is_gold", "expires_at", "shown_at"]
    list_filter = ["study", "state", "is_gold"]
    list_select_related = ["pair", "rater"]
    raw_id_fields = ["pair", "rater", "left_output"]
    readonly_fields = ["created_at"]
    paginator = CappedCountPaginator
    show_full_result_count = False


class PanelParticipantInline(StudyScopedAdminMixin, admin.TabularInline):
    model = PanelParticipant
    extra = 0
    fields = ["pseudonym", "rater", "state", "started_at", "finished_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Panel | None = None) -> bool:
        return False


@admin.register(Panel)
class PanelAdmin(StudyScopedAdminMixin, admin.ModelAdmin):
    list_display = ["study", "platform", "enabled", "max_pairs", "max_minutes", "created_at"]
    list_filter = ["platform", "enabled"]
    readonly_fields = ["entry_url"]
    fields = [
        "study", "platform", "enabled", "entry_url", "id_param", "external_study_id",
        "completion_url", "code_param", "completion_code", "screenout_code",
        "max_pairs", "max_minutes",
    ]  # fmt: skip
    inlines = [PanelParticipantInline]

    @admin.display(description="study URL to give the platform")
    def entry_url(self, obj: Panel) -> str:
        if not obj.pk:
            return "Shown after saving."
        url = settings.SITE_URL.rstrip("/") + panel_entry_url(obj)
        return format_html('<input type="text" readonly size="90" value="{}">', url)


@admin.register(Adjudication)
class AdjudicationAdmin(StudyScopedAdminMixin, admin.ModelAdmin):
    """Senior raters' verdicts: evidence like votes (never edited); a verdict can make its pair
    a gold pair."""

    list_display = ["pair", "study", "rater", "choice", "gold", "rationale", "created_at"]
    list_filter = ["study", "choice"]
    list_select_related = ["pair", "rater", "study"]
    raw_id_fields = ["pair", "rater", "left_output"]
    actions = ["use_as_gold"]
    paginator = CappedCountPaginator
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Adjudication | None = None) -> bool:
        return False

    @admin.display(boolean=True, description="gold pair")
    def gold(self, obj: Adjudication) -> bool:
        return obj.pair.gold_answer == obj.choice

    def has_gold_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("evaluations.change_pair")

    @admin.action(
        description="Make these pairs gold, with the senior's verdict as the answer",
        permissions=["gold"],
    )
    def use_as_gold(self, request: HttpRequest, queryset: QuerySet[Adjudication]) -> None:
        changed = adjudications_to_gold(queryset)
        self.message_user(request, f"{changed} pair(s) are now gold pairs.")
