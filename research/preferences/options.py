"""What a preference export holds: the format and the choices about which votes become records."""

from __future__ import annotations

from dataclasses import dataclass, field

FORMATS = ("trl", "trl-kto", "openai-dpo", "rewardbench", "arena")
MODES = ("majority", "every")
TIES = ("drop", "keep")
BOTH_BAD = ("drop", "rejected", "keep")


@dataclass(frozen=True)
class PreferenceOptions:
    """None means the format's default (see `preference_options_resolved`).

    ``exclude_raters`` holds rater ids or their pseudonyms (rater-xxxxxxxxxxxx) as the exports
    show them.
    """

    format: str = "trl"
    mode: str | None = None
    ties: str | None = None
    both_bad: str | None = None
    min_votes: int = 1
    min_agreement: float = 0.0
    category: str | None = None
    exclude_flagged: bool = False
    exclude_gold_failures: bool = False
    exclude_raters: tuple[str, ...] = field(default_factory=tuple)
    contested: bool = True
    # A senior rater's verdict (raters/adjudication.py) as the label of its pair.
    adjudicated: bool = False


def preference_options_resolved(options: PreferenceOptions) -> PreferenceOptions:
    """The options with the format's defaults filled in, or ValueError for a combination that
    cannot be written.

    The battle format records every vote and every outcome; the trainer formats need a chosen
    and a rejected answer, so they take one record per pair (the majority) and drop ties and
    both-bad unless told otherwise.
    """
    if options.format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {options.format!r}")
    arena = options.format == "arena"
    mode = options.mode or ("every" if arena else "majority")
    ties = options.ties or ("keep" if arena else "drop")
    both_bad = options.both_bad or ("keep" if arena else "drop")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if ties not in TIES:
        raise ValueError(f"ties must be one of {', '.join(TIES)}, not {ties!r}")
    if both_bad not in BOTH_BAD:
        raise ValueError(f"both_bad must be one of {', '.join(BOTH_BAD)}, not {both_bad!r}")
    if ties == "keep" and not arena:
        raise ValueError(
            f"ties=keep needs the arena format: a tie has no chosen answer for {options.format}"
        )
    if both_bad == "keep" and not arena:
        raise ValueError(
            f"both_bad=keep needs the arena format: both-bad has no chosen answer for "
            f"{options.format} (trl-kto can take both_bad=rejected)"
        )
    if both_bad == "rejected" and options.format != "trl-kto":
        raise ValueError(
            "both_bad=rejected (both answers as undesirable) needs the unpaired trl-kto format"
        )
    if options.adjudicated and mode != "majority":
        raise ValueError(
            "adjudicated=true labels each pair once, with the senior's verdict: it needs "
            "mode=majority"
        )
    if options.min_votes < 1:
        raise ValueError("min_votes must be at least 1")
    if not 0.0 <= options.min_agreement <= 1.0:
        raise ValueError("min_agreement must be between 0 and 1")
    return PreferenceOptions(
        format=options.format,
        mode=mode,
        ties=ties,
        both_bad=both_bad,
        min_votes=options.min_votes,
        min_agreement=options.min_agreement,
        category=options.category,
        exclude_flagged=options.exclude_flagged,
        exclude_gold_failures=options.exclude_gold_failures,
        exclude_raters=tuple(options.exclude_raters),
        contested=options.contested,
        adjudicated=options.adjudicated,
    )
