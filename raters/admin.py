from django.contrib import admin

from raters.models import Invite, Membership, Rater, Vote


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ["study", "flagged", "joined_at"]
    readonly_fields = ["joined_at"]


@admin.register(Rater)
class RaterAdmin(admin.ModelAdmin):
    list_display = ["display_name", "user", "expertise", "created_at"]
    search_fields = ["display_name", "user__username", "expertise"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["rater", "study", "flagged", "joined_at"]
    list_filter = ["study", "flagged"]


@admin.register(Invite)
class InviteAdmin(admin.ModelAdmin):
    list_display = ["study", "note", "uses", "max_uses", "expires_at", "revoked", "created_at"]
    list_filter = ["study", "revoked"]
    readonly_fields = ["uses", "created_at"]


@admin.register(Vote)
class VoteAdmin(admin.ModelAdmin):
    list_display = ["pair", "rater", "choice", "time_spent_ms", "created_at"]
    list_filter = ["study", "choice"]
    search_fields = ["pair__public_id", "rater__display_name"]
    list_select_related = ["pair", "rater"]
    raw_id_fields = ["pair", "left_output"]
