"""The researcher's review of outputs in which the scrubber left a name for review.

An output is awaiting review while ``identity_review`` is set and ``identity_reviewed_at`` is
not; evaluations.studies.opening asks before opening a study that has any.
"""

from __future__ import annotations

import re

from django.db import transaction
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from evaluations.anonymity.scrubbing import study_scrub_terms, text_scrub
from evaluations.models import Output, Study


def outputs_mark_reviewed(*, study: Study, output_ids: list[int], user) -> int:
    """Keep the text as it is: the researcher judged the names harmless."""
    return Output.objects.filter(
        prompt__study=study, pk__in=output_ids, identity_reviewed_at__isnull=True
    ).update(identity_reviewed_at=timezone.now(), identity_reviewed_by=user)


@transaction.atomic
def outputs_scrub_after_review(*, study: Study, output_ids: list[int], user) -> int:
    """Replace the names left for review too, from the raw text, and mark the outputs reviewed."""
    terms = study_scrub_terms(study.pk)
    outputs = Output.objects.select_for_update().filter(
        prompt__study=study, pk__in=output_ids, status=Output.Status.DONE
    )
    count = 0
    for output in outputs:
        scrubbed = text_scrub(output.raw_text, terms=terms, strict=True)
        fields = scrubbed.output_fields()
        fields.update(
            identity_review=output.identity_review,
            identity_reviewed_at=timezone.now(),
            identity_reviewed_by=user,
        )
        Output.objects.filter(pk=output.pk).update(text=scrubbed.text, **fields)
        count += 1
    return count


def output_review_excerpts(output: Output, *, width: int = 60) -> list[SafeString]:
    """The passages of the text around each name left for review, the name marked."""
    names = [f["name"] for f in output.identity_findings or [] if f.get("action") == "review"]
    excerpts: list[SafeString] = []
    for name in dict.fromkeys(names):
        for match in re.finditer(re.escape(name), output.text):
            start, end = max(0, match.start() - width), min(len(output.text), match.end() + width)
            excerpts.append(
                mark_safe(  # noqa: S308 - every piece is escaped
                    ("…" if start else "")
                    + escape(output.text[start : match.start()])
                    + f"<mark>{escape(match.group())}</mark>"
                    + escape(output.text[match.end() : end])
                    + ("…" if end < len(output.text) else "")
                )
            )
            if len(excerpts) >= 5:
                return excerpts
    return excerpts


def study_outputs_rescrub(*, study: Study) -> int:
    """Scrub the study's finished outputs again from their raw text with the current name list
    (outputs made before it grew); returns how many changed. A review already made of an output
    whose findings are unchanged is kept."""
    terms = study_scrub_terms(study.pk)
    changed = 0
    outputs = Output.objects.filter(prompt__study=study, status=Output.Status.DONE).only(
        "pk", "text", "raw_text", "identity_findings", "identity_reviewed_at"
    )
    for output in outputs.iterator(chunk_size=500):
        scrubbed = text_scrub(output.raw_text, terms=terms)
        fields = scrubbed.output_fields()
        if scrubbed.text == output.text and fields["identity_findings"] == output.identity_findings:
            continue
        Output.objects.filter(pk=output.pk).update(text=scrubbed.text, **fields)
        changed += 1
    return changed
