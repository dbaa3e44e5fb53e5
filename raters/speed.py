"""Implausibly fast raters: a median time per decisive vote below what reading two answers takes.

Gold pairs catch inattentive raters only as often as gold pairs come up; a rater clicking through
in a third of a second per pair is visible in every vote. The median is over the rater's latest
decisive votes (ties and both-bad may rightly be quick), once there are enough of them to say so.
A flag from either check leads to the same Membership.flagged that results' exclude_flagged
reads, with the evidence in Membership.flag_reason.
"""

import statistics
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Subquery

from evaluations.models import Study
from raters.gold import gold_is_below_threshold, rater_gold_accuracy
from raters.models import Membership, Rater, Vote

SPEED_MIN_VOTES = 10
# The latest votes only: one index range per vote, and a rater who speeds up is caught.
SPEED_RECENT_VOTES = 100


@dataclass(frozen=True)
class VoteSpeed:
    median_ms: float | None
    votes: int


def min_seconds_per_vote() -> float:
    return float(getattr(settings, "RATER_MIN_SECONDS_PER_VOTE", 2.0))


def rater_vote_speed(*, rater: Rater, study: Study) -> VoteSpeed:
    times = list(
        Vote.objects.filter(
            rater=rater,
            study=study,
            choice__in=[Vote.Choice.A, Vote.Choice.B],
            time_spent_ms__isnull=False,
        )
        .order_by("-created_at")
        .values_list("time_spent_ms", flat=True)[:SPEED_RECENT_VOTES]
    )
    return VoteSpeed(median_ms=statistics.median(times) if times else None, votes=len(times))


def speed_is_implausible(speed: VoteSpeed) -> bool:
    return (
        speed.votes >= SPEED_MIN_VOTES
        and speed.median_ms is not None
        and speed.median_ms < min_seconds_per_vote() * 1000
    )


GOLD_REASON = "gold accuracy"


def _speed_reason(speed: VoteSpeed) -> str:
    return (
        f"median {speed.median_ms / 1000:.1f} s per decisive vote over the latest "
        f"{speed.votes} votes (threshold {min_seconds_per_vote():.1f} s)"
    )


def membership_flags_update(*, rater: Rater, study: Study) -> bool:
    """Recompute the rater's flag in the study from their gold votes and their speed."""
    reasons = []
    accuracy = rater_gold_accuracy(rater=rater, study=study)
    if gold_is_below_threshold(accuracy=accuracy, study=study):
        reasons.append(
            f"{GOLD_REASON} {accuracy.accuracy:.0%} of {accuracy.total} "
            f"(threshold {study.gold_min_accuracy:.0%})"
        )
    speed = rater_vote_speed(rater=rater, study=study)
    if speed_is_implausible(speed):
        reasons.append(_speed_reason(speed))
    flagged, reason = bool(reasons), "; ".join(reasons)
    Membership.objects.filter(rater=rater, study=study).exclude(
        flagged=flagged, flag_reason=reason
    ).update(flagged=flagged, flag_reason=reason)
    return flagged


def membership_speed_flag_update(*, rater: Rater, study: Study) -> None:
    """After a regular decisive vote: the speed part of the flag, in one query when unchanged.

    The latest times come with the stored flag and reason (a subquery evaluated once), the gold
    part of the reason stands as stored, and a flag a researcher set by hand (no reason) stays.
    """
    membership = Membership.objects.filter(rater=rater, study=study)
    rows = list(
        Vote.objects.filter(
            rater=rater,
            study=study,
            choice__in=[Vote.Choice.A, Vote.Choice.B],
            time_spent_ms__isnull=False,
        )
        .annotate(
            stored_flagged=Subquery(membership.values("flagged")[:1]),
            stored_reason=Subquery(membership.values("flag_reason")[:1]),
        )
        .order_by("-created_at")
        .values_list("time_spent_ms", "stored_flagged", "stored_reason")[:SPEED_RECENT_VOTES]
    )
    if not rows or rows[0][1] is None:
        return
    membership_speed_flag_write(
        rater=rater,
        study=study,
        times_ms=[row[0] for row in rows],
        stored_flagged=rows[0][1],
        stored_reason=rows[0][2],
    )


def speed_flag_decide(
    *, times_ms: list[int], stored_flagged: bool, stored_reason: str
) -> tuple[bool, str]:
    """The flag and its reason from the latest decisive vote times (newest first) and the
    stored flag: the gold part of the reason stands, and a hand-set flag (no reason) stays."""
    times = times_ms[:SPEED_RECENT_VOTES]
    speed = VoteSpeed(median_ms=statistics.median(times) if times else None, votes=len(times))
    reasons = [r for r in stored_reason.split("; ") if r.startswith(GOLD_REASON)]
    if speed_is_implausible(speed):
        reasons.append(_speed_reason(speed))
    reason = "; ".join(reasons)
    return bool(reasons) or (stored_flagged and not stored_reason), reason


def membership_speed_flag_write(
    *, rater: Rater, study: Study, times_ms: list[int], stored_flagged: bool, stored_reason: str
) -> None:
    """Write the speed part of the flag, only if it changed (no query otherwise)."""
    flagged, reason = speed_flag_decide(
        times_ms=times_ms, stored_flagged=stored_flagged, stored_reason=stored_reason
    )
    if (flagged, reason) != (stored_flagged, stored_reason):
        Membership.objects.filter(rater=rater, study=study).update(
            flagged=flagged, flag_reason=reason
        )
