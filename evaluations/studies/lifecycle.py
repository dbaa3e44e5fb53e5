"""Moving a study along its lifecycle by the admin's buttons (never by a form field)."""

from __future__ import annotations

from evaluations.models import IllegalTransition, Study
from evaluations.studies.opening import study_open

# Generating is entered by "Generate outputs" (which also queues the work), not by a bare move.
BUTTON_LABELS = {
    Study.Status.DRAFT: "Back to draft",
    Study.Status.READY: "Mark ready",
    Study.Status.OPEN: "Open for voting",
    Study.Status.CLOSED: "Close voting",
}


def study_status_moves(study: Study) -> list[tuple[str, str]]:
    """The (status, button label) moves a button may make from the study's current status."""
    allowed = Study.TRANSITIONS.get(study.status, set())
    if study.status == Study.Status.CLOSED:
        return [(Study.Status.OPEN, "Reopen for voting")]
    return [(status, label) for status, label in BUTTON_LABELS.items() if status in allowed]


def study_status_change(*, study: Study, status: str) -> None:
    """Move the study to ``status`` from the status it has now in the database.

    Raises IllegalTransition when the lifecycle does not allow it (or it moved meanwhile), and
    OpeningNeedsConfirmation when opening needs the researcher to confirm what the study page
    lists first (the admin's open page asks).
    """
    study.refresh_from_db(fields=["status"])
    if status not in dict(study_status_moves(study)):
        allowed = ", ".join(status for status, _ in study_status_moves(study)) or "none"
        hint = " (use Generate outputs)" if status == Study.Status.GENERATING else ""
        raise IllegalTransition(
            f"{study} cannot go from {study.status} to {status}{hint}; allowed here: {allowed}."
        )
    if status == Study.Status.OPEN:
        study_open(study=study)
    else:
        study.transition_to(status)
