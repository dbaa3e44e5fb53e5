"""The admin side of evaluations.studies.access: every admin class and inline shows, offers and
changes
only what belongs to studies the user may see.

`StudyScopedAdminMixin` goes first in the bases of every ModelAdmin and inline of a
study-scoped model. It narrows the queryset (lists, change, delete and history pages, actions,
autocomplete), the choices of foreign keys (a study, a prompt, an output...) and of list
filters, and answers an object outside the scope, or a missing one, with 404.
"""

from __future__ import annotations

from typing import Any

from django.contrib.admin.filters import RelatedOnlyFieldListFilter
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.auth import get_user_model
from django.db.models import Field, QuerySet
from django.http import Http404, HttpRequest

from evaluations.studies.access import is_study_scoped, queryset_visible_to


class StudyScopedAdminMixin:
    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return queryset_visible_to(request.user, super().get_queryset(request))

    def get_field_queryset(self, db: str | None, db_field: Field, request: HttpRequest):
        related = db_field.remote_field.model
        queryset = super().get_field_queryset(db, db_field, request)
        if request.user.is_superuser:
            return queryset
        if queryset is None:
            queryset = related._default_manager.using(db)
        if is_study_scoped(related):
            return queryset_visible_to(request.user, queryset)
        if related is get_user_model():
            # Accounts are not a researcher's to browse or to hand objects to.
            return queryset.filter(pk=request.user.pk)
        return queryset

    def get_list_filter(self, request: HttpRequest) -> list[Any]:
        # A plain related filter offers every row of the related table (all studies, all
        # users); RelatedOnly offers only those the visible rows point to.
        return [
            (entry, RelatedOnlyFieldListFilter) if self._is_relation_path(entry) else entry
            for entry in super().get_list_filter(request)
        ]

    def _is_relation_path(self, entry: Any) -> bool:
        if not isinstance(entry, str):
            return False
        return bool(get_fields_from_path(self.model, entry)[-1].is_relation)

    def _get_obj_does_not_exist_redirect(self, request: HttpRequest, opts: Any, object_id: str):
        # Django redirects to the index with "... doesn't exist"; a 404 says the same of a row
        # of another's study as of a missing one, and nothing more.
        raise Http404(f"No {opts.verbose_name} with that id.")


class StudyOwnershipAdminMixin:
    """For StudyAdmin: a new study belongs to whoever adds it; only a superuser hands it on."""

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None):
        fields = list(super().get_readonly_fields(request, obj))
        return fields if request.user.is_superuser else [*fields, "owner"]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None or request.user.is_superuser:
            return fieldsets
        # Adding: the study will be the researcher's own, so there is nothing to show.
        return [
            (name, {**options, "fields": [f for f in options["fields"] if f != "owner"]})
            for name, options in fieldsets
        ]

    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        return {"owner": request.user.pk, **super().get_changeform_initial_data(request)}

    def save_form(self, request: HttpRequest, form: Any, change: bool) -> Any:
        # The inlines are validated after this and check their rows against the study's owner
        # (provider connections), so the owner is set here rather than only in save_model.
        obj = super().save_form(request, form, change)
        if not change and not request.user.is_superuser:
            obj.owner = request.user
        return obj

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not change and not request.user.is_superuser:
            obj.owner = request.user
        super().save_model(request, obj, form, change)
