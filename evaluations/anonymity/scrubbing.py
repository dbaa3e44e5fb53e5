"""Scrub model self-identification from outputs so that raters judge answers, not brands.

Matching runs on a normalized copy of the text (NFKC, so full-width letters are plain ones;
zero-width, bidi and other invisible characters removed; dash and apostrophe variants unified;
Cyrillic and Greek look-alikes inside Latin words mapped to Latin; spaced-out letters joined), and
every match is mapped back to its span in the original, which is replaced there: the rest of the
answer reaches raters exactly as the model wrote it.

What is matched (the names and phrases are in evaluations/providers/model_names.py, which says how
they are
kept):

- names that almost only ever mean a model or its maker (ChatGPT, Anthropic, Qwen, 通义千问, ...),
  with any version suffix, and every candidate label, model string and each part of a model string
  that is not an ordinary word: replaced wherever they appear;
- names that are also ordinary words (llama, mistral, phi, o3, Claude, Google, and candidate
  labels or model-string parts that are one plain word, like ``friendly`` or ``zephyr``): replaced
  where the model introduces or credits itself ("I am Phi", "developed by Google", "我是Kimi"),
  or when a version follows (``Phi-3``); otherwise, if the study has a candidate of that name or
  family, left in place and reported for the researcher's review; otherwise left alone.

The raw text is always kept on the Output.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from evaluations.output_style import output_style_columns
from evaluations.providers import model_names
from evaluations.providers.llm_loading import litellm_loaded

NEUTRAL_TOKEN = "[model]"  # noqa: S105 - a placeholder shown to raters, not a secret

# Letters and digits of the scripts that separate words with spaces: a name must not continue one.
_WORD = "A-Za-z0-9\u00c0-\u024f\u0370-\u03ff\u0400-\u04ff"
_LEFT = f"(?<![{_WORD}])"
_RIGHT = f"(?![{_WORD}])"

_INVISIBLE = {"\u034f", "\u115f", "\u1160", "\u3164", "\uffa0", "\u180e"} | {
    chr(c) for c in range(0xFE00, 0xFE10)
}
_DASHES = dict.fromkeys(
    "\u2010\u2011\u2012\u2013\u2014\u2015\u2043\u2212\u2e3a\u2e3b\ufe58\ufe63\uff0d", "-"
)
_APOSTROPHES = dict.fromkeys("\u2018\u2019\u02bc\u2032\uff07\u00b4`", "'")
_LOOKALIKES = str.maketrans(
    "аеорсухіјѕкмнтвгАВЕКМНОРСТХУІЈЅαονρτικΑΒΕΗΙΚΜΝΟΡΤΥΧΖ",
    "aeopcyxijskmhtbrABEKMHOPCTXYIJSaovptikABEHIKMNOPTYXZ",
)
_MIXED_WORD = re.compile(r"[^\W_]+(?:[-.][^\W_]+)*")
_LATIN = re.compile(r"[A-Za-z]")
_OTHER_SCRIPT = re.compile("[\u0370-\u03ff\u0400-\u04ff]")
# Single letters or digits separated by one repeated separator: "C l a u d e", "G_P_T".
_SPACED = re.compile(
    rf"(?<![{_WORD}\-'])[{_WORD}](?P<sep>[ _*\u00b7])[{_WORD}\-]"
    rf"(?:(?P=sep)[{_WORD}\-])*(?![{_WORD}])"
)

_SUFFIX = (
    r"(?:[-_ .:]?(?:v|[a-z])?\d(?:[a-z0-9]|\.\d)*"
    r"|[-_ ](?:mini|nano|micro|pro|max|plus|turbo|omni|instruct|coder|vision|preview|opus"
    rf"|sonnet|haiku|flash|ultra|lite|large|medium|small|nemo){_RIGHT}"
    rf"|[-_](?:chat|it|hf|base|beta|alpha|exp|latest|reasoning|thinking){_RIGHT})*"
)


class StudyTerm(NamedTuple):
    text: str
    ordinary_word: bool  # could be an ordinary word: flagged for review, not replaced


@dataclass(frozen=True)
class ScrubResult:
    text: str
    flagged: bool  # something was replaced
    found: tuple[str, ...]  # what was replaced, as written
    review: tuple[str, ...] = ()  # names left in place for the researcher's review

    @property
    def needs_review(self) -> bool:
        return bool(self.review)

    def output_fields(self) -> dict:
        """The Output fields that record this scrub (a fresh scrub is not reviewed yet) and the
        style features of the scrubbed text, which is what raters see."""
        findings = [{"name": n, "action": "replaced"} for n in self.found] + [
            {"name": n, "action": "review"} for n in self.review
        ]
        return {
            "identity_leak": self.flagged,
            "identity_review": self.needs_review,
            "identity_findings": findings,
            "identity_reviewed_at": None,
            "identity_reviewed_by": None,
            **output_style_columns(self.text),
        }


# -- normalization --------------------------------------------------------------------------


def _is_cjk(char: str) -> bool:
    """Chinese, Japanese or Korean: written without spaces between words."""
    return (
        "\u2e80" <= char <= "\u9fff" or "\uac00" <= char <= "\ud7af" or "\uf900" <= char <= "\ufaff"
    )


def text_normalize(text: str) -> tuple[str, list[int], list[int]]:
    """The normalized text and, for each of its characters, the span it came from in ``text``."""
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    if text.isascii():
        chars, starts, ends = list(text), list(range(len(text))), list(range(1, len(text) + 1))
    else:
        for index, char in enumerate(text):
            if char < "\x80":
                chars.append(char)
                starts.append(index)
                ends.append(index + 1)
                continue
            if char in _INVISIBLE or unicodedata.category(char) == "Cf":
                continue
            for part in unicodedata.normalize("NFKC", char):
                chars.append(_APOSTROPHES.get(part, _DASHES.get(part, part)))
                starts.append(index)
                ends.append(index + 1)
        joined = "".join(chars)
        mixed = _MIXED_WORD.finditer(joined) if _OTHER_SCRIPT.search(joined) else ()
        for word in mixed:
            # A look-alike hides in a Latin word (Clаude); a Cyrillic word with a Latin
            # name in it (ЯндексGPT) is left as written.
            latin = len(_LATIN.findall(word.group()))
            if latin and latin > len(_OTHER_SCRIPT.findall(word.group())):
                chars[word.start() : word.end()] = list(word.group().translate(_LOOKALIKES))
    joined = "".join(chars)
    drop: set[int] = set()
    for run in _SPACED.finditer(joined):
        drop.update(
            i for i in range(run.start(), run.end()) if (i - run.start()) % 2 == 1
        )  # the separators sit at odd offsets of the run
    if not drop:
        return joined, starts, ends
    keep = [i for i in range(len(chars)) if i not in drop]
    return "".join(chars[i] for i in keep), [starts[i] for i in keep], [ends[i] for i in keep]


# -- study terms ----------------------------------------------------------------------------


def _litellm_providers() -> frozenset[str]:
    return frozenset(str(getattr(p, "value", p)) for p in litellm_loaded().provider_list) | {"demo"}


def _is_known_name(term: str) -> bool:
    normalized = text_normalize(term)[0]
    return any(re.fullmatch(p, normalized, re.IGNORECASE) for p in model_names.NAMES)


def _is_ordinary_word(term: str) -> bool:
    if _is_known_name(term):
        return False
    return len(term) <= 3 or bool(re.fullmatch(r"[^\W\d_]+", term))


def study_terms(
    *, labels: Iterable[str], models: Iterable[str], versions: Iterable[str] = ()
) -> tuple[StudyTerm, ...]:
    """The study's own identifying strings: labels, model strings and each part of them.

    ``together_ai/meta-llama/Llama-3.3-70B`` gives itself, ``meta-llama`` and ``Llama-3.3-70B``
    (the LiteLLM provider prefix names the route, not the model); ``ollama/olmo2:7b`` also gives
    ``olmo2`` (the tag alone, ``7b`` or ``latest``, is not a name). A term that could be an
    ordinary word (one plain word, or three characters or fewer: ``friendly``, ``o3``) is only
    flagged for review where it is not plainly self-identification.
    """
    found: dict[str, bool] = {}

    def add(term: str) -> None:
        term = term.strip()
        if len(term) >= 2 and term.casefold() not in {t.casefold() for t in found}:
            found[term] = _is_ordinary_word(term)

    for label in labels:
        add(label)
    providers: frozenset[str] | None = None
    for value in [*models, *versions]:
        value = value.strip()
        if not value:
            continue
        add(value)
        parts = value.split("/")
        if len(parts) > 1:
            providers = providers if providers is not None else _litellm_providers()
            if parts[0].lower() in providers:
                parts = parts[1:]
        for part in parts:
            add(part)
            if ":" in part:
                add(part.split(":", 1)[0])
    terms = [StudyTerm(text, ordinary) for text, ordinary in found.items()]
    return tuple(sorted(terms, key=lambda t: (-len(t.text), t.text)))


def study_scrub_terms(study_id: int) -> tuple[StudyTerm, ...]:
    """Every candidate label, model string and pinned version in the study, with their parts."""
    from evaluations.models import Candidate

    rows = list(
        Candidate.objects.filter(study_id=study_id).values_list("label", "model", "version")
    )
    return study_terms(
        labels=[r[0] for r in rows], models=[r[1] for r in rows], versions=[r[2] for r in rows]
    )


# -- matching -------------------------------------------------------------------------------


def _bounded(pattern: str, *, suffix: bool) -> str:
    """``pattern`` with its version suffix and right boundary; the left one is _union's."""
    if _is_cjk(pattern.rstrip(")?")[-1]):
        return f"(?:{pattern})"
    return f"(?:{pattern}){_SUFFIX if suffix else ''}{_RIGHT}"


