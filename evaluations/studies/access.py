"""Who may see a study and everything in it: the one rule behind the admin, the API and results.

A researcher sees the studies they own; a superuser sees all. Every other object (a candidate, an
output, a vote, a rater...) is visible exactly when its study is. Anything outside is answered
as if it did not exist (404), so ids reveal nothing.
"""

from typing import Any

from django.db.models import Model, QuerySet
from django.http import Http404

from evaluations.models import Study

# The path from each model to its study, by model label. A model that is not here cannot be
# scoped, and scoping it fails loudly instead of showing everyone's rows.
STUDY_LOOKUPS: dict[str, str] = {
    "evaluations.Study": "",
    "evaluations.Candidate": "study",
    "evaluations.Prompt": "study",
    "evaluations.PromptMedia": "study",
    "evaluations.Output": "prompt__study",
    "evaluations.Pair": "study",
    "evaluations.Judge": "study",
    "evaluations.JudgeVote": "study",
    "evaluations.Decision": "study",
    "raters.Membership": "study",
    "raters.Invite": "study",
    "raters.Vote": "study",
    "raters.Assignment": "study",
    "raters.Panel": "study",
    "raters.PanelParticipant": "panel__study",
    "raters.Adjudication": "study",
    # A rater may belong to several researchers' studies: each sees the rater, not the others'
    # memberships.
    "raters.Rater": "memberships__study",
}


class NotScoped(LookupError):
    pass


def study_lookup(model: type[Model]) -> str:
    try:
        return STUDY_LOOKUPS[model._meta.label]
    except KeyError:
        raise NotScoped(
            f"{model._meta.label} has no path to a study in "
            "evaluations.studies.access.STUDY_LOOKUPS"
        ) from None


def is_study_scoped(model: type[Model]) -> bool:
    return model._meta.label in STUDY_LOOKUPS


def studies_visible_to(user: Any) -> QuerySet[Study]:
    studies = Study.objects.select_related("owner")
    if user.is_superuser:
        return studies
    if not user.is_authenticated:
        return studies.none()
    return studies.filter(owner=user)


def study_for_user_or_404(user: Any, study_id: int) -> Study:
    study = studies_visible_to(user).filter(pk=study_id).first()
    if study is None:
        raise Http404("No such study.")
    return study


def queryset_visible_to(user: Any, queryset: QuerySet) -> QuerySet:
    """``queryset`` narrowed to rows of studies ``user`` may see."""
    if user.is_superuser:
        return queryset
    lookup = study_lookup(queryset.model)
    studies = studies_visible_to(user).values("pk")
    if not lookup:
        return queryset.filter(pk__in=studies)
    if lookup.split("__")[0] in _many_valued(queryset.model):
        # Through a to-many relation a plain join would repeat rows: filter on ids instead.
        matching = queryset.model._default_manager.filter(**{f"{lookup}__in": studies})
        return queryset.filter(pk__in=matching.values("pk"))
    return queryset.filter(**{f"{lookup}__in": studies})


def _many_valued(model: type[Model]) -> set[str]:
    return {
        field.name
        for field in model._meta.get_fields()
        if field.is_relation and (field.one_to_many or field.many_to_many)
    }
