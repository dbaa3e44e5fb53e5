"""Decisions recorded with the study (who, when, on which votes), and whether a recorded
decision still holds on this study's votes now, or on a clone's (re-evaluation)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Max

from evaluations.models import Decision, Study
from raters.models import Vote
from research.reevaluation.drift import candidates_drift


def _recommendations(document: dict[str, Any]) -> dict[str, str | None]:
    scopes = [document["overall"], *document["categories"]]
    return {scope["scope"]: scope["recommended"] for scope in scopes}


def decision_record(
    *, study: Study, user: Any, document: dict[str, Any], note: str = ""
) -> Decision:
    votes = Vote.objects.filter(study=study).aggregate(n=Count("id"), newest=Max("id"))
    return Decision.objects.create(
        study=study,
        decided_by=user if getattr(user, "is_authenticated", False) else None,
        note=note[:2000],
        constraints=document["constraints"],
        votes=votes["n"],
        newest_vote_id=votes["newest"],
        recommendations=_recommendations(document),
        document=document,
    )


def decisions_status(*, study: Study, document: dict[str, Any]) -> list[dict[str, Any]]:
    """The latest decision recorded on this study and on the study it re-evaluates (clone),
    each compared with the current recommendations, the votes since and served-model drift."""
    current = _recommendations(document)
    drifted = {row["label"] for row in candidates_drift(study=study) if row["drift"]}
    newest = Vote.objects.filter(study=study).aggregate(newest=Max("id"))["newest"]
    entries = []
    for source, origin in (
        (study, "this study"),
        (study.cloned_from, "the study this re-evaluates"),
    ):
        if source is None:
            continue
        decision = Decision.objects.filter(study=source).select_related("decided_by").first()
        if decision is None:
            continue
        scopes = []
        for scope, recommended in decision.recommendations.items():
            now = current.get(scope)
            scopes.append(
                {
                    "scope": scope,
                    "recorded": recommended,
                    "now": now,
                    "holds": scope in current and now == recommended,
                    "drift": recommended in drifted,
                }
            )
        entries.append(
            {
                "origin": origin,
                "study": source.pk,
                "decided_by": decision.decided_by.get_username() if decision.decided_by else None,
                "decided_at": decision.decided_at.isoformat(),
                "note": decision.note,
                "votes": decision.votes,
                "newest_vote_id": decision.newest_vote_id,
                "votes_since": source == study
                and newest is not None
                and (decision.newest_vote_id or 0) < newest,
                "constraints": decision.constraints,
                "scopes": scopes,
                "holds": all(s["holds"] and not s["drift"] for s in scopes),
            }
        )
    return entries