def _term_pattern(term: str) -> str:
    escaped = re.escape(text_normalize(term.strip())[0])
    return re.sub(r"\\[- ]|_", "[-_ ]?", escaped)


def _union(patterns: Iterable[str], *, suffix: bool) -> str:
    # The left boundary is checked once up front rather than in every alternative: the regex
    # engine then rejects most positions with one test instead of trying every name there.
    patterns = list(patterns)
    latin = [_bounded(p, suffix=suffix) for p in patterns if not _is_cjk(p[0])]
    cjk = [_bounded(p, suffix=suffix) for p in patterns if _is_cjk(p[0])]
    parts = [f"{_LEFT}(?:{'|'.join(latin)})"] if latin else []
    return "|".join(parts + cjk)


@dataclass(frozen=True)
class _Matchers:
    names: re.Pattern[str]  # replaced anywhere
    ambiguous: re.Pattern[str]  # replaced in context; versioned
    ambiguous_bare: re.Pattern[str]  # the same without suffixes, to tell a version apart
    review: re.Pattern[str] | None  # the study's own ambiguous names
    not_models: re.Pattern[str]


_FLAGS = re.IGNORECASE
_INTRODUCTION = re.compile(
    r"(?:" + "|".join(model_names.INTRODUCTIONS) + r")\s*(?:the\s+|le\s+|la\s+|el\s+)?$", _FLAGS
)
_INTRODUCTION_BEFORE_COMMA = re.compile(
    r"(?:" + "|".join(model_names.INTRODUCTIONS_BEFORE_COMMA) + r")\s+$", _FLAGS
)
_CREDIT = re.compile(r"(?:" + "|".join(model_names.CREDITS) + r")\s*(?:the\s+)?$", _FLAGS)
_CREDIT_AFTER = re.compile(r"(?:" + "|".join(model_names.CREDITS_AFTER) + ")", _FLAGS)
_DESCRIPTION_AFTER = re.compile(r"(?:" + "|".join(model_names.DESCRIPTIONS_AFTER) + ")", _FLAGS)
_SPEAKER = re.compile(model_names.SPEAKER_WORDS, _FLAGS)
_SENTENCE_END = re.compile(r"[.!?。！？\n][^.!?。！？\n]*$")


