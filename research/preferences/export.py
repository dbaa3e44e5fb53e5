"""A study's preference records under the given options: the one function behind the API, the
command, the dataset zip and the results page's button."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from evaluations.models import Study
from research.preferences.options import PreferenceOptions, preference_options_resolved
from research.preferences.records import preference_records
from research.preferences.study_pairs import (
    result_options,
    study_category_check,
    study_preference_pairs,
    study_ratings,
)


@dataclass
class PreferenceExport:
    options: PreferenceOptions
    records: Iterator[dict[str, Any]]
    # Filled while `records` is read: why pairs or votes gave no record.
    dropped: Counter = field(default_factory=Counter)


def study_preferences_export(*, study: Study, options: PreferenceOptions) -> PreferenceExport:
    """Validates everything before the first record (ValueError with a message for the user),
    so that a streamed response never fails half-way on bad options."""
    resolved = preference_options_resolved(options)
    study_category_check(study, resolved.category)
    selection = result_options(study, resolved)
    ratings = study_ratings(study, selection) if resolved.contested else {}
    dropped: Counter = Counter()
    pairs = study_preference_pairs(study, selection)
    return PreferenceExport(
        options=resolved,
        records=preference_records(pairs, resolved, ratings, dropped),
        dropped=dropped,
    )
