from django import template
from django.urls import reverse

from evaluations.models import Study
from evaluations.studies.opening import concerns_fingerprint, study_opening_concerns

register = template.Library()


@register.inclusion_tag("admin/evaluations/study/opening_concerns.html")
def opening_concerns(study: Study) -> dict:
    """What to check before opening ``study``, once it has settled (not while generating)."""
    shown = study.status in (Study.Status.READY, Study.Status.OPEN, Study.Status.CLOSED)
    concerns = study_opening_concerns(study=study) if shown else []
    return {
        "study": study,
        "concerns": concerns,
        "fingerprint": concerns_fingerprint(concerns),
        "can_open": study.can_transition_to(Study.Status.OPEN),
        "not_auto_opened": study.open_when_ready
        and study.status == Study.Status.READY
        and bool(concerns),
        "has_review": any(c.kind == "unreviewed" for c in concerns),
        "open_url": reverse("admin:evaluations_study_open", args=[study.pk]),
        "review_url": reverse("admin:evaluations_study_review_identity", args=[study.pk]),
    }
