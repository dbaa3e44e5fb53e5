"""Provider connections in the admin (superusers only), and the deployment fields of candidates
and judges: a choice of the connections the user may use, checked against the operator's rules
for the user editing as well as for the study's owner (the model's clean() does the owner)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpRequest

from evaluations.models import Candidate, ProviderConnection
from evaluations.providers.access import (
    candidate_access_errors,
    judge_access_errors,
    provider_connections_for,
)


@admin.register(ProviderConnection)
class ProviderConnectionAdmin(admin.ModelAdmin):
    list_display = ["name", "api_base", "api_key_env", "available_to_all"]
    search_fields = ["name", "api_base"]
    filter_horizontal = ["users"]
    fields = ["name", "api_base", "api_key_env", "available_to_all", "users"]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser


def deployment_form_for(base: type[forms.ModelForm], user: Any) -> type[forms.ModelForm]:
    """``base`` with a connection choice for ``user`` and the access rules checked for them."""

    class DeploymentForm(base):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            field = self.fields.get("connection")
            if field is None:
                return
            choices = [("", "none: the api_base and key variable given, or the provider's")]
            choices += [
                (c.name, f"{c.name} ({c.api_base or 'provider default'})")
                for c in provider_connections_for(user)
            ]
            current = self.initial.get("connection") or ""
            if current and current not in {name for name, _ in choices}:
                choices.append((current, f"{current} (not available to you)"))
            field.widget = forms.Select(choices=choices)

        def clean(self) -> dict:
            cleaned = super().clean()
            if _study_owner_pk(self.instance) == user.pk:
                return cleaned  # the model's clean() checks the owner
            row = SimpleNamespace(
                api_base=cleaned.get("api_base") or "",
                api_key_env=cleaned.get("api_key_env") or "",
                connection=cleaned.get("connection") or "",
                fallback_deployments=cleaned.get("fallback_deployments") or [],
            )
            is_candidate = self._meta.model is Candidate
            check = candidate_access_errors if is_candidate else judge_access_errors
            for name, messages in check(row, owner=user).items():
                field = name if name in self.fields else None
                for message in messages:
                    if message not in self.errors.get(field or "__all__", []):
                        self.add_error(field, message)
            return cleaned

    DeploymentForm.__name__ = f"{base.__name__}ForUser"
    return DeploymentForm


def _study_owner_pk(row: Any) -> int | None:
    try:
        return row.study.owner_id
    except ObjectDoesNotExist:
        return None


class ProviderAccessInlineMixin:
    """For the candidate and judge inlines."""

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any):
        kwargs["form"] = deployment_form_for(kwargs.get("form", self.form), request.user)
        return super().get_formset(request, obj, **kwargs)


class ProviderAccessAdminMixin:
    """For CandidateAdmin."""

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):
        kwargs["form"] = deployment_form_for(kwargs.get("form", self.form), request.user)
        return super().get_form(request, obj, change, **kwargs)
