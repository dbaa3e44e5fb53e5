"""Scrub model self-identification from outputs so that raters judge answers, not brands.

Two kinds of name are replaced with a neutral token:

- names that almost only ever identify a model or its maker (ChatGPT, Claude, OpenAI, Gemini,
  ...), plus every candidate label, model string and pinned version in the study, wherever they
  appear;
- company names that are ordinary words in an answer ("sign in to your Google account") only
  where the model credits them with itself: "developed by Google", "Meta's AI assistant".

The raw text is always kept on the Output; a scrubbed output is flagged for review.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

NEUTRAL_TOKEN = "[model]"  # noqa: S105 - a placeholder shown to raters, not a secret

# Maintained list: model families and vendors whose names, in an answer, nearly always mean
# the model is talking about itself. Version suffixes (GPT-4o, Llama 3.1 70B) are matched too.
MODEL_NAMES = [
    r"Chat\s?GPT",
    r"GPT[- ]?\d(?:\.\d+)?(?:[- ]?(?:o|turbo|mini|nano|pro|omni|\d+k))*",
    r"o[134](?:-mini|-pro)?(?=\s+(?:model|by))",
    r"Open\s?AI",
    r"Anthropic",
    r"Claude(?:[- ]\d(?:\.\d)?)?(?:[- ](?:Opus|Sonnet|Haiku|Instant))*",
    r"Gemini(?:[- ]\d(?:\.\d)?)?(?:[- ](?:Pro|Flash|Ultra|Nano))*",
    r"Google\s+DeepMind",
    r"DeepMind",
    r"Google\s+Bard",
    r"Bard(?=,|\s+(?:is|am|here|by|from|developed|created)\b)",
    r"PaLM\s?2?",
    r"Gemma(?:[- ]?\d)?",
    r"Llama[- ]?\d(?:\.\d)?(?:[- ]\d+[bB])?",
    r"(?-i:LLaMA)(?:[- ]?\d(?:\.\d)?)?",
    r"Meta\s+(?:AI|Llama)",
    r"Mistral(?:\s+AI|\s+(?:Large|Medium|Small|Nemo))?",
    r"Mixtral(?:[- ]\d+x\d+[bB])?",
    r"Codestral",
    r"Qwen(?:[- ]?\d(?:\.\d)?)?",
    r"Tongyi\s+Qianwen",
    r"DeepSeek(?:[- ](?:V\d|R\d|Coder|Chat))*",
    r"(?-i:Grok)(?:[- ]?\d)?",
    r"xAI",
    r"(?-i:Cohere)",
    r"Command[- ]R\+?",
    r"Phi[- ]\d(?:\.\d)?(?:[- ]mini)?",
    r"Falcon[- ]\d+[bB]",
    r"(?-i:Vicuna)",
    r"ERNIE(?:\s+Bot)?",
    r"(?-i:Kimi)",
    r"Moonshot\s+AI",
    r"ChatGLM|GLM[- ]\d",
    r"Zhipu(?:\s+AI)?",
    r"Nemotron",
    r"Jamba",
    r"AI21(?:\s+Labs)?",
    r"Perplexity\s+AI",
    r"(?-i:Copilot)",
]

# Companies whose names are ordinary in answers: replaced only when credited with the model.
VENDOR_NAMES = [
    "Google",
    "Meta",
    "Facebook",
    "Microsoft",
    "Amazon",
    "AWS",
    "Alibaba(?: Cloud)?",
    "Baidu",
    "Nvidia",
    "NVIDIA",
    "IBM",
    "Apple",
    "Tencent",
    "ByteDance",
    "Mistral",
    "Hugging\\s?Face",
    "Stability AI",
    "TII",
]

_CREDIT = (
    r"(?:developed|created|trained|built|made|designed|programmed|released|produced|owned"
    r"|provided|engineered)\s+by(?:\s+(?:the\s+)?(?:team|researchers|engineers)\s+at)?\s+"
)


@dataclass(frozen=True)
class ScrubResult:
    text: str
    flagged: bool
    found: tuple[str, ...]


def _term_pattern(term: str) -> str:
    """A literal study term (label, model string) as a pattern with word-ish boundaries."""
    escaped = re.escape(term.strip())
    return rf"(?<![\w/.-]){escaped}(?![\w/-]|\.\w)"


def study_terms(
    *, labels: Iterable[str], models: Iterable[str], versions: Iterable[str] = ()
) -> tuple[str, ...]:
    """The study's own identifying strings: labels, model strings and their last segments.

    A last segment is kept only when it cannot be an ordinary word (it has a digit, a dot or a
    hyphen): ``openai/gpt-4.1-mini`` adds ``gpt-4.1-mini``, but ``demo/friendly`` does not add
    ``friendly``.
    """
    terms: set[str] = set()
    for label in labels:
        if label.strip():
            terms.add(label.strip())
    for value in [*models, *versions]:
        value = value.strip()
        if not value:
            continue
        terms.add(value)
        tail = value.rsplit("/", 1)[-1]
        if tail != value and len(tail) >= 3 and re.search(r"[\d.\-_:]", tail):
            terms.add(tail)
    return tuple(sorted(terms, key=lambda t: (-len(t), t)))


@lru_cache(maxsize=64)
def _compiled(terms: tuple[str, ...]) -> tuple[re.Pattern[str], re.Pattern[str]]:
    names = [_term_pattern(t) for t in terms] + [rf"\b(?:{p})\b" for p in MODEL_NAMES]
    # Every alternative starts after a non-word character; saying so once up front lets the
    # regex engine reject most positions with one check instead of trying every name (5x faster).
    anywhere = re.compile(r"(?<!\w)(?:" + "|".join(f"(?:{n})" for n in names) + ")", re.IGNORECASE)
    vendors = "|".join(VENDOR_NAMES)
    credited = re.compile(
        rf"(?P<pre>\b{_CREDIT})(?P<name>{vendors})\b"
        rf"|\b(?P<name2>{vendors})(?P<post>'s\s+(?:AI|assistant|(?:large\s+)?language\s+model|"
        rf"LLM|chatbot|model))\b",
        re.IGNORECASE,
    )
    return anywhere, credited


def text_scrub(text: str, *, terms: tuple[str, ...] = ()) -> ScrubResult:
    """Replace self-identification in ``text`` with NEUTRAL_TOKEN; flag if anything was found."""
    anywhere, credited = _compiled(terms)
    found: list[str] = []

    def replace_anywhere(match: re.Match[str]) -> str:
        found.append(match.group(0))
        return NEUTRAL_TOKEN

    def replace_credited(match: re.Match[str]) -> str:
        if match.group("name"):
            found.append(match.group("name"))
            return match.group("pre") + NEUTRAL_TOKEN
        found.append(match.group("name2"))
        return NEUTRAL_TOKEN + match.group("post")

    scrubbed = anywhere.sub(replace_anywhere, text)
    scrubbed = credited.sub(replace_credited, scrubbed)
    return ScrubResult(text=scrubbed, flagged=bool(found), found=tuple(found))


def study_scrub_terms(study_id: int) -> tuple[str, ...]:
    """Every candidate label, model string and pinned version in the study."""
    from evaluations.models import Candidate

    rows = list(
        Candidate.objects.filter(study_id=study_id).values_list("label", "model", "version")
    )
    return study_terms(
        labels=[r[0] for r in rows], models=[r[1] for r in rows], versions=[r[2] for r in rows]
    )
