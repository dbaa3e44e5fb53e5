"""An output's style features (length, Markdown headers, list items, bold spans), stored on the
output when its text is written, so that results read four integer columns per output instead
of every answer's text on every computation.

Every write of an output's text goes through `ScrubResult.output_fields()` (generation, cache
reuse, import, identity review and rescrub) or `Output.save()`, both of which add these
columns; clones copy them. A NULL column means "not computed" (rows written by raw SQL):
`outputs_style_fill` computes those from the text, and results call it before reading.
"""

from __future__ import annotations

from typing import Any

from evaluations.analysis.style import STYLE_FEATURES, text_style_features

STYLE_COLUMNS = {name: f"style_{name}" for name in STYLE_FEATURES}


def output_style_columns(text: str) -> dict[str, int]:
    """The Output column values of the text's style features."""
    features = text_style_features(text or "")
    return {STYLE_COLUMNS[name]: int(value) for name, value in features.items()}


def outputs_style_fill(outputs: Any, *, batch_size: int = 2000) -> int:
    """Compute the style columns of the outputs (a queryset) that lack them; returns how many.

    Rows are read in id order in batches, so a first fill of a large study neither holds every
    text in memory nor locks the table for long."""
    from evaluations.models import Output

    missing = outputs.filter(style_length__isnull=True).order_by("id")
    filled = 0
    last_id = 0
    while True:
        batch = list(missing.filter(id__gt=last_id).values_list("id", "text")[:batch_size])
        if not batch:
            return filled
        updates = []
        for output_id, text in batch:
            output = Output(id=output_id)
            for column, value in output_style_columns(text).items():
                setattr(output, column, value)
            updates.append(output)
        Output.objects.bulk_update(updates, list(STYLE_COLUMNS.values()))
        filled += len(batch)
        last_id = batch[-1][0]
