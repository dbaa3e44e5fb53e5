"""A study's criteria: extra questions asked about every pair beside the overall one.

Stored on the study as a list of {"key", "question", "both_bad"} (`Study.criteria`) so that the
voting page and the vote need no query of their own. The key is what votes and exports carry;
the admin edits them as lines "key: question" (with " [both bad]" at the end to offer both-bad).
"""

import re
from typing import Any

from django.core.exceptions import ValidationError

MAX_CRITERIA = 6
KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
BOTH_BAD_MARK = "[both bad]"


def criteria_parse(text: str) -> list[dict[str, Any]]:
    """Lines "key: question [both bad]" -> the stored list; ValidationError naming the line."""
    criteria: list[dict[str, Any]] = []
    for number, raw in enumerate((text or "").splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        key, sep, question = line.partition(":")
        key, question = key.strip().lower(), question.strip()
        both_bad = question.lower().endswith(BOTH_BAD_MARK)
        if both_bad:
            question = question[: -len(BOTH_BAD_MARK)].strip()
        if not sep or not question:
            raise ValidationError(f"line {number}: write it as 'key: question'")
        criteria.append({"key": key, "question": question[:300], "both_bad": both_bad})
    return criteria_clean(criteria)


def criteria_clean(criteria: Any) -> list[dict[str, Any]]:
    """Check a stored list; the same rules as `criteria_parse`."""
    if not isinstance(criteria, list):
        raise ValidationError("criteria must be a list")
    if len(criteria) > MAX_CRITERIA:
        raise ValidationError(f"at most {MAX_CRITERIA} criteria")
    seen: set[str] = set()
    cleaned = []
    for item in criteria:
        if not isinstance(item, dict) or not isinstance(item.get("question"), str):
            raise ValidationError("each criterion needs a key and a question")
        key = item.get("key")
        if not isinstance(key, str) or not KEY_PATTERN.match(key) or key == "overall":
            raise ValidationError(
                f"criterion key {key!r}: lower-case letters, digits and _, starting with a "
                "letter, at most 40 (and not 'overall')"
            )
        if key in seen:
            raise ValidationError(f"criterion key {key!r} is used twice")
        seen.add(key)
        question = item["question"].strip()[:300]
        if not question:
            raise ValidationError(f"criterion {key!r} has no question")
        cleaned.append({"key": key, "question": question, "both_bad": bool(item.get("both_bad"))})
    return cleaned


def criteria_format(criteria: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{c['key']}: {c['question']}" + (f" {BOTH_BAD_MARK}" if c.get("both_bad") else "")
        for c in criteria or []
    )
