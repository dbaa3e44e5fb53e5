"""Who may read results: researchers, i.e. staff accounts allowed to view studies.

Raters have no staff flag, so they get 403 on every endpoint; anonymous requests get 401.
A researcher sees the studies they own; a superuser sees all. Another researcher's study is
answered with 404, as if it did not exist, so study ids reveal nothing.
"""

from typing import Any

from django.shortcuts import get_object_or_404
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from evaluations.models import Study
from evaluations.studies.access import studies_visible_to

__all__ = ["IsResearcher", "studies_visible_to", "study_get_for"]


class IsResearcher(BasePermission):
    message = "Researchers only: a staff account with permission to view studies."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(
            user
            and user.is_authenticated
            and user.is_staff
            and user.has_perm("evaluations.view_study")
        )


def study_get_for(user: Any, study_id: int) -> Study:
    return get_object_or_404(studies_visible_to(user), pk=study_id)
