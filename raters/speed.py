"""Implausibly fast raters and straight-liners, flagged from their latest decisive votes.

Gold pairs catch inattentive raters only as often as gold pairs come up; a rater clicking through
faster than anyone can read the answers, or always picking the same side, is visible in every
vote. Both checks look at the rater's latest decisive votes (ties and both-bad may rightly be
quick, and have no side), once there are enough of them to say so:

- too fast: more than half of them took less than their pair's reading time
  (raters/reading_time.py: the study's own minimum, or both answers' words at a generous speed);
  with one threshold for every vote this is "the median time is below the threshold".
- straight-lining: one side chosen more often than a fair coin allows (raters/straight_lining.py).

A flag from any check, or from gold accuracy (raters/gold.py), leads to the same
Membership.flagged that results' exclude_flagged reads, with the evidence in
Membership.flag_reason (reasons joined by "; ").
"""

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import F, Subquery

from evaluations.models import Study
from raters.gold import gold_is_below_threshold, rater_gold_accuracy
from raters.models import Membership, Rater, Vote
from raters.reading_time import max_words_per_second, min_seconds_per_vote, votes_min_ms
from raters.straight_lining import SideCounts, sides_straight_lined, straight_lining_reason

SPEED_MIN_VOTES = 10
# The latest votes only: one index range per vote, and a rater who speeds up is caught.
SPEED_RECENT_VOTES = 100
GOLD_REASON = "gold accuracy"
REASON_MAX_CHARS = Membership._meta.get_field("flag_reason").max_length


@dataclass(frozen=True)
class RecentVote:
    """One of a rater's decisive votes: its time, the words of its answers, the side picked."""

    time_ms: int | None
    answer_words: int | None
    picked_left: bool


def _speed_reason(study: Study, times: list[int], floors: list[float], fast: int) -> str | None:
    if len(times) < SPEED_MIN_VOTES or fast * 2 <= len(times):
        return None
    if study.min_seconds_per_vote is not None:
        basis = f"threshold {study.min_seconds_per_vote:.1f} s, the study's minimum"
    else:
        basis = (
            f"threshold median {statistics.median(floors) / 1000:.1f} s: both answers at "
            f"{max_words_per_second():g} words/s, at least {min_seconds_per_vote():.1f} s"
        )
    return (
        f"too fast: {fast} of the latest {len(times)} decisive votes under their reading time "
        f"(median {statistics.median(times) / 1000:.1f} s per decisive vote, {basis})"
    )


def quality_reasons(*, study: Study, recent: Sequence[RecentVote]) -> list[str]:
    """The too-fast and straight-lining evidence from the latest decisive votes (newest first)."""
    recent = recent[:SPEED_RECENT_VOTES]
    timed = [v for v in recent if v.time_ms is not None]
    times = [v.time_ms for v in timed]
    floors = votes_min_ms(study=study, answer_words=[v.answer_words for v in timed])
    fast = sum(t < f for t, f in zip(times, floors, strict=True))
    reasons = []
    speed = _speed_reason(study, times, floors, fast)
    if speed:
        reasons.append(speed)
    left = sum(v.picked_left for v in recent)
    sides = SideCounts(left=left, right=len(recent) - left)
    if sides_straight_lined(sides):
        reasons.append(straight_lining_reason(sides))
    return reasons


def _recent_votes(*, rater: Rater, study: Study):
    return (
        Vote.objects.filter(rater=rater, study=study, choice__in=[Vote.Choice.A, Vote.Choice.B])
        .annotate(pair_output_a_id=F("pair__output_a_id"))
        .order_by("-created_at", "-id")
    )


def _recent_of(row: tuple) -> RecentVote:
    time_ms, words, choice, left_output_id, output_a_id = row[:5]
    return RecentVote(
        time_ms=time_ms,
        answer_words=words,
        picked_left=(choice == Vote.Choice.A) == (left_output_id == output_a_id),
    )


RECENT_FIELDS = ("time_spent_ms", "answer_words", "choice", "left_output_id", "pair_output_a_id")


def rater_recent_votes(*, rater: Rater, study: Study) -> list[RecentVote]:
    rows = _recent_votes(rater=rater, study=study).values_list(*RECENT_FIELDS)
    return [_recent_of(row) for row in rows[:SPEED_RECENT_VOTES]]


def membership_flags_update(*, rater: Rater, study: Study) -> bool:
    """Recompute the rater's flag in the study from their gold votes, speed and sides."""
    reasons = []
    accuracy = rater_gold_accuracy(rater=rater, study=study)
    if gold_is_below_threshold(accuracy=accuracy, study=study):
        reasons.append(
            f"{GOLD_REASON} {accuracy.accuracy:.0%} of {accuracy.total} "
            f"(threshold {study.gold_min_accuracy:.0%})"
        )
    reasons += quality_reasons(study=study, recent=rater_recent_votes(rater=rater, study=study))
    flagged, reason = bool(reasons), "; ".join(reasons)[:REASON_MAX_CHARS]
    Membership.objects.filter(rater=rater, study=study).exclude(
        flagged=flagged, flag_reason=reason
    ).update(flagged=flagged, flag_reason=reason)
    return flagged


def membership_speed_flag_update(*, rater: Rater, study: Study) -> None:
    """After a regular decisive vote: the speed and side part of the flag, in one query when
    unchanged.

    The latest votes come with the stored flag and reason (a subquery evaluated once), the gold
    part of the reason stands as stored, and a flag a researcher set by hand (no reason) stays.
    """
    membership = Membership.objects.filter(rater=rater, study=study)
    rows = list(
        _recent_votes(rater=rater, study=study)
        .annotate(
            stored_flagged=Subquery(membership.values("flagged")[:1]),
            stored_reason=Subquery(membership.values("flag_reason")[:1]),
        )
        .values_list(*RECENT_FIELDS, "stored_flagged", "stored_reason")[:SPEED_RECENT_VOTES]
    )
    if not rows or rows[0][5] is None:
        return
    membership_speed_flag_write(
        rater=rater,
        study=study,
        recent=[_recent_of(row) for row in rows],
        stored_flagged=rows[0][5],
        stored_reason=rows[0][6],
    )


def speed_flag_decide(
    *, study: Study, recent: Sequence[RecentVote], stored_flagged: bool, stored_reason: str
) -> tuple[bool, str]:
    """The flag and its reason from the latest decisive votes (newest first) and the stored
    flag: the gold part of the reason stands, and a hand-set flag (no reason) stays."""
    reasons = [r for r in stored_reason.split("; ") if r.startswith(GOLD_REASON)]
    reasons += quality_reasons(study=study, recent=recent)
    reason = "; ".join(reasons)[:REASON_MAX_CHARS]
    return bool(reasons) or (stored_flagged and not stored_reason), reason


def membership_speed_flag_write(
    *,
    rater: Rater,
    study: Study,
    recent: Sequence[RecentVote],
    stored_flagged: bool,
    stored_reason: str,
) -> None:
    """Write the speed and side part of the flag, only if it changed (no query otherwise)."""
    flagged, reason = speed_flag_decide(
        study=study, recent=recent, stored_flagged=stored_flagged, stored_reason=stored_reason
    )
    if (flagged, reason) != (stored_flagged, stored_reason):
        Membership.objects.filter(rater=rater, study=study).update(
            flagged=flagged, flag_reason=reason
        )
