"""A study's decision constraints (its own, or those of the study it re-evaluates) and the
decision document with the recorded decisions beside it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from evaluations.models import Study
from research.decision.constraints import (
    ConstraintsError,
    DecisionConstraints,
    constraints_from_json,
)
from research.decision.records import decisions_status


def study_decision_constraints(*, study: Study) -> DecisionConstraints:
    """The saved constraints; a clone without its own takes its original's. Constraints that
    no longer validate (edited outside the page) raise ConstraintsError."""
    data = study.decision_constraints
    if not data and study.cloned_from is not None:
        data = study.cloned_from.decision_constraints
    return constraints_from_json(data or {})


def decision_document(
    *, study: Study, price_source: str | None = None, volume_scale: Decimal | None = None
) -> dict[str, Any]:
    from research.decision.service import study_decision  # numpy/scipy: loaded on first use

    constraints = study_decision_constraints(study=study).with_overrides(price_source=price_source)
    document = study_decision(
        study=study, constraints=constraints, volume_scale=volume_scale or Decimal(1)
    )
    document["recorded"] = decisions_status(study=study, document=document)
    return document


__all__ = ["ConstraintsError", "decision_document", "study_decision_constraints"]