@lru_cache(maxsize=64)
def _matchers(terms: tuple[StudyTerm, ...]) -> _Matchers:
    sure = [_term_pattern(t.text) for t in terms if not t.ordinary_word]
    unsure = [_term_pattern(t.text) for t in terms if t.ordinary_word]
    names = "|".join(
        ([f"{_LEFT}(?:{'|'.join(sure)}){_RIGHT}"] if sure else [])
        + [_union(model_names.NAMES, suffix=True)]
    )
    versioned = [*unsure, *model_names.AMBIGUOUS_NAMES]
    ambiguous = (
        _union(versioned, suffix=True) + "|" + _union(model_names.AMBIGUOUS_WORDS, suffix=False)
    )
    bare = _union([*versioned, *model_names.AMBIGUOUS_WORDS], suffix=False)
    # The study's candidates belong to these families: "llama" in a study of Llama-3.3-70B.
    families = [
        p
        for p in [*model_names.AMBIGUOUS_NAMES, *model_names.AMBIGUOUS_WORDS]
        if any(
            re.search(rf"(?<![A-Za-z])(?:{p})(?![A-Za-z])", text_normalize(t.text)[0], _FLAGS)
            for t in terms
        )
    ]
    own = [*unsure, *families]
    return _Matchers(
        names=re.compile(names, _FLAGS),
        ambiguous=re.compile(ambiguous, _FLAGS),
        ambiguous_bare=re.compile(bare, _FLAGS),
        review=re.compile("|".join(f"(?:{p})" for p in own), _FLAGS) if own else None,
        not_models=re.compile("|".join(model_names.NOT_MODELS), _FLAGS),
    )


