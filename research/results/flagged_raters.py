"""The raters flagged in a study, with the evidence, for the researcher's results page."""

from dataclasses import dataclass

from django.db.models import Count, Q

from evaluations.models import Study
from raters.models import Membership


@dataclass(frozen=True)
class FlaggedRater:
    membership_id: int
    rater: str
    votes: int
    reasons: list[str]  # empty: flagged by hand


def study_flagged_raters(*, study: Study) -> list[FlaggedRater]:
    rows = (
        Membership.objects.filter(study=study, flagged=True)
        .select_related("rater")
        .annotate(votes=Count("rater__votes", filter=Q(rater__votes__study=study)))
        .order_by("rater__display_name", "pk")
    )
    return [
        FlaggedRater(
            membership_id=m.pk,
            rater=m.rater.display_name,
            votes=m.votes,
            reasons=[r for r in m.flag_reason.split("; ") if r],
        )
        for m in rows
    ]
