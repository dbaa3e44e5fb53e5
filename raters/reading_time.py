"""How long a decisive vote must at least take: reading both answers at a generous speed.

The threshold of one vote is the study's own minimum when it sets one; otherwise the words of
the two answers shown divided by RATER_MAX_WORDS_PER_SECOND (12 by default: 720 words a minute,
three times the average silent reading rate of English non-fiction, 238, in Brysbaert's 2019
meta-analysis, and above the rates at which skimming still follows a text), and never below
RATER_MIN_SECONDS_PER_VOTE (2 s). The prompt is not counted: a long context may rightly be
skimmed. Words are each Han or kana character (Chinese and Japanese put no spaces between
words; one character takes about one word's reading time) and each run of other characters
between ASCII white space. The same count is written in SQL for the voting statement
(answer_words_sql); tests/quality checks that the two agree.
"""

import re
from collections.abc import Sequence

from django.conf import settings

from evaluations.models import Study

CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# One pass; the two alternatives start on different characters, so Python's first-match and
# PostgreSQL's longest-match regular expressions find the same words.
WORDS = rf"[{CJK}]|[^ \t\n\r\f\v{CJK}]+"
WORD = re.compile(WORDS)


def text_words(text: str) -> int:
    return len(WORD.findall(text))


def answer_words_sql(column: str) -> str:
    """The same count as text_words, for PostgreSQL (regexp_count needs version 15)."""
    return f"regexp_count({column}, '{WORDS}')"


def min_seconds_per_vote() -> float:
    return float(getattr(settings, "RATER_MIN_SECONDS_PER_VOTE", 2.0))


def max_words_per_second() -> float:
    return float(getattr(settings, "RATER_MAX_WORDS_PER_SECOND", 12.0))


def votes_min_ms(*, study: Study, answer_words: Sequence[int | None]) -> list[float]:
    """The least time (ms) in which each vote's pair can have been read, from the words of its
    two answers (None: not counted, the minimum applies); the settings are read once."""
    if study.min_seconds_per_vote is not None:
        return [study.min_seconds_per_vote * 1000] * len(answer_words)
    floor, wps = min_seconds_per_vote() * 1000, max_words_per_second()
    if wps <= 0:
        return [floor] * len(answer_words)
    per_word = 1000 / wps
    return [floor if w is None else max(floor, w * per_word) for w in answer_words]
