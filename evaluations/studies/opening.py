"""Opening a study for voting, and everything that should make a researcher pause first.

``study_opening_concerns`` is the one list of reasons to pause: outputs with a name left for
review that nobody has reviewed, candidates that produced no output or are in no pair, fewer pairs
than a complete study would have, no pairs at all. The study page and the progress view show it;
``study_open`` (the admin's Open button and action, the status field) refuses while it is not
empty unless the researcher confirms exactly the concerns they were shown; ``open_when_ready``
opens a study by itself only when the list is empty.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from math import comb

from django.db.models import Count, Q

from evaluations.models import Candidate, Output, Pair, Prompt, Study

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OpeningConcern:
    kind: str  # unreviewed | no_output | not_paired | failed | no_pairs | few_pairs
    message: str


class OpeningNeedsConfirmation(Exception):
    def __init__(self, concerns: list[OpeningConcern]) -> None:
        self.concerns = concerns
        super().__init__("Confirm before opening: " + " ".join(c.message for c in concerns))


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def outputs_awaiting_review(*, study: Study):
    return Output.objects.filter(
        prompt__study=study,
        status=Output.Status.DONE,
        identity_review=True,
        identity_reviewed_at__isnull=True,
    )


def study_expected_pairs(*, study: Study, candidates: int) -> int:
    """Pairs the study would have if every output had succeeded."""
    per_prompt = comb(candidates, 2)
    if study.pairing_mode == Study.PairingMode.BALANCED and study.pairs_per_prompt:
        per_prompt = min(per_prompt, study.pairs_per_prompt)
    return per_prompt * Prompt.objects.filter(study=study).count()


def study_opening_concerns(*, study: Study) -> list[OpeningConcern]:
    concerns: list[OpeningConcern] = []
    awaiting = outputs_awaiting_review(study=study)
    n_awaiting = awaiting.count()
    if n_awaiting:
        names: list[str] = []
        for findings in awaiting.values_list("identity_findings", flat=True)[:200]:
            for finding in findings or []:
                if finding.get("action") == "review" and finding.get("name") not in names:
                    names.append(finding.get("name"))
        shown = ", ".join(f"“{n}”" for n in names[:6]) + (", ..." if len(names) > 6 else "")
        verb = "has" if n_awaiting == 1 else "have"
        concerns.append(
            OpeningConcern(
                "unreviewed",
                f"{_plural(n_awaiting, 'output')} {verb} a name left for review "
                f"({shown}) that nobody has reviewed: raters would see "
                f"{'it' if n_awaiting == 1 else 'them'} as written.",
            )
        )
    candidates = list(
        Candidate.objects.filter(study=study)
        .annotate(
            n_done=Count("outputs", filter=Q(outputs__status=Output.Status.DONE)),
            n_failed=Count("outputs", filter=Q(outputs__status=Output.Status.FAILED)),
            n_outputs=Count("outputs"),
        )
        .order_by("id")
    )
    paired: set[int] = set()
    for side in ("output_a__candidate_id", "output_b__candidate_id"):
        paired.update(Pair.objects.filter(study=study).values_list(side, flat=True).distinct())
    for candidate in candidates:
        name = f"Candidate “{candidate.label}” ({candidate.model})"
        if candidate.n_done == 0:
            if candidate.n_outputs == 0:
                reason = "it has no outputs yet"
            else:
                last_error = (
                    Output.objects.filter(candidate=candidate, status=Output.Status.FAILED)
                    .exclude(last_error="")
                    .order_by("-finished_at", "-id")
                    .values_list("last_error", flat=True)
                    .first()
                )
                reason = f"{candidate.n_failed} of {candidate.n_outputs} failed" + (
                    f"; last error: {last_error[:200]}" if last_error else ""
                )
            concerns.append(
                OpeningConcern(
                    "no_output", f"{name} produced no output and is in no pair ({reason})."
                )
            )
        elif candidate.pk not in paired:
            concerns.append(
                OpeningConcern(
                    "not_paired",
                    f"{name} has {_plural(candidate.n_done, 'output')} but is in no pair: "
                    "build pairs first.",
                )
            )
        elif candidate.n_failed:
            concerns.append(
                OpeningConcern(
                    "failed",
                    f"{name}: {candidate.n_failed} of {candidate.n_outputs} outputs failed; "
                    "its prompts are compared less often.",
                )
            )
    n_pairs = Pair.objects.filter(study=study).count()
    expected = study_expected_pairs(study=study, candidates=len(candidates))
    if n_pairs == 0:
        concerns.append(
            OpeningConcern("no_pairs", "No pairs: raters would have nothing to vote on.")
        )
    elif n_pairs < expected:
        concerns.append(
            OpeningConcern(
                "few_pairs",
                f"{n_pairs} of the {expected} pairs a complete study would have.",
            )
        )
    return concerns


def concerns_fingerprint(concerns: list[OpeningConcern]) -> str:
    """What the researcher confirmed: a confirmation of other concerns does not open the study."""
    digest = hashlib.sha256("\n".join(c.message for c in concerns).encode())
    return digest.hexdigest()[:16]


def study_open(*, study: Study, confirm: str | None = None) -> None:
    """Open ``study`` for voting; raise OpeningNeedsConfirmation if there is anything to check
    first and ``confirm`` is not the fingerprint of exactly those concerns."""
    concerns = study_opening_concerns(study=study)
    if concerns and confirm != concerns_fingerprint(concerns):
        raise OpeningNeedsConfirmation(concerns)
    study.transition_to(Study.Status.OPEN)
    if concerns:
        logger.info(
            "study %s opened with confirmation despite: %s",
            study.slug,
            " ".join(c.message for c in concerns),
        )


def study_open_when_ready(*, study: Study) -> bool:
    """Open a study whose ``open_when_ready`` is set, unless there is anything to check first."""
    try:
        study_open(study=study)
    except OpeningNeedsConfirmation as exc:
        logger.warning("study %s not opened automatically: %s", study.slug, exc)
        return False
    return True