def _credited(norm: str, start: int, end: int) -> bool:
    before = norm[max(0, start - 80) : start]
    credit = _CREDIT.search(before)
    if credit:
        if credit.group().strip() == "由":
            return True
        sentence_start = _SENTENCE_END.search(before[: credit.start()])
        sentence = before[sentence_start.start() + 1 if sentence_start else 0 : credit.end()]
        if _SPEAKER.search(sentence):
            return True
    return bool(_CREDIT_AFTER.match(norm, end))


def _self_identifying(norm: str, start: int, end: int) -> bool:
    before = norm[max(0, start - 80) : start]
    if _INTRODUCTION.search(before) or _credited(norm, start, end):
        return True
    if _INTRODUCTION_BEFORE_COMMA.search(before) and norm[end : end + 3].lstrip().startswith(","):
        return True
    return bool(_DESCRIPTION_AFTER.match(norm, end))


def text_scrub(
    text: str, *, terms: tuple[StudyTerm, ...] = (), strict: bool = False
) -> ScrubResult:
    """Replace self-identification in ``text`` with NEUTRAL_TOKEN.

    ``found`` lists what was replaced, ``review`` the study's own ambiguous names left in place
    (``strict`` replaces those too: the researcher's "scrub them" after review).
    """
    matchers = _matchers(terms)
    norm, starts, ends = text_normalize(text)
    excluded = [m.span() for m in matchers.not_models.finditer(norm)]

    def is_excluded(start: int, end: int) -> bool:
        return any(s < end and start < e for s, e in excluded)

    replace: list[tuple[int, int]] = []
    review: list[tuple[int, int]] = []
    for match in matchers.names.finditer(norm):
        if not is_excluded(*match.span()):
            replace.append(match.span())
    for match in matchers.ambiguous.finditer(norm):
        start, end = match.span()
        if is_excluded(start, end) or any(s < end and start < e for s, e in replace):
            continue
        bare = matchers.ambiguous_bare.match(norm, start)
        versioned = bool(bare) and any(ch.isdigit() for ch in norm[bare.end() : end])
        if versioned or _self_identifying(norm, start, end):
            replace.append((start, end))
        elif matchers.review and matchers.review.fullmatch(
            norm, start, bare.end() if bare else end
        ):
            (replace if strict else review).append((start, end))
    replace.sort()
    pieces: list[str] = []
    found: list[str] = []
    position = 0
    for start, end in replace:
        original_start, original_end = starts[start], ends[end - 1]
        if original_start < position:
            continue
        found.append(text[original_start:original_end])
        pieces += [text[position:original_start], NEUTRAL_TOKEN]
        position = original_end
    pieces.append(text[position:])
    left_for_review = tuple(text[starts[s] : ends[e - 1]] for s, e in sorted(review))
    return ScrubResult(
        text="".join(pieces), flagged=bool(found), found=tuple(found), review=left_for_review
    )
