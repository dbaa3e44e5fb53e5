"""Gold (attention-check) pairs: each rater's accuracy on them, and flagging the inattentive.

A gold vote is correct when its choice, in the pair's canonical order, equals the pair's
gold_answer. A rater is flagged once they have at least GOLD_MIN_VOTES gold votes in the study
and their accuracy is below the study's gold_min_accuracy; the flag clears if they recover.
"""

from dataclasses import dataclass

from django.db.models import Count, F, Q

from evaluations.models import Study
from raters.models import Rater, Vote

# Fewer gold votes than this say too little to flag anyone: one slip would be 0 % or 50 %.
GOLD_MIN_VOTES = 3


@dataclass(frozen=True)
class GoldAccuracy:
    correct: int
    total: int

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.total if self.total else None


def _gold_votes(study: Study):
    return Vote.objects.filter(study=study).exclude(pair__gold_answer="")


def rater_gold_accuracy(*, rater: Rater, study: Study) -> GoldAccuracy:
    row = (
        _gold_votes(study)
        .filter(rater=rater)
        .aggregate(total=Count("pk"), correct=Count("pk", filter=Q(choice=F("pair__gold_answer"))))
    )
    return GoldAccuracy(correct=row["correct"], total=row["total"])


def study_gold_accuracy(*, study: Study) -> dict[int, GoldAccuracy]:
    """Gold accuracy of every rater with a gold vote in the study, keyed by rater id."""
    rows = (
        _gold_votes(study)
        .values("rater_id")
        .annotate(total=Count("pk"), correct=Count("pk", filter=Q(choice=F("pair__gold_answer"))))
        .order_by()
    )
    return {
        row["rater_id"]: GoldAccuracy(correct=row["correct"], total=row["total"]) for row in rows
    }


def memberships_gold_accuracy(memberships) -> dict[tuple[int, int], GoldAccuracy]:
    """Gold accuracy per (rater id, study id) of the given memberships, in one query."""
    raters = {m.rater_id for m in memberships}
    studies = {m.study_id for m in memberships}
    if not raters:
        return {}
    rows = (
        Vote.objects.filter(rater_id__in=raters, study_id__in=studies)
        .exclude(pair__gold_answer="")
        .values("rater_id", "study_id")
        .annotate(total=Count("pk"), correct=Count("pk", filter=Q(choice=F("pair__gold_answer"))))
        .order_by()
    )
    return {
        (row["rater_id"], row["study_id"]): GoldAccuracy(row["correct"], row["total"])
        for row in rows
    }


def gold_is_below_threshold(*, accuracy: GoldAccuracy, study: Study) -> bool:
    return (
        accuracy.total >= GOLD_MIN_VOTES
        and accuracy.accuracy is not None
        and accuracy.accuracy < study.gold_min_accuracy
    )


def membership_gold_flag_update(*, rater: Rater, study: Study) -> bool:
    """Recompute the rater's flag in the study (gold votes, and speed); returns the flag."""
    from raters.speed import membership_flags_update

    return membership_flags_update(rater=rater, study=study)
