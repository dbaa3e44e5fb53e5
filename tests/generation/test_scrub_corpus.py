"""Recall and false positives of the scrubber on tests/generation/scrub_corpus.py.

Recall: an identifying sentence is caught when none of its names is left in the text raters see,
or when the output is flagged for the researcher's review. A false positive: an innocent sentence
that is changed or flagged.
"""

import re

from evaluations.anonymity.scrubbing import study_terms, text_scrub
from tests.generation.scrub_corpus import IDENTIFYING, INNOCENT, STUDY_LABELS, STUDY_MODELS

CORPUS_STUDY = study_terms(labels=STUDY_LABELS, models=STUDY_MODELS)
NO_CANDIDATES = study_terms(labels=[], models=[])


def name_left(name: str, text: str) -> bool:
    return bool(
        re.search(rf"(?<![A-Za-z0-9]){re.escape(name)}(?![A-Za-z0-9])", text, re.IGNORECASE)
    )


def needs_review(result) -> bool:
    return bool(getattr(result, "needs_review", False))


def test_corpus_is_large_enough():
    assert len(IDENTIFYING) >= 200
    assert len(INNOCENT) >= 200


def test_every_self_identification_in_the_corpus_is_scrubbed_or_flagged_for_review():
    missed, replaced, reviewed = [], 0, 0
    for sentence, names in IDENTIFYING:
        result = text_scrub(sentence, terms=CORPUS_STUDY)
        left = [name for name in names if name_left(name, result.text)]
        if not left:
            replaced += 1
        elif needs_review(result):
            reviewed += 1
        else:
            missed.append((sentence, left, result.text))
    recall = (replaced + reviewed) / len(IDENTIFYING)
    print(
        f"\nscrubber recall {recall:.1%} on {len(IDENTIFYING)} identifying sentences: "
        f"{replaced} scrubbed, {reviewed} flagged for review, {len(missed)} missed"
    )
    assert not missed, "\n".join(f"{s!r}: {left} left in {t!r}" for s, left, t in missed)


def test_innocent_sentences_come_through_unchanged_and_unflagged():
    changed, flagged = [], []
    for sentence in INNOCENT:
        result = text_scrub(sentence, terms=NO_CANDIDATES)
        if result.text != sentence:
            changed.append((sentence, result.text))
        elif result.flagged or needs_review(result):
            flagged.append(sentence)
    print(
        f"\nscrubber false positives on {len(INNOCENT)} innocent sentences, study without "
        f"model-named candidates: {len(changed)} changed, {len(flagged)} flagged"
    )
    assert not changed, "\n".join(f"{s!r} -> {t!r}" for s, t in changed)
    assert not flagged, "\n".join(flagged)


def test_innocent_sentences_in_a_study_whose_candidates_are_ordinary_words():
    """Here "phi", "o3", "zephyr", "llama" are the study's own candidates: a sentence using them
    may be flagged for review (that is the point), but is never changed."""
    changed, flagged = [], []
    for sentence in INNOCENT:
        result = text_scrub(sentence, terms=CORPUS_STUDY)
        if result.text != sentence:
            changed.append((sentence, result.text))
        elif result.flagged or needs_review(result):
            flagged.append(sentence)
    print(
        f"\nscrubber on {len(INNOCENT)} innocent sentences, study with candidates o3, phi, "
        f"zephyr, llava, Llama: {len(changed)} changed, {len(flagged)} flagged for review "
        f"({len(flagged) / len(INNOCENT):.1%})"
    )
    assert not changed, "\n".join(f"{s!r} -> {t!r}" for s, t in changed)
